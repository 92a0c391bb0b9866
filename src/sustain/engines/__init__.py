"""Inference engines. Each run's engine lives in its own process (see `runner`)."""
