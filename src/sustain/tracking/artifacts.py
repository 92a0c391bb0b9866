"""The files a run leaves in its folder and in MLflow: config, per-request tables, the meter's timeline,
the summary. Column names say what each figure is (`energy_attributed_j`: the request's share of the
window's energy; `energy_cumulative_j`: the meter's running total)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from sustain.engines.records import RequestRecord
from sustain.types import Prediction

LOGGED = ("config.json", "predictions.jsonl", "requests.csv", "summary.json", "timeline.csv", "timeline.png",
          "judge.jsonl", "judge-server.log", "engine.log", "engine-server.log")


def write_predictions(records: list[RequestRecord], predictions: dict[str, Prediction], out_dir: Path) -> None:
    """Each output as its task read it, beside the record's timings."""
    with (out_dir / "predictions.jsonl").open("w", encoding="utf-8") as out:
        for record in records:
            fields = {k: v for k, v in record.to_dict().items() if k not in ("id", "output_text", "token_times_s")}
            row = {**predictions[record.id].to_dict(), "output": record.output_text, **fields,
                   "ttft_s": record.ttft_s, "decode_s": record.decode_s}
            out.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")


def write_timeline(rows: list[dict[str, float]], out_dir: Path) -> None:
    with (out_dir / "timeline.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["t_s", "energy_cumulative_j", "power_w"])
        writer.writeheader()
        writer.writerows({"t_s": r["t_s"], "energy_cumulative_j": r["energy_j"], "power_w": r["power_w"]}
                         for r in rows)


def request_rows(records: list[RequestRecord], predictions: dict[str, Prediction],
                 per_request_j: dict[str, float]) -> list[dict[str, Any]]:
    """One row per request: its answer, tokens, latencies and attributed energy."""
    rows = []
    for r in records:
        p = predictions[r.id]
        rows.append({
            "id": r.id, "gold": p.gold, "predicted": p.predicted, "correct": p.correct,
            "prompt_tokens": r.prompt_tokens, "output_tokens": r.output_tokens, "reasoning_tokens": r.reasoning_tokens,
            "finish_reason": r.finish_reason,
            "ttft_s": r.ttft_s, "decode_s": r.decode_s, "tpot_s": r.tpot_s, "e2e_s": r.e2e_s,
            "cached_tokens": r.cached_tokens, "energy_attributed_j": per_request_j.get(r.id), "error": r.error,
            **({"session": r.session_id, "turn": r.turn} if r.session_id is not None else {}),
            **({"tool_calls": len(r.tool_calls or []), "tool_errors": sum(t["error"] is not None for t in r.tool_results
                                                                         or [])} if r.tool_calls or r.tool_results else {}),
        })
    return rows


def write_requests(rows: list[dict[str, Any]], out_dir: Path) -> None:
    import pandas as pd

    pd.DataFrame(rows).to_csv(out_dir / "requests.csv", index=False)


def write_sessions(rows: list[dict[str, Any]], turns: list[dict[str, Any]], out_dir: Path) -> None:
    """sessions.csv (one row per session) and turns.csv (per turn index: the growing context)."""
    import pandas as pd

    pd.DataFrame(rows).to_csv(out_dir / "sessions.csv", index=False)
    pd.DataFrame(turns).to_csv(out_dir / "turns.csv", index=False)


def write_subtasks(rows: list[dict[str, Any]], out_dir: Path) -> None:
    """subtasks.csv: each sub-task's (lm-eval task's or group's) scores beside its energy per sample."""
    import pandas as pd

    pd.DataFrame(rows).to_csv(out_dir / "subtasks.csv", index=False)


def write_summary(data: dict[str, Any], out_dir: Path, name: str = "summary.json") -> None:
    """A JSON file of the run folder: the summary, the resolved config, or why the run was skipped."""
    (out_dir / name).write_text(json.dumps(data, indent=2, default=str))


def log_files(tracker: Any, out_dir: Path) -> None:
    for name in LOGGED:
        if (out_dir / name).is_file():
            tracker.log_artifact(out_dir / name)
