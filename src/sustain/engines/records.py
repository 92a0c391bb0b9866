"""What an engine run hands to the later stages: one record per request, on one clock.

All timestamps are `time.monotonic()` seconds. On Linux that is CLOCK_MONOTONIC, shared by every
process of the machine, so the engine's request timings and the energy meter's timeline (sampled in
another process) can be compared directly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class RequestRecord:
    id: str
    prompt_tokens: int
    output_tokens: int
    output_text: str
    finish_reason: str | None  # "stop", "length", "abort", or None when the request failed
    arrival_s: float  # submitted to the engine
    scheduled_s: float | None  # first scheduled (left the waiting queue)
    first_token_s: float | None
    last_token_s: float | None
    error: str | None = None
    token_times_s: list[float] | None = None  # time of every output token, where the engine reports them
    server_timings: dict[str, float] | None = None  # the server's own per-request timings (llama.cpp `timings`)
    logprob: float | None = None  # a continuation request's summed log-probability of its continuation
    is_greedy: bool | None = None  # each continuation token was the model's own top-1
    reasoning_tokens: int | None = None  # of output_tokens, those spent reasoning; None: the engine did not count
    cached_tokens: int | None = None  # prompt tokens served from the prefix cache; None: the engine did not say
    session_id: str | None = None  # the session this request is a turn of (multi-turn work)
    turn: int | None = None  # its turn index in that session, from 0
    tool_calls: list[dict[str, Any]] | None = None  # the reply's tool calls: {"id", "name", "arguments"}
    tool_results: list[dict[str, Any]] | None = None  # what the environment answered each: {"content", "error"}
    final_state: dict[str, Any] | None = None  # a live session's last request: the environment's state at the end

    @property
    def ttft_s(self) -> float | None:
        return None if self.first_token_s is None else self.first_token_s - self.arrival_s

    @property
    def decode_s(self) -> float | None:
        """Decode latency, first to last output token: the paper's user-experience metric."""
        if self.first_token_s is None or self.last_token_s is None:
            return None
        return self.last_token_s - self.first_token_s

    @property
    def tpot_s(self) -> float | None:
        if self.decode_s is None or self.output_tokens < 2:
            return None
        return self.decode_s / (self.output_tokens - 1)

    @property
    def itl_s(self) -> list[float]:
        """Inter-token latencies: gaps between consecutive output tokens (empty without token times)."""
        t = self.token_times_s or []
        return [b - a for a, b in zip(t, t[1:])]

    @property
    def e2e_s(self) -> float | None:
        return None if self.last_token_s is None else self.last_token_s - self.arrival_s

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class EngineRun:
    """The engine stage's output: per-request records plus facts about the engine itself."""

    records: list[RequestRecord]
    start_s: float  # first request submitted
    end_s: float  # last request finished
    load_s: float  # engine construction time (not part of any energy window)
    info: dict[str, Any] = field(default_factory=dict)  # versions, device names, engine args
