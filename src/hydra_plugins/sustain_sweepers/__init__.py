"""sustain's Hydra sweepers: a multi-objective Optuna search and the batch-size search.

Hydra imports every module of the `hydra_plugins` namespace at start-up, so nothing here imports
optuna or mlflow at module level.
"""
