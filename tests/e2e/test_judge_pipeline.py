"""The judge inside a real run: an unreachable judge loses none of the evaluated model's results,
and the API key never reaches MLflow."""

import subprocess

import pytest

pytestmark = pytest.mark.slow

SECRET = "sk-test-never-log-this-0123456789"


def test_unreachable_judge_keeps_the_model_results(tmp_path, sustain_cmd, run_env, tracking_overrides):
    env = {**run_env, "SUSTAIN_TEST_JUDGE_KEY": SECRET}
    proc = subprocess.run(
        [*sustain_cmd, "task.limit=4", "task.max_tokens=16", "batch_size=2", "judge=openai",
         "judge.base_url=http://127.0.0.1:9/v1", "judge.api_key_env=SUSTAIN_TEST_JUDGE_KEY",
         f"judge.cache_dir={tmp_path}/judge-cache", *tracking_overrides],
        env=env, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    judge_errors = [line for line in proc.stderr.splitlines() if line.startswith("sustain: error: judge:")]
    assert len(judge_errors) == 1 and "127.0.0.1:9" in judge_errors[0]
    assert SECRET not in proc.stdout + proc.stderr

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    [run] = client.search_runs([client.get_experiment_by_name("sustain").experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.metrics["energy_per_request_j_mean"] > 0 and "macro_f1" in run.data.metrics
    assert "judge_score_mean" not in run.data.metrics
    assert "127.0.0.1:9" in run.data.tags["judge.error"]
    assert "judge failed" in run.data.tags["validity.flags"]
    recorded = " ".join([*run.data.params.values(), *run.data.tags.values()])
    assert SECRET not in recorded and run.data.params["judge.api_key_env"] == "SUSTAIN_TEST_JUDGE_KEY"
    for artifact in client.list_artifacts(run.info.run_id):
        if not artifact.is_dir:
            path = client.download_artifacts(run.info.run_id, artifact.path, str(tmp_path / "dl"))
            assert SECRET not in open(path, errors="replace").read(), artifact.path
