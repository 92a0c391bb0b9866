"""One local server kept alive across the jobs of a sweep that run in this process (`engine.shared=true`).

Hydra's basic launcher runs a sweep's jobs one after another in one Python process, so a server started by
the first job can serve the next ones: a sweep over batch sizes then loads the model once. At most one
server is kept, under a key naming everything that shaped it (model, quantization, GPUs, engine
arguments); a job with another key stops it and starts its own. It is stopped, whole process group, when
a job fails or is interrupted (Ctrl-C, SIGTERM), when its process died, and when this process exits
(atexit; the parent-death signal of `server.start` covers a process killed outright).
"""

from __future__ import annotations

import atexit
import contextlib
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sustain.engines import server
from sustain.engines.streaming import Endpoint

Starter = Callable[[], tuple[subprocess.Popen, Endpoint, float]]


@dataclass
class Kept:
    key: Any
    proc: subprocess.Popen
    endpoint: Endpoint


@dataclass(frozen=True)
class Lease:
    """What a job got: the endpoint, the seconds this job spent starting it (0 when it was reused), and
    whether this job started it."""

    endpoint: Endpoint
    load_s: float
    started: bool


_kept: Kept | None = None
_hooked = False


@contextlib.contextmanager
def serving(key: Any, start: Starter) -> Iterator[Lease]:
    """The kept server if its key is `key` and it still runs, else a new one from `start()`; left running
    when the block ends normally, stopped when it raises."""
    global _kept
    if _kept is not None and (_kept.key != key or _kept.proc.poll() is not None):
        stop()
    lease = None
    if _kept is None:
        _hook_exit()
        proc, endpoint, load_s = start()
        _kept = Kept(key, proc, endpoint)
        lease = Lease(endpoint, load_s, True)
    try:
        yield lease or Lease(_kept.endpoint, 0.0, False)
    except BaseException:
        stop()
        raise


def stop() -> None:
    """Stop the kept server, if any."""
    global _kept
    kept, _kept = _kept, None
    if kept is not None:
        server.stop(kept.proc)


def _hook_exit() -> None:
    global _hooked
    if not _hooked:
        atexit.register(stop)
        _hooked = True
