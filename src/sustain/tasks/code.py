"""Function-writing problems scored by pass@1: the model's code must pass hidden unit tests.

A dataset is JSONL, one problem per line: `{"id", "entry_point", "signature", "prompt", "tests"}` and
optionally `reference` (a reference solution, shown to the judge). `tests` is Python (usually asserts)
run after the model's code; the sample passes when that program exits with status 0 inside the sandbox
(`sustain.tasks.sandbox`) within its limits. One greedy sample per problem, so pass@1 is the share of
problems passed.

How the code is read from an output (after a leading `<think>...</think>` block, with
`task.strip_reasoning`): the first fenced block (```` ```python ````, ```` ```py ```` or a bare
```` ``` ````) that defines `def <entry_point>(`; else the first fenced block; else, when an opening
fence is never closed (the output was cut at `task.max_tokens`), everything after it; else the whole
output as bare code.

`predict` runs the tests (up to `task.timeout_s` per sample), so it belongs after the measured window.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sustain.errors import SustainError
from sustain.metrics.quality import strip_reasoning
from sustain.tasks.base import (
    JudgeItem, Prediction, QualityResult, Request, Task, TaskConfig, correct_share, dataset_path,
)
from sustain.tasks.examples import Row, read_rows
from sustain.tasks.sandbox import Limits, run_python

SYSTEM_PROMPT = (
    "You are a Python programmer. Write the requested function with the given name and parameters, "
    "using only the standard library. Reply with the complete code in one ```python block and no explanation."
)

_FENCED = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE)
_OPEN_FENCE = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\n", re.IGNORECASE)


@dataclass
class CodeConfig(TaskConfig):
    _target_: str = "sustain.tasks.code.CodeTask"
    name: str = "code"
    max_tokens: int = 384
    timeout_s: float = 10.0  # wall-clock limit per sample
    cpu_s: int = 5  # CPU-time limit per sample
    memory_mb: int = 512  # address-space limit per sample


@dataclass(frozen=True)
class Problem:
    id: str
    entry_point: str
    signature: str
    prompt: str
    tests: str
    raw: dict[str, Any]


def extract_code(text: str, entry_point: str) -> str:
    """The program text of an output, chosen as the module docstring says."""
    blocks = _FENCED.findall(text)
    defining = [b for b in blocks if re.search(rf"\bdef\s+{re.escape(entry_point)}\s*\(", b)]
    if defining or blocks:
        return (defining or blocks)[0].strip("\n")
    opened = _OPEN_FENCE.search(text)
    return (text[opened.end():] if opened else text).strip("\n")


class CodeTask(Task):
    def __init__(self, cfg: CodeConfig) -> None:
        super().__init__(cfg)
        self.examples: dict[str, Problem] = {}
        self.limits = Limits(wall_s=cfg.timeout_s, cpu_s=cfg.cpu_s, memory_bytes=cfg.memory_mb * 2**20)

    def load(self) -> None:
        path = dataset_path(self.cfg.dataset, "code.jsonl")
        problems = [self._problem(row) for row in read_rows(path)]
        self._keep(problems, path)

    def requests(self) -> list[Request]:
        return [
            Request(p.id, [{"role": "system", "content": SYSTEM_PROMPT},
                           {"role": "user", "content": f"Write a Python function `{p.signature}`.\n\n{p.prompt}"}])
            for p in self.examples.values()
        ]

    def predict(self, id: str, output: str | None, error: str | None = None) -> Prediction:
        problem = self.examples[id]
        gold = problem.raw.get("reference")
        if output is None:
            return Prediction(id, None, gold, False, parse_error=f"request failed: {error}")
        code = extract_code(strip_reasoning(output) if self.cfg.strip_reasoning else output, problem.entry_point)
        if not code.strip():
            return Prediction(id, None, gold, False, parse_error="no code in the output")
        outcome = run_python(f"{code}\n\n\n{problem.tests}", self.limits)
        return Prediction(id, code, gold, outcome.passed,
                          detail={"result": outcome.reason, "test_seconds": round(outcome.duration_s, 3)})

    def score(self, predictions: list[Prediction]) -> QualityResult:
        return correct_share("pass_at_1", "code_found_rate", predictions)

    def judge_item(self, id: str, output: str) -> JudgeItem:
        p = self.examples[id]
        return JudgeItem(id, f"Write a Python function `{p.signature}`.\n\n{p.prompt}", output,
                         str(p.raw.get("reference") or p.tests))

    def example_field(self, id: str, name: str) -> Any:
        return self.examples[id].raw.get(name)

    @staticmethod
    def _problem(row: Row) -> Problem:
        fields = {name: row.field(name, str, "a string") for name in ("entry_point", "signature", "prompt", "tests")}
        if not fields["entry_point"].isidentifier():
            raise SustainError(f"{row.where}: field 'entry_point' is {fields['entry_point']!r}, not a Python name; fix it.")
        return Problem(str(row.data["id"]), raw=row.data, **fields)


SCHEMAS = {"code_schema": CodeConfig}
