"""A run's energy figures as one typed result: the attribution's headline and cross-checks, energy per
correct answer (per sub-task too), the window's token count against its approximation, and carbon.

A task that runs several sub-tasks in one job (lm-eval's tasks) names each prediction's sub-task in
`detail["group"]` and the document it scores in `detail["sample"]` (default: the request id; several
requests of one document, the choices of a multiple-choice question, share it): energy per sample and per
correct sample are then logged per sub-task."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from sustain.energy.attribution import Attribution, successful, uniform_tokens_in_window
from sustain.engines.records import RequestRecord
from sustain import names
from sustain.catalog import ENERGY_PER_CORRECT_GROUP, ENERGY_PER_SAMPLE_GROUP
from sustain.metrics import carbon
from sustain.types import QualityResult

NO_CORRECT = "undefined: no correct answer"


@dataclass
class EnergyFigures:
    attribution: Attribution
    meter_notes: list[str]
    timeline_model: Any
    grid_g_per_kwh: float
    grid_source: str
    pue: float
    per_correct_j: float | None
    window_tokens: dict[str, float] = field(default_factory=dict)
    reused_requests: int = 0
    node_per_request_j: float | None = None  # whole node (every domain), where measured or estimated here
    node_label: str = ""
    per_group: dict[str, float] = field(default_factory=dict)  # energy_per_sample_j_{group}, ..._correct_...

    @property
    def carbon_basis(self) -> tuple[float, str]:
        """Energy per request that carbon is computed on: the whole node where known (the headline alone,
        GPU where measured, would leave CPU and DRAM out and read better than it is), else the headline."""
        if self.node_per_request_j is not None:
            return self.node_per_request_j, f"whole node ({self.node_label})"
        return self.attribution.mean_j, f"headline ({self.attribution.source})"

    def metrics(self) -> dict[str, float]:
        per_request, _ = self.carbon_basis
        out = {**self.attribution.to_metrics(), **self.window_tokens, "reused_requests": float(self.reused_requests),
               "gco2e_per_request": carbon.carbon_g(per_request, self.grid_g_per_kwh, self.pue),
               **carbon.per_thousand(per_request, self.grid_g_per_kwh, self.pue)}
        if self.per_correct_j is not None:
            out[names.ENERGY_PER_CORRECT] = self.per_correct_j
        return {**out, **self.per_group}

    def tags(self) -> dict[str, str]:
        out = {names.ENERGY_SOURCE_TAG: self.attribution.source,
               names.ENERGY_MEASURED_TAG: str(self.attribution.measured).lower(),
               "energy.attribution": self.attribution.mode, "energy.notes": " | ".join(self.meter_notes),
               "carbon.grid_source": self.grid_source, "carbon.basis": self.carbon_basis[1]}
        if self.per_correct_j is None:
            out["energy_per_correct"] = NO_CORRECT
        return out

    def sections(self) -> dict[str, Any]:
        a = self.attribution
        return {
            "energy": {"source": a.source, "measured": a.measured, "mode": a.mode, "reason": a.reason,
                       "notes": self.meter_notes, "model": self.timeline_model, "window": asdict(a.window)},
            "carbon": {"grid_g_per_kwh": self.grid_g_per_kwh, "grid_source": self.grid_source, "pue": self.pue,
                       "basis": self.carbon_basis[1]},
        }


def energy_figures(attribution: Attribution, quality: QualityResult, engine_records: list[RequestRecord],
                   carbon_cfg: Any, meter_notes: list[str], timeline_model: Any, reused: int,
                   node: Any = None) -> EnergyFigures:
    """`node`: the footprint's whole-node energy (`NodeEnergy`), None where nothing was measured here."""
    grid, grid_source = carbon.grid_intensity(carbon_cfg.grid)
    return EnergyFigures(attribution, meter_notes, timeline_model, grid, grid_source, carbon_cfg.pue,
                         energy_per_correct(attribution, quality), window_token_counts(engine_records, attribution),
                         reused, None if node is None else node.per_request_j_mean, "" if node is None else node.label,
                         energy_per_group(attribution, quality))


def energy_per_correct(attribution: Attribution, quality: QualityResult) -> float | None:
    """Energy of the measured requests divided by the correct answers among them; None with none correct."""
    correct = [p.id for p in quality.predictions if p.correct]
    if not correct or not attribution.per_request_j:
        return None
    return sum(attribution.per_request_j.values()) / len(correct)


def energy_per_group(attribution: Attribution, quality: QualityResult) -> dict[str, float]:
    """Per sub-task (`detail["group"]`): `energy_per_sample_j_{group}`, the energy of its samples whose every
    request was measured over their number (a sample is the sum of its requests), and
    `energy_per_correct_j_{group}`, the energy of its measured requests over its samples with a correct
    prediction (absent with none), as `energy_per_correct_j` counts the whole run."""
    samples: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    correct: dict[str, set[str]] = defaultdict(set)
    for p in quality.predictions:
        if "group" not in p.detail:
            continue
        group, sample = str(p.detail["group"]), str(p.detail.get("sample", p.id))
        samples[group][sample].append(p.id)
        if p.correct:
            correct[group].add(sample)
    energy = attribution.per_request_j
    out: dict[str, float] = {}
    for group, by_sample in samples.items():
        measured = [sum(energy[i] for i in ids) for ids in by_sample.values() if all(i in energy for i in ids)]
        if measured:
            out[ENERGY_PER_SAMPLE_GROUP.format(group=group_key(group))] = sum(measured) / len(measured)
        spent = [energy[i] for ids in by_sample.values() for i in ids if i in energy]
        if correct[group] and spent:
            out[ENERGY_PER_CORRECT_GROUP.format(group=group_key(group))] = sum(spent) / len(correct[group])
    return out


def group_key(name: str) -> str:
    """A sub-task's name as part of an MLflow metric name."""
    return re.sub(r"[^A-Za-z0-9_.\-/]", "_", name)


def window_token_counts(records: list[RequestRecord], attribution: Attribution) -> dict[str, float]:
    """The window's output tokens counted from token times beside the uniform-rate approximation used
    where token times are missing, and how far the two differ (the approximation's error on this run)."""
    done = successful(records)
    if attribution.mode != "steady_state" or not done or any(not r.token_times_s for r in done):
        return {}
    start, end = attribution.span_s
    counted = sum(start < t <= end for r in done for t in r.token_times_s or [])
    uniform = uniform_tokens_in_window(done, start, end)
    return {"window_tokens_counted": float(counted), "window_tokens_uniform": uniform,
            "window_tokens_uniform_error": (uniform - counted) / counted if counted else 0.0}
