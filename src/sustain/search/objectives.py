"""What a search optimises: metrics of a finished run, each minimised or maximised, and the Pareto set.

Any metric a run logs may be an objective; the usual ones are energy per request, energy per correct
answer, quality (the task's primary metric) or the judge's score, and decode latency.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

from sustain.errors import SustainError
from sustain import names

DIRECTIONS = ("minimize", "maximize")
USUAL = (names.ENERGY_PER_REQUEST, names.ENERGY_PER_CORRECT, names.QUALITY, names.JUDGE_SCORE, names.DECODE_LATENCY)


@dataclass(frozen=True)
class Objective:
    metric: str
    direction: str = "minimize"

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise SustainError(f"objective {self.metric}: direction={self.direction} is unknown: "
                               f"use minimize or maximize.")
        if not self.metric:
            raise SustainError(f"an objective has no metric: name one, e.g. {', '.join(USUAL)}.")


def objectives_from(metrics: Sequence[str], directions: Sequence[str]) -> list[Objective]:
    """The sweeper's `objectives` and `directions`, paired in order; with no directions, each metric's
    own from the registry (a metric nothing declares, or one without a better side, is refused)."""
    from sustain.registry import NEITHER, registry

    if metrics and not directions:
        declared = [registry().get(str(m)) for m in metrics]
        for name, metric in zip(metrics, declared):
            if metric is None or metric.direction == NEITHER:
                why = "is no metric sustain declares" if metric is None else "has no better side"
                raise SustainError(f"objective {name} {why}: pick one of {', '.join(USUAL)}, or give "
                                   f"hydra.sweeper.directions for every objective.")
        directions = [m.direction for m in declared]
    if not metrics:
        raise SustainError("the search has no objectives: set hydra.sweeper.objectives, e.g. "
                           "[energy_per_request_j_mean,quality], and hydra.sweeper.directions=[minimize,maximize].")
    if len(metrics) != len(directions):
        raise SustainError(f"hydra.sweeper.objectives has {len(metrics)} metric(s) but directions has "
                           f"{len(directions)}: give one direction (minimize or maximize) per objective.")
    return [Objective(str(m), str(d)) for m, d in zip(metrics, directions)]


def values_of(metrics: Mapping[str, float], objectives: Sequence[Objective]) -> list[float]:
    """The objectives' values in a run's metrics; a missing or non-finite one is the run's failure."""
    values = []
    for o in objectives:
        value = metrics.get(o.metric)
        if value is None:
            raise SustainError(f"the run logged no metric {o.metric}: pick an objective it logs "
                               f"(e.g. {', '.join(m for m in USUAL if m in metrics)}).")
        if not math.isfinite(value):
            raise SustainError(f"the run's {o.metric} is {value}: no value to optimise.")
        values.append(float(value))
    return values


def dominates(a: Sequence[float], b: Sequence[float], objectives: Sequence[Objective]) -> bool:
    """a is at least as good as b on every objective and better on one."""
    signs = [1.0 if o.direction == "minimize" else -1.0 for o in objectives]
    pairs = [(s * x, s * y) for s, x, y in zip(signs, a, b)]
    return all(x <= y for x, y in pairs) and any(x < y for x, y in pairs)


def pareto_front(points: Sequence[Sequence[float]], objectives: Sequence[Objective]) -> list[int]:
    """Positions of the points no other point dominates (equal points all stay), in input order."""
    return [i for i, p in enumerate(points)
            if not any(dominates(q, p, objectives) for j, q in enumerate(points) if j != i)]
