"""A vLLM OpenAI-compatible server for `judge=local`, alive only while the judging runs.

Starting, health-checking and stopping it is `sustain.engines.server`'s (shared with the server engines);
this module only says how the judge's server is configured.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sustain.engines.server import HOST, free_port, running
from sustain.engines.vllm_server import entrypoint, to_flags
from sustain.judge.config import LocalJudgeConfig

__all__ = ["HOST", "free_port", "running", "entrypoint", "to_flags", "engine_args", "serve"]

CPU_MEMORY_FRACTION = 0.35
COMPACT_JSON = {"backend": "xgrammar", "disable_any_whitespace": True}


def engine_args(cfg: LocalJudgeConfig) -> dict[str, Any]:
    """The server's engine arguments: the config's, with the CPU defaults filled in.

    A constrained judge gets compact JSON: by default the grammar allows any whitespace between tokens, and
    a small model given the choice emits newlines until max_tokens. vLLM reads this per server, not per
    request, and only for the xgrammar and guidance backends.
    """
    args: dict[str, Any] = {}
    if cfg.constrain:
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


@contextlib.contextmanager
def serve(cfg: LocalJudgeConfig, model: str, port: int, log_path: Path) -> Iterator[float]:
    """Serve `model` on 127.0.0.1:`port` until the block ends; yields the start-up time in seconds."""
    argv = [
        sys.executable, "-m", entrypoint(), "--model", model, "--host", HOST, "--port", str(port),
        *to_flags(engine_args(cfg)),
    ]
    with running(argv, f"http://{HOST}:{port}/health", log_path, cfg.startup_timeout_s,
                 name="judge's vLLM server") as startup_s:
        yield startup_s
