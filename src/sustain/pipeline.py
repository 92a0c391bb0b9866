"""One benchmark job, the paper's steps in order:

1. prepare: load the task, check the engine's arguments, resolve the model (nothing started yet);
2. generate: the engine runs every request under the energy meter (finished requests checkpointed);
3. attribute: the meter's energy to requests over the steady-state window;
4. score: the task reads each output (after the meter stopped) and scores them;
5. report: latency, energy, footprint, judge and Overall Metric pieces in one typed `RunReport`;
6. track: the report's metrics, tags and files to MLflow and the run folder.

Each stage hands the next a typed result; this module only orchestrates.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sustain.config import SustainConfig
from sustain.engines.base import Engine, EngineJob, Sampling
from sustain.engines.checkpoint import Checkpoint
from sustain.engines.records import EngineRun, RequestRecord
from sustain.plugins import build
from sustain.report.run import EngineContext, RunInfo, RunReport
from sustain.tasks.base import Task
from sustain.tracking import artifacts
from sustain.tracking.provenance import config_hash, run_tags
from sustain.types import Prediction


def run(cfg: SustainConfig, resolved: dict[str, Any], out_dir: Path, parent_run_id: str | None = None,
        extra_tags: dict[str, str] | None = None) -> RunReport | None:
    """Benchmark one configuration; None when an identical finished run exists (rerun=true runs it again).

    Raises SustainError after recording a FAILED run. `parent_run_id` nests the run under a sweep."""
    from sustain.engines.process import refuse_in_spawn_bootstrap
    from sustain.tracking.mlflow_tracker import CONFIG_HASH_TAG, PARENT_TAG, Tracker, flatten

    refuse_in_spawn_bootstrap()
    out_dir.mkdir(parents=True, exist_ok=True)
    tracker = Tracker(cfg.tracking.uri, cfg.tracking.artifact_root, cfg.tracking.experiment)
    digest = config_hash(resolved)
    done = None if cfg.rerun else tracker.skip_if_done(digest, cfg.run_name, parent_run_id)
    if done is not None:
        print(f"sustain: skipping '{cfg.run_name}': finished MLflow run {done} has the same config "
              f"(rerun=true runs it again)", flush=True)
        artifacts.write_summary({"run_name": cfg.run_name, "same_as": done}, out_dir, "skipped.json")
        return None
    tags = {**run_tags(cfg), **(extra_tags or {}), CONFIG_HASH_TAG: digest}
    if parent_run_id:
        tags[PARENT_TAG] = parent_run_id
    run_id = tracker.start(cfg.run_name, tags=tags, params=flatten(resolved))
    artifacts.write_summary(resolved, out_dir, "config.json")
    print(f"sustain: run '{cfg.run_name}' (MLflow run {run_id}) → {out_dir}", flush=True)
    checkpoint = Checkpoint(cfg.checkpoint_dir, digest)
    try:
        with tracker.recording(out_dir):
            report = _benchmark(cfg, out_dir, tracker, checkpoint).with_(location={
                "run_id": run_id, "tracking_uri": tracker.uri, "experiment": cfg.tracking.experiment})
            artifacts.write_summary(report.to_dict(), out_dir)
    finally:
        checkpoint.close()
    checkpoint.discard()
    return report


@dataclass
class Generation:
    """What the engine stage hands on: the engine's records and the meter's timeline, plus each output
    as its task read it."""

    engine_run: EngineRun
    timeline: Any
    predictions: dict[str, Prediction]


def _benchmark(cfg: SustainConfig, out_dir: Path, tracker: Any, checkpoint: Checkpoint) -> RunReport:
    from sustain.energy import gpu_settings
    from sustain.judge.outcome import judge_outputs
    from sustain.metrics.energy import energy_figures
    from sustain.metrics.footprint import measure_footprint
    from sustain.metrics.latency import measure_latency
    from sustain.metrics.overall import overall_for
    from sustain.metrics.roofline import roofline_for
    from sustain.metrics.sessions import session_figures
    from sustain.metrics.validity import measurement_flags

    task, engine, job = _prepare(cfg, out_dir)
    meter, meter_notes = build(cfg.energy, "energy").build(cfg.gpus)
    reused = checkpoint.resume(job)
    with gpu_settings.applied(cfg.gpu.power_limit_w, cfg.gpu.clocks_mhz, range(cfg.gpus)) as gpu_tags:
        gen = _generate(cfg, task, engine, job, meter, reused, checkpoint, out_dir)
    served = gen.engine_run
    records = reused + served.records
    attribution = _attribute(cfg, engine, gen, reused, exclude_idle=bool(job.sessions))
    quality = task.score([gen.predictions[r.id] for r in records])
    roofline, roofline_missing = roofline_for(served.records, served.info, cfg.model, cfg.quantization,
                                              attribution.avg_running_batch, getattr(engine, "model_path", None))
    footprint = (measure_footprint(served.records, meter.domains, attribution, gen.timeline, cfg.carbon)
                 if engine.measured_locally else None)  # a remote estimate carries its constants instead
    report = RunReport(
        info=RunInfo(cfg.run_name, cfg.model.name, cfg.quantization.name, cfg.batch_size, cfg.gpus, cfg.task.name,
                     cfg.engine.name, task.source, len(records), quality.primary, cfg.task.decoding),
        quality=quality,
        latency=measure_latency(records, served.records, served.start_s, served.end_s, cfg.batch_size, cfg.load),
        energy=energy_figures(attribution, quality, served.records, cfg.carbon, meter_notes, gen.timeline.model,
                              len(reused), footprint.node if footprint else None),
        engine=EngineContext.of(engine, served, gpu_tags),
        measurement_flags=measurement_flags(attribution, served, cfg.batch_size, cfg.gpus, cfg.load.name),
        footprint=footprint, roofline=roofline, roofline_missing=roofline_missing,
    )
    if job.sessions:
        scored = {p.id: p for p in quality.predictions}  # a session's success is known once the task scored it
        report = report.with_(sessions=session_figures(job.sessions, records, scored, attribution))
    if cfg.judge._target_:
        report = report.with_(judge=judge_outputs(cfg.judge, task, records, out_dir, cfg.energy))
    report = report.with_(overall=overall_for(cfg, task, report.metrics(), tracker))
    _track(tracker, cfg, task, gen, records, report, out_dir, meter.domains)
    return report


def _prepare(cfg: SustainConfig, out_dir: Path) -> tuple[Task, Engine, EngineJob]:
    """Task loaded and validated, engine arguments checked, model resolved: nothing started yet."""
    task = build(cfg.task, "task")
    task.load()
    engine = build(cfg.engine, "engine")
    job = EngineJob(
        model=cfg.model, quantization=cfg.quantization, batch_size=cfg.batch_size, gpus=cfg.gpus,
        requests=task.requests(), sessions=task.sessions(), history=task.history, environment=task.environment(),
        decoding=task.decoding(), out_dir=out_dir, verbose=cfg.verbose, load=cfg.load,
        sampling=Sampling(max_tokens=cfg.model.max_tokens or cfg.task.max_tokens, temperature=cfg.task.temperature,
                          top_p=cfg.task.top_p, seed=cfg.engine.seed),
    )
    engine.prepare(job)
    return task, engine, job


def _generate(cfg: SustainConfig, task: Task, engine: Engine, job: EngineJob, meter: Any,
              reused: list[RequestRecord], checkpoint: Checkpoint, out_dir: Path) -> Generation:
    """Run the engine under the meter, checkpointing each finished request as it arrives. The task reads
    the outputs only once the meter has stopped (running a code sample's tests is not the model's
    energy), also when the engine failed part-way."""
    from tqdm import tqdm

    bar = tqdm(total=job.n_requests, desc=f"{cfg.run_name}: loading engine", unit="req", dynamic_ncols=True)
    records = list(reused)

    def on_loaded(payload: dict[str, Any]) -> None:
        bar.set_description(f"{cfg.run_name}: generating")
        bar.reset()

    def on_record(record: RequestRecord) -> None:
        records.append(record)
        checkpoint.append(record)
        bar.update(1)

    meter.start()
    try:
        engine_run = engine.run(job, on_loaded, on_record)
    finally:
        timeline = meter.stop()
        bar.close()
        artifacts.write_timeline(timeline.to_rows(), out_dir)
        predictions = {r.id: task.predict_record(r) for r in records}
        artifacts.write_predictions(records, predictions, out_dir)
    return Generation(engine_run, timeline, predictions)


def _attribute(cfg: SustainConfig, engine: Engine, gen: Generation, reused: list[RequestRecord],
               exclude_idle: bool) -> Any:
    """Energy per request from this machine's meter, or a remote engine's estimate (or its absence); with
    `exclude_idle` (sessions) the idle time between turns is priced apart."""
    from sustain.energy.attribution import attribute, remote

    if not engine.measured_locally:
        return remote(reused + gen.engine_run.records, getattr(engine, "energy_estimate", None), engine.energy_label)
    attribution = attribute(
        gen.engine_run.records, gen.timeline, cfg.batch_size, cfg.energy.window_rule, cfg.energy.min_window_s,
        exclude_idle,
    )
    attribution.price_reused(reused)
    return attribution


def _track(tracker: Any, cfg: SustainConfig, task: Task, gen: Generation, records: list[RequestRecord],
           report: RunReport, out_dir: Path, domains: dict[str, Any]) -> None:
    """The report and its files to MLflow and the run folder, and the meter's timeline as a figure."""
    from sustain.report.plots import plot_timeline

    scored = {**gen.predictions, **{p.id: p for p in report.quality.predictions}}  # as the task scored them
    artifacts.write_predictions(records, scored, out_dir)
    rows = artifacts.request_rows(records, scored, report.energy.attribution.per_request_j)
    artifacts.write_requests(rows, out_dir)
    if report.sessions is not None:
        table = report.sessions.table()
        artifacts.write_sessions(table, report.sessions.turns, out_dir)
        tracker.log_table(table, "sessions.json")
    subtasks = report.subtask_rows()
    if subtasks:
        artifacts.write_subtasks(subtasks, out_dir)
        tracker.log_table(subtasks, "subtasks.json")
    tracker.log_dataset(cfg.task.name, task.source, len(task.ids))
    tracker.log_power_timeline(gen.timeline.to_rows())
    tracker.log_table(rows)
    plot_timeline(gen.timeline, report.energy.attribution, gen.engine_run.start_s, gen.engine_run.end_s,
                  out_dir / "timeline.png", domains)
    tracker.log_metrics(report.metrics())
    tracker.set_tags(report.tags())
