import json

import pytest

from sustain.judge.cache import AnswerCache, key
from sustain.judge.rubric import LEVELS, RUBRIC, JudgeItem, normalise
from sustain.tasks.hallucination import item_for
from sustain.tasks.hallucination import Example


@pytest.mark.parametrize("raw, score", [(1, 0.0), (2, 0.5), (3, 1.0), (3.0, 1.0), (2.0, 0.5)])
def test_levels_map_to_the_papers_scale(raw, score):
    assert normalise(raw) == score


@pytest.mark.parametrize("raw", [0, 4, 5, -1, 2.5, "3", None, True, float("nan")])
def test_anything_else_is_rejected(raw):
    with pytest.raises(ValueError, match="not one of the rubric's levels"):
        normalise(raw)


def test_rubric_has_the_papers_three_levels():
    assert list(RUBRIC) == ["score1_description", "score2_description", "score3_description"]
    assert sorted(LEVELS) == [1, 2, 3]
    assert "factually incorrect, misleading, or irrelevant" in RUBRIC["score1_description"]
    assert "partially correct" in RUBRIC["score2_description"]
    assert "factually accurate, relevant, and clearly addresses" in RUBRIC["score3_description"]


def _example(reference):
    return Example(id="cs-9", context=["Doc"], functions=[{"name": "f", "arguments": {}, "result": 1}],
                   conversation_history=[{"role": "user", "content": "hi"}], response="Hello",
                   label="SMALL_TALK", reference=reference)


def test_item_for_uses_the_agent_input_and_the_reference_answer():
    ref = {"result": "SMALL_TALK", "sources": [], "reason": "A greeting."}
    item = item_for(_example(ref), '{"result": "GROUNDED"}')
    assert item.id == "cs-9" and item.output == '{"result": "GROUNDED"}'
    assert json.loads(item.input) == _example(ref).agent_input()
    assert json.loads(item.reference) == ref


def test_item_for_falls_back_to_the_label():
    assert item_for(_example(None), "x").reference == "SMALL_TALK"


def test_prompt_is_ragas_rubric_prompt_without_off_scale_examples():
    from openai import AsyncOpenAI
    from ragas.llms import llm_factory

    from sustain.judge.rubric import prompt_text, scoring_metric

    metric = scoring_metric(llm_factory("m", client=AsyncOpenAI(base_url="http://127.0.0.1:9/v1", api_key="x")))
    text = prompt_text(metric, JudgeItem("i", "IN", "OUT", "REF"))
    assert "Scoring Rubrics:\nscore1_description: The response is factually incorrect" in text
    assert "EXAMPLES" not in text and '"score": 5' not in text
    assert '"user_input": "IN"' in text and '"response": "OUT"' in text and '"reference": "REF"' in text


def test_cache_key_depends_on_judge_and_prompt(tmp_path):
    assert key({"model": "a"}, "p") == key({"model": "a"}, "p")
    assert key({"model": "a"}, "p") != key({"model": "b"}, "p") != key({"model": "a"}, "q")
    store = AnswerCache(tmp_path)
    digest = key({"model": "a"}, "p")
    assert store.get(digest) is None
    store.put(digest, 3, "fine")
    assert store.get(digest) == {"raw_score": 3, "feedback": "fine"}
    (tmp_path / digest[:2] / f"{digest}.json").write_text("{half")
    assert store.get(digest) is None
    assert AnswerCache(None).get(digest) is None
