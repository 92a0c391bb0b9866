"""`engine=vllm`: vLLM's offline `LLMEngine`, every request submitted at once (the paper's setting).

A job of sessions runs each session's turns in order (`vllm_worker.SessionRunner`): with no client to pace
them, every session starts at once, which is why this engine takes `load=burst` only. Prefix caching is
vLLM's default (on); `engine.args.enable_prefix_caching=false` switches it off.

The engine runs in a spawned process per job (`process.run_in_process`), so a sweep never inherits a
previous engine's memory; its log (and that of vLLM's own worker processes) goes to `engine.log` in the
run folder, or to the terminal as well with `verbose=true`.
"""

from __future__ import annotations

import ast
import importlib.util
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

from sustain.engines.base import Engine, EngineConfig, EngineJob, OnLoaded, OnRecord, refuse_unknown
from sustain.engines.records import EngineRun
from sustain.errors import SustainError
from sustain.types import Session


@dataclass
class VllmEngineConfig(EngineConfig):
    """`args` passes any vLLM EngineArgs field through (e.g. `+engine.args.max_num_batched_tokens=4096`), checked first."""

    _target_: str = "sustain.engines.vllm.VllmEngine"
    name: str = "vllm"
    enforce_eager: Optional[bool] = None  # None: True on CPU (35 s start instead of 120 s), vLLM's default on GPU
    cpu_memory_fraction: float = 0.25  # CPU backend only: share of the NUMA node's RAM for weights + KV cache


SCHEMAS = {"vllm_schema": VllmEngineConfig}


class VllmEngine(Engine):
    prompt_logprobs = True
    rolling_logprobs = True

    def prepare(self, job: EngineJob) -> None:
        """Only `load=burst`: requests, and sessions' first turns, all go in at once offline."""
        from sustain.models.resolve import resolve

        from sustain.load.base import require_burst

        require_burst(job.load, "engine=vllm")
        if any(s.live for s in job.sessions):
            raise SustainError("engine=vllm cannot run live agent sessions (the model's tool calls need a server's "
                               "tool-call parser and an environment answering between requests): use "
                               "engine=vllm_server or engine=llamacpp.")
        refuse_unknown(self.cfg.args, engine_arg_names(), "vLLM's EngineArgs (engine.args)")
        quant = job.quantization
        if quant.for_model is not None and quant.for_model != job.model.name:
            raise SustainError(
                f"quantization={quant.name} is a checkpoint of {quant.for_model}, not of model={job.model.name}: "
                f"use model={quant.for_model}, or a method that quantizes any model (e.g. quantization=fp8)."
            )
        self.model_path = resolve(quant.model_path or job.model.path)

    def run(self, job: EngineJob, on_loaded: OnLoaded, on_record: OnRecord) -> EngineRun:
        from sustain.engines import vllm_worker
        from sustain.engines.process import run_in_process

        log_file = job.out_dir / "engine.log"
        return run_in_process(vllm_worker.main, self.spec(job, log_file), on_loaded, on_record,
                              self.cfg.timeout_s, str(log_file))

    def spec(self, job: EngineJob, log_file: Path) -> dict[str, Any]:
        """Everything the engine process needs, as plain data."""
        model = job.model
        engine_args: dict[str, Any] = {
            "model": self.model_path,
            "max_num_seqs": job.batch_size,
            "tensor_parallel_size": job.gpus,
            "dtype": model.dtype,
            "seed": self.cfg.seed,
            "disable_log_stats": False,
            "trust_remote_code": model.trust_remote_code,
        }
        if model.max_model_len is not None:
            engine_args["max_model_len"] = model.max_model_len
        if job.quantization.method is not None:
            engine_args["quantization"] = job.quantization.method
        engine_args.update(self.cfg.args)
        decoding = job.decoding
        return {
            "engine_args": engine_args,
            "enforce_eager": self.cfg.enforce_eager,
            "cpu_memory_fraction": self.cfg.cpu_memory_fraction,
            "sampling": {"max_tokens": job.sampling.max_tokens, "temperature": job.sampling.temperature,
                         "top_p": job.sampling.top_p, "seed": job.sampling.seed},
            "json_schema": decoding.json_schema if decoding else None,
            "choice": decoding.choice if decoding else None,
            "chat_template_kwargs": dict(model.chat_template_kwargs),
            "requests": [(r.id, r.messages) for r in job.requests],
            "prompts": {r.id: r.prompt for r in job.requests if r.prompt is not None},
            "continuations": {r.id: r.continuation for r in job.requests if r.continuation is not None},
            "rolling": [r.id for r in job.requests if r.rolling],
            "overrides": {r.id: r.sampling_overrides() for r in job.requests if r.sampling_overrides()},
            "sessions": [plain_session(s) for s in job.sessions],
            "history": job.history,
            "log_level": os.environ.get("VLLM_LOGGING_LEVEL", "WARNING"),
            "log_file": str(log_file),
            "verbose": job.verbose,
        }

    def describe(self) -> dict[str, str]:
        return {"engine": self.name}


def plain_session(session: Session) -> dict[str, Any]:
    """A session as plain data for the engine process (what a turn needs: no `expected`)."""
    return {"id": session.id, "system": session.system, "turns": [
        {"messages": [dict(m) for m in t.messages], "delay_s": t.delay_s, "max_tokens": t.max_tokens,
         "recorded": t.recorded} for t in session.turns]}


@lru_cache(maxsize=1)
def engine_arg_names() -> frozenset[str]:
    """Fields of vLLM's `EngineArgs`, read from its source: importing vLLM here would cost the job
    process torch and tens of seconds before the engine process even starts."""
    spec = importlib.util.find_spec("vllm")
    if spec is None or not spec.submodule_search_locations:
        raise SustainError("engine=vllm needs vLLM, which is not installed: run `make install`.", "engine_error")
    source = Path(list(spec.submodule_search_locations)[0]) / "engine" / "arg_utils.py"
    tree = ast.parse(source.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == "EngineArgs":
            return frozenset(item.target.id for item in node.body
                             if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name))
    raise SustainError(f"vLLM's EngineArgs was not found in {source}: this vLLM is too new or too old for sustain.",
                       "engine_error")
