"""Output quality of the validation agent: parse its JSON label and score it against the reference labels.

What `parse_output` accepts, exactly:

1. Surrounding whitespace is stripped, then one markdown fence around the whole output
   (```` ```json ... ``` ```` or a bare ```` ``` ... ``` ````) is removed: small models often add it and it
   carries no extra content.
2. What remains must be exactly one JSON object (`json.loads` of the whole text). A JSON object with any
   other text before or after it is an Error ("extra text outside the JSON object"): the paper names such
   extra explanations as one of the two causes of quality loss, so it is not forgiven here.
3. Its "result" must be a string naming one of `LABELS`, compared case-insensitively, with runs of spaces
   read as underscores ("small talk" -> SMALL_TALK). Anything else is an Error, as in the paper
   ("JSON-unserializable or labels outside the predefined set").

"sources" and "reason" are informational: a missing or mistyped one never makes an output an Error.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from sustain.types import THINK_END

LABELS = ("GROUNDED", "UNGROUNDED", "SMALL_TALK")
ERROR = "Error"
ALL_LABELS = (*LABELS, ERROR)

EXTRA_TEXT = "extra text outside the JSON object"

_FENCE = re.compile(r"^```(?:json)?[ \t]*\n?(.*?)\n?[ \t]*```$", re.DOTALL | re.IGNORECASE)


_THINK = re.compile(r"^\s*(?:<think>)?.*?" + re.escape(THINK_END), re.DOTALL)


def strip_reasoning(text: str) -> str:
    """The answer after the reasoning block that reasoning models (Qwen3 with thinking, DeepSeek-R1
    distills, Phi-4-reasoning) emit before it. The opening `<think>` may be missing from the output
    because some chat templates put it in the prompt; text without `</think>` is returned unchanged."""
    return _THINK.sub("", text, count=1)


@dataclass
class ParsedOutput:
    label: str  # one of LABELS, or ERROR
    sources: list[str] = field(default_factory=list)
    reason: str | None = None
    error: str | None = None  # why the output was marked ERROR; None when the label is valid


def _strip_fence(text: str) -> str:
    match = _FENCE.match(text)
    return match.group(1).strip() if match else text


def _embeds_object(text: str) -> bool:
    """True when some `{` in the text starts a decodable JSON object, i.e. the object is there but wrapped."""
    decoder = json.JSONDecoder()
    for match in re.finditer(r"\{", text):
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return True
    return False


def _normalise_label(value: str) -> str:
    return re.sub(r"\s+", "_", value.strip()).upper()


def parse_output(text: str) -> ParsedOutput:
    """Read one model output; never raises, every failure becomes an ERROR label with its reason."""
    body = _strip_fence(text.strip())
    if not body:
        return ParsedOutput(ERROR, error="empty output")
    try:
        obj = json.loads(body)
    except json.JSONDecodeError as exc:
        if _embeds_object(body):
            return ParsedOutput(ERROR, error=EXTRA_TEXT)
        return ParsedOutput(ERROR, error=f"not valid JSON: {exc.msg} at char {exc.pos}")
    if not isinstance(obj, dict):
        return ParsedOutput(ERROR, error=f"JSON is a {type(obj).__name__}, not an object")

    raw_sources = obj.get("sources")
    sources = [str(s) for s in raw_sources] if isinstance(raw_sources, list) else []
    reason = obj.get("reason") if isinstance(obj.get("reason"), str) else None

    if "result" not in obj:
        return ParsedOutput(ERROR, sources, reason, error='no "result" key')
    result = obj["result"]
    if not isinstance(result, str):
        return ParsedOutput(ERROR, sources, reason, error='"result" is not a string')
    label = _normalise_label(result)
    if label not in LABELS:
        return ParsedOutput(
            ERROR, sources, reason, error=f"label {result!r} is not one of {', '.join(LABELS)}"
        )
    return ParsedOutput(label, sources, reason)


@dataclass
class QualityReport:
    macro_f1: float
    accuracy: float
    error_rate: float  # share of predictions that are ERROR
    per_class: dict[str, dict[str, float]]  # label -> precision, recall, f1, support
    confusion: dict[str, dict[str, int]]  # reference label -> predicted label -> count, over labels + ERROR
    n: int

    def to_metrics(self) -> dict[str, float]:
        """Flat, MLflow-safe keys, e.g. macro_f1, f1_GROUNDED, precision_Error."""
        metrics = {
            "macro_f1": self.macro_f1,
            "accuracy": self.accuracy,
            "error_rate": self.error_rate,
            "n": float(self.n),
        }
        for label, scores in self.per_class.items():
            for name, value in scores.items():
                metrics[f"{name}_{label}"] = float(value)
        return metrics


def classification_report(
    references: list[str], predictions: list[str], labels: Sequence[str] = LABELS
) -> QualityReport:
    """Score predicted labels against reference labels, as the paper does.

    `labels` is the task's label set (the validation agent's by default); `ERROR` is always added after it.

    Macro F1 averages over the labels present in references or predictions, ERROR included whenever it
    was predicted. That is scikit-learn's own default (`labels=None`), so most likely what the paper ran,
    and it makes invalid outputs cost twice: a miss on the true class and an ERROR class with F1 0.
    Classes with no predictions (or no support) get 0 rather than a warning (`zero_division=0`).
    """
    from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support  # 0.9 s to import

    if len(references) != len(predictions):
        raise ValueError(f"{len(references)} references but {len(predictions)} predictions")
    if not references:
        raise ValueError("no labels to score")
    all_labels = (*labels, ERROR)
    unknown = (set(references) | set(predictions)) - set(all_labels)
    if unknown:
        raise ValueError(f"unknown labels {sorted(unknown)}; expected {', '.join(all_labels)}")

    present = [label for label in all_labels if label in set(references) | set(predictions)]
    y_true, y_pred = np.asarray(references), np.asarray(predictions)
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=present, zero_division=0
    )
    per_class = {
        label: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": float(support[i]),
        }
        for i, label in enumerate(present)
    }
    matrix = confusion_matrix(y_true, y_pred, labels=list(all_labels))
    confusion = {
        ref: {pred: int(matrix[i, j]) for j, pred in enumerate(all_labels)}
        for i, ref in enumerate(all_labels)
    }
    return QualityReport(
        macro_f1=float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)),
        accuracy=float(np.mean(y_true == y_pred)),
        error_rate=float(np.mean(y_pred == ERROR)),
        per_class=per_class,
        confusion=confusion,
        n=len(references),
    )
