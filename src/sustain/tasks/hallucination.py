"""The paper's validation agent: decide whether an agent's response is grounded in its resources.

`HallucinationTask` is the task plugin (`task=hallucination`); the functions below it read the data.

A dataset is JSONL, one example per line:
`{"id", "context": [str], "functions": [{"name", "arguments", "result"}],
  "conversation_history": [{"role", "content"}], "response", "label"}` and optionally `reference`
(the reference answer object, used by an LLM judge). Every line is checked before any engine starts,
so a bad file fails in a second with the file, line and field named.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Optional

from sustain.errors import SustainError
from sustain.metrics.quality import ERROR, LABELS, classification_report, parse_output, strip_reasoning
from sustain.tasks.base import (
    Decoding, JudgeItem, Prediction, QualityResult, Request, Task, TaskConfig, dataset_path,
)
from sustain.tasks.examples import Row, first, read_rows

CHARS_PER_TOKEN = 3.6  # English prose and JSON under common BPE tokenizers; the run logs the real count


@dataclass
class HallucinationConfig(TaskConfig):
    """`pad_context_tokens` lengthens prompts to the paper's (about 8,000 tokens on average, up to 25,500)
    with distractor documents: the embedded prompts are about 500 tokens, which makes energy
    decode-dominated where the paper's is prefill-heavy."""

    _target_: str = "sustain.tasks.hallucination.HallucinationTask"
    pad_context_tokens: Optional[int] = None  # mean prompt length to reach; None: prompts as they are
    pad_max_tokens: int = 25_500  # no prompt longer than this (keep it under the model's max_model_len)
    pad_seed: int = 0


SCHEMAS = {"hallucination_schema": HallucinationConfig}

SYSTEM_PROMPT = """You are the validation agent of a customer-service assistant. You receive a JSON \
object with the context documents ("context"), the function calls the assistant made with their \
results ("functions"), the conversation so far ("conversation_history") and the assistant's new \
response ("response").

Decide whether the response is grounded:
- GROUNDED: every factual claim in the response is supported by the context, the function results \
or the conversation history.
- UNGROUNDED: the response states something that these resources do not support or contradict.
- SMALL_TALK: the response makes no factual claim (greetings, thanks, goodbyes, offers to help).

Answer with one JSON object and nothing else:
{"result": "GROUNDED" | "UNGROUNDED" | "SMALL_TALK", "sources": ["context[i]" or "functions[j]", ...], \
"reason": "one sentence"}"""

KNOWN_FIELDS = ("id", "context", "functions", "conversation_history", "response", "label", "reference")

OUTPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "result": {"type": "string", "enum": list(LABELS)},
        "sources": {"type": "array", "items": {"type": "string"}},
        "reason": {"type": "string"},
    },
    "required": ["result", "sources", "reason"],
    "additionalProperties": False,
}


@dataclass
class Example:
    id: str
    context: list[str]
    functions: list[dict[str, Any]]
    conversation_history: list[dict[str, str]]
    response: str
    label: str
    reference: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # fields beyond the schema, e.g. reference tokens

    def agent_input(self) -> dict[str, Any]:
        """What the validation agent sees: everything but the label and the reference answer."""
        return {
            "context": self.context,
            "functions": self.functions,
            "conversation_history": self.conversation_history,
            "response": self.response,
        }

    def messages(self) -> list[dict[str, str]]:
        return [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": json.dumps(self.agent_input(), ensure_ascii=False, indent=1)},
        ]


@dataclass
class Dataset:
    source: str
    examples: list[Example] = field(default_factory=list)

    def label_counts(self) -> dict[str, int]:
        counts = {label: 0 for label in LABELS}
        for ex in self.examples:
            counts[ex.label] += 1
        return counts


class HallucinationTask(Task):
    """Labels GROUNDED / UNGROUNDED / SMALL_TALK read from a JSON answer; macro F1 with an Error class."""

    examples: dict[str, Example]

    def load(self) -> None:
        dataset = load(self.cfg.dataset, self.cfg.limit)
        if getattr(self.cfg, "pad_context_tokens", None):
            pad_with_distractors(dataset.examples, self.cfg.pad_context_tokens, self.cfg.pad_max_tokens,
                                 self.cfg.pad_seed)
        self._keep(dataset.examples, dataset.source)

    def requests(self) -> list[Request]:
        return [Request(ex.id, ex.messages()) for ex in self.examples.values()]

    def decoding(self) -> Decoding | None:
        if self.cfg.decoding == "json_schema":
            return Decoding(json_schema=OUTPUT_SCHEMA)
        return super().decoding()

    def predict(self, id: str, output: str | None, error: str | None = None) -> Prediction:
        gold = self.examples[id].label
        if error is not None or output is None:
            return Prediction(id, ERROR, gold, False, parse_error=error or "no output")
        parsed = parse_output(self._answer(output))
        return Prediction(id, parsed.label, gold, parsed.label == gold, parse_error=parsed.error)

    def score(self, predictions: list[Prediction]) -> QualityResult:
        report = classification_report([p.gold for p in predictions], [p.predicted for p in predictions])
        return QualityResult(primary="macro_f1", metrics=report.to_metrics(), predictions=predictions,
                             details={"confusion": report.confusion, "per_class": report.per_class})

    def judge_item(self, id: str, output: str) -> JudgeItem:
        return item_for(self.examples[id], self._answer(output))

    def example_field(self, id: str, name: str) -> Any:
        return self.examples[id].extra.get(name)

    def _answer(self, output: str) -> str:
        return strip_reasoning(output) if self.cfg.strip_reasoning else output


def pad_with_distractors(examples: list[Example], mean_tokens: int, max_tokens: int, seed: int) -> None:
    """Append context documents of other examples (other customers and domains, so no label changes and
    the original `context[i]` indices stay valid) until each prompt reaches its target length.

    Targets are log-normal (sigma 0.6, the paper's mean-to-max spread), mean `mean_tokens`, capped at
    `max_tokens`; lengths are estimated at CHARS_PER_TOKEN characters per token.
    """
    import math
    import random

    if mean_tokens < 1 or max_tokens < mean_tokens:
        raise SustainError(f"task.pad_context_tokens={mean_tokens} must be positive and at most "
                           f"task.pad_max_tokens={max_tokens}.")
    rng = random.Random(seed)
    pool = [(ex.id, doc) for ex in examples for doc in ex.context]
    if len({rid for rid, _ in pool}) < 2:
        raise SustainError("task.pad_context_tokens needs at least two examples to draw distractors from.")
    for ex in examples:
        target = min(max_tokens, mean_tokens * math.exp(rng.gauss(-0.18, 0.6)))
        others = [doc for rid, doc in pool if rid != ex.id]
        chars = len(json.dumps(ex.messages(), ensure_ascii=False))
        while chars / CHARS_PER_TOKEN < target:
            doc = rng.choice(others)
            ex.context.append(doc)
            chars += len(doc) + 4


def item_for(example: Example, output: str) -> JudgeItem:
    """The judge sees the agent input and is given the reference answer object (else the gold label)."""
    reference = (
        json.dumps(example.reference, ensure_ascii=False) if example.reference is not None else example.label
    )
    return JudgeItem(
        id=example.id,
        input=json.dumps(example.agent_input(), ensure_ascii=False, indent=1),
        output=output,
        reference=reference,
    )


def load(dataset: str, limit: int | None = None) -> Dataset:
    path = dataset_path(dataset, "hallucination.jsonl")
    return Dataset(source=str(path), examples=first([example(row) for row in read_rows(path)], limit))


def example(row: Row) -> Example:
    """One line as an Example, or one sentence naming the line, the field and the fix."""
    where, obj, need = row.where, row.data, row.field
    ex_id = obj["id"]
    context = need("context", list, "a list of strings")
    functions = need("functions", list, "a list of objects")
    history = need("conversation_history", list, "a list of objects")
    response = need("response", str, "a string")
    label = need("label", str, "a string")

    for i, doc in enumerate(context):
        if not isinstance(doc, str):
            raise SustainError(f"{where}: field 'context[{i}]' must be a string, got {type(doc).__name__}.")
    for i, fn in enumerate(functions):
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or "result" not in fn:
            raise SustainError(
                f"{where}: field 'functions[{i}]' must be an object with 'name', 'arguments' and 'result'."
            )
    for i, turn in enumerate(history):
        if not isinstance(turn, dict) or not isinstance(turn.get("role"), str) or not isinstance(turn.get("content"), str):
            raise SustainError(
                f"{where}: field 'conversation_history[{i}]' must be an object with string 'role' and 'content'."
            )
    normalised = label.strip().upper().replace(" ", "_")
    if normalised not in LABELS:
        raise SustainError(f"{where}: field 'label' is '{label}'; use one of {', '.join(LABELS)}.")
    reference = obj.get("reference")
    if reference is not None and not isinstance(reference, dict):
        raise SustainError(f"{where}: field 'reference' must be an object like the expected output, or absent.")
    return Example(
        id=str(ex_id),
        context=context,
        functions=functions,
        conversation_history=history,
        response=response,
        label=normalised,
        reference=reference,
        extra={k: v for k, v in obj.items() if k not in KNOWN_FIELDS},
    )
