"""`task=lm_eval`: lm-evaluation-harness tasks (PyPI `lm-eval`) sent through sustain's engine and clock.

Tasks come by name from lm-eval's registry, or from a folder of a user's own task YAMLs
(`task.include_path`). lm-eval builds every prompt (few-shot examples, description, system instruction,
chat template only when asked, as lm-eval defaults) and scores the outputs with its own filters,
`process_results` and aggregations, so a score means what it means in lm-eval. Its options default as
lm-eval defaults them (`simple_evaluate`): `num_fewshot` only replaces a task's own where the task does
not fix it at 0, `gen_kwargs` update the task's `generation_kwargs`, few-shot sampling is seeded with 1234.

What the engine gets, per request: the prompt as raw text (a completion) or, with
`task.apply_chat_template`, lm-eval's chat messages through the model's chat template; the task's
`until` as stop sequences, `max_gen_toks` (lm-eval's default 256) and its temperature (0 unless
`do_sample`). A log-likelihood or multiple-choice task sends each (document, choice) as one request with
a `continuation`: engines that return prompt log-probabilities (vllm, vllm_server) score it, and lm-eval's
`process_results` reads every choice's (log-probability, is_greedy) of a document at once; other engines
refuse before anything starts. A rolling log-likelihood (perplexity) task sends each document as one request
that the vLLM engines score whole, in windows of the model's context as lm-eval's vLLM model cuts them
(`sustain.engines.rolling`); the others refuse it. A code task
(`unsafe_code: true`, HumanEval, MBPP) has its programs run with their tests in sustain's jail, never by
lm-eval's `code_eval` (sustain.tasks.lm_eval_code).

Each metric is logged as `lm_eval_<task>_<metric>_<filter>` (lm-eval's `metric,filter`), and each named
group's aggregate as `lm_eval_<group>_<metric>_<filter>`, computed by lm-eval's own `aggregate_groups`
(weighted by size where the group says so); the primary is the first named group's first higher-is-better
aggregate, else the first task's first higher-is-better metric under its first filter. An output counts as
correct (`energy_per_correct_j`) when that metric's per-sample value is 1; of a multiple-choice document, only its
first choice's request counts it, so `n_correct` counts documents. A failed generation is scored as an
empty output; a document with a failed log-likelihood request is left out of the scores; a flag says how many.
Each prediction names its lm-eval task and document (`detail["group"]`, `detail["sample"]`), so energy per
sample and per correct sample are logged per task (sustain.metrics.energy).
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import json
import os
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Optional

from sustain.errors import SustainError
from sustain.registry import MAXIMIZE, MINIMIZE, NEITHER, Metric
from sustain.tasks.base import JudgeItem, Prediction, QualityResult, Request, Task, TaskConfig
from sustain.tasks.lm_eval_code import JailedPassAtK, jail_metrics
from sustain.types import THINK_END, SubtaskScore

GENERATE = "generate_until"
SCORED = ("loglikelihood", "multiple_choice")  # output types whose requests score a continuation
ROLLING = "loglikelihood_rolling"  # whole-document log-likelihood (perplexity): one request per document
FEWSHOT_SEED = 1234  # lm-eval's default fewshot_random_seed
GEN_KEYS = {"until", "max_gen_toks", "max_new_tokens", "max_tokens", "max_completion_tokens", "do_sample",
            "temperature"}
_CHAT = "sustain-chat:"  # marks a context that holds lm-eval's chat messages, to be templated by the engine


@dataclass
class LmEvalConfig(TaskConfig):
    _target_: str = "sustain.tasks.lm_eval.LmEvalTask"
    name: str = "lm_eval"
    tasks: List[str] = field(default_factory=list)  # lm-eval task names (or YAML paths)
    include_path: Optional[str] = None  # a folder of the user's own task YAMLs
    num_fewshot: Optional[int] = None  # None: each task's own
    apply_chat_template: bool = False  # lm-eval's default: raw text prompts
    fewshot_as_multiturn: bool = False
    system_instruction: Optional[str] = None
    gen_kwargs: Dict[str, Any] = field(default_factory=dict)  # over each task's generation_kwargs
    fewshot_random_seed: int = FEWSHOT_SEED
    strip_reasoning: bool = False  # True: score after </think> and stop only at EOS (lm-eval's think_end_token)
    # code tasks (unsafe_code): each program with its tests in sustain's jail, as task=code runs them
    timeout_s: float = 10.0  # wall-clock limit per program
    cpu_s: int = 5  # CPU-time limit per program
    memory_mb: int = 512  # address-space limit per program
    jail: str = "bwrap"  # bwrap | process (weaker, opt-in, flagged on every figure; docs/jail.md)


@dataclass
class Item:
    """One lm-eval request (one document of one task) and how it goes to the engine."""

    id: str
    task: str
    instance: Any  # lm_eval.api.instance.Instance
    request: Request
    until: list[str]

    @property
    def scored(self) -> bool:
        return self.request.scored


class LmEvalTask(Task):
    """`predict` keeps each raw output: lm-eval's filters run over all of a task's outputs at once in `score`."""

    examples: dict[str, Item]

    def __init__(self, cfg: Any) -> None:
        super().__init__(cfg)
        self.tasks: dict[str, Any] = {}
        self.groups: dict[str, Any] = {}  # lm-eval groups that aggregate their tasks' scores
        self.outputs: dict[str, Any] = {}  # a generation's text, or a scored request's (logprob, is_greedy)
        self.code: dict[str, JailedPassAtK] = {}  # code tasks' jailed scorers, by task

    def load(self) -> None:
        if self.cfg.dataset != "embedded":
            raise SustainError("task=lm_eval reads its data through lm-eval: drop task.dataset and name tasks in "
                               "task.tasks (and your own task YAMLs' folder in task.include_path).")
        loaded = load_tasks(self.cfg)
        self.tasks = dict(loaded["tasks"])
        self.groups = {name: g for name, g in loaded["groups"].items() if g.has_aggregation}
        items = []
        for name, task in self.tasks.items():
            configure(task, name, self.cfg)
            if task.get_config("unsafe_code"):
                self.code[name] = jail_metrics(task, self.cfg)
            items.extend(self._build(name, task))
        self.examples = {item.id: item for item in items}
        self._source = self.cfg.include_path or "lm-eval registry"
        first = self.groups.get(self.cfg.tasks[0])
        self.primary = group_primary(first) if first is not None else primary_metric(self.tasks)

    def _build(self, name: str, task: Any) -> list[Item]:
        from lm_eval.evaluator_utils import get_sample_size

        task.build_all_requests(
            limit=get_sample_size(task, self.cfg.limit), system_instruction=self.cfg.system_instruction,
            apply_chat_template=self.cfg.apply_chat_template, fewshot_as_multiturn=self.cfg.fewshot_as_multiturn,
            chat_template=chat_messages if self.cfg.apply_chat_template else None)
        return [self._item(name, inst) for inst in task.instances]

    def _item(self, name: str, inst: Any) -> Item:
        from lm_eval.models.utils import normalize_gen_kwargs

        if inst.request_type == "loglikelihood":
            return scored_item(name, inst)
        if inst.request_type == ROLLING:
            request = Request(f"{name}/{inst.doc_id}", [], prompt=inst.args[0], rolling=True)
            return Item(request.id, name, inst, request, [])
        context, gen_kwargs = inst.args
        unknown = sorted(set(gen_kwargs) - GEN_KEYS)
        if unknown:
            raise SustainError(f"lm-eval task {name} asks for generation argument(s) {', '.join(unknown)}, which "
                               f"sustain does not pass on yet: drop them with task.gen_kwargs or use another task.")
        kwargs = normalize_gen_kwargs(gen_kwargs, default_max_gen_toks=256)
        until = [s for s in kwargs["until"] if s]
        stop = () if self.cfg.strip_reasoning else tuple(until)
        rid = f"{name}/{inst.doc_id}"
        if context.startswith(_CHAT):
            request = Request(rid, json.loads(context[len(_CHAT):]), stop=stop, max_tokens=kwargs["max_gen_toks"],
                              temperature=float(kwargs["temperature"]))
        else:
            request = Request(rid, [], prompt=context, stop=stop, max_tokens=kwargs["max_gen_toks"],
                              temperature=float(kwargs["temperature"]))
        return Item(rid, name, inst, request, until)

    def requests(self) -> list[Request]:
        return [item.request for item in self.examples.values()]

    def answer(self, item: Item, output: str) -> str:
        """The output as lm-eval's vLLM model hands it to the filters: cut at the first stop sequence."""
        from lm_eval.models.utils import postprocess_generated_text

        return postprocess_generated_text(output, item.until, THINK_END if self.cfg.strip_reasoning else None)

    def predict_record(self, record: Any) -> Prediction:
        """`predict` from an engine's record, which carries a scored request's log-probability."""
        return self.predict(record.id, record.output_text, record.error, record.logprob, record.is_greedy)

    def predict(self, id: str, output: str | None, error: str | None = None, logprob: float | None = None,
                is_greedy: bool | None = None) -> Prediction:
        item = self.examples[id]
        if item.scored:
            return self._predict_scored(item, error, logprob, is_greedy)
        self.outputs[id] = output or ""
        scored = score_docs(self.tasks[item.task], [answered(item.instance, self.answer(item, output or ""))])
        return self._prediction(item, scored[item.instance.doc_id], None if output is not None else
                                f"request failed: {error}")

    def _predict_scored(self, item: Item, error: str | None, logprob: float | None,
                        is_greedy: bool | None) -> Prediction:
        """A choice's score alone says nothing of the document: `score` reads it with the others."""
        self.outputs.pop(item.id, None)
        if logprob is not None:  # what lm-eval's model returns: a rolling request's sum alone
            self.outputs[item.id] = logprob if item.request.rolling else (logprob, bool(is_greedy))
        failed = None if logprob is not None else f"request failed: {error or 'the engine returned no logprob'}"
        return Prediction(item.id, item.request.continuation, self.tasks[item.task].doc_to_target(
            item.instance.doc), False, parse_error=failed,
            detail={**self._names(item), "logprob": logprob, "is_greedy": is_greedy})

    def _prediction(self, item: Item, per_filter: dict[str, tuple[list[Any], dict[str, Any]]],
                    parse_error: str | None) -> Prediction:
        task = self.tasks[item.task]
        metric, filter_key = first_metric(task)
        filtered, values = per_filter[filter_key]
        value = values.get(metric)
        numbers = {f"{m},{f}": v for f, (_, vals) in per_filter.items() for m, v in vals.items()
                   if isinstance(v, (int, float))}
        right = bool(parse_error is None and isinstance(value, (int, float)) and value == 1)
        detail = {**self._names(item), "lm_eval": numbers}
        answer = only(filtered[0])
        if item.task in self.code and parse_error is None:
            detail["result"] = self.code[item.task].verdict(str(answer), str(task.doc_to_target(item.instance.doc)))
        if item.request.rolling:
            detail.update(logprob=self.outputs[item.id])
        elif item.scored:
            detail.update(logprob=self.outputs[item.id][0], is_greedy=self.outputs[item.id][1])
            return Prediction(item.id, picked(task, item, filtered), task.doc_to_target(item.instance.doc),
                              right and item.instance.idx == 0, detail=detail)
        return Prediction(item.id, None if parse_error else str(answer), task.doc_to_target(item.instance.doc),
                          right, parse_error=parse_error, detail=detail)

    @staticmethod
    def _names(item: Item) -> dict[str, str]:
        """The prediction's lm-eval task, as the sub-task and document its energy is counted under."""
        return {"lm_eval_task": item.task, "group": item.task, "sample": str(item.instance.doc_id)}

    def score(self, predictions: list[Prediction]) -> QualityResult:
        if not predictions:
            raise ValueError("no predictions to score")
        outputs = {p.id: p for p in predictions}
        metrics: dict[str, float] = {}
        scored_predictions, details, n_docs, task_metrics, subtasks = [], {}, 0, {}, []
        for name, task in self.tasks.items():
            items = [i for i in self.examples.values() if i.task == name and i.id in outputs]
            kept = self._kept(items)
            kept_ids = {i.id for i in kept}
            if not kept:
                scored_predictions += [outputs[i.id] for i in items]
                continue
            per_doc = score_docs(task, [answered(i.instance, self._response(i)) for i in kept])
            values, sample_len = aggregate(task, per_doc)
            task_metrics[name] = {"sample_len": sample_len, **{f"{m},{f}": v for (m, f), v in values.items()}}
            scores = {metric_name(name, m, f): v for (m, f), v in values.items()}
            metrics.update(scores)
            details[name] = {"metrics": {f"{m},{f}": v for (m, f), v in values.items()}, "n": len(per_doc),
                             "higher_is_better": task.higher_is_better(), "n_shot": task.config.num_fewshot,
                             "version": task.VERSION}
            n_docs += len(per_doc)
            subtasks.append(SubtaskScore(name, "task", len(per_doc), scores, metric_name(name, *first_metric(task)),
                                         prefix=metric_prefix(name)))
            scored_predictions += [self._prediction(i, per_doc[i.instance.doc_id], outputs[i.id].parse_error)
                                   if i.id in kept_ids else outputs[i.id] for i in items]
        metrics["n"] = float(n_docs)
        groups = group_scores(self.groups, task_metrics)
        for name, values in groups.items():
            scores = {metric_name(name, *key.split(",", 1)): v for key, v in values["metrics"].items()}
            metrics.update(scores)
            subtasks.append(SubtaskScore(name, "group", int(values["n"]), scores, _ranked_by(self.groups[name], scores),
                                         tuple(values["tasks"]), metric_prefix(name)))
        return QualityResult(primary=self.primary, metrics=metrics, predictions=scored_predictions,
                             details={"lm_eval": details, **({"lm_eval_groups": groups} if groups else {})},
                             tags=self._tags(), flags=self._flags(scored_predictions), subtasks=subtasks)

    def _kept(self, items: list[Item]) -> list[Item]:
        """The items of the documents that can be scored: all of them for generations (a failed one is an
        empty output), only those whose every choice has a log-probability for scored requests."""
        failed = {i.instance.doc_id for i in items if i.scored and i.id not in self.outputs}
        return [i for i in items if i.instance.doc_id not in failed]

    def _response(self, item: Item) -> Any:
        return self.outputs[item.id] if item.scored else self.answer(item, self.outputs.get(item.id, ""))

    def _flags(self, predictions: list[Prediction]) -> list[str]:
        failed = [p for p in predictions if p.parse_error is not None]
        generated = sum(not self.examples[p.id].scored for p in failed)
        docs = {(self.examples[p.id].task, self.examples[p.id].instance.doc_id) for p in failed
                if self.examples[p.id].scored}
        jailed = next(iter(self.code.values()), None)
        return ([f"lm_eval: {generated} failed request(s) scored as empty outputs"] if generated else []) + \
            ([f"lm_eval: {len(docs)} document(s) left out of the scores: a log-likelihood request failed"]
             if docs else []) + (jailed.flags if jailed else [])

    def _tags(self) -> dict[str, str]:
        from importlib.metadata import version

        jailed = next(iter(self.code.values()), None)
        return {"lm_eval.version": version("lm-eval"), "lm_eval.tasks": ",".join(self.tasks),
                "lm_eval.chat_template": str(self.cfg.apply_chat_template).lower(),
                **({"code.jail": jailed.jail.name} if jailed else {})}

    def judge_item(self, id: str, output: str) -> JudgeItem:
        item = self.examples[id]
        asked = item.request.prompt if item.request.prompt is not None else item.request.messages[-1]["content"]
        return JudgeItem(id, asked, output, str(self.tasks[item.task].doc_to_target(item.instance.doc)))

    def example_field(self, id: str, name: str) -> Any:
        return self.examples[id].instance.doc.get(name)


def chat_messages(messages: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
    """lm-eval's `chat_template` hook: keep its messages for the engine's own chat template."""
    if not add_generation_prompt:
        raise SustainError("This lm-eval task starts the model's answer itself (gen_prefix), which sustain cannot "
                           "send through a chat template yet: set task.apply_chat_template=false.")
    return _CHAT + json.dumps(messages)


def load_tasks(cfg: Any) -> dict[str, Any]:
    """lm-eval's tasks by name (groups and tags expanded to their tasks), as `TaskManager.load` returns them
    ({"tasks": {name: Task}, "groups": {name: Group}}); each a one-sentence error if wrong."""
    if not cfg.tasks:
        raise SustainError("task=lm_eval needs tasks to run: set task.tasks=[gsm8k] (lm-eval task names), and "
                           "task.include_path=folder for your own task YAMLs.")
    include = None
    if cfg.include_path:
        include = Path(cfg.include_path).expanduser().resolve()
        if not include.is_dir():
            raise SustainError(f"task.include_path={cfg.include_path} is not a folder: point it at the folder of "
                               f"your lm-eval task YAMLs.")
    manager = task_manager(str(include) if include else None)
    for name in cfg.tasks:
        if name not in manager.all_tasks and not Path(name).is_file():
            close = difflib.get_close_matches(name, manager.all_tasks, n=1)
            hint = f"did you mean {close[0]}?" if close else "`lm-eval ls tasks` lists them."
            raise SustainError(f"lm-eval knows no task {name!r} (in its registry or task.include_path): {hint}")
    try:
        with code_eval_import_check():
            return manager.load(list(cfg.tasks))
    except (FileNotFoundError, ConnectionError, OSError) as exc:
        raise SustainError(f"lm-eval could not load the data of task(s) {', '.join(cfg.tasks)} ({exc}): with no "
                           f"hub access, fill the Hugging Face cache first and set HF_DATASETS_OFFLINE=1; a "
                           f"YAML's relative data_files are read from the working directory.") from None


@contextlib.contextmanager
def code_eval_import_check() -> Iterator[None]:
    """lm-eval's HumanEval and MBPP modules check on import that HF evaluate's `code_eval` may run code (their own
    constant `add(2, 3)`), and fail unless HF_ALLOW_CODE_EVAL=1. That check alone runs with it set: the model's
    programs never reach `code_eval`, sustain scores them in its jail (sustain.tasks.lm_eval_code)."""
    before = os.environ.get("HF_ALLOW_CODE_EVAL")
    os.environ["HF_ALLOW_CODE_EVAL"] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("HF_ALLOW_CODE_EVAL", None)
        else:
            os.environ["HF_ALLOW_CODE_EVAL"] = before


@lru_cache(maxsize=4)
def task_manager(include_path: str | None) -> Any:
    """lm-eval's index of its own tasks and the folder's (seconds to build: once per process and folder)."""
    try:
        from lm_eval.tasks import TaskManager
    except ImportError:
        raise SustainError("task=lm_eval needs lm-evaluation-harness, which is not installed: "
                           "pip install lm-eval.") from None
    return TaskManager(include_path=include_path)


def configure(task: Any, name: str, cfg: Any) -> None:
    """lm-eval's own per-task overrides (simple_evaluate), after refusing what this step cannot run."""
    kind = task.get_config("output_type")
    if kind not in (GENERATE, ROLLING, *SCORED):
        raise SustainError(f"lm-eval task {name} is a {kind} task, which sustain does not run: run generate_until, "
                           f"loglikelihood, multiple_choice or loglikelihood_rolling tasks.")
    if (task.get_config("repeats") or 1) > 1:
        raise SustainError(f"lm-eval task {name} samples each document several times (repeats), which sustain "
                           f"does not run yet: choose a task with one answer per document.")
    if cfg.gen_kwargs and kind == GENERATE:  # as simple_evaluate: a scoring task has no generation to change
        task.set_config(key="generation_kwargs", value=dict(cfg.gen_kwargs), update=True)
    if cfg.num_fewshot is not None and task.get_config("num_fewshot") != 0:
        task.set_config(key="num_fewshot", value=cfg.num_fewshot)
    elif task.get_config("num_fewshot") is None:
        task.set_config(key="num_fewshot", value=0)
    task.set_fewshot_seed(seed=cfg.fewshot_random_seed)


def scored_item(name: str, inst: Any) -> Item:
    """A (context, continuation) request: the engine returns the continuation's log-probability."""
    context, continuation = inst.args
    if context.startswith(_CHAT):
        raise SustainError(f"lm-eval task {name} scores choices, which sustain does not send through a chat "
                           f"template yet: set task.apply_chat_template=false.")
    if not context:
        raise SustainError(f"lm-eval task {name} scores a choice with no context (acc_mutual_info), which "
                           f"sustain's engines cannot score: drop that metric from the task's metric_list.")
    request = Request(f"{name}/{inst.doc_id}/{inst.idx}", [], prompt=context, continuation=continuation)
    return Item(request.id, name, inst, request, [])


def picked(task: Any, item: Item, responses: list[Any]) -> str | None:
    """The choice with the highest log-probability (lm-eval's `acc`), or a lone continuation itself."""
    if len(responses) < 2:
        return item.request.continuation
    best = max(range(len(responses)), key=lambda k: responses[k][0])
    choices = task.doc_to_choice(item.instance.doc)
    return str(choices[best]) if best < len(choices) else None


def only(response: Any) -> Any:
    """A filter's response of one document: a list of one (HumanEval's programs, one per repeat) as its element."""
    return response[0] if isinstance(response, (list, tuple)) and len(response) == 1 else response


def answered(instance: Any, output: str) -> Any:
    """A fresh copy of an lm-eval instance holding one output, as lm-eval's evaluator fills `resps`."""
    return dataclasses.replace(instance, resps=[output], filtered_resps={})


def score_docs(task: Any, instances: list[Any]) -> dict[int, dict[str, tuple[list[Any], dict[str, Any]]]]:
    """lm-eval's evaluator on answered instances: the task's filters over all of them, then `process_results`
    per document and filter over the document's responses in choice order:
    {doc_id: {filter: (filtered responses, metrics)}}."""
    for ensemble in getattr(task, "_filters", ()):
        ensemble.apply(instances)
    by_doc: dict[int, list[Any]] = defaultdict(list)
    for inst in instances:
        by_doc[inst.doc_id].append(inst)
    out: dict[int, dict[str, tuple[list[Any], dict[str, Any]]]] = {}
    for doc_id in sorted(by_doc):
        group = sorted(by_doc[doc_id], key=lambda i: i.idx)
        responses = {key: [i.filtered_resps[key] for i in group] for key in group[0].filtered_resps}
        out[doc_id] = {key: (resps, task.process_results(group[0].doc, resps)) for key, resps in responses.items()}
    return out


def aggregate(task: Any, per_doc: dict[int, dict[str, tuple[Any, dict[str, Any]]]]) \
        -> tuple[dict[tuple[str, str], float], int]:
    """Each (metric, filter) over the documents with the task's aggregation (lm-eval's mean where it has none),
    and the task's size as lm-eval counts it for a group's weights (its metric with the most values)."""
    from lm_eval.api.metrics import mean

    raw: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for per_filter in per_doc.values():
        for key, (_, values) in per_filter.items():
            for metric, value in values.items():
                raw[(metric, key)].append(value)
    aggregations = task.aggregation()
    values = {key: float(aggregations.get(key[0], mean)(items)) for key, items in raw.items()}
    return values, max((len(items) for items in raw.values()), default=0)


def group_scores(groups: dict[str, Any], task_metrics: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each group's aggregates by lm-eval's own `aggregate_groups` (subgroups first, each task weighted by its
    size where the group says so) over its tasks' scores in lm-eval's result form
    ({task: {"metric,filter": value, "sample_len": n}}): {group: {"metrics", "n", "tasks"}}."""
    if not groups:
        return {}
    from lm_eval.evaluator_utils import EvalAcc, aggregate_groups

    done = aggregate_groups(EvalAcc(metrics={k: dict(v) for k, v in task_metrics.items()}, groups=dict(groups)))
    out = {}
    for name, group in groups.items():
        values = done.metrics[name]
        out[name] = {"metrics": {k: float(v) for k, v in values.items() if "," in k and "_stderr," not in k
                                 and isinstance(v, (int, float))},
                     "n": values.get("sample_len", 0), "tasks": [t.task_name for t in group.get_all_tasks()]}
    return out


def group_primary(group: Any) -> str:
    """A group's first aggregate that its tasks say is higher-is-better, under the aggregate's first filter (the
    first such task's first filter where the group lists none)."""
    for agg in group.aggregate_metric_list:
        for task in group.get_all_tasks():
            if task.higher_is_better().get(agg.metric):
                filters = agg.filter_list or [f.name for f in getattr(task, "_filters", ())] or ["none"]
                return metric_name(group.name, agg.metric, filters[0])
    raise SustainError(f"lm-eval group {group.name} aggregates no higher-is-better metric to rank runs by: list a "
                       f"task or group that has one first in task.tasks.")


def _ranked_by(group: Any, scores: dict[str, float]) -> str:
    """A group's primary, or its first aggregate where none is higher-is-better (only the first group must rank)."""
    try:
        return group_primary(group)
    except SustainError:
        return next(iter(scores), "")


def first_metric(task: Any) -> tuple[str, str]:
    """The task's first higher-is-better metric (its first metric if none is) under its first filter."""
    better = task.higher_is_better()
    metric = next((m for m, up in better.items() if up), next(iter(better)))
    filters = [f.name for f in getattr(task, "_filters", ())] or ["none"]
    return metric, filters[0]


def primary_metric(tasks: dict[str, Any]) -> str:
    name, task = next(iter(tasks.items()))
    metric, filter_key = first_metric(task)
    if not task.higher_is_better().get(metric):
        raise SustainError(f"lm-eval task {name} has no higher-is-better metric to rank runs by (a perplexity task "
                           f"has none): list a task that has one first in task.tasks, and {name}'s figures are "
                           f"logged beside it.")
    return metric_name(name, metric, filter_key)


def metric_name(task: str, metric: str, filter_key: str) -> str:
    """lm-eval's `metric,filter` of a task as a sustain (MLflow) metric name."""
    return metric_prefix(task) + _safe(f"{metric}_{filter_key}")


def metric_prefix(task: str) -> str:
    return _safe(f"lm_eval_{task}_")


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.\-/]", "_", name)


SCHEMAS = {"lm_eval_schema": LmEvalConfig}

# lm-eval's registered metrics and their direction (lm_eval.api.registry.HIGHER_IS_BETTER_REGISTRY, checked
# by the tests), longest first so a family never swallows a longer name; anything else a task defines
# (its own `!function` metrics) falls to the last family, without a direction: see the run's details.
_KNOWN = {"acc_mutual_info": True, "byte_perplexity": False, "word_perplexity": False, "bits_per_byte": False,
          "exact_match": True, "brier_score": False, "perplexity": False, "likelihood": True, "acc_bytes": True,
          "acc_norm": True, "acc_all": True, "chrf++": True, "bypass": True, "bleu": True, "chrf": True, "acc": True,
          "mcc": True, "ter": False, "f1": True}
METRICS = [
    Metric(f"lm_eval_{{task}}_{_safe(metric)}_{{filter}}", "score", MAXIMIZE if up else MINIMIZE,
           "lm-eval's aggregation over documents", f"lm-eval's {metric} of one task under one filter, scored by "
           f"lm-eval itself.", "lm_eval", source=__name__)
    for metric, up in sorted(_KNOWN.items(), key=lambda kv: -len(kv[0]))
] + [
    Metric(f"lm_eval_{{task}}_{metric}_{{filter}}", "1", MAXIMIZE, "mean over documents", f"{what} of an lm-eval "
           f"code task: the share of documents whose program passed the tests in sustain's jail.", "lm_eval",
           source=__name__)
    for metric, what in (("pass_at_1", "MBPP's pass_at_1"), ("pass_{k}", "HumanEval's pass@k"))
] + [Metric("lm_eval_{task}_{metric}", "score", NEITHER, "lm-eval's aggregation over documents",
            "A metric a lm-eval task defines itself; its direction is in the run's quality details "
            "(higher_is_better).", "lm_eval", source=__name__)]
