"""Answer the user's question: the lowest-energy configuration that meets every constraint.

A constraint list is comma-separated `METRIC OP NUMBER`, e.g. `judge>=0.9,p90_decode_s<=5`, with OP one of
<=, >=, <, >, == and METRIC one of `aliases()` (the columns of the report's runs frame). Every compared
configuration (one row per configuration, one task at a time) is a candidate; a configuration without the
metric a constraint names does not meet it.

    from sustain.report import compare, pick
    answer = pick.pick(compare.load_runs("sqlite:///mlruns/mlflow.db"), "judge>=0.9,p90_decode_s<=5")
    print(answer.text())
"""

from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass, field

import pandas as pd

from sustain.errors import SustainError
from sustain.report import compare

# Names people write beside the registry's own columns and metric names (`sustain.registry`).
SPOKEN = {"macro_f1": "f1", "energy": "energy_j", "energy_per_request_j": "energy_j",
          "energy_per_correct": "energy_per_correct_j", "decode_s": "decode_latency_s", "water": "water_l_per_request",
          "p90_decode_s": "p90_decode_s", "batch_size": "batch_size", "gpus": "gpus"}


def aliases() -> dict[str, str]:
    """Every name `--pick` takes → the runs frame's column: each registered column by its own name and by
    its metric's name, and the spoken names above."""
    from sustain.report.compare import metric_columns

    out = {column.lower(): column for column in metric_columns()}
    out.update({metric.lower(): column for column, metric in metric_columns().items()})
    return {**out, **SPOKEN}


def unit(column: str) -> str:
    from sustain.registry import registry

    if column == "p90_decode_s":
        return " s"
    metric = registry().by_column(column)
    return f" {metric.unit}" if metric and metric.unit in ("J", "s", "L", "kWh", "gCO2e", "kgCO2e") else ""


OPERATORS = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt, "==": operator.eq}
_CONSTRAINT = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|==|<|>)\s*([-+0-9.eE]+)\s*$")


@dataclass(frozen=True)
class Constraint:
    text: str
    column: str
    op: str
    bound: float

    def met(self, values: pd.Series) -> pd.Series:
        return OPERATORS[self.op](values, self.bound) & values.notna()

    def shortfall(self, value: float) -> float:
        """How far a value is from meeting the bound, relative to the bound (0 when met, inf when absent)."""
        if value is None or pd.isna(value):
            return math.inf
        if OPERATORS[self.op](value, self.bound):
            return 0.0
        return abs(value - self.bound) / max(abs(self.bound), 1e-12)


def parse(text: str) -> list[Constraint]:
    """`judge>=0.9,p90_decode_s<=5` → constraints; a bad one is refused in one sentence."""
    parts = [p for p in text.split(",") if p.strip()]
    if not parts:
        raise SustainError(f"--pick '{text}' holds no constraint: write e.g. --pick \"judge>=0.9,p90_decode_s<=5\".")
    constraints = []
    for part in parts:
        match = _CONSTRAINT.match(part)
        if not match:
            raise SustainError(f"constraint '{part.strip()}' is not METRIC OP NUMBER with OP one of "
                               f"{', '.join(OPERATORS)}: write e.g. judge>=0.9.")
        name, op, number = match.groups()
        known = aliases()
        if name.lower() not in known:
            raise SustainError(f"constraint '{part.strip()}' names no known metric '{name}': use one of "
                               f"{', '.join(known)}.")
        try:
            bound = float(number)
        except ValueError:
            raise SustainError(f"constraint '{part.strip()}' has '{number}', which is not a number.") from None
        constraints.append(Constraint(part.strip(), known[name.lower()], op, bound))
    return constraints


@dataclass
class Answer:
    """The pick for one task: the best and the runner-up that meet every constraint, or what came closest."""

    task: str
    constraints: list[Constraint]
    reference: compare.Baseline
    candidates: int
    best: pd.Series | None = None
    runner_up: pd.Series | None = None
    unmet: list[str] = field(default_factory=list)  # constraints no configuration meets on its own
    closest: pd.Series | None = None
    quality_name: str = "quality"

    def text(self) -> str:
        wanted = ", ".join(c.text for c in self.constraints)
        head = f"task {self.task}: {self.candidates} configuration(s) compared against {wanted}"
        if self.best is not None:
            lines = [head, f"  pick:      {self._describe(self.best)}"]
            lines.append(f"  runner-up: {self._describe(self.runner_up)}" if self.runner_up is not None
                         else "  runner-up: none (only one configuration meets every constraint)")
            return "\n".join(lines)
        if self.unmet:
            why = "no configuration meets " + " nor ".join(self.unmet)
        else:
            why = "each constraint is met by some configuration, but none meets them all together"
        lines = [head, f"  none: {why}."]
        if self.closest is not None:
            misses = [f"{c.text} (has {_value(self.closest.get(c.column), c.column)})"
                      for c in self.constraints if c.shortfall(self.closest.get(c.column)) > 0]
            lines.append(f"  closest: {self._describe(self.closest)}; misses {', '.join(misses)}")
        return "\n".join(lines)

    def _describe(self, row: pd.Series) -> str:
        ref = self.reference
        name = compare.with_labels(row.to_frame().T)["label"].iloc[0]
        config = ", ".join(f"{k} {int(row[k])}" for k in ("batch_size", "gpus") if not pd.isna(row.get(k)))
        costs = [f"{_value(row['energy_j'], 'energy_j')} per request ({_ratio(row['energy_j'], ref.energy_j)} "
                 f"the reference's {_value(ref.energy_j, 'energy_j')})",
                 f"decode {_value(row['decode_latency_s'], 'decode_latency_s')} "
                 f"({_ratio(row['decode_latency_s'], ref.decode_latency_s)} the reference's "
                 f"{_value(ref.decode_latency_s, 'decode_latency_s')})"]
        for column, label in (("judge", "judge"), ("quality", self.quality_name)):
            if not pd.isna(row.get(column)):
                against = "" if pd.isna(ref.score(column)) else f" vs {ref.score(column):.3f}"
                costs.append(f"{label} {row[column]:.3f}{against}")
        return f"{name} ({config}; {row['origin']}): " + ", ".join(costs) + f"; reference {ref.name}"


def _value(value, column: str) -> str:
    if value is None or pd.isna(value):
        return "no value"
    return f"{value:.4g}{unit(column)}"


def _ratio(value: float, ref: float) -> str:
    return "n/a vs" if pd.isna(value) or not ref > 0 else f"{value / ref:.2f}x"


def pick(runs: pd.DataFrame, constraints: str | list[Constraint],
         reference: compare.Baseline | None = None) -> Answer:
    """The lowest-energy configuration of one task's `runs` that meets every constraint."""
    if isinstance(constraints, str):
        constraints = parse(constraints)
    task = compare.one_task(runs) if len(runs) else compare.PAPER_TASK
    reference = reference or compare.estimated_baseline(task, runs)
    rows = runs.dropna(subset=["energy_j"]).sort_values(["energy_j", "run_id"], na_position="last")
    answer = Answer(task, constraints, reference, len(rows), quality_name=compare.quality_name(rows, "quality"))
    meets = pd.Series(True, index=rows.index)
    for c in constraints:
        met = c.met(rows[c.column].astype(float))
        if not met.any():
            answer.unmet.append(c.text)
        meets &= met
    passing = rows[meets]
    if len(passing):
        answer.best = passing.iloc[0]
        answer.runner_up = passing.iloc[1] if len(passing) > 1 else None
    elif len(rows):
        gaps = rows.apply(lambda r: sum(c.shortfall(r[c.column]) for c in constraints), axis=1)
        if gaps.min() < math.inf:
            answer.closest = rows.loc[gaps.idxmin()]
    return answer


def pick_by_task(runs: pd.DataFrame, constraints: str, references: dict[str, compare.Baseline] | None = None
                 ) -> list[Answer]:
    """One answer per task: a constraint on quality means something only within one task."""
    parsed = parse(constraints)
    references = references or {}
    return [pick(rows, parsed, references.get(task)) for task, rows in compare.by_task(runs)]
