"""The YAML-declared classification kind: loading, every bad-input sentence, reading answers, scoring."""

import json

import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import get_class
from omegaconf import OmegaConf

from sustain.config import register
from sustain.errors import SustainError
from sustain.metrics.quality import ERROR, EXTRA_TEXT, classification_report
from sustain.tasks.classification import ClassificationConfig, ClassificationTask
from tests.conftest import ROOT

register()

ROWS = [
    {"id": "a", "text": "Profit doubled.", "label": "positive"},
    {"id": "b", "text": "Sales fell.", "label": "negative"},
    {"id": "c", "text": "The meeting is in May.", "label": "neutral"},
]


def write(tmp_path, rows, name="data.jsonl"):
    path = tmp_path / name
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def task(tmp_path, rows=ROWS, **overrides):
    cfg = ClassificationConfig(
        name="sentiment", dataset=str(write(tmp_path, rows)), labels=["positive", "negative", "neutral"],
        system_prompt="Labels: {{ labels | join(', ') }}.", user_prompt="Text: {{ text }}", answer_key="sentiment",
    )
    for key, value in overrides.items():
        setattr(cfg, key, value)
    t = ClassificationTask(cfg)
    t.load()
    return t


def failure(tmp_path, rows=ROWS, **overrides) -> str:
    with pytest.raises(SustainError) as err:
        task(tmp_path, rows, **overrides)
    assert err.value.kind == "input"
    return str(err.value)


def test_requests_render_both_templates(tmp_path):
    t = task(tmp_path)
    assert t.ids == ["a", "b", "c"]
    first = t.requests()[0]
    assert first.messages == [
        {"role": "system", "content": "Labels: positive, negative, neutral."},
        {"role": "user", "content": "Text: Profit doubled."},
    ]


def test_no_system_prompt_means_one_message_and_limit_applies(tmp_path):
    t = task(tmp_path, system_prompt="", limit=2)
    assert t.ids == ["a", "b"] and [m["role"] for m in t.requests()[0].messages] == ["user"]


def test_template_field_missing_from_a_line(tmp_path):
    rows = [*ROWS, {"id": "d", "label": "neutral"}]
    message = failure(tmp_path, rows)
    assert "data.jsonl, line 4: field 'text' named by task.user_prompt is missing" in message
    assert "add it to every line or remove it from the template" in message


def test_template_syntax_error(tmp_path):
    assert "task.user_prompt is not a valid Jinja2 template" in failure(tmp_path, user_prompt="{{ text ")


def test_gold_label_outside_the_label_set(tmp_path):
    message = failure(tmp_path, [*ROWS, {"id": "d", "text": "x", "label": "bullish"}])
    assert "line 4: field 'label' is 'bullish', not one of positive, negative, neutral" in message
    assert "add it to task.labels" in message


def test_gold_label_is_read_under_the_case_rules(tmp_path):
    t = task(tmp_path, [{"id": "a", "text": "x", "label": " Positive "}, ROWS[1]])
    assert t.predict("a", '{"sentiment": "positive"}').correct


def test_empty_dataset(tmp_path):
    assert "holds no example: add one JSON object per line" in failure(tmp_path, ["", "  "])


def test_duplicate_id(tmp_path):
    message = failure(tmp_path, [ROWS[0], ROWS[1], {**ROWS[2], "id": "a"}])
    assert "line 3: field 'id' repeats 'a' from line 1; give every example a unique id." in message


def test_bad_json_line_and_missing_id(tmp_path):
    assert "line 2 is not valid JSON" in failure(tmp_path, [ROWS[0], "{oops"])
    assert "line 1: field 'id' is missing" in failure(tmp_path, [{"text": "x", "label": "neutral"}])


def test_missing_dataset_and_embedded_without_file(tmp_path):
    assert "does not exist" in failure(tmp_path, dataset=str(tmp_path / "nope.jsonl"))
    assert "ships no embedded dataset" in failure(tmp_path, dataset="embedded")


def test_label_set_problems(tmp_path):
    assert "list at least two" in failure(tmp_path, labels=["only"])
    assert "reads the same as 'positive'" in failure(tmp_path, labels=["positive", "Positive "])
    assert "reads the same as 'Error'" in failure(tmp_path, labels=["ok", "error"])
    assert "not a plain name" in failure(tmp_path, labels=["ok", "a,b"])
    assert "task.answer=yaml is not one of json, label" in failure(tmp_path, answer="yaml")


def test_json_answers(tmp_path):
    t = task(tmp_path)
    assert t.read_label('{"sentiment": "Negative"}') == ("negative", None)
    assert t.read_label('```json\n{"sentiment": "  NEUTRAL. "}\n```') == ("neutral", None)
    assert t.read_label('Sure: {"sentiment": "positive"}') == (None, EXTRA_TEXT)
    assert t.read_label('{"label": "positive"}')[1] == 'no string "sentiment" in the object'
    assert t.read_label('["positive"]')[1] == "JSON is a list, not an object"
    assert t.read_label('{"sentiment": "bullish"}')[1].startswith("label 'bullish' is not one of")
    assert t.read_label("")[1] == "empty output"


def test_bare_label_answers_and_case_rules(tmp_path):
    t = task(tmp_path, answer="label")
    assert t.read_label(" Positive.\n") == ("positive", None)
    assert t.read_label("the answer is positive")[0] is None
    strict = task(tmp_path, answer="label", case_sensitive=True)
    assert strict.read_label("Positive")[0] is None and strict.read_label("positive")[0] == "positive"


def test_spaces_collapse_unless_told_otherwise(tmp_path):
    labels = ["very good", "bad"]
    rows = [{"id": "a", "text": "x", "label": "very good"}]
    assert task(tmp_path, rows, labels=labels, answer="label").read_label("very   good")[0] == "very good"
    assert task(tmp_path, rows, labels=labels, answer="label", collapse_spaces=False).read_label("very   good")[0] is None


def test_reasoning_is_stripped_and_failed_requests_are_errors(tmp_path):
    t = task(tmp_path)
    assert t.predict("a", '<think>hmm</think>{"sentiment": "positive"}').correct
    failed = t.predict("b", None, "timeout")
    assert failed.predicted is None and not failed.correct and "timeout" in failed.parse_error


def test_scoring_by_hand(tmp_path):
    t = task(tmp_path)
    preds = [
        t.predict("a", '{"sentiment": "positive"}'),  # right
        t.predict("b", '{"sentiment": "positive"}'),  # wrong
        t.predict("c", "no idea"),  # Error
    ]
    result = t.score(preds)
    assert result.primary == "macro_f1" and result.n_correct == 1
    # positive: P=1/2, R=1, F1=2/3; negative: 0; neutral: 0; Error (predicted once, no support): 0
    assert result.value == pytest.approx((2 / 3) / 4)
    assert result.metrics["accuracy"] == pytest.approx(1 / 3)
    assert result.metrics["precision_positive"] == 0.5 and result.metrics["recall_positive"] == 1.0
    assert result.details["confusion"]["neutral"] == {"positive": 0, "negative": 0, "neutral": 0, ERROR: 1}
    assert result.details["confusion"]["negative"]["positive"] == 1


def test_classification_report_default_labels_unchanged_and_custom_labels():
    report = classification_report(["GROUNDED", "UNGROUNDED"], ["GROUNDED", ERROR])
    assert list(report.confusion) == ["GROUNDED", "UNGROUNDED", "SMALL_TALK", ERROR]
    custom = classification_report(["up", "down"], ["up", "up"], labels=["up", "down"])
    assert list(custom.confusion) == ["up", "down", ERROR]
    assert custom.macro_f1 == pytest.approx((2 / 3 + 0) / 2)
    with pytest.raises(ValueError):
        classification_report(["GROUNDED"], ["up"])


def test_decoding_is_derived_from_the_label_set(tmp_path):
    assert task(tmp_path).decoding() is None
    schema = task(tmp_path, decoding="json_schema").decoding().json_schema
    assert schema["properties"]["sentiment"]["enum"] == ["positive", "negative", "neutral"]
    assert schema["required"] == ["sentiment"]
    assert task(tmp_path, decoding="choice", answer="label").decoding().choice == ["positive", "negative", "neutral"]
    with pytest.raises(SustainError, match="set task.answer=label"):
        task(tmp_path, decoding="choice").decoding()
    with pytest.raises(SustainError, match="not offered"):
        task(tmp_path, decoding="grammar").decoding()


def test_judge_item_uses_the_input_field(tmp_path):
    item = task(tmp_path).judge_item("b", "out")
    assert (item.input, item.output, item.reference) == ("Sales fell.", "out", "negative")


USER_TASK = """\
defaults:
  - classification_schema
_target_: sustain.tasks.classification.ClassificationTask
name: ticket_priority
dataset: {data}
input_field: body
labels: [urgent, normal]
user_prompt: "Ticket: {{{{ body }}}}"
answer: label
"""


def test_a_yaml_only_task_from_a_user_folder_composes(tmp_path):
    data = write(tmp_path, [{"id": 1, "body": "Server down!", "label": "urgent"},
                            {"id": 2, "body": "Typo on page", "label": "normal"}])
    (tmp_path / "conf" / "task").mkdir(parents=True)
    (tmp_path / "conf" / "task" / "ticket_priority.yaml").write_text(USER_TASK.format(data=data))
    with initialize_config_dir(config_dir=str(ROOT / "src" / "sustain" / "conf"), version_base="1.3"):
        cfg = compose(config_name="config",
                      overrides=[f"hydra.searchpath=[file://{tmp_path / 'conf'}]", "task=ticket_priority"])
    typed = OmegaConf.to_object(cfg.task)
    assert isinstance(typed, ClassificationConfig) and typed.name == "ticket_priority"
    t = get_class(typed._target_)(typed)
    t.load()
    assert t.requests()[0].messages == [{"role": "user", "content": "Ticket: Server down!"}]
    assert t.predict("2", "normal").correct


def test_shipped_financial_sentiment_yaml_loads():
    with initialize_config_dir(config_dir=str(ROOT / "src" / "sustain" / "conf"), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["task=financial_sentiment"])
    t = ClassificationTask(OmegaConf.to_object(cfg.task))
    t.load()
    assert len(t.ids) >= 300 and t.cfg.labels == ["positive", "negative", "neutral"]
    assert '{"sentiment": "positive" | "negative" | "neutral"}' in t.requests()[0].messages[0]["content"]
    assert t.predict(t.ids[0], json.dumps({"sentiment": t.example_field(t.ids[0], "label")})).correct
