"""The sweepers drive Hydra jobs: a stand-in app (search_app/app.py) returns metrics from a known curve,
so asking, launching, failing, interrupting, resuming and the Pareto set are checked without an engine."""

import json
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

pytestmark = pytest.mark.slow  # three Python processes with Hydra, Optuna and MLflow: about a minute on 2 cores

ROOT = Path(__file__).resolve().parents[2]
APP = Path(__file__).resolve().parent / "search_app" / "app.py"
PARETO = ["hydra/sweeper=pareto", "batch_size=choice(2,4,8,16,32,64,128)",
          "hydra.sweeper.objectives=[energy_per_request_j_mean,decode_latency_s_mean]",
          "hydra.sweeper.directions=[minimize,minimize]", "hydra.sweeper.n_trials=6",
          "hydra.sweeper.sampler.seed=1", "hydra.sweeper.sampler.population_size=4"]


def search(tmp_path, args, **env):
    cmd = [sys.executable, str(APP), "-m", f"hydra.searchpath=[file://{ROOT}/src/sustain/conf]",
           f"tracking.uri=sqlite:///{tmp_path}/mlruns/mlflow.db", f"tracking.artifact_root={tmp_path}/mlruns/artifacts",
           f"hydra.sweep.dir={tmp_path}/multirun", *args]
    environ = {**os.environ, "PYTHONPATH": f"{ROOT}/src" + os.pathsep + os.environ.get("PYTHONPATH", ""), **env}
    return subprocess.run(cmd, env=environ, capture_output=True, text=True, timeout=300)


def test_interrupted_search_resumes_under_one_parent_and_reports_its_pareto_set(tmp_path):
    first = search(tmp_path, PARETO, FAKE_FAIL_AT="1", FAKE_DIE_AT="3")
    assert first.returncode != 0  # killed during job 3
    storage = f"sqlite:///{tmp_path}/mlruns/optuna.db"
    study = optuna.load_study(study_name="multirun", storage=storage)
    states = [t.state.name for t in study.trials]
    assert states == ["COMPLETE", "FAIL", "FAIL", "RUNNING"]
    assert "no KV cache left" in study.trials[1].user_attrs["error"]
    assert study.trials[2].params == study.trials[1].params and study.trials[2].user_attrs["repeats"] == 1
    interrupted_params = study.trials[3].params

    second = search(tmp_path, PARETO)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "4 of 6 trial(s) to run, trial(s) [3] interrupted earlier are asked again first" in second.stdout
    study = optuna.load_study(study_name="multirun", storage=storage)
    resumed = next(t for t in study.trials if t.user_attrs.get("resumes") == 3)
    assert resumed.params == interrupted_params and resumed.state.name == "COMPLETE"
    counted = [t for t in study.trials if t.number != 3 and "repeats" not in t.user_attrs and t.state.name != "RUNNING"]
    assert len(counted) == 6

    # the Pareto set: every measured batch size up to the energy optimum (32), none above it
    measured = {int(t.params["batch_size"]) for t in counted if t.state.name == "COMPLETE"}
    pareto = json.loads((tmp_path / "multirun" / "pareto.json").read_text())["pareto"]
    assert sorted(int(r["params"]["batch_size"]) for r in pareto) == sorted(b for b in measured if b <= 32)
    assert "pareto set: " in second.stdout and second.stdout.index("pareto set") < second.stdout.index("sweep: ")

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    parents = client.search_runs([client.get_experiment_by_name("sustain").experiment_id],
                                 filter_string="tags.`sustain.sweep` = 'true'")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert parents[0].data.metrics["pareto_size"] == len(pareto)
    assert parents[0].data.tags["search.pareto_trials"] == ",".join(str(r["trial"]) for r in pareto)
    assert "pareto.txt" in [a.path for a in client.list_artifacts(parents[0].info.run_id)]


def test_batch_size_search_runs_one_search_per_swept_value(tmp_path):
    proc = search(tmp_path, ["hydra/sweeper=batch_size", "variant=a,b"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = (tmp_path / "multirun" / "batch_search.txt").read_text()
    assert text.startswith("batch-size search (energy_per_request_j_mean, minimised): 8 run(s) "
                           "instead of the grid's 18")
    for variant in ("a", "b"):
        assert (f"variant={variant}: best batch_size=32 (bracketed); "
                "ran 16: 109.2, 32: 100, 64: 105.8, 128: 119.1") in text
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    experiment = client.get_experiment_by_name("sustain").experiment_id
    picked = client.search_runs([experiment], filter_string="tags.`search.best_batch_size` = 'true'")
    assert sorted(r.info.run_name for r in picked) == ["a-bs32", "b-bs32"]
