"""Energy per sample and per correct sample of each sub-task (`detail["group"]`), worked by hand."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from sustain.metrics.energy import energy_per_group
from sustain.registry import MINIMIZE, registry
from sustain.types import Prediction, QualityResult


def pred(id: str, correct: bool = False, group: str | None = None, sample: str | None = None) -> Prediction:
    detail = {} if group is None else {"group": group, **({} if sample is None else {"sample": sample})}
    return Prediction(id, "x", "y", correct, detail=detail)


def figures(energy: dict[str, float], predictions: list[Prediction]) -> dict[str, float]:
    return energy_per_group(SimpleNamespace(per_request_j=energy), QualityResult("q", {}, predictions))


def test_generations_one_request_per_sample():
    # a/2 failed: no energy, so it is no sample of the per-sample figure, yet still one of a's answers
    out = figures({"a/0": 10.0, "a/1": 20.0},
                  [pred("a/0", True, "a"), pred("a/1", False, "a"), pred("a/2", False, "a")])
    assert out == {"energy_per_sample_j_a": pytest.approx(15.0), "energy_per_correct_j_a": pytest.approx(30.0)}


def test_choices_of_a_document_are_one_sample():
    # doc 0: 1 + 2 + 3 J, right (its first choice says so); doc 1: 4 + 5 J and a choice never measured
    energy = {"b/0/0": 1.0, "b/0/1": 2.0, "b/0/2": 3.0, "b/1/0": 4.0, "b/1/1": 5.0}
    preds = [pred("b/0/0", True, "b", "0"), pred("b/0/1", False, "b", "0"), pred("b/0/2", False, "b", "0"),
             pred("b/1/0", False, "b", "1"), pred("b/1/1", False, "b", "1"), pred("b/1/2", False, "b", "1")]
    out = figures(energy, preds)
    assert out["energy_per_sample_j_b"] == pytest.approx(6.0)  # doc 0 alone is wholly measured
    assert out["energy_per_correct_j_b"] == pytest.approx(15.0)  # every measured request, over 1 right doc


def test_no_correct_sample_means_no_per_correct_figure_and_ungrouped_predictions_are_ignored():
    out = figures({"c/0": 3.0, "x": 100.0, "d/0": 1.0},
                  [pred("c/0", False, "c"), pred("x", True), pred("d/0", True, "d e")])
    assert out == {"energy_per_sample_j_c": 3.0, "energy_per_sample_j_d_e": 1.0, "energy_per_correct_j_d_e": 1.0}
    assert figures({"x": 1.0}, [pred("x", True)]) == {}


def test_groups_are_declared_to_be_minimised():
    for name in ("energy_per_sample_j_gsm8k", "energy_per_correct_j_mmlu_anatomy"):
        assert registry().get(name).direction == MINIMIZE
    assert registry().get("energy_per_correct_j").name == "energy_per_correct_j"
    assert registry().get("energy_per_sample_j_x").name == "energy_per_sample_j_{group}"
