"""Where runs are stored: MLflow."""
