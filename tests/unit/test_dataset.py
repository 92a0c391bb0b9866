import json
from pathlib import Path

import pytest

from sustain.errors import SustainError
from sustain.tasks import hallucination
from sustain.tasks.examples import Row

GOOD = {
    "id": "x1",
    "context": ["Refunds take 5 days."],
    "functions": [{"name": "get_order", "arguments": {"id": 1}, "result": {"status": "shipped"}}],
    "conversation_history": [{"role": "user", "content": "Where is my order?"}],
    "response": "It has shipped.",
    "label": "GROUNDED",
}


def write(tmp_path, *objs_or_lines):
    path = tmp_path / "data.jsonl"
    lines = [o if isinstance(o, str) else json.dumps(o) for o in objs_or_lines]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_embedded_dataset_loads_with_all_three_labels():
    ds = hallucination.load("embedded")
    counts = ds.label_counts()
    assert len(ds.examples) >= 120
    assert all(counts[label] > 0 for label in hallucination.LABELS)
    assert counts["GROUNDED"] > counts["SMALL_TALK"] and counts["GROUNDED"] > counts["UNGROUNDED"]


def test_limit_takes_the_first_examples(tmp_path):
    path = write(tmp_path, GOOD, {**GOOD, "id": "x2"}, {**GOOD, "id": "x3"})
    assert [e.id for e in hallucination.load(str(path), limit=2).examples] == ["x1", "x2"]


def test_missing_file_names_the_path_and_the_fix(tmp_path):
    with pytest.raises(SustainError, match=r"does not exist: pass an existing JSONL file as task\.dataset="):
        hallucination.load(str(tmp_path / "nope.jsonl"))


def test_malformed_json_names_file_and_line(tmp_path):
    path = write(tmp_path, GOOD, '{"id": "x2", "context": [')
    with pytest.raises(SustainError, match=r"data\.jsonl, line 2 is not valid JSON"):
        hallucination.load(str(path))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"response": None}, "'response' must be a string"),
        ({"context": "just text"}, "'context' must be a list"),
        ({"label": "MAYBE"}, "'label' is 'MAYBE'"),
        ({"functions": [{"arguments": {}}]}, r"'functions\[0\]' must be an object"),
        ({"conversation_history": [{"role": "user"}]}, r"'conversation_history\[0\]'"),
    ],
)
def test_bad_field_is_named(tmp_path, change, field):
    path = write(tmp_path, GOOD, {**GOOD, "id": "x2", **change})
    with pytest.raises(SustainError, match=rf"line 2: field {field}"):
        hallucination.load(str(path))


def test_missing_field_is_named(tmp_path):
    broken = {k: v for k, v in GOOD.items() if k != "label"}
    with pytest.raises(SustainError, match=r"line 1: field 'label' is missing"):
        hallucination.load(str(write(tmp_path, broken)))


def test_duplicate_id_is_refused(tmp_path):
    with pytest.raises(SustainError, match=r"line 2: field 'id' repeats 'x1' from line 1"):
        hallucination.load(str(write(tmp_path, GOOD, GOOD)))


def test_label_spelling_is_normalised(tmp_path):
    ex = hallucination.load(str(write(tmp_path, {**GOOD, "label": "small talk"}))).examples[0]
    assert ex.label == "SMALL_TALK"


def test_prompt_shows_the_input_but_never_the_label():
    ex = hallucination.example(Row(Path("f"), 1, {**GOOD, "reference": {"result": "GROUNDED"}}))
    system, user = ex.messages()
    assert system["role"] == "system" and "GROUNDED" in system["content"]
    shown = json.loads(user["content"])
    assert shown["response"] == "It has shipped."
    assert "label" not in shown and "reference" not in shown
