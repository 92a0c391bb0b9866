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


@pytest.fixture
def fake_run(tmp_path):
    """Runs the whole pipeline with tests.fakes.FakeEngine in seconds: `fake_run(*overrides, out="out")`
    returns (summary.json's content, run folder); every call shares tmp_path's MLflow store, as runs of one
    machine do. Every metric a run logs must be declared in the metric registry."""
    from omegaconf import OmegaConf

    from sustain import pipeline
    from sustain.registry import registry
    from tests.fakes import compose_config, fake_run_overrides

    def run(*overrides: str, out: str = "out"):
        cfg = compose_config(*fake_run_overrides(tmp_path), *overrides)
        typed, resolved = OmegaConf.to_object(cfg), OmegaConf.to_container(cfg, resolve=True)
        report = pipeline.run(typed, resolved, tmp_path / out)
        if report is None:
            return None, tmp_path / out
        assert registry().undeclared(report.metrics()) == [], "declare these in the metric registry"
        return report.to_dict(), tmp_path / out

    return run
