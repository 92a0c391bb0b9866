"""The report's sessions section over fake sessions runs: the per-run table from MLflow, one point per completed
session from each run's sessions table, the prefix cache's pairs (runs differing in it alone), and nothing new
for a report without sessions runs."""

import pandas as pd
import pytest

from sustain.report import sessions
from sustain.report.__main__ import main

SESSION = ("task=sessions", "task.limit=4", "task.delays=none", "load=concurrency")


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """Five sessions runs: 1 and 2 sessions at once with the prefix cache on and off, and one more with the cache
    on over 3 sessions (differs in task.limit too, so it pairs with none)."""
    from omegaconf import OmegaConf

    from sustain import pipeline
    from tests.fakes import compose_config, fake_run_overrides

    root = tmp_path_factory.mktemp("sessions")
    ids = {}
    for name, extra in {"1-on": ("load.max_in_flight=1", "+engine.args.enable_prefix_caching=true"),
                        "1-off": ("load.max_in_flight=1", "+engine.args.enable_prefix_caching=false"),
                        "2-on": ("load.max_in_flight=2", "+engine.args.enable_prefix_caching=true"),
                        "2-off": ("load.max_in_flight=2", "+engine.args.enable_prefix_caching=false"),
                        "lone": ("load.max_in_flight=2", "+engine.args.enable_prefix_caching=true",
                                 "task.limit=3")}.items():
        cfg = compose_config(*fake_run_overrides(root), *SESSION, *extra)
        report = pipeline.run(OmegaConf.to_object(cfg), OmegaConf.to_container(cfg, resolve=True), root / name)
        ids[name] = report.to_dict()["run"]["run_id"]
    return {"uri": f"sqlite:///{root}/mlflow.db", "ids": ids, "root": root}


@pytest.fixture(scope="module")
def report(study, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    assert main(["--tracking-uri", study["uri"], "--out", str(out)]) == 0
    return out


def test_one_row_per_sessions_run_with_its_metrics_and_sweep_settings(study, report):
    from mlflow.tracking import MlflowClient

    runs = pd.read_csv(report / "sessions.csv").set_index("run_id")
    assert set(runs.index) == set(study["ids"].values())
    on = runs.loc[study["ids"]["2-on"]]
    logged = MlflowClient(tracking_uri=study["uri"]).get_run(study["ids"]["2-on"]).data.metrics
    for metric in ("sessions_completed", "energy_per_session_j", "sessions_per_kwh", "session_latency_s_p90",
                   "prefix_cache_hit_rate", "session_idle_energy_j"):
        assert on[metric] == pytest.approx(logged[metric])
    assert (on["max_in_flight"], on["prefix_caching"], on["sessions"], on["sessions_completed"]) == (2, True, 4, 4)
    assert on["label"] == "smollm2_135m, 4 sessions, 2 at once, prefix cache on"
    assert runs.loc[study["ids"]["lone"], "label"] == "smollm2_135m, 3 sessions, 2 at once, prefix cache on"
    # the embedded set's first sessions declare expected ends the fake engine's replies do not meet
    assert (on["sessions_scored"], on["sessions_succeeded"]) == (4, 0)
    assert runs.loc[study["ids"]["lone"], "sessions"] == 3


def test_one_point_per_completed_session_from_each_runs_table(study, report):
    points = pd.read_csv(report / "sessions_points.csv")
    assert len(points) == 4 * 4 + 3 and points.groupby("run_id").size().to_dict()[study["ids"]["lone"]] == 3
    table = pd.read_csv(study["root"] / "1-off" / "sessions.csv").set_index("session")
    mine = points[points["run_id"] == study["ids"]["1-off"]].set_index("session")
    assert mine["energy_j"].to_dict() == pytest.approx(table["energy_j"].to_dict())
    assert (mine["turns"] == table["requests"]).all() and (mine["prompt_tokens"] == table["prompt_tokens"]).all()


def test_runs_differing_only_in_the_prefix_cache_are_paired(study, report):
    pairs = pd.read_csv(report / "sessions_prefix_cache.csv")
    ids = study["ids"]
    assert pairs[["run_on", "run_off"]].values.tolist() == [[ids["1-on"], ids["1-off"]], [ids["2-on"], ids["2-off"]]]
    runs = pd.read_csv(report / "sessions.csv").set_index("run_id")
    row = pairs.iloc[1]
    assert row["configuration"] == "smollm2_135m, 4 sessions, 2 at once"
    assert row["energy_ratio"] == pytest.approx(runs.loc[ids["2-on"], "energy_per_session_j"]
                                                / runs.loc[ids["2-off"], "energy_per_session_j"])
    assert row["latency_ratio"] == pytest.approx(runs.loc[ids["2-on"], "session_latency_s_p90"]
                                                 / runs.loc[ids["2-off"], "session_latency_s_p90"])


def test_the_section_is_in_the_page_with_its_figures(report):
    for name in ("sessions_energy.png", "sessions_prefix_cache.png"):
        assert (report / name).stat().st_size > 10_000
    page = (report / "report.html").read_text()
    for heading in ("Sessions: per run", "Sessions: energy per completed session", "Sessions: the prefix cache"):
        assert heading in page
    assert 'alt="sessions_energy.png"' in page and 'alt="sessions_prefix_cache.png"' in page
    assert "smollm2_135m, 4 sessions, 1 at once" in (report / "sessions.md").read_text()


def test_without_a_pair_the_section_says_how_to_get_one(study, tmp_path):
    out = tmp_path / "r"
    assert main(["--tracking-uri", study["uri"], "--tag", f"sustain.config_hash={_hash(study, 'lone')}",
                 "--out", str(out)]) == 0
    assert not (out / "sessions_prefix_cache.csv").exists() and (out / "sessions_energy.png").exists()
    assert "python -m sustain -m experiment=agent_sessions" in (out / "report.html").read_text()


def test_a_report_without_sessions_runs_has_no_sessions_section(fake_run, tmp_path):
    fake_run("task.limit=4")
    out = tmp_path / "r"
    assert main(["--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db", "--out", str(out)]) == 0
    assert not list(out.glob("sessions*")) and "Sessions" not in (out / "report.html").read_text()


def test_a_run_without_a_sessions_table_is_listed_without_points(tmp_path):
    import time

    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("sustain", artifact_location=(tmp_path / "artifacts").as_uri())
    run = client.create_run(exp, run_name="older", tags={"model": "m", "task": "sessions"}).info.run_id
    metrics = {"sessions": 2, "sessions_completed": 2, "energy_per_session_j": 5.0, "energy_per_request_j_mean": 1.0,
               "decode_latency_s_mean": 1.0, "quality": 1.0}
    client.log_batch(run, metrics=[Metric(k, v, int(time.time() * 1000), 0) for k, v in metrics.items()],
                     params=[Param("load.name", "burst"), Param(sessions.PREFIX_KEY, "False")])
    client.set_terminated(run)
    out = tmp_path / "r"
    assert main(["--tracking-uri", uri, "--out", str(out)]) == 0
    row = pd.read_csv(out / "sessions.csv").iloc[0]
    assert (row["label"], row["energy_per_session_j"], row["prefix_caching"]) == (
        "m, all at once, prefix cache off", 5.0, False)
    assert pd.isna(row["sessions_succeeded"]) and pd.read_csv(out / "sessions_points.csv").empty
    page = (out / "report.html").read_text()
    assert "No sessions table was logged by m, all at once, prefix cache off" in page and "nothing to draw" in page
    assert not (out / "sessions_energy.png").exists()


def _hash(study, name):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=study["uri"]).get_run(study["ids"][name]).data.tags["sustain.config_hash"]


def _runs(rows):
    return pd.DataFrame([{"run_id": r, "start_time": t, "prefix_caching": c, "setting": r, "energy_per_session_j": e,
                          "session_latency_s_p90": 1.0, "prefix_cache_hit_rate": None}
                         for r, t, c, e in rows])


def test_pairing_keeps_the_newest_of_each_side_and_ignores_where_a_run_was_logged():
    runs = _runs([("old-on", 1, "true", 9.0), ("on", 3, "true", 2.0), ("off", 2, "false", 4.0),
                  ("other", 4, "false", 1.0), ("unset", 5, None, 1.0)])
    same = {"task.limit": "4", "load.max_in_flight": "2"}
    params = {"old-on": {**same, "run_name": "a", "tracking.uri": "x"}, "on": {**same, "run_name": "b"},
              "off": {**same, "run_name": "c", "checkpoint_dir": "/elsewhere"},
              "other": {**same, "task.limit": "5"}, "unset": same}
    for p, run in zip(params.values(), runs.itertuples()):
        if isinstance(run.prefix_caching, str):
            p[sessions.PREFIX_KEY] = run.prefix_caching.capitalize()
    pairs = sessions.prefix_cache_pairs(runs, params)
    assert pairs[["run_on", "run_off", "energy_ratio", "latency_ratio"]].values.tolist() == [["on", "off", 0.5, 1.0]]
    assert sessions.prefix_cache_pairs(runs[runs["run_id"] != "off"], params).empty
