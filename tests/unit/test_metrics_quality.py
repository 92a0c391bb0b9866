import pytest

from sustain.metrics.quality import ERROR, EXTRA_TEXT, classification_report, parse_output

VALID = '{"result": "GROUNDED", "sources": ["context[2]", "functions[1]"], "reason": "verified"}'


def test_valid_output():
    parsed = parse_output(VALID)
    assert parsed.label == "GROUNDED"
    assert parsed.sources == ["context[2]", "functions[1]"]
    assert parsed.reason == "verified"
    assert parsed.error is None


@pytest.mark.parametrize(
    "text",
    [
        f"```json\n{VALID}\n```",
        f"  ```JSON\n{VALID}\n```\n",
        f"```\n{VALID}\n```",
        f"```json {VALID}```",
    ],
)
def test_fenced_output_is_accepted(text):
    assert parse_output(text).label == "GROUNDED"


@pytest.mark.parametrize(
    "text",
    [
        f"Here is my answer: {VALID}",
        f"{VALID}\nThe response is grounded because the function confirmed it.",
        f"```json\n{VALID}\n```\nExplanation: grounded.",
        f"{VALID} {VALID}",
    ],
)
def test_extra_text_is_an_error(text):
    parsed = parse_output(text)
    assert parsed.label == ERROR
    assert parsed.error == EXTRA_TEXT


@pytest.mark.parametrize("text", ['{"result": "GROUNDED"', "{'result': 'GROUNDED'}", "GROUNDED", "", "   "])
def test_invalid_json_is_an_error(text):
    parsed = parse_output(text)
    assert parsed.label == ERROR
    assert parsed.error and parsed.error != EXTRA_TEXT


@pytest.mark.parametrize(
    "text",
    [
        '{"result": "HALLUCINATED"}',
        '{"result": "SMALL-TALK"}',
        '{"result": ["GROUNDED"]}',
        '{"label": "GROUNDED"}',
        '["GROUNDED"]',
    ],
)
def test_label_outside_the_set_is_an_error(text):
    parsed = parse_output(text)
    assert parsed.label == ERROR
    assert parsed.error


@pytest.mark.parametrize(
    ("result", "label"),
    [
        ("grounded", "GROUNDED"),
        ("Ungrounded", "UNGROUNDED"),
        ("small talk", "SMALL_TALK"),
        ("SMALL TALK", "SMALL_TALK"),
        ("Small_Talk", "SMALL_TALK"),
        (" GROUNDED ", "GROUNDED"),
    ],
)
def test_label_normalisation(result, label):
    assert parse_output(f'{{"result": "{result}"}}').label == label


def test_mistyped_sources_and_reason_do_not_make_an_error():
    parsed = parse_output('{"result": "UNGROUNDED", "sources": "context[0]", "reason": 3}')
    assert parsed.label == "UNGROUNDED"
    assert parsed.sources == []
    assert parsed.reason is None


G, U, S = "GROUNDED", "UNGROUNDED", "SMALL_TALK"
REFS = [G, G, G, G, U, U, S, S]
PREDS = [G, G, G, U, U, ERROR, S, G]


def test_report_hand_computed():
    report = classification_report(REFS, PREDS)
    expected = {
        G: {"precision": 3 / 4, "recall": 3 / 4, "f1": 3 / 4, "support": 4},
        U: {"precision": 1 / 2, "recall": 1 / 2, "f1": 1 / 2, "support": 2},
        S: {"precision": 1.0, "recall": 1 / 2, "f1": 2 / 3, "support": 2},
        ERROR: {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0},
    }
    assert report.per_class.keys() == expected.keys()
    for label, scores in expected.items():
        assert report.per_class[label] == pytest.approx(scores)
    assert report.macro_f1 == pytest.approx((3 / 4 + 1 / 2 + 2 / 3 + 0) / 4)
    assert report.accuracy == pytest.approx(5 / 8)
    assert report.error_rate == pytest.approx(1 / 8)
    assert report.n == 8


def test_error_in_confusion_matrix():
    confusion = classification_report(REFS, PREDS).confusion
    assert list(confusion) == [G, U, S, ERROR]
    assert all(list(row) == [G, U, S, ERROR] for row in confusion.values())
    assert confusion[G] == {G: 3, U: 1, S: 0, ERROR: 0}
    assert confusion[U] == {G: 0, U: 1, S: 0, ERROR: 1}
    assert confusion[S] == {G: 1, U: 0, S: 1, ERROR: 0}
    assert confusion[ERROR] == {G: 0, U: 0, S: 0, ERROR: 0}
    assert sum(sum(row.values()) for row in confusion.values()) == 8


def test_macro_f1_skips_labels_absent_from_both_sides():
    report = classification_report([G, G, U], [G, U, U])
    assert set(report.per_class) == {G, U}
    assert report.macro_f1 == pytest.approx(2 / 3)
    assert report.error_rate == 0.0


def test_perfect_predictions():
    report = classification_report(REFS, REFS)
    assert report.macro_f1 == 1.0
    assert report.accuracy == 1.0
    assert report.error_rate == 0.0


def test_to_metrics_flat_keys():
    metrics = classification_report(REFS, PREDS).to_metrics()
    assert metrics["macro_f1"] == pytest.approx(0.4791666)
    assert metrics["error_rate"] == pytest.approx(0.125)
    assert metrics["accuracy"] == pytest.approx(0.625)
    assert metrics["f1_GROUNDED"] == pytest.approx(0.75)
    assert metrics["precision_SMALL_TALK"] == pytest.approx(1.0)
    assert metrics["recall_UNGROUNDED"] == pytest.approx(0.5)
    assert metrics["f1_Error"] == 0.0
    assert all(isinstance(v, float) for v in metrics.values())
    assert all(k.replace("_", "").isalnum() for k in metrics)


@pytest.mark.parametrize(
    ("refs", "preds"),
    [([G, U], [G]), ([], []), ([G], ["grounded"]), (["MAYBE"], [G])],
)
def test_report_rejects_bad_input(refs, preds):
    with pytest.raises(ValueError):
        classification_report(refs, preds)


def test_reasoning_block_is_stripped_before_parsing_only_at_the_start():
    from sustain.metrics.quality import strip_reasoning

    answer = '{"result": "UNGROUNDED", "sources": [], "reason": "r"}'
    assert parse_output(strip_reasoning(f"<think>the fee is {{5}}\nhmm</think>\n{answer}")).label == "UNGROUNDED"
    assert parse_output(f"<think>x</think>{answer}").error == EXTRA_TEXT
    assert parse_output(strip_reasoning(f"the template opened it\n</think>\n\n{answer}")).label == "UNGROUNDED"
    assert strip_reasoning(answer) == answer
