"""Runs an in-process engine (offline vLLM) in its own spawned process and streams its records back.

The target is `main(spec, queue)` of an engine's worker module; it sends ("loaded", info), ("record", dict)
per finished request, ("error", {kind, message, traceback}) or ("done", {start_s, end_s}).
"""

from __future__ import annotations

import multiprocessing as mp
import queue as queue_mod
import time
from collections.abc import Callable
from typing import Any

from sustain.engines.records import EngineRun, RequestRecord
from sustain.errors import SustainError


class EngineFailed(SustainError):
    """The engine process failed; `kind` says how (out_of_memory, model_not_found, crashed, ...)."""

    def __init__(self, kind: str, message: str, detail: str = "") -> None:
        super().__init__(message, kind)
        self.detail = detail


def run_in_process(
    target: Callable[[dict[str, Any], Any], None],
    spec: dict[str, Any],
    on_loaded: Callable[[dict[str, Any]], None],
    on_record: Callable[[RequestRecord], None],
    timeout_s: float,
    log_path: str | None = None,
) -> EngineRun:
    """Start the engine process, hand each finished request to `on_record`, and wait for the end.

    The process is always ended before this returns, so its memory goes back before the next job.
    """
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    proc = ctx.Process(target=target, args=(spec, q), name="sustain-engine")
    proc.start()
    records: list[RequestRecord] = []
    loaded: dict[str, Any] | None = None
    finished = False
    last_progress = time.monotonic()
    try:
        while True:
            try:
                kind, payload = q.get(timeout=2.0)
            except queue_mod.Empty:
                if not proc.is_alive():
                    raise EngineFailed(
                        "crashed",
                        f"The engine process died (exit code {proc.exitcode}) before finishing; "
                        f"see {log_path or 'the engine log above'}, or lower batch_size if it ran out of memory.",
                    ) from None
                if time.monotonic() - last_progress > timeout_s:
                    raise EngineFailed(
                        "timeout",
                        f"The engine made no progress for {timeout_s:.0f} s; raise engine.timeout_s if that is expected.",
                    ) from None
                continue
            last_progress = time.monotonic()
            if kind == "loaded":
                loaded = payload
                on_loaded(payload)
            elif kind == "record":
                record = RequestRecord(**payload)
                records.append(record)
                on_record(record)
            elif kind == "error":
                raise EngineFailed(payload["kind"], _with_cause(_first_line(payload["message"]), log_path),
                                   payload["traceback"])
            elif kind == "done":
                assert loaded is not None
                finished = True
                return EngineRun(
                    records=records,
                    start_s=payload["start_s"],
                    end_s=payload["end_s"],
                    load_s=loaded["load_s"],
                    info=loaded["info"],
                )
    finally:
        proc.join(timeout=60 if finished else 0)  # after "done" the engine shuts itself down; else end it now
        if proc.is_alive():
            proc.terminate()
            proc.join(timeout=10)
        if proc.is_alive():
            proc.kill()


def _first_line(message: str) -> str:
    lines = [line for line in message.strip().splitlines() if line.strip()]
    return lines[0] if lines else message


def _with_cause(message: str, log_path: str | None) -> str:
    """vLLM's start-up failures say only "see root cause above": name the log and its last error line."""
    if not log_path:
        return message
    try:
        lines = open(log_path, encoding="utf-8", errors="replace").read().splitlines()
    except OSError:
        return message
    causes = [line.strip() for line in lines if "Error" in line and line.strip() not in message]
    return f"{message} ({causes[-1][:300]}; full log: {log_path})" if causes else f"{message} (log: {log_path})"
