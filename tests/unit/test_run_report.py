"""The typed run report: one object makes the metrics, tags, summary.json and the terminal summary; every
metric it makes is declared once in the registry, with its direction; a new metric needs nothing else."""

import json

import pytest

from sustain.registry import MAXIMIZE, Metric, registry


def test_every_metric_of_every_task_is_declared_with_a_direction(fake_run):
    for task in ("hallucination", "arithmetic", "financial_sentiment"):
        summary, _ = fake_run(f"task={task}", "rerun=true", out=task)
        for name in summary["metrics"]:
            assert registry().get(name).direction in ("minimize", "maximize", "none"), name


def test_the_zero_quality_om_is_not_logged_as_a_number(fake_run, monkeypatch):
    from tests.fakes import FakeEngine

    monkeypatch.setattr(FakeEngine, "good", "nope")
    summary, out = fake_run("reference.quality_metric=quality")
    assert summary["metrics"]["quality"] == 0.0
    assert "om" not in summary["metrics"] and not any(k.startswith("om_") for k in summary["metrics"])
    assert summary["tags"]["om.meaningful"] == "false" and "not logged" in summary["tags"]["om.absent"]
    assert json.loads((out / "summary.json").read_text())["overall"]["om"] is None


def test_a_burst_has_no_achieved_request_rate(fake_run):
    summary, _ = fake_run()
    assert "achieved_request_rate_req_s" not in summary["metrics"]


def test_a_declared_metric_reaches_summary_mlflow_report_and_search_without_touching_them(fake_run, monkeypatch):
    """A task that computes one more figure, plus its registry entry: nothing else changes."""
    from sustain.report import compare, pick
    from sustain.search.objectives import objectives_from, values_of
    from sustain.tasks.hallucination import HallucinationTask

    metric = Metric("politeness", "1", MAXIMIZE, "over requests", "A made-up figure.", "quality",
                    column="politeness", source=__name__)
    monkeypatch.setitem(registry()._exact, metric.name, metric)  # declared for this test only
    score = HallucinationTask.score

    def scored(self, predictions):
        result = score(self, predictions)
        result.metrics["politeness"] = 0.75
        return result

    monkeypatch.setattr(HallucinationTask, "score", scored)
    summary, out = fake_run()
    assert summary["metrics"]["politeness"] == 0.75
    assert "politeness" in json.loads((out / "summary.json").read_text())["metrics"]
    uri = f"sqlite:///{out.parent}/mlflow.db"
    runs = compare.load_runs(uri)
    assert runs["politeness"].iloc[0] == pytest.approx(0.75)
    assert pick.parse("politeness>=0.5")[0].column == "politeness"
    objectives = objectives_from(["politeness"], [])
    assert objectives[0].direction == "maximize" and values_of(summary["metrics"], objectives) == [0.75]


def test_carbon_is_priced_on_the_whole_node_not_the_headline_alone(fake_run):
    from sustain.metrics import carbon

    summary, _ = fake_run("energy=auto")
    m, basis = summary["metrics"], summary["carbon"]["basis"]
    grid, _ = carbon.grid_intensity("world")
    assert basis.startswith("whole node") and summary["tags"]["carbon.basis"] == basis
    assert m["gco2e_per_request"] == pytest.approx(carbon.carbon_g(m["energy_node_per_request_j_mean"], grid, 1.0))
