"""Agent sessions priced as completed tasks: per session its requests, tokens, prefix-cache hits, wall time and
energy; per run sessions completed and succeeded, energy per completed and per successful session, sessions
per hour and per kWh, session latency percentiles and the prefix cache's hit rate.

A session's energy is the sum of its requests' attributed energy (the per-token price over the time a request
was in flight); the engine's energy while no request of any session was in flight (think and tool time) is the
run's idle energy, reported beside it and in `energy_per_session_with_idle_j`, never folded in silently.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from sustain.engines.records import RequestRecord
from sustain.registry import MAXIMIZE, MINIMIZE, NEITHER, Metric
from sustain.types import Prediction, Session

J_PER_KWH = 3.6e6
PERCENTILES = (50, 90, 99)
RUN, SESSION = "whole run", "session"


def _m(name: str, unit: str, direction: str, aggregation: str, description: str, column: str | None = None) -> Metric:
    return Metric(name, unit, direction, aggregation, description, SESSION, column, source=__name__)


METRICS = [
    _m("sessions_completed", "count", MAXIMIZE, RUN, "Sessions whose every turn got a reply without an error."),
    _m("turns_per_session_mean", "count", NEITHER, "mean over sessions", "Requests a session sent (a failed turn "
       "ends its session)."),
    _m("think_s_mean", "s", NEITHER, "mean over sessions", "Time from each reply to the session's next request "
       "(think time, tools running), measured."),
    _m("sessions_per_hour", "1/h", MAXIMIZE, RUN, "Completed sessions over first request sent to last reply."),
    _m("energy_per_session_j", "J", MINIMIZE, "mean over completed sessions", "A completed session's energy: the "
       "sum of its requests' attributed energy (priced while requests were in flight; idle time apart).",
       "energy_per_session_j"),
    _m("session_latency_s_p{q}", "s", MINIMIZE, "percentile over completed sessions", "A session's wall time, "
       "its first request sent to its last reply, think time included."),
    _m("sessions_per_kwh", "1/kWh", MAXIMIZE, RUN, "Completed sessions per kWh of the sessions' attributed "
       "energy.", "sessions_per_kwh"),
    _m("successful_sessions_per_kwh", "1/kWh", MAXIMIZE, RUN, "Successful sessions per kWh of every session's "
       "attributed energy (sessions that declare an expected end).", "successful_sessions_per_kwh"),
    _m("energy_per_successful_session_j", "J", MINIMIZE, RUN, "Every session's attributed energy over the "
       "successful sessions: what one success costs, failures included.", "energy_per_success_j"),
    _m("session_idle_energy_j", "J", NEITHER, "attribution span", "The engine's energy while no request was in "
       "flight (think and tool time), kept out of the requests' energy."),
    _m("session_idle_s", "s", NEITHER, "attribution span", "Time with no request in flight."),
    _m("energy_per_session_with_idle_j", "J", MINIMIZE, RUN, "Sessions' attributed energy plus the idle energy, "
       "over completed sessions: the price when the engine serves nothing else meanwhile."),
    _m("prefix_cache_hit_rate", "1", MAXIMIZE, "over requests reporting it", "Prompt tokens served from the "
       "prefix cache over prompt tokens (vLLM's cached_tokens, llama.cpp's cache_n).", "prefix_cache_hit"),
]


@dataclass(frozen=True)
class SessionRow:
    """One session's figures; `success` None where the session declares no expected end."""

    session: str
    turns: int  # planned (a live session: its one task)
    requests: int  # sent (a failed turn ends the session)
    completed: bool
    success: bool | None
    prompt_tokens: int
    cached_tokens: int | None  # None: the engine reported no prefix-cache figure
    output_tokens: int
    reasoning_tokens: int | None  # of output_tokens; None where the engine did not count them
    wall_s: float | None  # first request sent to last token of the last reply
    think_s: float  # measured: from each reply to the next request (think time, tool calls)
    energy_j: float | None  # sum of its requests' attributed energy; None without a successful request


@dataclass
class SessionFigures:
    rows: list[SessionRow]
    turns: list[dict[str, Any]]  # per turn index: requests, mean prompt, cached and output tokens, mean TTFT
    run_s: float  # first request sent to last reply
    idle_energy_j: float | None
    idle_s: float | None

    def metrics(self) -> dict[str, float]:
        done = [r for r in self.rows if r.completed]
        scored = [r for r in self.rows if r.success is not None]
        succeeded = [r for r in scored if r.success]
        energy = sum(r.energy_j or 0.0 for r in self.rows)
        out: dict[str, float] = {"sessions_completed": float(len(done)),
                                 "turns_per_session_mean": statistics.fmean(r.requests for r in self.rows),
                                 "think_s_mean": statistics.fmean(r.think_s for r in self.rows)}
        if self.run_s > 0:
            out["sessions_per_hour"] = len(done) * 3600.0 / self.run_s
        if done:
            out["energy_per_session_j"] = statistics.fmean(r.energy_j or 0.0 for r in done)
            walls = [r.wall_s for r in done if r.wall_s is not None]
            if walls:  # numpy's linear interpolation, as the request latencies
                out.update({f"session_latency_s_p{q}": float(np.percentile(walls, q)) for q in PERCENTILES})
        if energy > 0:
            out["sessions_per_kwh"] = len(done) * J_PER_KWH / energy
            if scored:
                out["successful_sessions_per_kwh"] = len(succeeded) * J_PER_KWH / energy
        if succeeded:
            out["energy_per_successful_session_j"] = energy / len(succeeded)
        if self.idle_energy_j is not None:
            out["session_idle_energy_j"] = self.idle_energy_j
            out["session_idle_s"] = float(self.idle_s or 0.0)
            if done:
                out["energy_per_session_with_idle_j"] = (energy + self.idle_energy_j) / len(done)
        hit = self.prefix_cache_hit_rate()
        if hit is not None:
            out["prefix_cache_hit_rate"] = hit
        return out

    def prefix_cache_hit_rate(self) -> float | None:
        """Cached over prompt tokens, over the sessions whose engine reported cached tokens."""
        reported = [r for r in self.rows if r.cached_tokens is not None and r.prompt_tokens > 0]
        if not reported:
            return None
        return sum(r.cached_tokens or 0 for r in reported) / sum(r.prompt_tokens for r in reported)

    def tags(self) -> dict[str, str]:
        return {}

    def table(self) -> list[dict[str, Any]]:
        return [asdict(r) for r in self.rows]

    def summary(self) -> dict[str, Any]:
        """summary.json's `sessions` section: counts the terminal summary reads."""
        scored = [r for r in self.rows if r.success is not None]
        return {"sessions": len(self.rows), "completed": sum(r.completed for r in self.rows),
                "scored": len(scored), "succeeded": sum(bool(r.success) for r in scored),
                "prefix_cache_hit_rate": self.prefix_cache_hit_rate(), "idle_energy_j": self.idle_energy_j,
                "turns": self.turns}


def session_figures(sessions: list[Session], records: list[RequestRecord], predictions: dict[str, Prediction],
                    attribution: Any) -> SessionFigures:
    """Every session's row (also those that sent nothing), from the records of its turns and their attributed
    energy (an `Attribution`, whose idle energy is kept apart)."""
    per_request_j = attribution.per_request_j
    by_session: dict[str, list[RequestRecord]] = defaultdict(list)
    for record in records:
        if record.session_id is not None:
            by_session[record.session_id].append(record)
    rows = [_row(s, sorted(by_session.get(s.id, []), key=lambda r: r.turn or 0), predictions, per_request_j)
            for s in sessions]
    sent = [r for r in records if r.session_id is not None]
    ends = [r.last_token_s for r in sent if r.last_token_s is not None]
    run_s = max(ends) - min(r.arrival_s for r in sent) if ends else 0.0
    return SessionFigures(rows, _per_turn(sent), run_s, attribution.idle_energy_j, attribution.idle_s)


def _row(session: Session, turns: list[RequestRecord], predictions: dict[str, Prediction],
         per_request_j: dict[str, float]) -> SessionRow:
    if session.live:  # one task, as many requests as the model took: done at a final answer
        completed = bool(turns) and turns[-1].error is None and not turns[-1].tool_calls
    else:
        completed = len(turns) == len(session.turns) and all(r.error is None for r in turns)
    success = None
    if session.expected is not None:
        success = completed and any(predictions[r.id].correct for r in turns if r.id in predictions)
    cached = [r.cached_tokens for r in turns]
    energies = [per_request_j[r.id] for r in turns if r.id in per_request_j]
    ends = [r.last_token_s for r in turns if r.last_token_s is not None]
    return SessionRow(
        session=session.id, turns=len(session.turns), requests=len(turns), completed=completed, success=success,
        prompt_tokens=sum(r.prompt_tokens for r in turns),
        cached_tokens=None if not turns or any(c is None for c in cached) else sum(c or 0 for c in cached),
        output_tokens=sum(r.output_tokens for r in turns),
        reasoning_tokens=None if not turns or any(r.reasoning_tokens is None for r in turns)
        else sum(r.reasoning_tokens or 0 for r in turns),
        wall_s=max(ends) - turns[0].arrival_s if turns and ends else None,
        think_s=sum(b.arrival_s - a.last_token_s for a, b in zip(turns, turns[1:]) if a.last_token_s is not None),
        energy_j=sum(energies) if energies else None,
    )


def _per_turn(records: list[RequestRecord]) -> list[dict[str, Any]]:
    """Per turn index: how the growing context shows in prompt tokens, cache hits and time to first token."""
    by_turn: dict[int, list[RequestRecord]] = defaultdict(list)
    for r in records:
        by_turn[r.turn or 0].append(r)
    out = []
    for turn in sorted(by_turn):
        group = by_turn[turn]
        ttfts = [r.ttft_s for r in group if r.ttft_s is not None]
        cached = [r.cached_tokens for r in group if r.cached_tokens is not None]
        out.append({"turn": turn, "requests": len(group),
                    "prompt_tokens_mean": statistics.fmean(r.prompt_tokens for r in group),
                    "cached_tokens_mean": statistics.fmean(cached) if cached else None,
                    "output_tokens_mean": statistics.fmean(r.output_tokens for r in group),
                    "ttft_ms_mean": statistics.fmean(ttfts) * 1000 if ttfts else None})
    return out

