"""The real thing: `python -m sustain` on the embedded model with the CPU vLLM engine, read back from MLflow."""

import json
import subprocess

import pytest

pytestmark = pytest.mark.slow

SMALL = ["task.limit=6", "task.max_tokens=32"]


def run(cmd, env, timeout=900, cwd=None):
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=cwd)


def client_for(tmp_path):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns/mlflow.db")


def runs_of(tmp_path):
    client = client_for(tmp_path)
    exp = client.get_experiment_by_name("sustain")
    return client, client.search_runs([exp.experiment_id], order_by=["params.batch_size ASC"])


def test_single_run_lands_complete_in_mlflow(tmp_path, sustain_cmd, run_env, tracking_overrides):
    proc = run([*sustain_cmd, *SMALL, "batch_size=2", *tracking_overrides], run_env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "energy / request" in proc.stdout and "MLflow run" in proc.stdout

    client, runs = runs_of(tmp_path)
    assert len(runs) == 1
    r = runs[0]
    assert r.info.status == "FINISHED"
    assert r.info.run_name == "smollm2_135m-none-bs2-g1-hallucination-json_schema"
    assert r.data.params["batch_size"] == "2" and r.data.params["model.path"] == "embedded"
    assert r.data.params["energy.estimate.min_load"] == "0.1"
    for key in ("model", "quantization", "gpus", "batch_size", "task", "git_commit", "host",
                "vllm_version", "torch_version", "engine.devices"):
        assert r.data.tags.get(key), key
    assert r.data.tags["energy.source"].startswith("estimate: whole node = cpu (estimate:")
    assert "codecarbon" in r.data.tags["energy.cpu.source"]
    m = r.data.metrics
    # no counters here: the node is the CPU estimate plus the DRAM estimate
    assert m["energy_node_per_request_j_mean"] == pytest.approx(
        m["energy_cpu_per_request_j_mean"] + m["energy_dram_per_request_j_mean"]) and m["energy_cpu_per_request_j_mean"] > 0
    assert m["energy_per_prompt_token_j"] > 0 and m["energy_per_output_token_j"] > 0 and m["water_l_per_request"] > 0
    assert r.data.tags["om.meaningful"] == str(m["macro_f1"] > 0).lower()
    assert r.data.tags["energy.measured"] == "false"

    m = r.data.metrics
    assert m["n_requests"] == 6
    assert 0.0 <= m["macro_f1"] <= 1.0 and 0.0 <= m["error_rate"] <= 1.0
    assert m["quality"] == m["macro_f1"] and r.data.tags["task.primary_metric"] == "macro_f1"
    assert m["n_correct"] == 0 or m["energy_per_correct_j"] > 0
    assert r.data.tags["engine"] == "vllm"
    assert m["window_tokens_counted"] > 0 and abs(m["window_tokens_uniform_error"]) < 1
    assert m["energy_per_request_j_mean"] > 0 and m["energy_whole_run_j"] > 0
    assert m["mean_decode_ms"] >= 0 and m["p99_ttft_ms"] >= m["p50_ttft_ms"] > 0
    assert m["output_throughput_tok_s"] > 0 and m["total_output_tokens"] >= 6
    assert m["gco2e_per_request"] > 0 and m["kwh_per_1k_requests"] > 0
    assert m["steady_state"] == 1.0 and m["energy_window_s"] > 0 and 0 < m["avg_running_batch"] <= 2
    assert m["energy_per_token_j"] > 0 and m["energy_whole_run_per_request_j"] > 0
    assert {"truncated_share", "failed_requests", "p95_decode_ms", "mean_tpot_ms", "p90_e2el_ms"} <= set(m)
    assert m["reference_energy_j"] > 1400 and 0.5 < m["reference_decode_latency_s"] < 0.7
    if m["macro_f1"] > 0:
        assert m["om"] > 0 and {"om_quality_0", "om_quality_100", "om_equal"} <= set(m)
    else:  # an OM with quality 0 says nothing: not logged, and the run says why
        assert "om" not in m and "not logged" in r.data.tags["om.absent"]
    assert r.data.tags["energy.attribution"] == "steady_state" and r.data.tags["validity.flags"]

    artifacts = {a.path for a in client.list_artifacts(r.info.run_id)}
    assert {"config.json", "predictions.jsonl", "summary.json", "requests.csv", "timeline.csv",
            "timeline.png", "engine.log"} <= artifacts
    local = client.download_artifacts(r.info.run_id, "predictions.jsonl", str(tmp_path / "dl"))
    rows = [json.loads(line) for line in open(local)]
    assert len(rows) == 6 and {row["id"] for row in rows} == {f"cs-000{i}" for i in range(1, 7)}
    for row in rows:
        assert row["predicted"] in ("GROUNDED", "UNGROUNDED", "SMALL_TALK", "Error")
        assert row["gold"] in ("GROUNDED", "UNGROUNDED", "SMALL_TALK")
        assert row["correct"] == (row["predicted"] == row["gold"])
        assert row["output_tokens"] > 0 and row["first_token_s"] <= row["last_token_s"]


def test_two_value_multirun_gives_two_isolated_runs(tmp_path, sustain_cmd, run_env):
    """With the default tracking and output locations, relative to where the user runs it."""
    proc = run([*sustain_cmd, "-m", *SMALL, "batch_size=1,2"], run_env, timeout=1500, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "sweep: 2 job(s): 2 finished, 0 failed, 0 skipped" in proc.stdout
    assert list((tmp_path / "multirun").glob("*/*/0-smollm2_135m-none-bs1-g1-hallucination-json_schema/predictions.jsonl"))
    _, runs = runs_of(tmp_path)
    [parent] = [r for r in runs if r.data.tags.get("sustain.sweep") == "true"]
    jobs = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert [r.data.params["batch_size"] for r in jobs] == ["1", "2"]
    assert all(r.info.status == "FINISHED" for r in jobs)
    assert all(r.data.metrics["energy_per_request_j_mean"] > 0 for r in jobs)
    assert len({r.data.tags["engine.pid"] for r in jobs}) == 2
