"""`python -m sustain.report` end to end: a real MLflow sqlite store with a sweep (a parent run and its
children), the CLI run as a subprocess, every output checked and the report logged back to the parent."""

import base64
import re
import subprocess
import sys
import time

import matplotlib
import pandas as pd
import pytest

matplotlib.use("Agg")
import matplotlib.image as mpimg  # noqa: E402

from sustain.report.compare import PAPER_TABLE3  # noqa: E402

OUTPUTS = ["table3.md", "table3.csv", "table4.md", "table4.csv", "om_rankings.md", "om_rankings.csv",
           "pareto.csv", "runs.csv", "fig2_quality_vs_energy.png", "fig6_energy_vs_latency.png",
           "fig3_rank_bump.png", "report.html"]
PNGS = [name for name in OUTPUTS if name.endswith(".png")]

# (model, gpus, batch_size) → (energy J, decode latency s, macro F1, judge or None)
SWEEP = {
    ("tiny-a", 1, 2): (90.0, 1.0, 0.70, 0.90),
    ("tiny-a", 1, 8): (40.0, 2.0, 0.71, 0.91),
    ("tiny-a", 1, 32): (25.0, 5.0, 0.69, 0.89),
    ("tiny-b", 1, 4): (300.0, 3.0, 0.80, None),
    ("tiny-b", 1, 16): (120.0, 6.0, 0.82, None),
    ("tiny-b", 2, 16): (200.0, 4.0, 0.82, None),
}


def _run(client, exp_id, name, tags, metrics, status="FINISHED", start_time=None):
    from mlflow.entities import Metric

    run = client.create_run(exp_id, run_name=name, tags=tags, start_time=start_time)
    now = int(time.time() * 1000)
    if metrics:
        client.log_batch(run.info.run_id, metrics=[Metric(k, v, now, 0) for k, v in metrics.items()])
    client.set_terminated(run.info.run_id, status=status)
    return run.info.run_id


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from mlflow.tracking import MlflowClient

    root = tmp_path_factory.mktemp("store")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    exp_id = client.create_experiment("sustain", artifact_location=(root / "artifacts").as_uri())
    parent = client.create_run(exp_id, run_name="sweep").info.run_id
    older = {"model": "tiny-a", "quantization": "none", "gpus": "1", "batch_size": "32", "mlflow.parentRunId": parent}
    _run(client, exp_id, "tiny-a-bs32-g1 (superseded)", older,
         {"energy_per_request_j_mean": 5.0, "decode_latency_s_mean": 5.0, "macro_f1": 0.69},
         start_time=int(time.time() * 1000) - 86_400_000)
    for (model, gpus, bs), (energy, lat, f1, judge) in SWEEP.items():
        metrics = {"energy_per_request_j_mean": energy, "energy_per_request_j_std": energy / 10,
                   "decode_latency_s_mean": lat, "decode_latency_s_std": lat / 5, "macro_f1": f1,
                   "mean_output_tokens": 60.0}
        if judge is not None:
            metrics.update(judge_score_mean=judge, judge_score_std=0.1)
        tags = {"model": model, "quantization": "none", "gpus": str(gpus), "batch_size": str(bs),
                "task": "hallucination", "judge": "none", "energy.source": "zeus: NVML energy counters",
                "energy.measured": "true", "validity.flags": "none", "mlflow.parentRunId": parent}
        _run(client, exp_id, f"{model}-bs{bs}-g{gpus}", tags, metrics)
    failed_tags = {"model": "tiny-a", "gpus": "1", "batch_size": "1", "mlflow.parentRunId": parent}
    _run(client, exp_id, "failed", failed_tags, {"energy_per_request_j_mean": 1.0, "decode_latency_s_mean": 0.1},
         status="FAILED")
    outsider_tags = {"model": "outsider", "gpus": "1", "batch_size": "8", "energy.source": "estimate: cpu",
                     "energy.measured": "false", "validity.flags": "steady-state window is 3.0 s"}
    _run(client, exp_id, "outsider", outsider_tags,
         {"energy_per_request_j_mean": 5.0, "decode_latency_s_mean": 0.5, "macro_f1": 0.3})
    reused_tags = {"model": "tiny-c", "quantization": "none", "gpus": "1", "batch_size": "8"}
    reused = _run(client, exp_id, "tiny-c-bs8-g1 (earlier sweep)", reused_tags,
                  {"energy_per_request_j_mean": 40.0, "decode_latency_s_mean": 1.0, "macro_f1": 0.5})
    client.set_tag(parent, f"sweep.reused.{reused}", "tiny-c-bs8-g1")
    client.set_terminated(parent, status="FINISHED")
    return {"uri": uri, "parent": parent, "client": client}


def cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "sustain.report", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def test_sweep_report_from_a_parent_run(store, tmp_path):
    out = tmp_path / "report"
    res = cli("--tracking-uri", store["uri"], "--parent-run", store["parent"], "--out", str(out), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert str(out.resolve()) in res.stdout.strip().splitlines()[-1]
    for name in OUTPUTS:
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    for name in PNGS:
        image = mpimg.imread(out / name)
        assert image.size > 0 and image.shape[0] > 300 and image.std() > 0.01, name

    t3 = pd.read_csv(out / "table3.csv")
    assert t3["label"].tolist()[0] == "gpt-4o (estimated)"
    best = t3.set_index("label")
    assert set(best.index) == {"gpt-4o (estimated)", "tiny-a", "tiny-b", "tiny-c"}  # no outsider, no failed run
    assert (best.loc["tiny-a", "batch_size"], best.loc["tiny-a", "energy_j"]) == (32, 25.0)  # newest run of bs 32
    assert (best.loc["tiny-b", "batch_size"], best.loc["tiny-b", "gpus"]) == (16, 1)

    t4 = pd.read_csv(out / "table4.csv")
    assert {(r.label, r.gpus): r.batch_size for r in t4.itertuples()} == {
        ("tiny-a", 1): 32, ("tiny-b", 1): 16, ("tiny-b", 2): 16, ("tiny-c", 1): 8}
    om = pd.read_csv(out / "om_rankings.csv")
    assert set(om["quality_metric"]) == {"macro_f1"}  # tiny-b has no judge score: the F1 of these older runs
    assert len(pd.read_csv(out / "runs.csv")) == 7  # the run the sweep skipped re-running counts too

    page = (out / "report.html").read_text()
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == len(PNGS)
    assert {base64.b64decode(i) for i in images} == {(out / n).read_bytes() for n in PNGS}
    assert store["uri"] in page and store["parent"] in page and "6 measured" in page
    assert "8 run(s) with energy metrics" in page and "1 older row(s)" in page

    logged = {f.path for f in store["client"].list_artifacts(store["parent"], "report")}
    assert {f"report/{name}" for name in OUTPUTS} <= logged


def test_tag_filter_and_csv_together(store, tmp_path):
    out = tmp_path / "mixed"
    res = cli("--tracking-uri", store["uri"], "--tag", "model=outsider", "--add-csv", str(PAPER_TABLE3),
              "--quality", "f1", "--out", str(out), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    t3 = pd.read_csv(out / "table3.csv")
    assert "outsider" in set(t3["label"]) and "tiny-a" not in set(t3["label"]) and len(t3) == 12
    page = (out / "report.html").read_text()
    assert "1 estimated (estimate: cpu)" in page and "validity flags" in page and "paper_table3.csv" in page


def test_paper_csv_alone_with_an_unknown_experiment(tmp_path):
    res = cli("--experiment", "no-such-experiment", "--add-csv", str(PAPER_TABLE3), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    folders = list((tmp_path / "reports").iterdir())
    assert len(folders) == 1
    om = pd.read_csv(folders[0] / "om_rankings.csv").set_index("label")
    assert om.sort_values("rank_quality_100").index[:3].tolist() == ["Qwen3-32B", "Qwen3-14B", "gpt-4o (estimated)"]
    assert not (tmp_path / "mlruns").exists()


def test_nothing_to_compare_is_one_sentence_and_exit_2(store, tmp_path):
    res = cli("--tracking-uri", store["uri"], "--tag", "model=nobody", "--out", str(tmp_path / "x"), cwd=tmp_path)
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    message = [line for line in res.stderr.splitlines() if line.startswith("sustain.report:")]
    assert len(message) == 1 and "nothing to compare" in message[0]
    assert not (tmp_path / "x").exists()


def test_bad_csv_is_one_sentence_and_exit_2(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("model,energy_j\nX,1\n")
    res = cli("--experiment", "none", "--add-csv", str(bad), cwd=tmp_path)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "bad.csv" in res.stderr and "decode_latency_s" in res.stderr


def test_help_documents_every_option(tmp_path):
    res = cli("--help", cwd=tmp_path)
    assert res.returncode == 0
    for option in ("--tracking-uri", "--experiment", "--parent-run", "--tag", "--add-csv", "--quality", "--out",
                   "--log-to-run", "--om-exclude"):
        assert option in res.stdout
