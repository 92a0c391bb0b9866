"""The report's direct read of a SQLite store gives what MLflow's own client gives, and the CLI over a small
real store: one section per task, the pick, a declared reference row."""

import time

import pandas as pd
import pytest

from sustain.report import compare
from sustain.tracking import store
from sustain.report.__main__ import main

TASKS = {"hallucination": "macro_f1", "arithmetic": "exact_match"}


def _run(client, exp, name, tags, metrics, params=None, status="FINISHED", start=None):
    from mlflow.entities import Metric, Param

    run = client.create_run(exp, run_name=name, tags=tags, start_time=start)
    now = int(time.time() * 1000)
    client.log_batch(run.info.run_id, metrics=[Metric(k, v, now, 0) for k, v in metrics.items()],
                     params=[Param(k, v) for k, v in (params or {}).items()])
    client.set_terminated(run.info.run_id, status=status)
    return run.info.run_id


@pytest.fixture(scope="module")
def small_store(tmp_path_factory):
    from mlflow.tracking import MlflowClient

    root = tmp_path_factory.mktemp("store")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("sustain", artifact_location=(root / "artifacts").as_uri())
    parent = client.create_run(exp, run_name="sweep").info.run_id
    for task, metric in TASKS.items():
        for model, bs, energy, quality, judge in (("m-small", 8, 10.0, 0.5, 0.85), ("m-small", 32, 6.0, 0.5, 0.84),
                                                  ("m-big", 8, 50.0, 0.9, 0.95)):
            tags = {"model": model, "gpus": "1", "batch_size": str(bs), "task": task,
                    "task.primary_metric": metric, "energy.source": "zeus: NVML", "energy.measured": "true",
                    "om.meaningful": "true", "water.wue_source": "preset us", "mlflow.parentRunId": parent}
            if (model, bs) == ("m-small", 32):  # what a search picked: a Pareto run, a best batch size
                tags["search.pareto" if task == "hallucination" else "search.best_batch_size"] = "true"
            metrics = {"energy_per_request_j_mean": energy, "decode_latency_s_mean": bs / 8, "quality": quality,
                       metric: quality, "judge_score_mean": judge, "p90_decode_ms": bs * 150.0,
                       "energy_per_correct_j": energy / quality, "water_l_per_request": 0.001,
                       "deployment_kwh_per_year": energy}
            _run(client, exp, f"{model}-bs{bs}-{task}", tags, metrics, {"carbon.wue": "1.8", "batch_size": str(bs)})
    _run(client, exp, "failed", {"model": "m-small", "task": "arithmetic", "mlflow.parentRunId": parent},
         {"energy_per_request_j_mean": 1.0}, status="FAILED")
    deleted = _run(client, exp, "deleted", {"model": "gone", "mlflow.parentRunId": parent},
                   {"energy_per_request_j_mean": 1.0, "decode_latency_s_mean": 1.0})
    client.delete_run(deleted)
    _run(client, exp, "no energy", {"model": "x", "mlflow.parentRunId": parent}, {"macro_f1": 0.2})
    _run(client, exp, "old", {"model": "m-old", "gpus": "1", "batch_size": "8"},
         {"energy_per_request_j_mean": 20.0, "decode_latency_s_mean": 2.0, "macro_f1": 0.0})
    return {"uri": uri, "parent": parent, "root": root}


def _frames(uri, **query):
    q = store.Query(query.get("experiment", "sustain"), query.get("parent"), query.get("tags", {}),
                    (*compare.metric_columns().values(), compare.P90_DECODE_MS), tuple(compare.TAGS.values()),
                    compare.FOOTPRINT_PREFIXES)
    direct = compare.from_raw(store._read_sqlite(store.Path(uri.removeprefix("sqlite:///")), q))
    client = compare.from_raw(store._read_client(uri, q))
    return direct.sort_values("run_id").reset_index(drop=True), client.sort_values("run_id").reset_index(drop=True)


@pytest.mark.parametrize(("few_runs", "threads"), [(store.FEW_RUNS, 2), (0, 1), (0, 3)],
                         ids=["run-index", "table-scan", "table-scan-in-3-stretches"])
@pytest.mark.parametrize("query", [{}, {"tags": {"task": "arithmetic"}}, {"experiment": "absent"}, "parent"])
def test_direct_sqlite_read_equals_mlflows_client(small_store, query, few_runs, threads, monkeypatch):
    """Both ways the columnar reader finds values (a few runs by the run index, many by scans of the table, in
    one stretch or several read side by side)."""
    monkeypatch.setattr(store, "FEW_RUNS", few_runs)
    monkeypatch.setattr(store, "_threads", lambda: threads)
    query = {"parent": small_store["parent"]} if query == "parent" else query
    direct, client = _frames(small_store["uri"], **query)
    pd.testing.assert_frame_equal(direct, client)
    if not query:
        assert len(direct) == 7 and "gone" not in set(direct["model"]) and "x" not in set(direct["model"])
        row = direct.set_index("run_name").loc["m-big-bs8-arithmetic"]
        assert (row["task"], row["quality_metric"], row["p90_decode_s"], row["measured"]) == (
            "arithmetic", "exact_match", 1.2, True)
        assert row["footprint_inputs"] == "carbon.wue=1.8; water.wue_source=preset us"
        assert direct.set_index("model").loc["m-old", "quality_fallback"]


def test_required_metric_keeps_only_the_runs_that_logged_it(small_store):
    """A section's own runs (sessions: `sessions_completed`) are found by the index, not by reading every run."""
    q = store.Query("sustain", None, {}, ("quality", "p90_decode_ms"), ("model",), (), require="p90_decode_ms")
    direct = store._read_sqlite(store.Path(small_store["uri"].removeprefix("sqlite:///")), q)
    client = store._read_client(small_store["uri"], q)
    assert len(direct.runs) == len(client.runs) == 6  # the six runs of the two tasks; "old" has no p90
    assert direct.wide("metric", ("p90_decode_ms",)).notna().all().all()
    assert sorted(direct.wide("tag", ("model",))["model"]) == sorted(client.wide("tag", ("model",))["model"])


@pytest.mark.parametrize("reader", ["sqlite", "client", "one-read"])
def test_the_newest_run_of_each_configuration_read_in_two_passes(tmp_path, reader, monkeypatch):
    """`load_newest` (every run's tags, then the newest runs' metrics; from another store than SQLite in one read)
    gives what reading every run and keeping the newest of each configuration gives: a newer run without an
    energy figure hides no older one that has one, and the count and the validity flags are every run's, not
    the newest ones' alone."""
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("sustain", artifact_location=(tmp_path / "artifacts").as_uri())
    same = {"model": "m", "gpus": "1", "batch_size": "8", "task": "arithmetic"}
    energy = {"decode_latency_s_mean": 1.0, "quality": 0.5}
    _run(client, exp, "old", {**same, "validity.flags": "batch_not_filled"},
         {**energy, "energy_per_request_j_mean": 10.0}, start=1_000)
    _run(client, exp, "new", same, {**energy, "energy_per_request_j_mean": 12.0}, start=2_000)
    _run(client, exp, "newest, no energy", same, {**energy, "energy_per_request_j_mean": float("nan")}, start=3_000)
    _run(client, exp, "other batch", {**same, "batch_size": "16"}, {**energy, "energy_per_request_j_mean": 9.0},
         start=1_500)
    _run(client, exp, "failed", same, {**energy, "energy_per_request_j_mean": 1.0}, status="FAILED", start=4_000)
    if reader != "sqlite":
        monkeypatch.setattr(store, "_read_sqlite", lambda *a: (_ for _ in ()).throw(store.Unreadable("other schema")))
    if reader == "one-read":
        monkeypatch.setattr(store, "columnar", lambda uri: False)
    every = compare.load_runs(uri)
    newest = compare.load_newest(uri)
    assert sorted(newest.rows["run_name"]) == ["new", "other batch"] and newest.count == len(every) == 3
    expected = compare.latest_per_configuration(every)
    pd.testing.assert_frame_equal(newest.rows.sort_values("run_id").reset_index(drop=True),
                                  expected.sort_values("run_id").reset_index(drop=True),
                                  check_dtype=False)  # a tag no newest run has is text in one, missing in the other
    assert newest.flagged.values.tolist() == [["old", "batch_not_filled"]]


def test_cli_one_section_per_task_with_pick(small_store, tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["--tracking-uri", small_store["uri"], "--out", str(out), "--pick", "quality>=0.5,p90_decode_s<=2"]) == 0
    printed = capsys.readouterr().out
    assert "task hallucination:" in printed and "task arithmetic:" in printed
    assert "pick:      m-small (batch_size 8, gpus 1; mlflow)" in printed  # bs 32 is cheaper but p90 is 4.8 s
    for task in ("hallucination", "arithmetic"):
        for fig in ("fig2_quality_vs_energy", "fig6_energy_vs_latency"):
            assert (out / f"{fig}.{task}.png").stat().st_size > 0
    t3 = pd.read_csv(out / "table3.csv")
    assert set(t3["task"]) == {"hallucination", "arithmetic"}
    assert len(t3[t3["is_reference"]]) == 2  # one reference per task
    om = pd.read_csv(out / "om_rankings.csv")
    assert om.groupby("task")["label"].apply(set).to_dict()["arithmetic"] == {"m-small", "m-big"}  # no reference
    page = (out / "report.html").read_text()
    assert "arithmetic: Pick" in page and "not meaningful" in page and "Water and a deployment" in page
    assert "carbon.wue=1.8" in page and "(quality = judge)" in page
    md = (out / "om_rankings.md").read_text()
    assert "## Task hallucination" in md and "## Task arithmetic" in md
    assert (out / "pick.md").is_file()
    picks = pd.read_csv(out / "search.csv")
    assert picks[["task", "model", "batch_size"]].values.tolist() == [["hallucination", "m-small", 32],
                                                                       ["arithmetic", "m-small", 32]]
    assert "hallucination: What the search picked" in page and "batch-size search" in page and "Pareto set" in page


def test_the_same_figures_with_and_without_workers(small_store, tmp_path):
    outs = {}
    for jobs in ("1", "3"):
        outs[jobs] = tmp_path / f"j{jobs}"
        assert main(["--tracking-uri", small_store["uri"], "--out", str(outs[jobs]), "--jobs", jobs]) == 0
    pngs = sorted(p.name for p in outs["1"].glob("*.png"))
    assert len(pngs) == 5 and pngs == sorted(p.name for p in outs["3"].glob("*.png"))
    for name in pngs:
        assert (outs["1"] / name).read_bytes() == (outs["3"] / name).read_bytes(), name


def test_cli_reference_row_and_bad_pick(small_store, tmp_path, capsys):
    csv = tmp_path / "published.csv"
    csv.write_text("model,energy_j,decode_latency_s,judge,f1\nGPT-4o,1498,0.58,0.978,1.0\nQwen3-32B,2382,85,0.99,0.92\n")
    out = tmp_path / "twice"
    assert main(["--experiment", "none", "--add-csv", str(csv), "--out", str(out)]) == 0
    assert "declare it the reference" in (out / "report.html").read_text()
    out = tmp_path / "once"
    assert main(["--experiment", "none", "--add-csv", str(csv), "--reference-row", "GPT-4o", "--out", str(out)]) == 0
    t3 = pd.read_csv(out / "table3.csv")
    assert t3["label"].tolist() == ["GPT-4o", "Qwen3-32B"] and t3["is_reference"].tolist() == [True, False]
    capsys.readouterr()
    assert main(["--add-csv", str(csv), "--reference-row", "Nobody", "--out", str(tmp_path / "x")]) == 2
    assert main(["--add-csv", str(csv), "--pick", "speed<3", "--out", str(tmp_path / "y")]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 2 and "Nobody" in errors[0] and "no known metric 'speed'" in errors[1]
    assert not (tmp_path / "y").exists()


def test_benchmark_store_reads_the_same_through_mlflow(tmp_path):
    """scripts/bench_report.py writes rows MLflow itself reads back as runs (a small store of 30 runs)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_report", store.Path(__file__).parents[2] / "scripts" /
                                                  "bench_report.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    uri = bench.fill(tmp_path / "mlflow.db", 30)
    direct, client = _frames(uri)
    pd.testing.assert_frame_equal(direct, client)
    assert 25 <= len(direct) <= 30 and set(direct["task"]) <= set(bench.TASKS)  # about 3 % FAILED
