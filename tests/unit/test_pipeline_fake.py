"""The whole pipeline in seconds: a fake engine stands in for vLLM, everything after it is real
(task plugin, estimate meter, attribution, metrics, MLflow on SQLite, artifacts)."""

import json

import pytest

from sustain.errors import SustainError
from sustain.report.summary import format_summary
from sustain.tasks import hallucination
from tests.fakes import FakeEngine


def test_a_run_logs_the_task_metric_energy_per_correct_and_predictions(fake_run):
    summary, out = fake_run()
    m = summary["metrics"]
    gold = [ex.label for ex in hallucination.load("embedded", 12).examples]
    correct = sum(label == "GROUNDED" for label in gold[::2])  # even positions answer GROUNDED
    assert m["n_requests"] == 12 and m["n_correct"] == correct > 0
    assert m["quality"] == m["macro_f1"] and summary["run"]["primary_metric"] == "macro_f1"
    assert m["energy_per_correct_j"] == pytest.approx(m["energy_per_request_j_mean"] * 12 / correct)
    assert m["window_tokens_counted"] > 0 and "window_tokens_uniform" in m
    rows = [json.loads(line) for line in (out / "predictions.jsonl").open()]
    assert {"predicted", "gold", "correct", "output"} <= set(rows[0]) and "label" not in rows[0]
    assert [r["predicted"] for r in rows[:2]] == ["GROUNDED", "Error"]
    assert summary["tags"]["task.primary_metric"] == "macro_f1" and summary["tags"]["engine"] == "vllm"


def test_no_correct_answer_leaves_energy_per_correct_undefined(fake_run, monkeypatch):
    monkeypatch.setattr(FakeEngine, "good", "nope")
    summary, _ = fake_run()
    assert summary["metrics"]["n_correct"] == 0 and "energy_per_correct_j" not in summary["metrics"]
    assert summary["tags"]["energy_per_correct"] == "undefined: no correct answer"


def test_an_unknown_plugin_target_is_one_sentence(fake_run):
    with pytest.raises(SustainError, match=r"task._target_=sustain.tasks.nope.Nope names no class"):
        fake_run("task._target_=sustain.tasks.nope.Nope")


def test_the_reference_is_a_plugin_and_an_om_on_another_measure_is_said_to_be_so(fake_run):
    """Default: GPT-4o's judge score against this run's macro F1, flagged; a reference on the run's own
    measure is comparable; reference=none gives no OM; an earlier run by tags is read through MLflow."""
    first, _ = fake_run(out="a")
    assert first["overall"]["reference"]["quality_metric"] == "judge_score_mean"
    assert first["overall"]["comparable"] is False and first["tags"]["om.comparable"] == "false"
    assert "not like with like: this run's quality against the reference's judge_score_mean" in format_summary(first)

    same, _ = fake_run("reference.quality_metric=quality", "reference.quality=0.5", out="b")
    assert same["overall"]["comparable"] is True and same["metrics"]["reference_quality"] == 0.5

    none, _ = fake_run("reference=none", "rerun=true", out="c")
    assert none["overall"] == {}

    earlier, _ = fake_run("reference=mlflow_run", "+reference.tags={batch_size: '2'}", "rerun=true", out="d")
    assert earlier["overall"]["comparable"] is True and earlier["overall"]["reference"]["name"].startswith(
        "run smollm2_135m")
