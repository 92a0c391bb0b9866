"""Runs an in-process engine (offline vLLM) in its own spawned process and streams its records back.

The target is `main(spec, queue)` of an engine's worker module; it sends ("loaded", info), ("record", dict)
per finished request, ("error", {kind, message, traceback}) or ("done", {start_s, end_s}).
"""

from __future__ import annotations

import ast
import multiprocessing as mp
import os
import pickle
import queue as queue_mod
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sustain.engines.records import EngineRun, RequestRecord
from sustain.errors import SustainError

_STARTUP_DIR = "SUSTAIN_ENGINE_STARTUP_DIR"  # where an engine process that re-ran the main script says so
_RERAN_MAIN = "reran_main"


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

    The spec goes through a file, not spawn's start-up pipe: a process that died while starting leaves
    that pipe unread, and the parent, which holds its read end, would block on a large write forever.
    The process is always ended before this returns, so its memory goes back before the next job.
    """
    refuse_in_spawn_bootstrap()
    # vLLM leaves a shared-memory segment for the resource tracker to clean up, which it then announces.
    os.environ.setdefault("PYTHONWARNINGS", "ignore:resource_tracker:UserWarning")
    workdir = Path(tempfile.mkdtemp(prefix="sustain-engine-"))
    try:
        spec_path = workdir / "spec.pickle"
        spec_path.write_bytes(pickle.dumps(spec, protocol=pickle.HIGHEST_PROTOCOL))
        ctx = mp.get_context("spawn")
        q = ctx.Queue()
        proc = ctx.Process(target=_engine_main, args=(target, str(spec_path), q), name="sustain-engine")
        _start(proc, workdir)
        run = None
        try:
            run = _stream(proc, q, on_loaded, on_record, timeout_s, log_path, workdir)
            return run
        finally:
            _end(proc, finished=run is not None)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def refuse_in_spawn_bootstrap() -> None:
    """Stop a spawned process that is re-running the user's main script (which lacks a main guard) from
    starting sustain again, and tell the parent's `run_in_process` why its engine process died."""
    if not getattr(mp.current_process(), "_inheriting", False):  # what multiprocessing itself checks
        return
    script = _main_script() or "your main script"
    startup_dir = os.environ.get(_STARTUP_DIR)
    if startup_dir and os.path.isdir(startup_dir):
        Path(startup_dir, _RERAN_MAIN).write_text(script, encoding="utf-8")
    raise SustainError(_guard_message(script))


def _engine_main(target: Callable[[dict[str, Any], Any], None], spec_path: str, queue: Any) -> None:
    with open(spec_path, "rb") as f:
        spec = pickle.load(f)
    target(spec, queue)


def _start(proc: Any, workdir: Path) -> None:
    """Start the process with `workdir` in its environment, where it reports re-running the main script."""
    previous = os.environ.get(_STARTUP_DIR)
    os.environ[_STARTUP_DIR] = str(workdir)
    try:
        proc.start()
    finally:
        if previous is None:
            del os.environ[_STARTUP_DIR]
        else:
            os.environ[_STARTUP_DIR] = previous


def _stream(proc: Any, q: Any, on_loaded: Callable[[dict[str, Any]], None],
            on_record: Callable[[RequestRecord], None], timeout_s: float, log_path: str | None,
            workdir: Path) -> EngineRun:
    records: list[RequestRecord] = []
    loaded: dict[str, Any] | None = None
    last_progress = time.monotonic()
    while True:
        try:
            kind, payload = q.get(timeout=2.0)
        except queue_mod.Empty:
            if not proc.is_alive():
                raise _died(proc.exitcode, loaded is not None, log_path, workdir) from None
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
            return EngineRun(records=records, start_s=payload["start_s"], end_s=payload["end_s"],
                             load_s=loaded["load_s"], info=loaded["info"])


def _end(proc: Any, finished: bool) -> None:
    proc.join(timeout=60 if finished else 0)  # after "done" the engine shuts itself down; else end it now
    if proc.is_alive():
        proc.terminate()
        proc.join(timeout=10)
    if proc.is_alive():
        proc.kill()


def _died(exitcode: int | None, loaded: bool, log_path: str | None, workdir: Path) -> EngineFailed:
    log = log_path or "the engine log above"
    if loaded:
        return EngineFailed("crashed", f"The engine process died (exit code {exitcode}) before finishing; "
                                       f"see {log}, or lower batch_size if it ran out of memory.")
    marker = workdir / _RERAN_MAIN
    script = marker.read_text(encoding="utf-8") if marker.exists() else _unguarded_main_script()
    if script:
        return EngineFailed("input", _guard_message(script))
    return EngineFailed("crashed", f"The engine process died while starting (exit code {exitcode}), "
                                   f"before it loaded the model; see {log}.")


def _guard_message(script: str) -> str:
    return (f"The engine process re-ran {script} while starting and died there (Python's spawn start "
            f"method imports the main script in every new process): put the script's calls into sustain "
            f'under `if __name__ == "__main__":`.')


def _main_script() -> str | None:
    """The main script's path; while a spawned process re-runs it, that run is `__mp_main__`."""
    main = sys.modules.get("__mp_main__") or sys.modules.get("__main__")
    return getattr(main, "__file__", None)


def _unguarded_main_script() -> str | None:
    """The main script, if spawn re-runs it in a new process (as it does a script, not `python -m pkg`)
    and it has no `__name__ == "__main__"` test anywhere."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    name = getattr(getattr(main, "__spec__", None), "name", None) or ""
    if not path or not path.endswith(".py") or name == "__main__" or name.endswith(".__main__"):
        return None
    try:
        tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return None
    return None if any(_is_main_test(node) for node in ast.walk(tree)) else path


def _is_main_test(node: ast.AST) -> bool:
    if not isinstance(node, ast.Compare):
        return False
    parts = [node.left, *node.comparators]
    return (any(isinstance(p, ast.Name) and p.id == "__name__" for p in parts)
            and any(isinstance(p, ast.Constant) and p.value == "__main__" for p in parts))


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
