"""One benchmark job, in the order the data flows:
config → engine run (own process, energy meter beside it) → measurements → metrics → tracking → report.
"""

from __future__ import annotations

import json
import logging
import math
import platform
import socket
import statistics
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sustain.config import SustainConfig
from sustain.engines.base import Engine, EngineJob, Sampling
from sustain.engines.checkpoint import Checkpoint
from sustain.engines.records import EngineRun, RequestRecord
from sustain.errors import SustainError
from sustain.metrics import carbon, latency, names
from sustain.plugins import build
from sustain.tasks.base import Prediction, QualityResult, Task

log = logging.getLogger(__name__)

SHORT_WINDOW_S = 20.0  # ML.ENERGY wants a steady state of at least 20-30 s


def config_hash(resolved: dict[str, Any]) -> str:
    """Identity of a job's measurement: the resolved config without where results go or what it is called."""
    import hashlib

    keep = {k: v for k, v in resolved.items()
            if k not in ("tracking", "run_name", "rerun", "checkpoint_dir", "slurm", "resources", "verbose")}
    engine = dict(keep.get("engine", {}))
    engine.pop("timeout_s", None)
    keep["engine"] = engine
    return hashlib.sha256(json.dumps(keep, sort_keys=True, default=str).encode()).hexdigest()[:16]


def run(
    cfg: SustainConfig, resolved: dict[str, Any], out_dir: Path, parent_run_id: str | None = None,
    extra_tags: dict[str, str] | None = None,
) -> dict[str, Any] | None:
    """Benchmark one configuration; returns the summary, or None when an identical finished run exists.

    Raises SustainError after recording a FAILED run. `parent_run_id` nests the run under a sweep.
    """
    from sustain.tracking.mlflow_tracker import Tracker, flatten

    out_dir.mkdir(parents=True, exist_ok=True)
    tracker = Tracker(cfg.tracking.uri, cfg.tracking.artifact_root, cfg.tracking.experiment)
    digest = config_hash(resolved)
    if not cfg.rerun:
        done = tracker.finished_run_with_tag("sustain.config_hash", digest)
        if done is not None:
            print(f"sustain: skipping '{cfg.run_name}': finished MLflow run {done} has the same config "
                  f"(rerun=true runs it again)", flush=True)
            (out_dir / "skipped.json").write_text(json.dumps({"run_name": cfg.run_name, "same_as": done}))
            if parent_run_id:
                tracker.client.set_tag(parent_run_id, f"sweep.reused.{done}", cfg.run_name)
            return None
    tags = {**_tags(cfg), **(extra_tags or {}), "sustain.config_hash": digest}
    if parent_run_id:
        tags["mlflow.parentRunId"] = parent_run_id
    run_id = tracker.start(cfg.run_name, tags=tags, params=flatten(resolved))
    (out_dir / "config.json").write_text(json.dumps(resolved, indent=2))
    print(f"sustain: run '{cfg.run_name}' (MLflow run {run_id}) → {out_dir}", flush=True)
    checkpoint = Checkpoint(cfg.checkpoint_dir, digest)
    try:
        summary = _benchmark(cfg, out_dir, tracker, checkpoint)
    except SustainError as exc:
        tracker.fail(exc.kind, str(exc))
        _log_files(tracker, out_dir)
        raise
    except KeyboardInterrupt:
        tracker.fail("interrupted", "stopped by the user")
        _log_files(tracker, out_dir)
        raise
    except SystemExit:  # a scheduler's preemption or time limit (submitit requeues the job)
        tracker.set_tags({"error.kind": "preempted", "error.message": "stopped by the scheduler; requeued"})
        tracker.finish("KILLED")
        raise
    except Exception as exc:
        tracker.fail("internal", f"{type(exc).__name__}: {exc}")
        _log_files(tracker, out_dir)
        raise
    finally:
        checkpoint.close()
    summary["run"].update(run_id=run_id, tracking_uri=tracker.uri, experiment=cfg.tracking.experiment)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    _log_files(tracker, out_dir)
    tracker.finish()
    checkpoint.discard()
    return summary


def _log_files(tracker: Any, out_dir: Path) -> None:
    for name in ("config.json", "predictions.jsonl", "requests.csv", "summary.json", "timeline.csv", "timeline.png",
                 "judge.jsonl", "judge-server.log", "engine.log", "server.log"):
        if (out_dir / name).is_file():
            tracker.log_artifact(out_dir / name)


@dataclass
class Generation:
    """What the engine stage hands on: the engine's records and the meter's timeline, plus each output
    as its task read it."""

    engine_run: EngineRun
    timeline: Any
    predictions: dict[str, Prediction]


def _prepare(cfg: SustainConfig, out_dir: Path) -> tuple[Task, Engine, EngineJob]:
    """Task loaded and validated, engine arguments checked, model resolved: nothing started yet."""
    task = build(cfg.task, "task")
    task.load()
    engine = build(cfg.engine, "engine")
    job = EngineJob(
        model=cfg.model, quantization=cfg.quantization, batch_size=cfg.batch_size, gpus=cfg.gpus,
        requests=task.requests(), decoding=task.decoding(), out_dir=out_dir, verbose=cfg.verbose, load=cfg.load,
        sampling=Sampling(max_tokens=cfg.model.max_tokens or cfg.task.max_tokens, temperature=cfg.task.temperature,
                          top_p=cfg.task.top_p, seed=cfg.engine.seed),
    )
    engine.prepare(job)
    return task, engine, job


def _benchmark(cfg: SustainConfig, out_dir: Path, tracker: Any, checkpoint: Checkpoint) -> dict[str, Any]:
    from sustain.energy import gpu_settings
    task, engine, job = _prepare(cfg, out_dir)
    meter, meter_notes = build(cfg.energy, "energy").build(cfg.gpus)
    reused = _resume(checkpoint, task, job)
    with gpu_settings.applied(cfg.gpu.power_limit_w, cfg.gpu.clocks_mhz, range(cfg.gpus)) as gpu_tags:
        gen = _generate(cfg, task, engine, job, meter, reused, checkpoint, out_dir)
    records = reused + gen.engine_run.records
    attribution = _attribute(cfg, engine, gen, reused, records)
    quality = task.score([gen.predictions[r.id] for r in records])
    summary = _metrics(cfg, task, records, quality, gen.engine_run, attribution, gen.timeline, meter_notes, engine)
    summary["metrics"]["reused_requests"] = float(len(reused))
    summary["tags"].update(gpu_tags)
    _footprint(cfg, engine, gen, meter.domains, attribution, summary)
    if cfg.judge._target_:
        _judge(cfg, task, records, summary, out_dir)
    reference = _reference(cfg, task, summary["metrics"], tracker)
    if reference is not None and math.isfinite(summary["metrics"].get(names.ENERGY_PER_REQUEST, math.nan)):
        summary["overall"] = _overall(cfg, summary["metrics"], reference)
        summary["tags"][names.OM_MEANINGFUL_TAG] = str(summary["overall"]["meaningful"]).lower()
        summary["tags"][names.OM_COMPARABLE_TAG] = str(summary["overall"]["comparable"]).lower()
    flags = summary["validity"]["flags"]
    summary["tags"].update({"validity.flags": " | ".join(flags) or "none", "validity.ok": str(not flags).lower()})
    rows = _write_requests(records, gen.predictions, attribution, out_dir)
    tracker.log_dataset(cfg.task.name, task.source, len(task.ids))
    tracker.log_power_timeline(gen.timeline.to_rows())
    tracker.log_table(rows)
    _plot(gen.timeline, attribution, gen.engine_run, out_dir, meter.domains)
    tracker.log_metrics(summary["metrics"])
    tracker.set_tags(summary["tags"])
    return summary


def _resume(checkpoint: Checkpoint, task: Task, job: EngineJob) -> list[RequestRecord]:
    """The requests an interrupted attempt finished, taken off the job; none when all of them finished
    (there would be nothing left to measure energy on: the whole run is measured again)."""
    reused = checkpoint.load(set(task.ids))
    if len(reused) == len(task.ids):
        reused = []
    if reused:
        print(f"sustain: resuming: {len(reused)} request(s) reused from an interrupted attempt, "
              f"{len(task.ids) - len(reused)} to run", flush=True)
    checkpoint.open(reused)
    reused_ids = {r.id for r in reused}
    job.requests = [r for r in job.requests if r.id not in reused_ids]
    return reused


def _attribute(cfg: SustainConfig, engine: Engine, gen: Generation, reused: list[RequestRecord],
               records: list[RequestRecord]) -> Any:
    """Energy per request from this machine's meter, or a remote engine's estimate (or its absence)."""
    from sustain.energy.attribution import attribute, remote

    if not engine.measured_locally:
        return remote(records, getattr(engine, "energy_estimate", None), engine.energy_label)
    attribution = attribute(
        gen.engine_run.records, gen.timeline, cfg.batch_size, cfg.energy.window_rule, cfg.energy.min_window_s
    )
    attribution.price_reused(reused)
    return attribution


def _footprint(cfg: SustainConfig, engine: Engine, gen: Generation, domains: Any, attribution: Any,
               summary: dict[str, Any]) -> None:
    """Whole-node domains, prefill/decode split, water and a deployment's year: only for energy measured
    here; a remote estimate carries its constants instead."""
    from sustain.metrics.footprint import measure_footprint

    if engine.measured_locally:
        footprint = measure_footprint(gen.engine_run.records, domains, attribution, gen.timeline, cfg.carbon)
        summary["metrics"].update(footprint.metrics())
        summary["tags"].update(footprint.tags())
        summary["footprint"] = footprint.summary()
    elif getattr(engine, "energy_estimate", None) is not None:
        summary["tags"].update({f"energy.estimate.{k}": str(v) for k, v in engine.energy_estimate.constants().items()})


def _generate(cfg: SustainConfig, task: Task, engine: Engine, job: EngineJob, meter: Any,
              reused: list[RequestRecord], checkpoint: Checkpoint, out_dir: Path) -> Generation:
    """Run the engine under the meter, checkpointing each finished request as it arrives. The task reads
    the outputs only once the meter has stopped (running a code sample's tests is not the model's
    energy), also when the engine failed part-way."""
    from tqdm import tqdm

    bar = tqdm(total=len(job.requests), desc=f"{cfg.run_name}: loading engine", unit="req", dynamic_ncols=True)
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
        _write_timeline(timeline, out_dir)
        predictions = _read_outputs(task, records, out_dir)
    return Generation(engine_run, timeline, predictions)


def _read_outputs(task: Task, records: list[RequestRecord], out_dir: Path) -> dict[str, Prediction]:
    """Each output as its task reads it, written to predictions.jsonl beside the record's timings."""
    predictions: dict[str, Prediction] = {}
    with (out_dir / "predictions.jsonl").open("w", encoding="utf-8") as out:
        for record in records:
            pred = predictions[record.id] = task.predict(record.id, record.output_text, record.error)
            fields = {k: v for k, v in record.to_dict().items() if k not in ("id", "output_text", "token_times_s")}
            row = {**pred.to_dict(), "output": record.output_text, **fields,
                   "ttft_s": record.ttft_s, "decode_s": record.decode_s}
            out.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    return predictions


def _judge(cfg: SustainConfig, task: Task, records: list[RequestRecord], summary: dict[str, Any],
           out_dir: Path) -> None:
    """Score the outputs with the LLM judge, after the evaluated engine is gone. Its time and energy are
    logged apart (`judge_*`). A judge that cannot score at all is recorded on the run, which keeps every
    figure of the evaluated model."""
    import sys

    from sustain.judge import evaluate

    items = [task.judge_item(r.id, r.output_text) for r in records if r.error is None]
    try:
        judged = evaluate(cfg.judge, items, out_dir, cfg.energy)
    except SustainError as exc:
        print(f"sustain: error: judge: {exc}", file=sys.stderr, flush=True)
        summary["tags"]["judge.error"] = str(exc)[:5000]
        summary["validity"]["flags"].append(f"judge failed, no judge score: {exc}")
        return
    summary["metrics"].update(judged.metrics())
    summary["tags"].update(judged.tags())
    summary["judge"] = {"mean": judged.mean, "std": judged.std, "n_scored": judged.n_scored,
                        "failures": len(judged.failures), "energy_source": judged.energy_source}
    if judged.failures:
        summary["validity"]["flags"].append(f"judge could not score {len(judged.failures)} of {len(items)} outputs")


def _metrics(cfg: SustainConfig, task: Task, records: list[RequestRecord], quality: QualityResult,
             engine_run: EngineRun, attribution: Any, timeline: Any, meter_notes: list[str],
             engine: Engine) -> dict[str, Any]:
    lat = latency.latency_stats(records)
    thr = latency.throughput(engine_run.records, engine_run.end_s - engine_run.start_s)
    thr.update(latency.serving_metrics(engine_run.records, engine_run.end_s - engine_run.start_s, cfg.batch_size,
                                       cfg.load.slo))
    metrics: dict[str, float] = {**quality.metrics, names.QUALITY: quality.value,
                                 names.N_CORRECT: float(quality.n_correct), **lat, **thr,
                                 **attribution.to_metrics(), **_carbon(cfg, attribution)}
    correct_energy = energy_per_correct(attribution, quality)
    if correct_energy is not None:
        metrics[names.ENERGY_PER_CORRECT] = correct_energy
    decodes = [r.decode_s for r in records if r.decode_s is not None]
    if decodes:
        metrics[names.DECODE_LATENCY] = statistics.fmean(decodes)
        metrics["decode_latency_s_std"] = statistics.pstdev(decodes)
    metrics.update(truncated_share=sum(r.finish_reason == "length" for r in records) / len(records),
                   failed_requests=float(sum(r.error is not None for r in records)),
                   engine_load_s=engine_run.load_s, run_duration_s=engine_run.end_s - engine_run.start_s,
                   n_requests=float(len(records)))
    metrics.update(window_token_counts(engine_run.records, attribution))
    source = attribution.source
    grid, grid_source = carbon.grid_intensity(cfg.carbon.grid)
    tags = {
        names.ENERGY_SOURCE_TAG: source,
        names.ENERGY_MEASURED_TAG: str(attribution.measured).lower(),
        "energy.attribution": attribution.mode,
        "energy.notes": " | ".join(meter_notes),
        "carbon.grid_source": grid_source,
        names.QUALITY_METRIC_TAG: quality.primary,
        "engine.devices": ", ".join(engine_run.info.get("devices", [])),
        "engine.platform": str(engine_run.info.get("platform")),
        "engine.pid": str(engine_run.info.get("pid")),
        **engine.describe(),
        "model.resolved_path": str(getattr(engine, "model_path", "")),
    }
    if correct_energy is None:
        tags["energy_per_correct"] = "undefined: no correct answer"
    return {
        "run": {
            "name": cfg.run_name, "model": cfg.model.name, "quantization": cfg.quantization.name,
            "batch_size": cfg.batch_size, "gpus": cfg.gpus, "task": cfg.task.name, "engine": cfg.engine.name,
            "dataset": task.source, "n_requests": len(records), "primary_metric": quality.primary,
        },
        "metrics": metrics,
        "quality": quality.details,
        "energy": {
            "source": source, "measured": attribution.measured, "mode": attribution.mode,
            "reason": attribution.reason, "notes": meter_notes, "model": timeline.model,
            "window": asdict(attribution.window),
        },
        "carbon": {"grid_g_per_kwh": grid, "grid_source": grid_source, "pue": cfg.carbon.pue},
        "overall": {},
        "validity": {"flags": _flags(cfg, records, attribution, engine_run)},
        "engine": engine_run.info,
        "tags": tags,
    }


def energy_per_correct(attribution: Any, quality: QualityResult) -> float | None:
    """Energy of the measured requests divided by the correct answers among them; None with none correct."""
    correct = [p.id for p in quality.predictions if p.correct]
    if not correct or not attribution.per_request_j:
        return None
    return sum(attribution.per_request_j.get(rid, 0.0) for rid in attribution.per_request_j) / len(correct)


def window_token_counts(records: list[RequestRecord], attribution: Any) -> dict[str, float]:
    """The window's output tokens counted from token times beside the uniform-rate approximation used
    where token times are missing, and how far the two differ (the approximation's error on this run)."""
    from sustain.energy.attribution import successful, uniform_tokens_in_window

    done = successful(records)
    if attribution.mode != "steady_state" or not done or any(not r.token_times_s for r in done):
        return {}
    start, end = attribution.span_s
    counted = sum(start < t <= end for r in done for t in r.token_times_s or [])
    uniform = uniform_tokens_in_window(done, start, end)
    return {"window_tokens_counted": float(counted), "window_tokens_uniform": uniform,
            "window_tokens_uniform_error": (uniform - counted) / counted if counted else 0.0}


def _carbon(cfg: SustainConfig, attribution: Any) -> dict[str, float]:
    grid, _ = carbon.grid_intensity(cfg.carbon.grid)
    per_req = attribution.mean_j
    return {
        "gco2e_per_request": carbon.carbon_g(per_req, grid, cfg.carbon.pue),
        "gco2e_run": carbon.carbon_g(attribution.whole_run_energy_j, grid, cfg.carbon.pue),
        **carbon.per_thousand(per_req, grid, cfg.carbon.pue),
    }


def _flags(cfg: SustainConfig, records: list[RequestRecord], attribution: Any, engine_run: EngineRun) -> list[str]:
    flags = list(attribution.warnings)
    window_s = attribution.span_s[1] - attribution.span_s[0]
    if attribution.mode == "steady_state" and window_s < SHORT_WINDOW_S:
        flags.append(f"steady-state window is {window_s:.1f} s, shorter than the {SHORT_WINDOW_S:.0f} s ML.ENERGY asks for")
    if attribution.mode == "remote":
        flags.append(f"energy of a remote endpoint: {attribution.reason}")
    elif attribution.mode != "steady_state":
        flags.append(f"energy attributed over the whole run: {attribution.reason}")
    peak = latency.peak_in_flight(engine_run.records)
    if cfg.load.name != "burst" and peak < cfg.batch_size:
        flags.append(f"the batch never filled under load={cfg.load.name}: at most "
                     f"{peak} of batch_size={cfg.batch_size} requests were in flight")
    if attribution.mode == "steady_state" and attribution.batch_fill < 0.85:
        flags.append(f"batch_size={max(1, round(attribution.avg_running_batch))} would have filled")
    visible = engine_run.info.get("device_count_visible", 0)
    if engine_run.info.get("platform") not in ("cpu", None) and visible < cfg.gpus:
        flags.append(f"the engine saw {visible} GPU(s) but gpus={cfg.gpus}")
    return flags


def _reference(cfg: SustainConfig, task: Task, metrics: dict[str, float], tracker: Any) -> Any:
    """The Overall Metric's reference, or None when `reference=none` or the run has no decode latency."""
    if names.DECODE_LATENCY not in metrics:
        return None
    source = build(cfg.reference, "reference")
    return source.reference(task, metrics, tracker, _quality_key(cfg, metrics))


def _quality_key(cfg: SustainConfig, metrics: dict[str, float]) -> str:
    name = cfg.overall.quality_metric
    if name == "auto":
        return names.JUDGE_SCORE if names.JUDGE_SCORE in metrics else names.QUALITY
    if name not in metrics:
        raise SustainError(f"overall.quality_metric={name} was not measured in this run: use auto, quality "
                           f"(the task's primary metric) or one of the task's metrics.")
    return name


def _overall(cfg: SustainConfig, metrics: dict[str, float], reference: Any) -> dict[str, Any]:
    """OM of this run against `reference`, for the configured weights and every weight scenario."""
    from sustain.metrics.overall import meaningful, overall_metric

    quality = _quality_key(cfg, metrics)
    args = (metrics[quality], metrics[names.DECODE_LATENCY], metrics[names.ENERGY_PER_REQUEST],
            reference.quality, reference.decode_latency_s, reference.energy_j)
    metrics["om"] = overall_metric(*args, *cfg.overall.weights)
    for name, weights in cfg.overall.scenarios.items():
        metrics[f"om_{name}"] = overall_metric(*args, *weights)
    metrics.update(reference_energy_j=reference.energy_j, reference_decode_latency_s=reference.decode_latency_s,
                   reference_quality=reference.quality)
    return {"reference": asdict(reference), "quality_metric": quality, "weights": list(cfg.overall.weights),
            "meaningful": meaningful(metrics[quality], reference.quality),
            "comparable": quality == reference.quality_metric}


def _write_timeline(timeline: Any, out_dir: Path) -> None:
    import csv

    with (out_dir / "timeline.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["t_s", "energy_j", "power_w"])
        writer.writeheader()
        writer.writerows(timeline.to_rows())


def _write_requests(records: list[RequestRecord], predictions: dict[str, Prediction], attribution: Any,
                   out_dir: Path) -> list[dict[str, Any]]:
    import pandas as pd

    rows = []
    for r in records:
        p = predictions[r.id]
        rows.append({
            "id": r.id, "gold": p.gold, "predicted": p.predicted, "correct": p.correct,
            "prompt_tokens": r.prompt_tokens, "output_tokens": r.output_tokens, "finish_reason": r.finish_reason,
            "ttft_s": r.ttft_s, "decode_s": r.decode_s, "tpot_s": r.tpot_s, "e2e_s": r.e2e_s,
            "energy_j": attribution.per_request_j.get(r.id), "error": r.error,
        })
    pd.DataFrame(rows).to_csv(out_dir / "requests.csv", index=False)
    return rows


def _plot(timeline: Any, attribution: Any, engine_run: EngineRun, out_dir: Path, domains: dict[str, Any]) -> None:
    from sustain.report.plots import plot_timeline

    plot_timeline(timeline, attribution, engine_run.start_s, engine_run.end_s, out_dir / "timeline.png", domains)


def _tags(cfg: SustainConfig) -> dict[str, str]:
    import importlib.metadata as md

    def version(dist: str) -> str:
        for name in (dist, f"{dist}-cpu"):
            try:
                return md.version(name)
            except md.PackageNotFoundError:
                continue
        return "absent"

    return {
        "model": cfg.model.name,
        "quantization": cfg.quantization.name,
        "gpus": str(cfg.gpus),
        "batch_size": str(cfg.batch_size),
        "task": cfg.task.name,
        "engine": cfg.engine.name,
        "judge": cfg.judge.name,
        "git_commit": git_commit(),
        "host": socket.gethostname(),
        "python": platform.python_version(),
        "vllm_version": version("vllm"),
        "torch_version": version("torch"),
        "sustain_version": version("sustain"),
        "mlflow.source.name": "sustain",
    }


def git_commit() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True, timeout=5)
        return sha.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
