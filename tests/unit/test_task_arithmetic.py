"""The arithmetic task: reading the final number, exact match, bad input."""

import json
from decimal import Decimal

import pytest

from sustain.errors import SustainError
from sustain.tasks.arithmetic import ArithmeticConfig, ArithmeticTask, final_number


@pytest.mark.parametrize("text, number", [
    ("Answer: 42", "42"),
    ("3 + 4 = 7, so 7 * 6 = 42.\nAnswer: 42", "42"),
    ("The answer is $1,234.50 in total", "1234.50"),
    ("**Answer:** -5", "-5"),
    ("#### 17", "17"),
    ("\\boxed{99}", "99"),
    ("answer = 3 at first; Answer: 8, and 10 more", "8"),  # the last marker wins over later numbers
    ("12 apples then 13 pears", "13"),  # no marker: the last number
    ("ANSWER IS 5 litres", "5"),
])
def test_final_number(text, number):
    assert final_number(text) == Decimal(number)


def test_no_number():
    assert final_number("I cannot tell.") is None


def make(tmp_path, rows, **kw):
    path = tmp_path / "a.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    task = ArithmeticTask(ArithmeticConfig(dataset=str(path), **kw))
    task.load()
    return task


ROWS = [{"id": "p1", "question": "2+3?", "answer": 5}, {"id": "p2", "question": "half of 5?", "answer": "2.50"},
        {"id": "p3", "question": "1000+234?", "answer": 1234}]


def test_exact_match_scored_by_hand(tmp_path):
    task = make(tmp_path, ROWS)
    preds = [
        task.predict("p1", "<think>2+3 is 6? no, 5</think>Answer: 5"),
        task.predict("p2", "Half of 5 is 2.5.\nAnswer: 2.5"),
        task.predict("p3", "I do not know."),
    ]
    assert [p.correct for p in preds] == [True, True, False]
    assert preds[1].predicted == "2.5" and preds[1].gold == "2.5"
    assert preds[2].parse_error == "no number in the output"
    result = task.score(preds)
    assert result.primary == "exact_match" and result.value == pytest.approx(2 / 3)
    assert result.metrics["answered_rate"] == pytest.approx(2 / 3) and result.n_correct == 2


def test_reasoning_numbers_do_not_count_when_stripped(tmp_path):
    task = make(tmp_path, ROWS)
    assert not task.predict("p1", "<think>maybe 5</think>I give up").correct
    assert task.predict("p1", "<think>maybe 5</think>I give up", None).parse_error == "no number in the output"


def test_failed_request(tmp_path):
    pred = make(tmp_path, ROWS).predict("p1", None, "engine died")
    assert not pred.correct and "engine died" in pred.parse_error


def test_bad_input(tmp_path):
    with pytest.raises(SustainError, match="line 2: field 'answer' is 'many', not a number"):
        make(tmp_path, [ROWS[0], {"id": "x", "question": "?", "answer": "many"}])
    with pytest.raises(SustainError, match="line 1: field 'question' is missing"):
        make(tmp_path, [{"id": "x", "answer": 1}])
    with pytest.raises(SustainError, match="repeats 'p1'"):
        make(tmp_path, [ROWS[0], ROWS[0]])
    with pytest.raises(SustainError, match="selects no example"):
        make(tmp_path, ROWS, limit=0)
    with pytest.raises(SustainError, match="not offered by task=arithmetic"):
        make(tmp_path, ROWS, decoding="json_schema").decoding()


def test_embedded_and_judge_item():
    task = ArithmeticTask(ArithmeticConfig(limit=3))
    task.load()
    assert len(task.ids) == 3 and task.source.endswith("arithmetic.jsonl")
    item = task.judge_item(task.ids[0], "Answer: 1")
    assert item.reference == str(task.example_field(task.ids[0], "answer"))
