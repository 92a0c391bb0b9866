"""The engine interface: serve a model, run a job's requests, hand back one record per request.

An engine is chosen by `_target_` in `conf/engine/<name>.yaml` and built with its typed config. The
pipeline calls `prepare` (resolve the model, refuse unknown arguments; nothing started yet), then `run`
(start, generate, always stop). Every engine emits the same `RequestRecord`s on the one monotonic clock,
so attribution, latency, quality and the judge never ask which engine ran.
"""

from __future__ import annotations

import difflib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict

from sustain.engines.records import EngineRun, RequestRecord
from sustain.errors import SustainError
from sustain.types import Decoding, Request, Session


@dataclass
class EngineConfig:
    """Keys every engine has. A serving stack subclasses this in its own module and lists it in the
    module's `SCHEMAS` (`{"<name>_schema": ItsConfig}`); `sustain.config.register` stores it."""

    _target_: str = "sustain.engines.vllm.VllmEngine"
    name: str = "vllm"
    seed: int = 0
    args: Dict[str, Any] = field(default_factory=dict)  # the engine's own arguments, checked before start
    timeout_s: float = 3600.0  # a run with no progress for this long is stopped


@dataclass(frozen=True)
class Sampling:
    max_tokens: int
    temperature: float
    top_p: float
    seed: int


@dataclass
class EngineJob:
    """What one run asks of an engine, independent of which engine it is."""

    model: Any  # ModelConfig
    quantization: Any  # QuantizationConfig
    batch_size: int  # the engine's maximum batch (vLLM max_num_seqs, llama.cpp parallel slots)
    gpus: int  # tensor-parallel size
    requests: list[Request]
    sampling: Sampling
    decoding: Decoding | None
    out_dir: Path  # the run's folder: engine and server logs go here
    verbose: bool = False  # engine logs to the terminal as well as to the log file
    load: Any = None  # LoadConfig: when a server engine sends each request (None: all at once)
    extra: dict[str, Any] = field(default_factory=dict)
    sessions: list[Session] = field(default_factory=list)  # multi-turn work: then `requests` is empty
    history: str = "generated"  # what a session's history holds of its replies: generated | recorded
    environment: Any = None  # ToolEnvironment: answers live sessions' tool calls

    @property
    def n_requests(self) -> int:
        """Requests the job will send: one per request, or per session turn."""
        return len(self.requests) + sum(len(s.turns) for s in self.sessions)


OnLoaded = Callable[[dict[str, Any]], None]
OnRecord = Callable[[RequestRecord], None]


class Engine(ABC):
    """One serving stack. `measured_locally` says whether this machine's meters see its work."""

    measured_locally: bool = True
    prompt_logprobs: bool = False  # scores a request's continuation (lm-eval's loglikelihood requests)
    rolling_logprobs: bool = False  # scores a whole document in windows (lm-eval's loglikelihood_rolling)

    def __init__(self, cfg: Any) -> None:
        self.cfg = cfg
        self.name: str = cfg.name

    @abstractmethod
    def prepare(self, job: EngineJob) -> None:
        """Check everything that can be checked before a process starts; raise SustainError if wrong."""

    @abstractmethod
    def run(self, job: EngineJob, on_loaded: OnLoaded, on_record: OnRecord) -> EngineRun:
        """Start the engine, run every request, stop it (also on failure and Ctrl-C)."""

    def refuse_continuations(self, job: EngineJob) -> None:
        """Called from `prepare`: a request that asks for a continuation's log-probability needs an engine
        that returns prompt log-probabilities, or the run would score nothing."""
        if not self.prompt_logprobs and any(r.continuation is not None for r in job.requests):
            raise SustainError(f"engine={self.name} returns no prompt log-probabilities, which this task's "
                               f"log-likelihood (multiple-choice) requests need: use engine=vllm or "
                               f"engine=vllm_server, or a generate_until task.")
        if not self.rolling_logprobs and any(r.rolling for r in job.requests):
            raise SustainError(f"engine={self.name} cannot score whole documents in windows of the model's context, "
                               f"which this task's rolling log-likelihood (perplexity) requests need: use engine=vllm.")

    def describe(self) -> dict[str, str]:
        """Tags naming what served the run (engine name, version, endpoint without secrets)."""
        return {"engine": self.name}


def refuse_unknown(given: Iterable[str], known: Iterable[str], where: str) -> None:
    """One sentence for the first argument not in `known`, naming the closest valid one."""
    known = sorted(set(known))
    for name in given:
        if name in known:
            continue
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"did you mean '{close[0]}'?" if close else "see the engine's documentation for its arguments."
        raise SustainError(f"'{name}' is not an argument of {where}: {hint}")
