"""The hallucination task on the plugin interface scores exactly as the paper's parser and F1 did."""

import pytest

from sustain.metrics.quality import classification_report, parse_output
from sustain.tasks.base import TaskConfig
from sustain.tasks.hallucination import OUTPUT_SCHEMA, SYSTEM_PROMPT, HallucinationTask
from sustain.errors import SustainError

OUTPUTS = [
    '{"result": "GROUNDED", "sources": ["context[0]"], "reason": "ok"}',
    '```json\n{"result": "small talk", "sources": [], "reason": "hi"}\n```',
    'Sure! {"result": "UNGROUNDED", "sources": [], "reason": "x"}',
    "<think>hmm</think>{\"result\": \"UNGROUNDED\"}",
    "not json at all",
    '{"result": "MAYBE"}',
]


@pytest.fixture
def task():
    t = HallucinationTask(TaskConfig(limit=len(OUTPUTS)))
    t.load()
    return t


def test_same_labels_and_same_f1_as_the_parser_and_report(task):
    preds = [task.predict(rid, out) for rid, out in zip(task.ids, OUTPUTS)]
    gold = [task.examples[rid].label for rid in task.ids]
    stripped = [out.split("</think>")[-1] for out in OUTPUTS]
    expected = classification_report(gold, [parse_output(o).label for o in stripped])
    quality = task.score(preds)
    assert [p.predicted for p in preds] == [parse_output(o).label for o in stripped]
    assert quality.primary == "macro_f1" and quality.value == expected.macro_f1
    assert quality.metrics == expected.to_metrics() and quality.details["confusion"] == expected.confusion
    assert quality.n_correct == sum(p == g for p, g in zip([p.predicted for p in preds], gold))


def test_requests_keep_the_papers_prompt_and_a_failed_request_is_an_error(task):
    [first] = task.requests()[:1]
    assert first.messages[0] == {"role": "system", "content": SYSTEM_PROMPT}
    failed = task.predict(task.ids[0], None, "engine said no")
    assert (failed.predicted, failed.correct, failed.parse_error) == ("Error", False, "engine said no")


def test_decoding_offers_the_json_schema_only(task):
    task.cfg.decoding = "json_schema"
    assert task.decoding().json_schema == OUTPUT_SCHEMA
    task.cfg.decoding = "choice"
    with pytest.raises(SustainError, match="task.decoding=choice is not offered by task=hallucination"):
        task.decoding()


def test_the_judge_item_is_task_neutral(task):
    item = task.judge_item(task.ids[0], "<think>x</think>answer")
    assert item.output == "answer" and '"response"' in item.input and item.reference


def test_long_prompts_reach_the_papers_lengths_without_moving_the_original_sources():
    from sustain.tasks.hallucination import CHARS_PER_TOKEN, HallucinationConfig

    short = HallucinationTask(HallucinationConfig(limit=40))
    short.load()
    long = HallucinationTask(HallucinationConfig(limit=40, pad_context_tokens=8000, pad_max_tokens=25_500))
    long.load()
    lengths = [len(str(r.messages)) / CHARS_PER_TOKEN for r in long.requests()]
    assert 6500 < sum(lengths) / len(lengths) < 9500 and max(lengths) < 25_500 + 400
    for rid in short.ids:
        n = len(short.examples[rid].context)
        assert long.examples[rid].context[:n] == short.examples[rid].context
        assert long.examples[rid].label == short.examples[rid].label
