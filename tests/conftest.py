import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def sustain_cmd():
    """`python -m sustain` of this environment, as a subprocess argv prefix."""
    return [sys.executable, "-m", "sustain"]


@pytest.fixture
def run_env():
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME")}
    env.setdefault("HF_HUB_OFFLINE", "1")
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture
def tracking_overrides(tmp_path):
    """Keep every test's MLflow store and Hydra outputs inside its own tmp folder."""
    return [
        f"tracking.uri=sqlite:///{tmp_path}/mlruns/mlflow.db",
        f"tracking.artifact_root={tmp_path}/mlruns/artifacts",
        f"hydra.run.dir={tmp_path}/run",
        f"hydra.sweep.dir={tmp_path}/multirun",
    ]
