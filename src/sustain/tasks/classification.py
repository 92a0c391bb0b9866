"""Classification tasks declared entirely in YAML: a JSONL file, Jinja2 prompts and a label set.

How an output is read into a label (`task.answer`):

- `json`: one markdown fence around the whole output is removed, then what remains must be exactly one
  JSON object whose `task.answer_key` is a string naming a label. Text around the object is an Error,
  as for the validation agent.
- `label`: the whole output is the label.

Either way the label text is normalised before it is compared: the characters of `task.strip_chars` are
removed from both ends, runs of whitespace become one space (`task.collapse_spaces`), and case is ignored
unless `task.case_sensitive`. Anything that does not then equal one label is the `Error` class, which
counts in macro F1 as the validation agent's does (`sustain.metrics.quality.classification_report`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sustain.errors import SustainError
from sustain.metrics.quality import (
    ERROR,
    EXTRA_TEXT,
    _embeds_object,
    _strip_fence,
    classification_report,
    strip_reasoning,
)
from sustain.tasks.base import (
    Decoding,
    JudgeItem,
    Prediction,
    QualityResult,
    Request,
    Task,
    TaskConfig,
    dataset_path,
)
from sustain.tasks.examples import Row, read_rows

ANSWER_FORMATS = ("json", "label")
LABEL_NAME = re.compile(r"[\w .\-/]+")  # what MLflow accepts in the per-class metric names


@dataclass
class ClassificationConfig(TaskConfig):
    """A classification task; `dataset: embedded` reads the package's `tasks/data/<name>.jsonl`."""

    _target_: str = "sustain.tasks.classification.ClassificationTask"
    name: str = "classification"
    id_field: str = "id"
    input_field: str = "text"  # what the judge is shown as the input
    label_field: str = "label"
    labels: list[str] = field(default_factory=list)
    system_prompt: str = ""  # Jinja2 over the example's fields, plus `labels`; empty = no system message
    user_prompt: str = "{{ text }}"
    answer: str = "json"  # json | label
    answer_key: str = "label"  # the JSON object's key holding the label, for answer=json
    case_sensitive: bool = False
    collapse_spaces: bool = True
    strip_chars: str = " \t\r\n.\"'`*"
    max_tokens: int = 32


@dataclass(frozen=True)
class Example:
    id: str
    gold: str
    messages: list[dict[str, str]]
    row: Row


class ClassificationTask(Task):
    def __init__(self, cfg: ClassificationConfig) -> None:
        super().__init__(cfg)
        self.examples: dict[str, Example] = {}
        self._by_key: dict[str, str] = {}

    def load(self) -> None:
        cfg = self.cfg
        self._by_key = self._label_keys()
        if cfg.answer not in ANSWER_FORMATS:
            raise SustainError(f"task.answer={cfg.answer} is not one of {', '.join(ANSWER_FORMATS)}: pick one.")
        path = dataset_path(cfg.dataset, f"{cfg.name}.jsonl")
        self._check_embedded(path)
        templates = _Templates(cfg.system_prompt, cfg.user_prompt, list(cfg.labels))
        rows = read_rows(path, cfg.id_field)
        examples = [self._example(row, templates) for row in rows]
        self._keep(examples, path)

    def requests(self) -> list[Request]:
        return [Request(ex.id, ex.messages) for ex in self.examples.values()]

    def decoding(self) -> Decoding | None:
        wanted = {"json_schema": "json", "choice": "label"}.get(self.cfg.decoding)
        if self.cfg.decoding == "free":
            return None
        if wanted is None:
            raise SustainError(
                f"task.decoding={self.cfg.decoding} is not offered by task={self.name}: use free, json_schema or choice."
            )
        if wanted != self.cfg.answer:
            raise SustainError(
                f"task.decoding={self.cfg.decoding} produces answers that task.answer={self.cfg.answer} cannot "
                f"read: set task.answer={wanted} (and ask for that format in the prompt) or pick another decoding."
            )
        if self.cfg.decoding == "choice":
            return Decoding(choice=list(self.cfg.labels))
        return Decoding(json_schema=self.output_schema())

    def output_schema(self) -> dict[str, Any]:
        key = self.cfg.answer_key
        return {
            "type": "object",
            "properties": {key: {"type": "string", "enum": list(self.cfg.labels)}},
            "required": [key],
            "additionalProperties": False,
        }

    def predict(self, id: str, output: str | None, error: str | None = None) -> Prediction:
        gold = self.examples[id].gold
        if output is None:
            return Prediction(id, None, gold, False, parse_error=f"request failed: {error}")
        text = strip_reasoning(output) if self.cfg.strip_reasoning else output
        label, problem = self.read_label(text)
        return Prediction(id, label, gold, label == gold, parse_error=problem)

    def read_label(self, text: str) -> tuple[str | None, str | None]:
        """The label an output names, or None and why it names none (see the module docstring)."""
        if self.cfg.answer == "label":
            return self._lookup(text)
        body = _strip_fence(text.strip())
        if not body:
            return None, "empty output"
        try:
            obj = json.loads(body)
        except json.JSONDecodeError as exc:
            return None, EXTRA_TEXT if _embeds_object(body) else f"not valid JSON: {exc.msg} at char {exc.pos}"
        if not isinstance(obj, dict):
            return None, f"JSON is a {type(obj).__name__}, not an object"
        value = obj.get(self.cfg.answer_key)
        if not isinstance(value, str):
            return None, f'no string "{self.cfg.answer_key}" in the object'
        return self._lookup(value)

    def score(self, predictions: list[Prediction]) -> QualityResult:
        report = classification_report(
            [p.gold for p in predictions], [p.predicted or ERROR for p in predictions], labels=list(self.cfg.labels)
        )
        return QualityResult(
            primary="macro_f1",
            metrics=report.to_metrics(),
            predictions=predictions,
            details={"per_class": report.per_class, "confusion": report.confusion},
        )

    def judge_item(self, id: str, output: str) -> JudgeItem:
        ex = self.examples[id]
        return JudgeItem(id, str(ex.row.data.get(self.cfg.input_field, ex.messages[-1]["content"])), output, ex.gold)

    def example_field(self, id: str, name: str) -> Any:
        return self.examples[id].row.data.get(name)

    def _lookup(self, text: str) -> tuple[str | None, str | None]:
        label = self._by_key.get(self._key(text))
        if label is None:
            shown = text.strip()[:60]
            return None, f"label {shown!r} is not one of {', '.join(self.cfg.labels)}"
        return label, None

    def _key(self, text: str) -> str:
        text = text.strip(self.cfg.strip_chars)
        if self.cfg.collapse_spaces:
            text = re.sub(r"\s+", " ", text)
        return text if self.cfg.case_sensitive else text.lower()

    def _label_keys(self) -> dict[str, str]:
        labels = list(self.cfg.labels)
        if len(labels) < 2:
            raise SustainError(f"task.labels of task={self.name} lists {len(labels)} label(s): list at least two.")
        keys: dict[str, str] = {}
        for label in labels:
            if not isinstance(label, str) or not LABEL_NAME.fullmatch(label):
                raise SustainError(
                    f"task.labels entry {label!r} is not a plain name: use letters, digits, spaces, '_', '-', '.' or '/'."
                )
            key = self._key(label)
            if key in keys or key == self._key(ERROR):
                clash = keys.get(key, ERROR)
                raise SustainError(
                    f"task.labels entry {label!r} reads the same as {clash!r} under the case and whitespace rules: "
                    f"rename one of them."
                )
            keys[key] = label
        return keys

    def _check_embedded(self, path: Path) -> None:
        if self.cfg.dataset == "embedded" and not path.is_file():
            raise SustainError(
                f"task={self.name} ships no embedded dataset ({path} does not exist): "
                f"set task.dataset=path/to/file.jsonl."
            )

    def _example(self, row: Row, templates: "_Templates") -> Example:
        raw = row.field(self.cfg.label_field, str, "a string")
        gold = self._by_key.get(self._key(raw))
        if gold is None:
            raise SustainError(
                f"{row.where}: field '{self.cfg.label_field}' is {raw!r}, not one of {', '.join(self.cfg.labels)}; "
                f"fix the label or add it to task.labels."
            )
        ex_id = str(row.data[self.cfg.id_field])
        return Example(ex_id, gold, templates.render(row), row)


class _Templates:
    """The system and user prompts compiled once, each checked against every example it renders."""

    def __init__(self, system: str, user: str, labels: list[str]) -> None:
        from jinja2 import Environment, StrictUndefined, TemplateSyntaxError, meta

        env = Environment(undefined=StrictUndefined, keep_trailing_newline=False, autoescape=False)
        self._compiled: dict[str, Any] = {}
        self._fields: dict[str, set[str]] = {}
        self._labels = labels
        for key, text in (("task.system_prompt", system), ("task.user_prompt", user)):
            if key == "task.system_prompt" and not text:
                continue
            try:
                ast = env.parse(text)
            except TemplateSyntaxError as exc:
                raise SustainError(
                    f"{key} is not a valid Jinja2 template ({exc.message}, template line {exc.lineno}): fix it."
                ) from None
            self._compiled[key] = env.from_string(text)
            self._fields[key] = meta.find_undeclared_variables(ast) - {"labels"}
        if not user.strip():
            raise SustainError("task.user_prompt is empty: give a template such as '{{ text }}'.")

    def render(self, row: Row) -> list[dict[str, str]]:
        from jinja2 import TemplateError

        messages = []
        for key, template in self._compiled.items():
            missing = sorted(self._fields[key] - set(row.data))
            if missing:
                raise SustainError(
                    f"{row.where}: field '{missing[0]}' named by {key} is missing; add it to every line "
                    f"or remove it from the template."
                )
            try:
                content = template.render({"labels": self._labels, **row.data})
            except TemplateError as exc:
                raise SustainError(f"{row.where}: {key} cannot be rendered ({exc}); fix the template or the line.") from None
            messages.append({"role": "system" if key == "task.system_prompt" else "user", "content": content})
        return messages


SCHEMAS = {"classification_schema": ClassificationConfig}
