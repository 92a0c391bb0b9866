"""Multi-step arithmetic word problems, scored by exact match of the final number.

A dataset is JSONL, one problem per line: `{"id", "question", "answer"}` with a numeric `answer`.
The model may reason first; the prompt asks it to end with a line `Answer: <number>`.

How the final number is read from an output, exactly:

1. With `task.strip_reasoning`, a leading `<think>...</think>` block is dropped.
2. The last answer marker is looked for, case-insensitively: `answer:`, `answer is`, `answer =`,
   `####` or `\\boxed{`, followed (after optional spaces, `*` and a `$`) by a number. The number after
   the last such marker is the answer.
3. Without any marker, the last number anywhere in the output is the answer.
4. A number is an optional minus sign, digits with optional `,` thousands separators, and an optional
   decimal part (`-1,234.50`). Separators are removed and the value is compared with the reference as a
   decimal, so `1,234.50` equals `1234.5`; units, `%` and text around the number are ignored.
5. An output with no number at all is unanswered (a wrong answer, with `parse_error` saying so).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sustain.errors import SustainError
from sustain.metrics.quality import strip_reasoning
from sustain.registry import MAXIMIZE, Metric
from sustain.tasks.base import (
    JudgeItem, Prediction, QualityResult, Request, Task, TaskConfig, correct_share, dataset_path,
)
from sustain.tasks.examples import read_rows

SYSTEM_PROMPT = (
    "Solve the math word problem. Reason step by step in a few short lines, then write the final answer "
    "on the last line as 'Answer: <number>', with digits only and no units."
)

NUMBER = r"-?\d+(?:,\d{3})*(?:\.\d+)?"
_MARKED = re.compile(r"(?:answer\s*(?:is|:|=)|####|\\boxed\{)[\s*]*\$?\s*(" + NUMBER + ")", re.IGNORECASE)
_ANY = re.compile(NUMBER)


@dataclass
class ArithmeticConfig(TaskConfig):
    _target_: str = "sustain.tasks.arithmetic.ArithmeticTask"
    name: str = "arithmetic"
    max_tokens: int = 256


@dataclass(frozen=True)
class Problem:
    id: str
    question: str
    answer: Decimal
    raw: dict[str, Any]


def final_number(text: str) -> Decimal | None:
    """The output's final answer as a decimal, read as the module docstring says; None when there is none."""
    marked = _MARKED.findall(text)
    found = marked[-1] if marked else (_ANY.findall(text) or [None])[-1]
    return None if found is None else Decimal(found.replace(",", ""))


class ArithmeticTask(Task):
    examples: dict[str, Problem]

    def load(self) -> None:
        path = dataset_path(self.cfg.dataset, "arithmetic.jsonl")
        problems = []
        for row in read_rows(path):
            question = row.field("question", str, "a string")
            answer = row.field("answer", (int, float, str), "a number")
            try:
                value = Decimal(str(answer).replace(",", ""))
            except InvalidOperation:
                value = Decimal("NaN")
            if not value.is_finite():
                raise SustainError(f"{row.where}: field 'answer' is {answer!r}, not a number; write it as digits.")
            problems.append(Problem(str(row.data["id"]), question, value, row.data))
        self._keep(problems, path)

    def requests(self) -> list[Request]:
        return [
            Request(p.id, [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": p.question}])
            for p in self.examples.values()
        ]

    def predict(self, id: str, output: str | None, error: str | None = None) -> Prediction:
        gold = self.examples[id].answer
        if output is None:
            return Prediction(id, None, _plain(gold), False, parse_error=f"request failed: {error}")
        number = final_number(strip_reasoning(output) if self.cfg.strip_reasoning else output)
        if number is None:
            return Prediction(id, None, _plain(gold), False, parse_error="no number in the output")
        return Prediction(id, _plain(number), _plain(gold), number == gold)

    def score(self, predictions: list[Prediction]) -> QualityResult:
        return correct_share("exact_match", "answered_rate", predictions)

    def judge_item(self, id: str, output: str) -> JudgeItem:
        problem = self.examples[id]
        return JudgeItem(id, problem.question, output, _plain(problem.answer))

    def example_field(self, id: str, name: str) -> Any:
        return self.examples[id].raw.get(name)


def _plain(value: Decimal) -> str:
    """A decimal without exponent or trailing zeros: 1.2E+3 -> '1200', 2.50 -> '2.5'."""
    return format(value.normalize(), "f")


SCHEMAS = {"arithmetic_schema": ArithmeticConfig}
METRICS = [
    Metric("exact_match", "1", MAXIMIZE, "over problems", "Share of problems whose final number equals the "
           "answer (decimal compare).", "quality", source=__name__),
    Metric("answered_rate", "1", MAXIMIZE, "over problems", "Share of outputs holding a number at all.", "quality",
           source=__name__),
]
