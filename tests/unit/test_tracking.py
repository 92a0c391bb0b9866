"""The tracker against a real MLflow SQLite store in a tmp folder."""

import pytest

from sustain.errors import SustainError
from sustain.tracking.mlflow_tracker import Tracker


@pytest.fixture
def tracker(tmp_path):
    return Tracker(f"sqlite:///{tmp_path}/mlflow.db", str(tmp_path / "artifacts"), "exp")


def finished_run(tracker, name, tags, metrics):
    run_id = tracker.start(name, tags=tags, params={"a": "1"})
    tracker.log_metrics(metrics)
    tracker.finish()
    return run_id


def test_reference_from_a_run_by_id_and_by_tags(tracker):
    metrics = {"macro_f1": 0.8, "decode_latency_s_mean": 2.0, "energy_per_request_j_mean": 30.0}
    old = finished_run(tracker, "prod-old", {"model": "prod"}, {**metrics, "energy_per_request_j_mean": 99.0})
    new = finished_run(tracker, "prod-new", {"model": "prod"}, metrics)
    by_id = tracker.reference_from_run(old, {}, "macro_f1")
    assert by_id.energy_j == 99.0 and old in by_id.name
    by_tags = tracker.reference_from_run(None, {"model": "prod"}, "macro_f1")
    assert (by_tags.quality, by_tags.decode_latency_s, by_tags.energy_j) == (0.8, 2.0, 30.0)
    assert new in by_tags.source


def test_reference_run_must_exist_and_carry_the_figures(tracker):
    with pytest.raises(SustainError, match="No finished run"):
        tracker.reference_from_run(None, {"model": "nothing"}, "macro_f1")
    partial = finished_run(tracker, "half", {"model": "half"}, {"macro_f1": 0.5})
    with pytest.raises(SustainError, match="has no decode_latency_s_mean, energy_per_request_j_mean"):
        tracker.reference_from_run(partial, {}, "macro_f1")


def test_failed_runs_keep_their_error_and_are_never_reused(tracker):
    run_id = tracker.start("broken", tags={"sustain.config_hash": "h1"}, params={})
    tracker.fail("out_of_memory", "KV cache too small")
    run = tracker.client.get_run(run_id)
    assert run.info.status == "FAILED" and run.data.tags["error.kind"] == "out_of_memory"
    assert tracker.finished_run_with_tag("sustain.config_hash", "h1") is None
    done = finished_run(tracker, "ok", {"sustain.config_hash": "h1"}, {"x": 1.0})
    assert tracker.finished_run_with_tag("sustain.config_hash", "h1") == done


def test_non_finite_metrics_are_not_logged(tracker):
    run_id = tracker.start("nan", tags={}, params={})
    tracker.log_metrics({"good": 1.0, "bad": float("nan"), "inf": float("inf")})
    assert tracker.client.get_run(run_id).data.metrics == {"good": 1.0}


def test_the_experiment_is_classic_so_the_ui_opens_on_its_runs(tracker, tmp_path):
    from sustain.tracking.mlflow_tracker import CLASSIC_KIND, EXPERIMENT_KIND_TAG

    assert tracker.client.get_experiment(tracker.experiment_id).tags[EXPERIMENT_KIND_TAG] == CLASSIC_KIND
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    made_by_hand = tracker.client.create_experiment("by-hand")
    again = Tracker(uri, str(tmp_path / "artifacts"), "by-hand")
    assert again.experiment_id == made_by_hand
    assert again.client.get_experiment(made_by_hand).tags[EXPERIMENT_KIND_TAG] == CLASSIC_KIND


def test_dataset_input_names_digest_source_and_rows(tracker, tmp_path):
    data = tmp_path / "mine.jsonl"
    data.write_text('{"id": "a"}\n{"id": "b"}\n')
    run_id = tracker.start("ds", tags={}, params={})
    tracker.log_dataset("mine", data, rows=2)
    (logged,) = tracker.client.get_run(run_id).inputs.dataset_inputs
    assert logged.dataset.name == "mine" and len(logged.dataset.digest) == 16
    assert data.as_uri() in logged.dataset.source and '"num_rows": 2' in logged.dataset.profile
    assert [t.value for t in logged.tags] == ["evaluation"]


def test_power_timeline_is_a_step_metric_on_the_runs_clock(tracker):
    run_id = tracker.start("power", tags={}, params={})
    rows = [{"t_s": 100.0 + i / 2, "energy_j": 10.0 * i, "power_w": 20.0 + i} for i in range(1500)]
    tracker.log_power_timeline(rows)
    history = tracker.client.get_metric_history(run_id, "timeline.power_w")
    assert [m.step for m in history][:3] == [0, 1, 2] and len(history) == 1500
    start = tracker.client.get_run(run_id).info.start_time
    assert history[0].timestamp == start and history[4].timestamp == start + 2000
    assert history[-1].value == 1519.0
    assert len(tracker.client.get_metric_history(run_id, "timeline.energy_cumulative_j")) == 1500


def test_requests_are_an_mlflow_table(tracker, tmp_path):
    import json

    run_id = tracker.start("table", tags={}, params={})
    tracker.log_table([{"id": "a", "energy_j": 1.5}, {"id": "b", "energy_j": None}])
    path = tracker.client.download_artifacts(run_id, "requests.json", str(tmp_path))
    table = json.loads(open(path).read())
    assert table["columns"] == ["id", "energy_j"] and table["data"][0] == ["a", 1.5]
    logged = json.loads(tracker.client.get_run(run_id).data.tags["mlflow.loggedArtifacts"])
    assert logged == [{"path": "requests.json", "type": "table"}]


def test_ui_links_open_the_runs_table_with_sustains_columns(tracker):
    import json

    from sustain.tracking.mlflow_tracker import RUNS_VIEW_TAG

    view = json.loads(tracker.client.get_experiment(tracker.experiment_id).tags[RUNS_VIEW_TAG])
    assert "metrics.`energy_per_request_j_mean`" in view["selectedColumns"]
    exp = tracker.experiment_id
    assert tracker.ui_url() == (f"http://127.0.0.1:5000/#/experiments/{exp}/runs"
                                f"?viewStateShareKey=sustain&workflowType=machine_learning")
    assert tracker.ui_url("abc", server="http://h:1/") == \
        f"http://h:1/#/experiments/{exp}/runs/abc?workflowType=machine_learning"


def test_a_sweeps_jobs_open_nested_under_it(tracker):
    parent = tracker.start("study", tags={}, params={})
    child = tracker.start("job", tags={"mlflow.parentRunId": parent}, params={})
    assert tracker.client.get_run(child).data.tags["mlflow.runType"] == "evaluation"
    assert "mlflow.runType" not in tracker.client.get_run(parent).data.tags
