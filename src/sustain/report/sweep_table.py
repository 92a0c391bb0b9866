"""The table a sweep ends with: every job, whether it finished, its headline figures or why it failed.

Quality is each run's own task metric (`quality`, named by the tag `task.primary_metric`), or macro F1 for a
run from before tasks logged one; the name is printed beside the value, so jobs of different tasks are
never read as one scale.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from sustain import names

COLUMNS = ("job", "status", "task", "batch_size", "gpus", "energy_j", "energy_per_correct_j", "decode_s", "quality",
           "judge", "error")
NO_CORRECT = "undefined: no correct answer"


def quality_cell(metrics: dict[str, float], tags: dict[str, str]) -> str | None:
    """`0.812 (exact_match)`: the value with the name of the metric it is."""
    if names.QUALITY in metrics:
        return f"{metrics[names.QUALITY]:.3f} ({tags.get(names.QUALITY_METRIC_TAG, 'task metric')})"
    if "macro_f1" in metrics:
        return f"{metrics['macro_f1']:.3f} (macro_f1)"
    return None


def energy_per_correct_cell(metrics: dict[str, float]) -> float | str | None:
    """The figure; "undefined" when the run had no correct answer; None when the run did not get that far."""
    if names.ENERGY_PER_CORRECT in metrics and math.isfinite(metrics[names.ENERGY_PER_CORRECT]):
        return metrics[names.ENERGY_PER_CORRECT]
    if metrics.get(names.N_CORRECT) == 0 or metrics.get(names.QUALITY, metrics.get("macro_f1")) == 0:
        return NO_CORRECT
    return None


def sweep_rows(client: Any, experiment_id: str, parent_run_id: str) -> list[dict[str, Any]]:
    runs = client.search_runs(
        [experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}'",
        order_by=["attributes.start_time ASC"], max_results=10000,
    )
    latest: dict[str, Any] = {}
    for r in runs:  # a requeued job has one run per attempt: its last one tells how it ended
        latest[r.data.tags.get("sweep.job_num", r.info.run_id)] = r
    rows = []
    for r in sorted(latest.values(), key=lambda r: int(r.data.tags.get("sweep.job_num", "0") or 0)):
        m, t = r.data.metrics, r.data.tags
        error = t.get("error.message", "")
        rows.append({
            "job": f"#{t.get('sweep.job_num', '?')} {r.info.run_name}",
            "status": r.info.status,
            "task": t.get(names.TASK_TAG, ""),
            "batch_size": t.get("batch_size", ""),
            "gpus": t.get("gpus", ""),
            "energy_j": m.get(names.ENERGY_PER_REQUEST),
            "energy_per_correct_j": energy_per_correct_cell(m) if r.info.status == "FINISHED" else None,
            "decode_s": m.get(names.DECODE_LATENCY),
            "quality": quality_cell(m, t),
            "judge": m.get(names.JUDGE_SCORE),
            "search": _search_pick(t),
            "error": f"{t.get('error.kind', '')}: {error}" if error else "",
        })
    return rows


def _search_pick(tags: dict[str, str]) -> str:
    """What a search made of the run: on its Pareto set, or the batch size it picked."""
    picks = [("pareto", names.SEARCH_PARETO_TAG), ("best batch size", names.SEARCH_BEST_BATCH_TAG)]
    return ", ".join(label for label, tag in picks if tags.get(tag) == "true")


def skipped_rows(sweep_dir: Path) -> list[dict[str, Any]]:
    """Jobs that found an identical finished run and did not run again (they leave `skipped.json`)."""
    rows = []
    for marker in sorted(sweep_dir.glob("*/skipped.json")):
        info = json.loads(marker.read_text())
        rows.append({
            "job": f"#{marker.parent.name.split('-', 1)[0]} {info['run_name']}", "status": "SKIPPED",
            "error": f"same config as finished run {info['same_as']}",
        })
    return rows


def format_sweep_table(rows: list[dict[str, Any]]) -> str:
    def cell(value: Any) -> str:
        if value is None or value == "":
            return "-"
        return f"{value:.3f}" if isinstance(value, float) else str(value)

    columns = COLUMNS if not any(row.get("search") for row in rows) else (*COLUMNS[:-1], "search", COLUMNS[-1])
    table = [columns] + [tuple(cell(row.get(c)) for c in columns) for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(columns) - 1)]
    lines = ["  ".join(v.ljust(w) for v, w in zip(line[:-1], widths)) + "  " + line[-1] for line in table]
    counts = {s: sum(row["status"] == s for row in rows) for s in ("FINISHED", "FAILED", "SKIPPED")}
    head = (f"sweep: {len(rows)} job(s): {counts['FINISHED']} finished, {counts['FAILED']} failed, "
            f"{counts['SKIPPED']} skipped (already done)")
    return "\n".join([head, *lines])
