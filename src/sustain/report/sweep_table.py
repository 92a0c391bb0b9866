"""The table a sweep ends with: every job, whether it finished, its headline figures or why it failed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

COLUMNS = ("job", "status", "batch_size", "gpus", "energy_j", "decode_s", "macro_f1", "error")


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
            "batch_size": t.get("batch_size", ""),
            "gpus": t.get("gpus", ""),
            "energy_j": m.get("energy_per_request_j_mean"),
            "decode_s": m.get("decode_latency_s_mean"),
            "macro_f1": m.get("macro_f1"),
            "error": f"{t.get('error.kind', '')}: {error}" if error else "",
        })
    return rows


def skipped_rows(sweep_dir: Path) -> list[dict[str, Any]]:
    """Jobs that found an identical finished run and did not run again (they leave `skipped.json`)."""
    rows = []
    for marker in sorted(sweep_dir.glob("*/skipped.json")):
        info = json.loads(marker.read_text())
        rows.append({
            "job": f"#{marker.parent.name.split('-', 1)[0]} {info['run_name']}", "status": "SKIPPED",
            "batch_size": "", "gpus": "", "energy_j": None, "decode_s": None, "macro_f1": None,
            "error": f"same config as finished run {info['same_as']}",
        })
    return rows


def format_sweep_table(rows: list[dict[str, Any]]) -> str:
    def cell(value: Any) -> str:
        if value is None:
            return "-"
        return f"{value:.3f}" if isinstance(value, float) else str(value)

    table = [COLUMNS] + [tuple(cell(row[c]) for c in COLUMNS) for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS) - 1)]
    lines = ["  ".join(v.ljust(w) for v, w in zip(line[:-1], widths)) + "  " + line[-1] for line in table]
    counts = {s: sum(row["status"] == s for row in rows) for s in ("FINISHED", "FAILED", "SKIPPED")}
    head = (f"sweep: {len(rows)} job(s): {counts['FINISHED']} finished, {counts['FAILED']} failed, "
            f"{counts['SKIPPED']} skipped (already done)")
    return "\n".join([head, *lines])
