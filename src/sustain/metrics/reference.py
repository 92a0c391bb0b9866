"""The paper's closed-model baseline: GPT-4o's decode latency and energy, estimated, not measured.

The paper had no hardware access to GPT-4o, so its footnote 12 (after Jegham et al. 2025, with speed from
Artificial Analysis) estimates: decode latency = output tokens / 113.7 tokens/s, and
energy (J) = 7.7 kW x (0.5 s prefill + decode latency) x 0.18 x 1000. The paper calls 0.18 a PUE; a PUE
cannot be below 1, so it acts as an overall scaling factor. It is kept as published because the point
is to reproduce the paper's baseline (66 tokens: 0.58 s and about 1,499 J in its Table 3).
"""

from __future__ import annotations

import statistics
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Dict, Optional

from sustain.errors import SustainError
from sustain.engines.remote_energy import RemoteEstimate
from sustain.names import JUDGE_SCORE

GPT4O_JUDGE_SCORE = 0.978  # Table 3: GPT-4o's LLM-as-a-judge score, the OM's reference quality


@dataclass(frozen=True)
class Reference:
    name: str
    quality: float
    decode_latency_s: float
    energy_j: float
    source: str
    quality_metric: str = JUDGE_SCORE  # what `quality` measures: an OM against another measure compares unlike


@dataclass
class ReferenceConfig:
    """The Overall Metric's comparison point, a `ReferenceSource` named by `_target_`: the keys every kind
    shares; each kind's own are in its schema (`SCHEMAS`). Alone, as reference=none, it means no OM."""

    _target_: str = "sustain.metrics.reference.NoReference"
    name: str = "none"  # for tags and labels


@dataclass
class Gpt4oEstimateConfig(ReferenceConfig):
    """reference=gpt4o_estimate: the constants of the paper's footnote-12 estimate."""

    _target_: str = "sustain.metrics.reference.Gpt4oEstimate"
    name: str = "gpt4o_estimate"
    output_tokens: Optional[float] = 66.0  # None: the run's own mean output tokens
    output_tokens_field: Optional[str] = None  # a dataset field holding each example's reference tokens
    tokens_per_s: float = 113.7
    prefill_s: float = 0.5
    power_kw: float = 7.7
    pue: float = 0.18
    quality: float = GPT4O_JUDGE_SCORE
    quality_metric: str = JUDGE_SCORE  # what `quality` measures (Table 3: GPT-4o's judge score)


@dataclass
class MlflowRunConfig(ReferenceConfig):
    """reference=mlflow_run: which earlier run."""

    _target_: str = "sustain.metrics.reference.MlflowRun"
    name: str = "mlflow_run"
    run_id: Optional[str] = None  # this run ...
    tags: Dict[str, str] = field(default_factory=dict)  # ... or the newest finished run with these tags


SCHEMAS = {"gpt4o_estimate_schema": Gpt4oEstimateConfig, "mlflow_run_schema": MlflowRunConfig}


class ReferenceSource(ABC):
    """Where the Overall Metric's comparison point comes from, chosen by `reference._target_`."""

    def __init__(self, cfg: Any) -> None:
        self.cfg = cfg

    @abstractmethod
    def reference(self, task: Any, metrics: dict[str, float], tracker: Any, quality_metric: str) -> Reference | None:
        """The reference for a run of `task` with `metrics`, whose OM quality is `quality_metric`."""


class NoReference(ReferenceSource):
    """`reference=none`: no OM."""

    def reference(self, task: Any, metrics: dict[str, float], tracker: Any, quality_metric: str) -> None:
        return None


class Gpt4oEstimate(ReferenceSource):
    """The paper's footnote-12 GPT-4o, for the output tokens configured, of a dataset field, or of this run."""

    def reference(self, task: Any, metrics: dict[str, float], tracker: Any, quality_metric: str) -> Reference:
        ref = self.cfg
        if ref.output_tokens_field:
            values = [task.example_field(rid, ref.output_tokens_field) for rid in task.ids]
            if any(not isinstance(v, (int, float)) for v in values):
                raise SustainError(
                    f"reference.output_tokens_field={ref.output_tokens_field} is not a number on every dataset "
                    f"line: add it to each line or set reference.output_tokens instead."
                )
            tokens = statistics.fmean(values)
        else:
            tokens = ref.output_tokens if ref.output_tokens is not None else metrics.get("mean_output_tokens", 0.0)
        return gpt4o_estimate(tokens, ref.tokens_per_s, ref.prefill_s, ref.power_kw, ref.pue, ref.quality,
                              ref.quality_metric)


class MlflowRun(ReferenceSource):
    """An earlier sustain run (by id, or the newest finished one with `reference.tags`), on the same measure."""

    def reference(self, task: Any, metrics: dict[str, float], tracker: Any, quality_metric: str) -> Reference:
        return tracker.reference_from_run(self.cfg.run_id, dict(self.cfg.tags), quality_metric)


def gpt4o_estimate(
    output_tokens: float,
    tokens_per_s: float = 113.7,
    prefill_s: float = 0.5,
    power_kw: float = 7.7,
    pue: float = 0.18,
    quality: float = GPT4O_JUDGE_SCORE,
    quality_metric: str = JUDGE_SCORE,
) -> Reference:
    """GPT-4o per-request decode latency and energy for `output_tokens` (a mean works: both are linear)."""
    if output_tokens < 0:
        raise ValueError("tokens must be >= 0")
    model = RemoteEstimate("gpt-4o", tokens_per_s, prefill_s, power_kw, pue)
    decode_s = model.decode_s(output_tokens)
    energy_j = model.energy_j(output_tokens)
    source = (
        f"estimate after the paper's footnote 12: "
        f"decode = {output_tokens:g} tokens / {tokens_per_s:g} tok/s; "
        f"energy = {power_kw:g} kW x ({prefill_s:g} s prefill + decode) x {pue:g} x 1000"
    )
    return Reference("gpt-4o (estimated)", quality, decode_s, energy_j, source, quality_metric)
