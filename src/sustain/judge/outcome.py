"""The LLM judge as a stage of a run: score the outputs after the evaluated engine is gone, keep its time
and energy apart (`judge_*`), and when it cannot score at all, say so on the run, which keeps every figure of
the evaluated model."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sustain.errors import SustainError
from sustain.judge.scoring import JudgeResult


@dataclass
class JudgeOutcome:
    """The LLM judge's scores, or why there are none: a judge that fails leaves every other figure intact."""

    result: JudgeResult | None
    n_items: int
    error: str | None = None

    def metrics(self) -> dict[str, float]:
        return self.result.metrics() if self.result else {}

    def tags(self) -> dict[str, str]:
        return self.result.tags() if self.result else {"judge.error": (self.error or "")[:5000]}

    def flags(self) -> list[str]:
        if self.result is None:
            return [f"judge failed, no judge score: {self.error}"]
        if self.result.failures:
            return [f"judge could not score {len(self.result.failures)} of {self.n_items} outputs"]
        return []

    def section(self) -> dict[str, Any] | None:
        if self.result is None:
            return None
        r = self.result
        return {"mean": r.mean, "std": r.std, "n_scored": r.n_scored, "failures": len(r.failures),
                "energy_source": r.energy_source}


def judge_outputs(cfg: Any, task: Any, records: list[Any], out_dir: Path, energy: Any) -> JudgeOutcome:
    """`cfg` is the run's judge config; `task` makes each output a task-neutral item."""
    from sustain.judge import evaluate

    items = [task.judge_item(r.id, r.output_text) for r in records if r.error is None]
    try:
        return JudgeOutcome(evaluate(cfg, items, out_dir, energy), len(items))
    except SustainError as exc:
        print(f"sustain: error: judge: {exc}", file=sys.stderr, flush=True)
        return JudgeOutcome(None, len(items), str(exc))
