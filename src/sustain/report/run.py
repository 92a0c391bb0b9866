"""One run's report, typed: each stage's result is a piece of it, and this object alone turns them into
the MLflow metrics and tags, `summary.json` and the terminal summary. No stage edits another's figures.

Every metric name a piece produces is declared in the registry (`sustain.registry`); the tests
hold every run to that.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from sustain.judge.outcome import JudgeOutcome
from sustain import names
from sustain.metrics import validity
from sustain.catalog import ENERGY_PER_CORRECT_GROUP, ENERGY_PER_SAMPLE_GROUP, SUBTASKS
from sustain.metrics.energy import EnergyFigures, group_key
from sustain.metrics.footprint import Footprint
from sustain.metrics.latency import Latency
from sustain.metrics.overall import Overall
from sustain.metrics.roofline import Roofline
from sustain.metrics.sessions import SessionFigures
from sustain.types import QualityResult


@dataclass(frozen=True)
class RunInfo:
    name: str
    model: str
    quantization: str
    batch_size: int
    gpus: int
    task: str
    engine: str
    dataset: str
    n_requests: int
    primary_metric: str
    decoding: str = "free"


@dataclass
class EngineContext:
    """What ran the model: the engine's own description, where it computed, how long it took to load, and
    GPU settings applied; for a remote endpoint with an estimate, that estimate's constants."""

    info: dict[str, Any]
    load_s: float
    described: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, engine: Any, run: Any, settings: dict[str, str]) -> EngineContext:
        """From the engine that ran, its run, and the GPU settings applied around it."""
        estimate = getattr(engine, "energy_estimate", None)
        constants = {} if estimate is None else {f"energy.estimate.{k}": str(v) for k, v in estimate.constants().items()}
        return cls(run.info, run.load_s, {**engine.describe(), **settings, **constants,
                                          "model.resolved_path": str(getattr(engine, "model_path", ""))})

    def metrics(self) -> dict[str, float]:
        out = {"engine_load_s": self.load_s}
        if "client_cpu_s" in self.info:
            out["client_cpu_s"] = float(self.info["client_cpu_s"])
        return out

    def tags(self) -> dict[str, str]:
        return {"engine.devices": ", ".join(self.info.get("devices", [])),
                "engine.platform": str(self.info.get("platform")), "engine.pid": str(self.info.get("pid")),
                **self.described}


@dataclass
class RunReport:
    info: RunInfo
    quality: QualityResult
    latency: Latency
    energy: EnergyFigures
    engine: EngineContext
    measurement_flags: list[str]
    footprint: Footprint | None = None
    judge: JudgeOutcome | None = None
    overall: Overall | None = None
    roofline: Roofline | None = None
    roofline_missing: str | None = None  # why there is no roofline figure
    sessions: SessionFigures | None = None  # multi-turn work: per session and per completed session
    location: dict[str, str] = field(default_factory=dict)  # run_id, tracking_uri, experiment

    def with_(self, **pieces: Any) -> RunReport:
        """This report with more pieces (the judge, the OM, where it was stored)."""
        return replace(self, **pieces)

    def flags(self) -> list[str]:
        return [*self.measurement_flags, *self.quality.flags, *(self.judge.flags() if self.judge else [])]

    def metrics(self) -> dict[str, float]:
        q = self.quality
        out = {**q.metrics, names.QUALITY: q.value, names.N_CORRECT: float(q.n_correct),
               **self.latency.metrics(), **self.energy.metrics(), **self.engine.metrics()}
        if q.subtasks:
            out[SUBTASKS] = float(len(q.subtasks))
        for piece in (self.footprint, self.judge, self.overall, self.roofline, self.sessions):
            if piece is not None:
                out.update(piece.metrics())
        return out

    def tags(self) -> dict[str, str]:
        out = {names.QUALITY_METRIC_TAG: self.quality.primary, **self.quality.tags, **self.energy.tags(),
               **self.engine.tags()}
        for piece in (self.footprint, self.judge, self.overall, self.roofline, self.sessions):
            if piece is not None:
                out.update(piece.tags())
        if self.roofline is None and self.roofline_missing:
            out["roofline.missing"] = self.roofline_missing
        return {**out, **validity.tags(self.flags())}

    def to_dict(self) -> dict[str, Any]:
        """`summary.json`: what the terminal summary and later tools read."""
        out: dict[str, Any] = {
            "run": {**asdict(self.info), **self.location}, "metrics": self.metrics(),
            "quality": self.quality.details, **self.energy.sections(),
            "overall": self.overall.section() if self.overall else {},
            "validity": {"flags": self.flags()}, "engine": self.engine.info, "tags": self.tags(),
        }
        if self.footprint is not None:
            out["footprint"] = self.footprint.summary()
        if self.sessions is not None:
            out["sessions"] = self.sessions.summary()
        if self.quality.subtasks:
            out["subtasks"] = [row for row in self.subtask_rows() if row["primary"]]
        judged = self.judge.section() if self.judge else None
        if judged is not None:
            out["judge"] = judged
        return out

    def subtask_rows(self) -> list[dict[str, Any]]:
        """One row per sub-task and metric (the report's row families, `subtasks.json`): the score beside the
        sub-task's energy per sample and per correct sample (a group has none of its own: its tasks do)."""
        from sustain.registry import direction

        energy = self.energy.metrics()
        rows = []
        for sub in self.quality.subtasks:
            key = group_key(sub.name)
            for metric, value in sub.metrics.items():
                rows.append({"subtask": sub.name, "kind": sub.kind, "tasks": ",".join(sub.tasks), "n": sub.n,
                             "metric": metric, "label": sub.label(metric), "value": value,
                             "primary": metric == sub.primary,
                             "direction": direction(metric),
                             "energy_per_sample_j": energy.get(ENERGY_PER_SAMPLE_GROUP.format(group=key)),
                             "energy_per_correct_j": energy.get(ENERGY_PER_CORRECT_GROUP.format(group=key))})
        return rows

    def text(self) -> str:
        from sustain.report.summary import format_summary

        return format_summary(self.to_dict())
