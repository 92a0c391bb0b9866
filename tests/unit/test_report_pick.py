"""`--pick`: the constraint language, the cheapest configuration meeting it, and what came closest, by hand."""

import math

import pandas as pd
import pytest

from sustain.errors import SustainError
from sustain.report import compare, pick

REF = compare.Baseline("ref", energy_j=100.0, decode_latency_s=1.0, judge=0.95, quality=1.0, f1=1.0,
                       quality_metric="macro_f1", source="hand-made")


def runs(rows: list[dict]) -> pd.DataFrame:
    base = {"quantization": "none", "gpus": 1, "measured": True, "origin": "mlflow", "decode_latency_s": 1.0}
    frame = pd.DataFrame([{**base, "run_id": f"r{i}", **r} for i, r in enumerate(rows)], columns=compare.COLUMNS)
    return compare.combine([frame])


SWEEP = runs([
    # model, batch size, energy J, p90 decode s, judge
    {"model": "small", "batch_size": 64, "energy_j": 10, "p90_decode_s": 9.0, "judge": 0.80},
    {"model": "small", "batch_size": 8, "energy_j": 30, "p90_decode_s": 3.0, "judge": 0.80},
    {"model": "mid", "batch_size": 64, "energy_j": 40, "p90_decode_s": 6.0, "judge": 0.92},
    {"model": "mid", "batch_size": 8, "energy_j": 60, "p90_decode_s": 4.0, "judge": 0.91},
    {"model": "big", "batch_size": 8, "energy_j": 200, "p90_decode_s": 4.5, "judge": 0.97},
    {"model": "nojudge", "batch_size": 8, "energy_j": 1, "p90_decode_s": 1.0},
])


def test_parse_aliases_and_operators():
    got = pick.parse("judge>=0.9, p90_decode_s<=5,energy<1e3 ,energy_per_correct>0,quality==1")
    assert [(c.column, c.op, c.bound) for c in got] == [
        ("judge", ">=", 0.9), ("p90_decode_s", "<=", 5.0), ("energy_j", "<", 1000.0),
        ("energy_per_correct_j", ">", 0.0), ("quality", "==", 1.0)]


@pytest.mark.parametrize("bad, named", [
    ("judge=>0.9", "not METRIC OP NUMBER"),
    ("speed<=3", "no known metric 'speed'"),
    ("judge>=high", "not METRIC OP NUMBER"),
    ("judge>=1.2.3", "not a number"),
    (" , ", "holds no constraint"),
])
def test_a_bad_constraint_is_refused_in_one_sentence(bad, named):
    with pytest.raises(SustainError, match=named) as err:
        pick.parse(bad)
    assert "\n" not in str(err.value)


def test_lowest_energy_meeting_every_constraint_and_runner_up():
    answer = pick.pick(SWEEP, "judge>=0.9,p90_decode_s<=5", REF)
    assert (answer.best["model"], answer.best["batch_size"]) == ("mid", 8)
    assert (answer.runner_up["model"], answer.runner_up["batch_size"]) == ("big", 8)
    text = answer.text()
    assert "pick:      mid (batch_size 8, gpus 1; mlflow): 60 J per request (0.60x the reference's 100 J)" in text
    assert "runner-up: big" in text and "2.00x" in text and "judge 0.910 vs 0.950" in text


def test_no_configuration_meets_a_constraint_names_it_and_the_closest():
    answer = pick.pick(SWEEP, "judge>=0.99,p90_decode_s<=5", REF)
    assert answer.best is None and answer.unmet == ["judge>=0.99"]
    assert answer.closest["model"] == "big"  # 2 % short of the judge bound, meets the latency one
    assert "no configuration meets judge>=0.99" in answer.text()
    assert "misses judge>=0.99 (has 0.97)" in answer.text()


def test_constraints_met_apart_but_not_together():
    answer = pick.pick(SWEEP, "judge>=0.95,p90_decode_s<=3.5", REF)
    assert answer.best is None and answer.unmet == []
    assert "none meets them all together" in answer.text()
    # Relative shortfalls summed: small bs8 0.158 (judge) < mid bs8 0.042 + 0.143 < big 0.286 (latency).
    assert (answer.closest["model"], answer.closest["batch_size"]) == ("small", 8)


def test_a_configuration_without_the_metric_does_not_meet_it():
    answer = pick.pick(SWEEP, "judge>=0", REF)
    assert answer.best["model"] == "small" and not math.isnan(answer.best["judge"])


def test_one_answer_per_task():
    both = compare.combine([SWEEP, runs([{"model": "coder", "task": "code", "energy_j": 5, "quality": 0.4,
                                          "quality_metric": "pass_at_1", "p90_decode_s": 2.0}])])
    answers = pick.pick_by_task(both, "quality>=0.3")
    assert [(a.task, a.best is not None) for a in answers] == [("hallucination", False), ("code", True)]
    assert "pass_at_1 0.400" in answers[1].text()
    with pytest.raises(SustainError, match="several tasks"):
        pick.pick(both, "quality>=0.3")
