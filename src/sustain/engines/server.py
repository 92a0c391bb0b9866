"""A local server process, alive only while a block runs: started, health-checked and stopped in one place.

Used by the server engines (vLLM's OpenAI server, llama.cpp) and the local judge. The server runs in its own
session, so its whole process group (vLLM's engine processes included) is stopped at the end: on success,
failure, a start that times out, Ctrl-C, and SIGTERM (`sustain.__main__` turns SIGTERM into Ctrl-C). Should
sustain itself be killed outright, the kernel sends the server SIGKILL too (Linux's parent-death signal).
It listens on 127.0.0.1 only and logs to a file in the run folder, and to the terminal as well when verbose.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from sustain.errors import SustainError

HOST = "127.0.0.1"
STOP_GRACE_S = 30.0
LOG_TAIL_LINES = 15
POLL_S = 0.5
PR_SET_PDEATHSIG = 1


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def port_or_free(port: int | None, name: str) -> int:
    """`port` when it is free on 127.0.0.1 (one sentence otherwise), else a free one."""
    if not port:
        return free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((HOST, port))
        except OSError:
            raise SustainError(
                f"Port {port} on {HOST} is already in use, so the {name} cannot listen there: stop what uses "
                f"it, or leave the port unset (null) to take a free one.", "port_in_use") from None
    return port


@contextlib.contextmanager
def running(argv: list[str], health_url: str, log_path: Path, startup_timeout_s: float,
            name: str = "server", verbose: bool = False, env: dict[str, str] | None = None) -> Iterator[float]:
    """Run `argv` until the block ends, once `health_url` answers 200; yields the seconds that took."""
    proc, load_s = start(argv, health_url, log_path, startup_timeout_s, name, verbose, env)
    try:
        yield load_s
    finally:
        stop(proc)


def start(argv: list[str], health_url: str, log_path: Path, startup_timeout_s: float,
          name: str = "server", verbose: bool = False, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, float]:
    """Start `argv` in its own session and wait until `health_url` answers 200 (stopped if it never does);
    the caller stops it with `stop`. Returns the process and the seconds it took to be ready."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    log = log_path.open("ab")
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE if verbose else log,
                            stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent,
                            env=None if env is None else {**os.environ, **env})
    if verbose:
        threading.Thread(target=_tee, args=(proc.stdout, log), daemon=True).start()
    else:
        log.close()
    try:
        _wait_healthy(proc, health_url, log_path, startup_timeout_s, name)
    except BaseException:
        stop(proc)
        raise
    return proc, time.monotonic() - t0


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL when the process that started it dies (Linux; elsewhere a no-op)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _tee(stream: IO[bytes], log: IO[bytes]) -> None:
    with log:
        for line in iter(stream.readline, b""):
            log.write(line)
            log.flush()
            sys.stderr.buffer.write(line)
            sys.stderr.flush()


def _wait_healthy(proc: subprocess.Popen, health_url: str, log_path: Path, timeout_s: float, name: str) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if proc.poll() is not None:
            raise SustainError(
                f"The {name} exited with code {proc.returncode} before it was ready (full log: {log_path}); "
                f"its last lines:\n{log_tail(log_path)}", "server_start")
        if healthy(health_url):
            return
        if time.monotonic() > deadline:
            raise SustainError(
                f"The {name} did not answer {health_url} within {timeout_s:.0f} s: raise its startup timeout if "
                f"it is only slow (full log: {log_path}); its last lines:\n{log_tail(log_path)}", "timeout")
        time.sleep(POLL_S)


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2.0) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the server's process group, SIGKILL to what is left after a grace period."""
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
