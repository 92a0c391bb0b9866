"""A job killed half-way resumes from its finished requests; a job already finished is skipped."""

import os
import signal
import subprocess
import time

import pytest

pytestmark = pytest.mark.slow


def test_killed_job_resumes_then_rerun_is_skipped(tmp_path, sustain_cmd, run_env, tracking_overrides):
    args = [*sustain_cmd, "task.limit=8", "task.max_tokens=48", "batch_size=1",
            f"checkpoint_dir={tmp_path}/checkpoints", *tracking_overrides]
    first = subprocess.Popen(args, env=run_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    deadline = time.monotonic() + 600
    checkpoints = tmp_path / "checkpoints"
    try:
        while time.monotonic() < deadline:
            files = list(checkpoints.glob("*.jsonl")) if checkpoints.exists() else []
            if files and len(files[0].read_text().splitlines()) >= 2:
                break
            assert first.poll() is None, "the run ended before it could be killed"
            time.sleep(0.5)
        else:
            pytest.fail("no request finished within 10 minutes")
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    done_before = len(files[0].read_text().splitlines())

    second = subprocess.run(args, env=run_env, capture_output=True, text=True, timeout=900)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "resuming: " in second.stdout, second.stdout[-3000:]
    reused = int(second.stdout.split("resuming: ")[1].split(" request")[0])
    assert 2 <= reused <= done_before < 8
    assert f"{8 - reused} to run" in second.stdout
    assert not files[0].exists(), "the checkpoint must go once the run is recorded"

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("sustain").experiment_id],
                              filter_string="attributes.status = 'FINISHED'")
    assert len(runs) == 1
    assert runs[0].data.metrics["reused_requests"] == reused and runs[0].data.metrics["n_requests"] == 8
    assert "reused from an interrupted attempt" in runs[0].data.tags["validity.flags"]

    third = subprocess.run(args, env=run_env, capture_output=True, text=True, timeout=300)
    assert third.returncode == 0
    assert f"finished MLflow run {runs[0].info.run_id} has the same config" in third.stdout
