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
