"""The Overall Metric (OM) of LLMCBench, as the paper uses it to rank models against GPT-4o:

    OM = sqrt(wQ (Q_E/Q_R)^2 + wL (L_R/L_E)^2 + wE (E_R/E_E)^2)

E is the evaluated configuration, R the reference; quality Q is higher-better, latency L and energy E
lower-better, hence the inverted ratios. Weights are normalised to sum to 1, so the reference scores
exactly 1 and OM > 1 means better than the reference overall.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from sustain.errors import SustainError
from sustain import names
from sustain.metrics.reference import Reference

# (wQ, wL, wE). The paper's Figure 3 sweeps the quality weight and splits the rest between
# latency and energy; its table lists the weights as (quality, energy, latency).
WEIGHT_SCENARIOS: dict[str, tuple[float, float, float]] = {
    "quality_0": (0.0, 0.5, 0.5),
    "quality_33": (0.33, 0.335, 0.335),
    "quality_50": (0.5, 0.25, 0.25),
    "quality_80": (0.8, 0.1, 0.1),
    "quality_98": (0.98, 0.01, 0.01),
    "quality_100": (1.0, 0.0, 0.0),
    "equal": (1 / 3, 1 / 3, 1 / 3),
}


def meaningful(q_e: float, q_r: float) -> bool:
    """Whether OM can rank this run: with a zero quality (run or reference) the quality term vanishes or is
    undefined, and the latency and energy ratios alone decide, so a model that answers nothing right can
    read as "28 times better" than the reference. Such an OM is marked not meaningful, not ranked."""
    return q_e > 0 and q_r > 0


def normalise_weights(w_q: float, w_l: float, w_e: float) -> tuple[float, float, float]:
    weights = (w_q, w_l, w_e)
    if any(not math.isfinite(w) or w < 0 for w in weights):
        raise ValueError(f"weights must be finite and non-negative, got {weights}")
    total = sum(weights)
    if total == 0:
        raise ValueError("at least one weight must be positive")
    return w_q / total, w_l / total, w_e / total


def overall_metric(
    q_e: float,
    l_e: float,
    e_e: float,
    q_r: float,
    l_r: float,
    e_r: float,
    w_q: float,
    w_l: float,
    w_e: float,
) -> float:
    """OM of the evaluated (q_e, l_e, e_e) against the reference (q_r, l_r, e_r)."""
    if not q_r > 0 or not q_e >= 0:
        raise ValueError(f"quality must be >= 0 (reference > 0), got evaluated {q_e}, reference {q_r}")
    if not min(l_e, e_e, l_r, e_r) > 0:
        raise ValueError(f"latency and energy must be positive, got L {l_e}/{l_r}, E {e_e}/{e_r}")
    wq, wl, we = normalise_weights(w_q, w_l, w_e)
    return math.sqrt(wq * (q_e / q_r) ** 2 + wl * (l_r / l_e) ** 2 + we * (e_r / e_e) ** 2)


@dataclass
class Overall:
    """OM of a run against its reference, for the configured weights and each scenario. An OM that says
    nothing (a zero quality) is not logged as a number at all: a table sorted by it would rank the run
    well. Its absence is explained by the tags."""

    reference: Reference
    quality_metric: str
    weights: list[float]
    meaningful: bool
    comparable: bool
    values: dict[str, float] = field(default_factory=dict)  # om, om_<scenario>

    def metrics(self) -> dict[str, float]:
        out = {"reference_energy_j": self.reference.energy_j, "reference_quality": self.reference.quality,
               "reference_decode_latency_s": self.reference.decode_latency_s}
        return {**out, **self.values} if self.meaningful else out

    def tags(self) -> dict[str, str]:
        out = {names.OM_MEANINGFUL_TAG: str(self.meaningful).lower(),
               names.OM_COMPARABLE_TAG: str(self.comparable).lower()}
        if not self.meaningful:
            out["om.absent"] = (f"not logged: {self.quality_metric} is 0 for this run or its reference "
                                f"{self.reference.name}, so latency and energy alone would decide")
        return out

    def section(self) -> dict[str, Any]:
        return {"reference": asdict(self.reference), "quality_metric": self.quality_metric,
                "weights": self.weights, "meaningful": self.meaningful, "comparable": self.comparable,
                "om": self.values.get(names.OM) if self.meaningful else None}


def quality_key(choice: str, metrics: dict[str, float]) -> str:
    """The metric OM's quality term reads: `auto` is the judge's score when there is one, else the task's."""
    if choice == "auto":
        return names.JUDGE_SCORE if names.JUDGE_SCORE in metrics else names.QUALITY
    if choice not in metrics:
        raise SustainError(f"overall.quality_metric={choice} was not measured in this run: use auto, quality "
                           f"(the task's primary metric) or one of the task's metrics.")
    return choice


def assess(cfg: Any, metrics: dict[str, float], reference: Reference) -> Overall:
    """OM of a run's `metrics` against `reference`, for `cfg` (overall.weights, overall.scenarios)."""
    quality = quality_key(cfg.quality_metric, metrics)
    args = (metrics[quality], metrics[names.DECODE_LATENCY], metrics[names.ENERGY_PER_REQUEST],
            reference.quality, reference.decode_latency_s, reference.energy_j)
    values = {names.OM: overall_metric(*args, *cfg.weights)}
    values.update({f"om_{name}": overall_metric(*args, *w) for name, w in cfg.scenarios.items()})
    return Overall(reference, quality, list(cfg.weights), meaningful(metrics[quality], reference.quality),
                   quality == reference.quality_metric, values)


def overall_for(cfg: Any, task: Any, metrics: dict[str, float], tracker: Any) -> Overall | None:
    """OM of a run against `reference=` (`cfg` is the root config), or None: no reference, or no positive
    decode latency or energy to compare."""
    from sustain.plugins import build

    latency, energy = metrics.get(names.DECODE_LATENCY, math.nan), metrics.get(names.ENERGY_PER_REQUEST, math.nan)
    if not (latency > 0 and energy > 0):  # e.g. one-token scoring requests: no decode to compare
        return None
    source = build(cfg.reference, "reference")
    reference = source.reference(task, metrics, tracker, quality_key(cfg.overall.quality_metric, metrics))
    return None if reference is None else assess(cfg.overall, metrics, reference)
