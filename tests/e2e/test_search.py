"""A multi-objective search on the embedded model: killed during a trial, run again, it continues the same
study under the same parent run, re-runs the interrupted configuration and reports its Pareto set."""

import contextlib
import os
import signal
import subprocess
import time

import pytest

pytestmark = pytest.mark.slow


def test_search_survives_being_killed_and_reports_its_pareto_set(tmp_path, sustain_cmd, run_env, tracking_overrides):
    import optuna

    # 10 requests: even at batch 4 a trial runs several rounds, so it can be caught with a request checkpointed
    args = [*sustain_cmd, "-m", "hydra/sweeper=pareto", "batch_size=choice(1,2,4)", "task.limit=10",
            "task.max_tokens=24", "hydra.sweeper.objectives=[energy_per_request_j_mean,decode_latency_s_mean,quality]",
            "hydra.sweeper.directions=[minimize,minimize,maximize]", "hydra.sweeper.n_trials=3",
            "hydra.sweeper.sampler.seed=0", "engine.cpu_memory_fraction=0.08",  # 1.9 GB: the machine is shared
            f"checkpoint_dir={tmp_path}/checkpoints", *tracking_overrides]
    storage = f"sqlite:///{tmp_path}/mlruns/optuna.db"
    first = subprocess.Popen(args, env=run_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    deadline = time.monotonic() + 900
    watch = _CheckpointWatch(tmp_path / "checkpoints")
    try:
        while time.monotonic() < deadline:
            assert first.poll() is None, "the search ended before it could be killed"
            if watch.second_trial_has_a_request():
                break
            time.sleep(0.01)  # files only: a trial's window between its first request and its end can be ~1 s
        else:
            pytest.fail("no second trial checkpointed a request within 15 minutes")
    finally:
        with contextlib.suppress(ProcessLookupError):  # it may have ended on its own: the assert says so
            os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    study = optuna.load_study(study_name="multirun", storage=storage)
    killed = next(t for t in study.trials if t.state.name == "RUNNING")

    second = subprocess.run(args, env=run_env, capture_output=True, text=True, timeout=1200)
    assert second.returncode == 0, second.stderr[-3000:]
    out = second.stdout
    assert f"trial(s) [{killed.number}] interrupted earlier are asked again first" in out, out[-3000:]
    assert "resuming: " in out  # the interrupted configuration's finished requests were kept
    study = optuna.load_study(study_name="multirun", storage=storage)
    again = next(t for t in study.trials if t.user_attrs.get("resumes") == killed.number)
    assert again.params == killed.params and again.state.name == "COMPLETE"
    measured = [t for t in study.trials if t.state.name == "COMPLETE" and "repeats" not in t.user_attrs]
    assert sorted(t.params["batch_size"] for t in measured) == ["1", "2", "4"]

    table = out[out.index("pareto set: "):out.index("sweep: ")]
    print(table)
    assert table.startswith("pareto set: ")
    assert "of 3 measured trial(s) (0 failed, 1 interrupted and asked again" in table

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    experiment = client.get_experiment_by_name("sustain").experiment_id
    parents = client.search_runs([experiment], filter_string="tags.`sustain.sweep` = 'true'")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    parent = parents[0].info.run_id
    children = client.search_runs([experiment], filter_string=f"tags.mlflow.parentRunId = '{parent}'")
    assert sorted(r.info.status for r in children) == ["FAILED", "FINISHED", "FINISHED", "FINISHED"]
    assert next(r for r in children if r.info.status == "FAILED").data.tags["error.kind"] == "interrupted"
    front = parents[0].data.tags["search.pareto_trials"].split(",")
    assert front and parents[0].data.metrics["pareto_size"] == len(front)
    on_front = [r for r in children if r.data.tags.get("search.pareto") == "true"]
    assert len(on_front) == len(front)

    sweep_table = out[out.index("sweep: "):].splitlines()
    assert sweep_table[1].split()[-2:] == ["search", "error"]
    assert sum(line.split()[-2] == "pareto" for line in sweep_table[2:] if line.strip()) == len(front)
    report = subprocess.run([*sustain_cmd[:-1], "sustain.report", "--tracking-uri",
                             f"sqlite:///{tmp_path}/mlruns/mlflow.db", "--parent-run", parent,
                             "--out", str(tmp_path / "report")], env=run_env, capture_output=True, text=True,
                            timeout=300)
    assert report.returncode == 0, report.stderr[-2000:]
    picked = (tmp_path / "report" / "search.csv").read_text().splitlines()
    assert len(picked) == 1 + len(front) and "What the search picked" in (tmp_path / "report" / "report.html").read_text()


class _CheckpointWatch:
    """A trial's request checkpoint appears with its first finished request and is deleted when the trial ends:
    once one has gone, a checkpoint with a line in it is the running (later) trial's, caught mid-run."""

    def __init__(self, folder) -> None:
        self.folder, self.seen, self.gone = folder, set(), set()

    def second_trial_has_a_request(self) -> bool:
        now = {p.name: p for p in self.folder.glob("*.jsonl")} if self.folder.exists() else {}
        self.gone |= self.seen - now.keys()
        self.seen |= now.keys()
        return bool(self.gone) and any(_has_a_line(p) for name, p in now.items() if name not in self.gone)


def _has_a_line(path) -> bool:
    try:
        return b"\n" in path.read_bytes()
    except FileNotFoundError:  # deleted between the listing and the read
        return False
