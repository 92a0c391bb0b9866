"""task=lm_eval against lm-eval itself: the same requests as lm-eval's evaluator builds, the same scores as
its own scoring of the same outputs (generations and choices' log-probabilities), the refusals, and a whole run."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("lm_eval")

from sustain.errors import SustainError  # noqa: E402
from sustain.registry import MAXIMIZE, registry  # noqa: E402
from sustain.tasks.lm_eval import LmEvalConfig, LmEvalTask, metric_name  # noqa: E402
from sustain.types import Request  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "data" / "lm_eval"
ANSWERS = {  # per question: what the "model" says (the regex filter reads the first, the flexible one the last)
    "Is the claim grounded in the sources?": '{"result": "GROUNDED"}',
    "Is the claim supported?": '{"result": "UNSUPPORTED"} so it is grounded.',
    "Does the source contradict the claim?": "It is CONTRADICTED.",
    "Is the claim grounded in the text?": '{"result": "GROUNDED"}\n\nQuestion: next one',
    "Is the statement made up?": "no idea",
    "Is the summary faithful?": '{"result": "grounded"}',
}


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """The YAMLs' relative data_files are read from the working directory, as lm-eval reads them."""
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(DATA)


def make(**kw) -> LmEvalTask:
    task = LmEvalTask(LmEvalConfig(tasks=["sustain_qa"], include_path=str(DATA), **kw))
    task.load()
    return task


def lm_eval_itself(outputs, task="sustain_qa", **kw):
    """lm-eval's simple_evaluate with a model that records its requests and answers from `outputs` (its
    log-likelihoods from tests.fakes' `fake_logprob`)."""
    from lm_eval import simple_evaluate
    from lm_eval.api.model import LM
    from lm_eval.tasks import TaskManager

    class Recorder(LM):
        seen: list = []

        def generate_until(self, requests, disable_tqdm=False):
            self.seen.extend(r.args for r in requests)
            return [outputs[r.doc["question"]] for r in requests]

        def loglikelihood(self, requests, disable_tqdm=False):
            from tests.fakes import fake_logprob

            self.seen.extend(r.args for r in requests)
            return [fake_logprob(Request("x", [], prompt=ctx, continuation=cont)) for ctx, cont in
                    (r.args for r in requests)]

        def loglikelihood_rolling(self, requests, disable_tqdm=False):
            from tests.fakes import fake_logprob

            self.seen.extend(r.args for r in requests)
            return [fake_logprob(Request("x", [], prompt=r.args[0], rolling=True))[0] for r in requests]

    lm = Recorder()
    lm.seen = []
    result = simple_evaluate(model=lm, tasks=[task], task_manager=TaskManager(include_path=str(DATA)),
                             bootstrap_iters=0, log_samples=False, **kw)
    return lm.seen, result["results"][task]


def test_loads_every_document_with_lm_evals_defaults():
    task = make()
    assert len(task.ids) == 6 and task.ids[0] == "sustain_qa/0"
    req = task.requests()[0]
    assert req.prompt == "Question: Is the claim grounded in the sources?\nAnswer:" and req.messages == []
    assert req.stop == ("\n\n", "Question:") and req.max_tokens == 48 and req.temperature == 0.0
    assert task.primary == "lm_eval_sustain_qa_exact_match_strict-match"


@pytest.mark.parametrize("kw", [{}, {"num_fewshot": 2, "limit": 4}, {"system_instruction": "Be brief."}])
def test_requests_are_the_ones_lm_eval_builds(kw):
    task = make(**kw)
    seen, _ = lm_eval_itself(ANSWERS, **kw)
    assert [(r.prompt, list(r.stop), r.max_tokens) for r in task.requests()] == \
        [(ctx, gen["until"], gen["max_gen_toks"]) for ctx, gen in seen]
    if kw.get("num_fewshot"):
        assert task.requests()[0].prompt.count("Question:") == 3


def test_chat_template_sends_lm_evals_messages():
    task = make(apply_chat_template=True, system_instruction="Be brief.")
    req = task.requests()[0]
    assert req.prompt is None
    assert req.messages == [{"role": "system", "content": "Be brief."},
                            {"role": "user", "content": "Question: Is the claim grounded in the sources?\nAnswer:"}]


def test_gen_kwargs_update_the_tasks_own():
    req = make(gen_kwargs={"max_gen_toks": 7, "until": ["END"]}).requests()[0]
    assert (req.max_tokens, req.stop) == (7, ("END",))
    with pytest.raises(SustainError, match="top_k"):
        make(gen_kwargs={"top_k": 5})


def test_scores_equal_lm_evals_own_scoring():
    task = make()
    preds = [task.predict(i, ANSWERS[task.examples[i].instance.doc["question"]]) for i in task.ids]
    result = task.score(preds)
    _, theirs = lm_eval_itself(ANSWERS)
    for key in ("exact_match,strict-match", "exact_match,flexible-extract"):
        metric, filter_key = key.split(",")
        assert result.metrics[metric_name("sustain_qa", metric, filter_key)] == pytest.approx(theirs[key])
    assert result.value == pytest.approx(2 / 6)  # the regex reads upper case only: "grounded" is no answer
    assert result.metrics["lm_eval_sustain_qa_exact_match_flexible-extract"] == pytest.approx(2 / 6)
    assert [p.correct for p in result.predictions] == [True, False, False, True, False, False]
    assert result.predictions[0].predicted == "GROUNDED" and result.predictions[0].gold == "GROUNDED"
    assert result.details["lm_eval"]["sustain_qa"]["higher_is_better"] == {"exact_match": True}


def test_a_failed_request_is_an_empty_output_and_flagged():
    task = make(limit=2)
    preds = [task.predict("sustain_qa/0", '{"result": "GROUNDED"}'), task.predict("sustain_qa/1", None, "boom")]
    result = task.score(preds)
    assert result.value == 0.5 and result.predictions[1].parse_error == "request failed: boom"
    assert result.flags == ["lm_eval: 1 failed request(s) scored as empty outputs"]


def choices(**kw) -> LmEvalTask:
    task = LmEvalTask(LmEvalConfig(tasks=["sustain_choice"], include_path=str(DATA), **kw))
    task.load()
    return task


def test_each_choice_is_one_scoring_request_as_lm_eval_builds_it():
    task = choices()
    seen, _ = lm_eval_itself(ANSWERS, task="sustain_choice")
    requests = task.requests()
    assert len(requests) == 18 and requests[1].id == "sustain_choice/0/1"
    assert [(r.prompt, r.continuation) for r in requests] == seen
    assert requests[1].continuation == " CONTRADICTED" and requests[1].sampling_overrides() == \
        {"max_tokens": 1, "temperature": 0.0}


def test_choice_scores_equal_lm_evals_own_scoring():
    from tests.fakes import fake_logprob

    task = choices()
    preds = [task.predict(r.id, "x", None, *fake_logprob(r)) for r in task.requests()]
    result = task.score(preds)
    _, theirs = lm_eval_itself(ANSWERS, task="sustain_choice")
    assert result.value == pytest.approx(theirs["acc,none"]) == pytest.approx(0.5)
    assert result.primary == "lm_eval_sustain_choice_acc_none" and result.metrics["n"] == 6
    assert result.n_correct == 3 and not result.flags
    first = {p.id: p for p in result.predictions}["sustain_choice/3/0"]
    assert (first.predicted, first.gold, first.correct) == ("UNSUPPORTED", "GROUNDED", False)
    assert first.detail["logprob"] == fake_logprob(task.examples[first.id].request)[0]


def test_a_document_with_a_failed_choice_is_left_out_and_flagged():
    from tests.fakes import fake_logprob

    task = choices(limit=2)
    preds = [task.predict(r.id, "", "boom", None) if r.id == "sustain_choice/1/2" else
             task.predict(r.id, "x", None, *fake_logprob(r)) for r in task.requests()]
    result = task.score(preds)
    assert result.metrics["n"] == 1 and result.value == 1.0
    assert result.flags == ["lm_eval: 1 document(s) left out of the scores: a log-likelihood request failed"]
    assert {p.id: p for p in result.predictions}["sustain_choice/1/2"].parse_error == "request failed: boom"


def test_rolling_loglikelihood_scores_equal_lm_evals_own_scoring():
    """Perplexity: one request per document with the text lm-eval scores, its log-likelihood read by lm-eval's own
    process_results and aggregations (word and byte perplexity, bits per byte)."""
    from tests.fakes import fake_logprob

    task = LmEvalTask(LmEvalConfig(tasks=["sustain_qa", "sustain_rolling"], include_path=str(DATA)))
    task.load()
    rolling = [r for r in task.requests() if r.rolling]
    seen, theirs = lm_eval_itself(ANSWERS, task="sustain_rolling")
    assert [(r.prompt,) for r in rolling] == seen and len(rolling) == 6
    assert all(r.sampling_overrides() == {"max_tokens": 1, "temperature": 0.0} for r in rolling)
    preds = [task.predict(r.id, "x", None, *fake_logprob(r)) if r.rolling else task.predict(r.id, "no")
             for r in task.requests()]
    result = task.score(preds)
    for metric in ("word_perplexity", "byte_perplexity", "bits_per_byte"):
        assert result.metrics[f"lm_eval_sustain_rolling_{metric}_none"] == pytest.approx(theirs[f"{metric},none"])
    assert registry().get("lm_eval_sustain_rolling_word_perplexity_none").direction == "minimize"
    assert result.primary == "lm_eval_sustain_qa_exact_match_strict-match"


def test_a_run_of_perplexity_alone_is_refused_in_one_sentence():
    task = LmEvalTask(LmEvalConfig(tasks=["sustain_rolling"], include_path=str(DATA)))
    with pytest.raises(SustainError) as err:
        task.load()
    message = str(err.value)
    assert "sustain_rolling has no higher-is-better metric" in message
    assert message.count(". ") == 0 and message.endswith(".")


def test_engines_without_rolling_log_probabilities_refuse_perplexity_before_start(tmp_path):
    from sustain.engines.llamacpp import LlamaCppConfig, LlamaCppEngine
    from sustain.engines.openai import OpenAIEngine, OpenAIEngineConfig

    task = LmEvalTask(LmEvalConfig(tasks=["sustain_qa", "sustain_rolling"], include_path=str(DATA), limit=1))
    task.load()
    for engine in (LlamaCppEngine(LlamaCppConfig()), OpenAIEngine(OpenAIEngineConfig(api_key_env=None))):
        with pytest.raises(SustainError, match=f"engine={engine.name} cannot score whole documents"):
            engine.prepare(_job(task.requests()))


def test_the_vllm_server_gets_each_window_as_token_ids_and_sums_the_predicted_ones():
    from sustain.engines.served import rolling_body
    from sustain.engines.streaming import WINDOWS, window_logprob

    body = rolling_body({"model": "m", "prompt": "text", "stream": True, "stop": ["x"], "max_tokens": 9},
                        [([1], [5, 6, 7]), ([6, 7], [8])])
    assert body[WINDOWS] == [([1, 5, 6, 7], 1), ([6, 7, 8], 2)] and "stream" not in body and "stop" not in body
    assert body["prompt"] == [1, 5, 6, 7]  # a completions body, as the client routes it
    assert (body["echo"], body["logprobs"], body["max_tokens"], body["temperature"]) == (True, 1, 1, 0.0)
    answer = {"choices": [{"logprobs": {"token_logprobs": [None, -1.0, -2.0, -0.5, -9.0],  # the last: generated
                                        "top_logprobs": [None, {"a": -1.0}, {"b": -1.5}, {"c": -0.5}, {"d": -9}]}}]}
    assert window_logprob(answer, 1, 4) == (-3.5, False)  # -2.0 was not its position's top-1
    assert window_logprob(answer, 3, 4) == (-0.5, True)


def test_rolling_windows_are_lm_evals_disjoint_windows():
    from lm_eval.utils import get_rolling_token_windows, make_disjoint_window

    from sustain.engines.rolling import rolling_windows

    for n in (0, 1, 5, 6, 7, 12, 13, 30):
        tokens = list(range(100, 100 + n))
        theirs = [make_disjoint_window(w) for w in get_rolling_token_windows(tokens, 7, 6, 1)]
        assert rolling_windows(tokens, 7, 6) == [tuple(w) for w in theirs], n
        predicted = [t for _, p in rolling_windows(tokens, 7, 6) for t in p]
        assert predicted == tokens  # every token scored once


def test_a_documents_windows_fold_into_one_record():
    from sustain.engines.vllm_worker import RollingDocs

    class Tok:
        bos_token_id, eos_token_id = None, 0

        def encode(self, text):
            return [ord(c) for c in text]

    emitted, ctxlens, overrides = [], {}, {}
    docs = RollingDocs({"d", "empty"}, Tok(), max_model_len=6)  # windows of 4 predicted tokens
    prompts = docs.split([("q", "plain"), ("d", "abcdefghij"), ("empty", "")], ctxlens, overrides, emitted.append)
    assert [rid for rid, _ in prompts] == ["q", "d\x1f0", "d\x1f1", "d\x1f2"]
    assert prompts[1][1] == {"prompt_token_ids": [0, *map(ord, "abcd")]} and ctxlens["d\x1f0"] == 1
    assert [r["id"] for r in emitted] == ["empty"] and emitted[0]["error"]

    def window(k, lp, first, last):
        return {"id": f"d\x1f{k}", "prompt_tokens": 5, "output_tokens": 1, "logprob": lp, "is_greedy": True,
                "arrival_s": first - 1, "scheduled_s": None, "first_token_s": first, "last_token_s": last}

    assert docs.finished(window(1, -2.0, 5.0, 6.0)) is None and docs.finished(window(0, -1.0, 3.0, 4.0)) is None
    record = docs.finished(window(2, -0.5, 7.0, 8.0))
    assert record["id"] == "d" and record["logprob"] == -3.5 and record["is_greedy"]
    assert (record["arrival_s"], record["first_token_s"], record["last_token_s"]) == (2.0, 3.0, 8.0)
    assert record["prompt_tokens"] == 15 and record["output_tokens"] == 3


def test_engines_without_prompt_logprobs_refuse_choices_before_start(tmp_path):
    from sustain.engines.llamacpp import LlamaCppConfig, LlamaCppEngine
    from sustain.engines.openai import OpenAIEngine, OpenAIEngineConfig

    scored = choices(limit=1).requests()
    for engine in (LlamaCppEngine(LlamaCppConfig()), OpenAIEngine(OpenAIEngineConfig(api_key_env=None))):
        with pytest.raises(SustainError, match=f"engine={engine.name} returns no prompt log-probabilities"):
            engine.prepare(_job(scored))


COMPLETIONS = {  # per HumanEval-shaped document: what the "model" completes the prompt with
    0: "    return a + b\n",  # right
    1: "    return min(xs)\n",  # wrong
    2: "    return ' '.join(s.split()[::-1])\nimport os\nos._exit(0)\n",  # right, then exits before the tests
    3: "    return n % 2 == 0\n",  # right
}


def code_task(name="sustain_code", **kw) -> LmEvalTask:
    task = LmEvalTask(LmEvalConfig(tasks=[name], include_path=str(DATA), **kw))
    task.load()
    return task


def test_a_code_task_is_scored_in_the_jail_never_by_its_own_metric():
    """lm-eval's HumanEval shape (prompt + completion, pass@k with k in the metric's kwargs): the YAML's own
    metric raises if called, so a score at all shows sustain's jailed pass@k replaced it."""
    task = code_task()
    assert task.primary == "lm_eval_sustain_code_pass_1_create_test"
    predictions = [task.predict(item.id, COMPLETIONS[item.instance.doc_id]) for item in task.examples.values()]
    result = task.score(predictions)
    assert result.metrics["lm_eval_sustain_code_pass_1_create_test"] == pytest.approx(0.5)
    by_doc = {task.examples[p.id].instance.doc_id: p for p in result.predictions}
    assert [by_doc[d].correct for d in range(4)] == [True, False, False, True]
    assert by_doc[0].detail["result"] == "passed"
    assert "failed: AssertionError" in by_doc[1].detail["result"]
    assert by_doc[2].detail["result"].startswith("program exited before the tests ran")
    assert result.tags["code.jail"] == "bwrap" and result.flags == []
    assert registry().get(result.primary).direction == MAXIMIZE


def test_an_mbpp_shaped_code_task_scores_its_pass_at_1_float_and_the_references_all_pass():
    task = code_task("sustain_code_mbpp")
    assert task.primary == "lm_eval_sustain_code_mbpp_pass_at_1_none"
    docs = {item.id: item.instance.doc for item in task.examples.values()}
    result = task.score([task.predict(i, doc["prompt"] + doc["canonical_solution"]) for i, doc in docs.items()])
    assert result.metrics["lm_eval_sustain_code_mbpp_pass_at_1_none"] == 1.0
    assert all(p.correct for p in result.predictions)


def test_each_program_runs_once_however_often_it_is_scored():
    task = code_task()
    predictions = [task.predict(item.id, COMPLETIONS[item.instance.doc_id]) for item in task.examples.values()]
    jailed = task.code["sustain_code"]
    runs = []
    real = jailed.jail.run
    jailed.jail.run = lambda *a, **kw: runs.append(1) or real(*a, **kw)
    task.score(predictions)
    assert runs == []  # predict ran each program; score reads the verdicts
    assert len(jailed.verdicts) == 4


def test_the_process_jail_is_stamped_on_a_code_tasks_scores():
    task = code_task(jail="process")
    result = task.score([task.predict(item.id, COMPLETIONS[item.instance.doc_id]) for item in task.examples.values()])
    assert result.tags["code.jail"] == "process"
    assert any("WITHOUT the bubblewrap jail" in flag for flag in result.flags)


def test_unknown_task_and_no_task_are_one_sentence():
    with pytest.raises(SustainError, match="knows no task 'no_such_task'"):
        LmEvalTask(LmEvalConfig(tasks=["no_such_task"], include_path=str(DATA))).load()
    with pytest.raises(SustainError, match="task.tasks"):
        LmEvalTask(LmEvalConfig()).load()


def test_declared_directions_are_lm_evals_own():
    from lm_eval.api.registry import HIGHER_IS_BETTER_REGISTRY
    import lm_eval.api.metrics  # noqa: F401  (registers the metrics)

    from sustain.tasks import lm_eval as module

    assert module._KNOWN == {k: HIGHER_IS_BETTER_REGISTRY.get(k) for k in HIGHER_IS_BETTER_REGISTRY.keys()}
    reg = registry()
    assert reg.get("lm_eval_gsm8k_exact_match_strict-match").direction == MAXIMIZE
    assert reg.get("lm_eval_wikitext_word_perplexity_none").direction == "minimize"
    assert reg.get("lm_eval_arc_easy_acc_norm_none").name == "lm_eval_{task}_acc_norm_{filter}"
    assert reg.get("lm_eval_truthfulqa_gen_rouge1_max").direction == "none"


def test_pipeline_logs_lm_evals_metrics(fake_run):
    summary, out = fake_run("task=lm_eval", "task.tasks=[sustain_qa]", f"task.include_path={DATA}")
    metrics = summary["metrics"]
    # the fake engine answers '{"result": "GROUNDED", ...}' to every other request, prose to the rest
    # docs 0, 2 and 4 get the JSON answer; only doc 0's gold is GROUNDED
    assert metrics["lm_eval_sustain_qa_exact_match_strict-match"] == pytest.approx(1 / 6)
    assert metrics["quality"] == metrics["lm_eval_sustain_qa_exact_match_strict-match"]
    assert metrics["n"] == 6 and metrics["n_correct"] == 1
    assert "lm_eval_sustain_qa_exact_match_flexible-extract" in metrics
    assert summary["tags"]["task.primary_metric"] == "lm_eval_sustain_qa_exact_match_strict-match"
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 6 and rows[0]["lm_eval_task"] == "sustain_qa"


def _job(requests):
    from types import SimpleNamespace

    from sustain.engines.base import Sampling

    model = SimpleNamespace(name="m", path="m", dtype="auto", trust_remote_code=False, max_model_len=None,
                            chat_template_kwargs={"enable_thinking": False})
    return SimpleNamespace(model=model, quantization=SimpleNamespace(method=None), batch_size=2, gpus=1,
                           requests=requests, sampling=Sampling(256, 0.7, 1.0, 0), decoding=None, verbose=False,
                           sessions=[], history="generated")


def test_raw_prompts_and_stops_reach_the_engines(tmp_path):
    from sustain.engines.openai import OpenAIEngine, OpenAIEngineConfig
    from sustain.engines.streaming import _read_chunk, new_state, path_of
    from sustain.engines.vllm import VllmEngine, VllmEngineConfig

    raw, chat = make(limit=1).requests()[0], Request("c", [{"role": "user", "content": "hi"}])
    body = OpenAIEngine(OpenAIEngineConfig(api_key_env=None)).request_body(_job([raw]), raw)
    assert body["prompt"] == raw.prompt and "messages" not in body and "chat_template_kwargs" not in body
    assert (body["stop"], body["max_tokens"], body["temperature"]) == (["\n\n", "Question:"], 48, 0.0)
    assert path_of(body) == "/completions"
    chat_body = OpenAIEngine(OpenAIEngineConfig(api_key_env=None)).request_body(_job([chat]), chat)
    assert path_of(chat_body) == "/chat/completions" and "stop" not in chat_body and chat_body["max_tokens"] == 256
    times, text, state = [], [], new_state()
    _read_chunk({"choices": [{"text": " GROUNDED", "finish_reason": "stop"}]}, times, text, state)
    assert text == [" GROUNDED"] and len(times) == 1 and state["finish_reason"] == "stop"

    engine = VllmEngine(VllmEngineConfig())
    engine.model_path = "m"
    spec = engine.spec(_job([raw, chat]), tmp_path / "engine.log")
    assert spec["prompts"] == {raw.id: raw.prompt} and list(spec["overrides"]) == [raw.id]
    assert spec["overrides"][raw.id] == {"stop": ["\n\n", "Question:"], "max_tokens": 48, "temperature": 0.0}


def test_vllm_worker_sums_the_continuations_prompt_logprobs(tmp_path):
    import re
    from types import SimpleNamespace as Logprob

    from sustain.engines.vllm import VllmEngine, VllmEngineConfig
    from sustain.engines.vllm_worker import continuation_score, encode_pair

    vocab: dict[str, int] = {}

    class Words:  # a tokenizer whose tokens are words with their leading space
        def encode(self, text):
            return [vocab.setdefault(w, len(vocab)) for w in re.findall(r" ?\S+| +$", text)]

    ids, ctxlen = encode_pair(Words(), "Question: q\nAnswer: ", "GROUNDED now")
    assert ctxlen == 3 and [list(vocab)[i] for i in ids[ctxlen:]] == [" GROUNDED", " now"]
    other = len(vocab) + 7
    prompt_logprobs = [None, {ids[1]: Logprob(logprob=-1.0, rank=1)}, {ids[2]: Logprob(logprob=-2.0, rank=1)},
                       {ids[3]: Logprob(logprob=-0.25, rank=1)},
                       {ids[4]: Logprob(logprob=-1.5, rank=2), other: Logprob(logprob=-0.5, rank=1)}]
    assert continuation_score(prompt_logprobs, ids, ctxlen) == (-1.75, False)
    assert continuation_score(prompt_logprobs[:4], ids[:4], ctxlen) == (-0.25, True)

    scored = choices(limit=1).requests()[0]
    engine = VllmEngine(VllmEngineConfig())
    engine.model_path = "m"
    spec = engine.spec(_job([scored]), tmp_path / "engine.log")
    assert spec["continuations"] == {scored.id: " GROUNDED"} and spec["prompts"] == {scored.id: scored.prompt}
    assert spec["overrides"][scored.id] == {"max_tokens": 1, "temperature": 0.0}


def test_pipeline_scores_choices_as_lm_eval_does(fake_run):
    from tests.fakes import FakeScoringEngine

    summary, _ = fake_run("task=lm_eval", "task.tasks=[sustain_choice]", f"task.include_path={DATA}",
                          f"engine._target_={FakeScoringEngine.__module__}.FakeScoringEngine", "task.limit=null")
    _, theirs = lm_eval_itself(ANSWERS, task="sustain_choice")
    assert summary["metrics"]["lm_eval_sustain_choice_acc_none"] == pytest.approx(theirs["acc,none"])
    assert summary["metrics"]["n_correct"] == 3


def test_group_scores_equal_lm_evals_own_aggregation():
    from tests.fakes import fake_logprob

    task = LmEvalTask(LmEvalConfig(tasks=["sustain_choices"], include_path=str(DATA)))
    task.load()
    assert list(task.tasks) == ["sustain_choice", "sustain_claim"]
    assert task.primary == "lm_eval_sustain_choices_acc_none"
    result = task.score([task.predict(r.id, "x", None, *fake_logprob(r)) for r in task.requests()])
    _, theirs = lm_eval_itself(ANSWERS, task="sustain_choices")
    ours = result.metrics
    assert result.value == ours["lm_eval_sustain_choices_acc_none"] == pytest.approx(theirs["acc,none"])
    # weighted by size: 6 and 4 documents
    weighted = (6 * ours["lm_eval_sustain_choice_acc_none"] + 4 * ours["lm_eval_sustain_claim_acc_none"]) / 10
    assert ours["lm_eval_sustain_choices_acc_none"] == pytest.approx(weighted)
    unweighted = (ours["lm_eval_sustain_choice_acc_none"] + ours["lm_eval_sustain_claim_acc_none"]) / 2
    assert weighted != pytest.approx(unweighted)
    assert result.details["lm_eval_groups"]["sustain_choices"]["n"] == 10
    assert result.details["lm_eval_groups"]["sustain_choices"]["tasks"] == ["sustain_choice", "sustain_claim"]


def test_pipeline_logs_group_scores_and_energy_per_task(fake_run):
    import csv

    from tests.fakes import FakeScoringEngine

    summary, out = fake_run("task=lm_eval", "task.tasks=[sustain_qa,sustain_choices]", f"task.include_path={DATA}",
                            f"engine._target_={FakeScoringEngine.__module__}.FakeScoringEngine", "task.limit=null")
    metrics = summary["metrics"]
    assert metrics["quality"] == metrics["lm_eval_sustain_qa_exact_match_strict-match"]
    assert metrics["lm_eval_sustain_choices_acc_none"] == pytest.approx(0.6)  # (6 × 0.5 + 4 × 0.75) / 10
    energy = {row["id"]: float(row["energy_attributed_j"]) for row in csv.DictReader(open(out / "requests.csv"))}
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == len(energy) == 6 + 6 * 3 + 4 * 2
    assert all(type(r["correct"]) is bool for r in rows)  # lm-eval's numpy scores read as plain booleans
    assert metrics["n_correct"] == 1 + 3 + 3
    for task, docs, primary in (("sustain_qa", 6, "exact_match_strict-match"), ("sustain_choice", 6, "acc_none"),
                                ("sustain_claim", 4, "acc_none")):
        spent = sum(j for rid, j in energy.items() if rid.startswith(f"{task}/"))
        right = round(metrics[f"lm_eval_{task}_{primary}"] * docs)
        assert {r["sample"] for r in rows if r["group"] == task} == {str(d) for d in range(docs)}
        assert metrics[f"energy_per_sample_j_{task}"] == pytest.approx(spent / docs)
        assert metrics[f"energy_per_correct_j_{task}"] == pytest.approx(spent / right)
    # a question's three choices are one sample: its energy is three requests' energy
    assert metrics["energy_per_sample_j_sustain_choice"] == pytest.approx(3 * metrics["energy_per_sample_j_sustain_qa"])
    # each task and group is a sub-task: its scores beside its energy, in the run folder and, read back from MLflow,
    # in the report as a row family
    subtasks = pd.read_csv(out / "subtasks.csv")
    assert set(subtasks["subtask"]) == {"sustain_qa", "sustain_choice", "sustain_claim", "sustain_choices"}
    assert metrics["subtasks"] == 4
    group = subtasks[subtasks["subtask"] == "sustain_choices"]
    assert list(group["kind"]) == ["group"] and group["energy_per_sample_j"].isna().all()
    assert group["tasks"].iloc[0] == "sustain_choice,sustain_claim"
    qa = subtasks[subtasks["subtask"] == "sustain_qa"].set_index("metric")
    assert qa.loc["lm_eval_sustain_qa_exact_match_strict-match", "primary"]
    assert qa["energy_per_sample_j"].iloc[0] == pytest.approx(metrics["energy_per_sample_j_sustain_qa"])
    assert (qa["direction"] == "maximize").all() and (qa["n"] == 6).all()
    from sustain.report.summary import format_summary

    text = format_summary(summary)
    assert "sustain_choices (group): acc_none 0.600 over 10 documents; energy: its tasks'" in text
    qa_line = f"sustain_qa (task): exact_match_strict-match 0.167 over 6 documents; " \
              f"{metrics['energy_per_sample_j_sustain_qa']:.3g} J / sample"
    assert qa_line in text and "subtasks.csv in the run folder" in text
    from sustain.report.__main__ import main

    report = out.parent / "report"
    assert main(["--tracking-uri", summary["run"]["tracking_uri"], "--out", str(report)]) == 0
    text = (report / "subtasks.md").read_text()
    assert "## sustain_qa (a task)" in text and "## sustain_choices (a group of sustain_choice, sustain_claim)" in text
    assert text.index("## sustain_qa") < text.index("## sustain_choices")  # tasks first, then groups
    assert "exact_match_strict-match (primary)" in text and "J / correct sample" in text
    html = (report / "report.html").read_text()
    assert "Sub-task sustain_claim (a task)" in html


def test_the_servers_context_length_is_read_as_vllm_derives_it(tmp_path):
    from sustain.engines.vllm_server import config_max_len

    (tmp_path / "config.json").write_text(json.dumps({"max_position_embeddings": 8192, "n_positions": 4096}))
    assert config_max_len(tmp_path) == 4096
    (tmp_path / "config.json").write_text(json.dumps({"text_config": {"max_position_embeddings": 2048}}))
    assert config_max_len(tmp_path) == 2048
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(SustainError, match="set model.max_model_len"):
        config_max_len(tmp_path)
