"""The issue's whole path: a smoke sweep over batch sizes with a local judge lands judge scores in MLflow,
and the comparison report built from the sweep's parent run has every table and figure."""

import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def test_smoke_sweep_with_local_judge_then_report(tmp_path, sustain_cmd, run_env, tracking_overrides):
    sweep = subprocess.run(
        [*sustain_cmd, "-m", "experiment=smoke", "judge=local", "task.limit=6", "task.max_tokens=32",
         f"judge.cache_dir={tmp_path}/judge-cache", *tracking_overrides],
        env=run_env, capture_output=True, text=True, timeout=2400,
    )
    assert sweep.returncode == 0, sweep.stderr[-3000:]
    assert "sweep: 2 job(s): 2 finished, 0 failed, 0 skipped" in sweep.stdout

    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("sustain")
    [parent] = client.search_runs([exp.experiment_id], filter_string="tags.`sustain.sweep` = 'true'")
    children = client.search_runs([exp.experiment_id],
                                  filter_string=f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    assert sorted(r.data.params["batch_size"] for r in children) == ["2", "4"]
    for run in children:
        m = run.data.metrics
        assert 0.0 <= m["judge_score_mean"] <= 1.0 and m["judge_n_scored"] >= 1
        assert m["judge_time_s"] > 0 and m["judge_energy_j"] > 0
        assert run.data.tags["judge.model"] and "judge.jsonl" in {a.path for a in client.list_artifacts(run.info.run_id)}
    assert parent.data.metrics["jobs_finished"] == 2

    out = tmp_path / "report"
    report = subprocess.run(
        [sys.executable, "-m", "sustain.report", "--tracking-uri", uri, "--parent-run", parent.info.run_id,
         "--out", str(out)], env=run_env, capture_output=True, text=True, timeout=600,
    )
    assert report.returncode == 0, report.stderr[-3000:]
    for name in ("table3.md", "table4.md", "om_rankings.md", "pareto.csv", "fig2_quality_vs_energy.png",
                 "fig6_energy_vs_latency.png", "fig3_rank_bump.png", "report.html"):
        assert (out / name).stat().st_size > 0, name
    assert "smollm2_135m" in (out / "table3.md").read_text()
    logged = {a.path for a in client.list_artifacts(parent.info.run_id, "report")}
    assert "report/report.html" in logged
