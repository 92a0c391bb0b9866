"""The companion studies' tasks end to end: one multirun, one job per task, each logging its own primary
metric, energy per correct answer and its predictions, read back from MLflow."""

import json
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

PRIMARY = {"financial_sentiment": "macro_f1", "arithmetic": "exact_match", "code": "pass_at_1"}


def test_each_task_logs_its_own_quality(tmp_path, sustain_cmd, run_env, tracking_overrides):
    proc = subprocess.run(
        [*sustain_cmd, "-m", "task=financial_sentiment,arithmetic,code", "task.limit=3", "task.max_tokens=48",
         "batch_size=3", "engine.cpu_memory_fraction=0.1", *tracking_overrides],
        env=run_env, capture_output=True, text=True, timeout=1500,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    exp = client.get_experiment_by_name("sustain")
    runs = {r.data.tags.get("task"): r for r in client.search_runs([exp.experiment_id])
            if r.data.tags.get("task") in PRIMARY}
    assert set(runs) == set(PRIMARY)
    for task, run in runs.items():
        metrics, tags = run.data.metrics, run.data.tags
        assert run.info.status == "FINISHED" and run.info.run_name.endswith(f"-{task}")
        assert tags["task.primary_metric"] == PRIMARY[task]
        assert 0.0 <= metrics[PRIMARY[task]] <= 1.0 and metrics["quality"] == metrics[PRIMARY[task]]
        predictions = Path(client.download_artifacts(run.info.run_id, "predictions.jsonl", str(tmp_path / task)))
        rows = [json.loads(line) for line in predictions.read_text().splitlines()]
        assert len(rows) == 3 and all("correct" in row for row in rows)
        if any(row["correct"] for row in rows):
            assert metrics["energy_per_correct_j"] > 0
        else:
            assert "energy_per_correct_j" not in metrics
