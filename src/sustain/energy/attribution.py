"""Steady-state energy attribution (ML.ENERGY): energy per output token in the window where the engine
runs at its maximum batch, times each request's output tokens.

Under continuous batching requests overlap, so no request's energy is measured directly. With all N
requests submitted at once and the batch capped at B, the engine ramps up, runs B requests at a time,
then drains; only the middle phase represents the deployment, so energy per token is taken there and the
whole run is reported beside it as a cross-check. Only successful requests (no error, first and last
token present) count anywhere in this module.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sustain.energy.timeline import Timeline
from sustain.engines.records import RequestRecord
from sustain.errors import SustainError

RULES = ("mlenergy", "queue_empty")
MIN_BATCH_FILL = 0.85  # ML.ENERGY's validity bound: below it the batch never really filled
ERROR_CHARS = 200  # of the first failed request's error, in the validity flag


@dataclass
class Window:
    start_s: float | None  # None where the rule cannot place the bound at all
    end_s: float | None
    rule: str
    ok: bool
    reason: str | None = None  # why the window is unusable, with the numbers

    @property
    def duration_s(self) -> float | None:
        return None if self.start_s is None or self.end_s is None else self.end_s - self.start_s


def successful(records: Iterable[RequestRecord]) -> list[RequestRecord]:
    return [
        r for r in records if r.error is None and r.first_token_s is not None and r.last_token_s is not None
    ]


def _kth_smallest(values: list[float], k: int) -> float | None:
    """The k-th smallest (1-based) value, None when there is no such element."""
    return sorted(values)[k - 1] if 1 <= k <= len(values) else None


def steady_state_window(
    records: Iterable[RequestRecord], batch_size: int, rule: str = "mlenergy", min_window_s: float = 0.0
) -> Window:
    """The steady-state window of a run with maximum batch `batch_size` (B) over its N successful requests.

    Both rules open when B requests have their first token (the B-th smallest first_token_s).
    "mlenergy" (ML.ENERGY today) closes when N − B − 1 requests have finished (the (N−B−1)-th smallest
    last_token_s); it needs N > 2B + 1. "queue_empty" (ML.ENERGY 2024) closes when the waiting queue
    first empties, i.e. when the last request is scheduled (the largest scheduled_s).
    """
    if batch_size < 1:
        raise SustainError(f"the maximum batch size must be at least 1, got {batch_size}")
    if rule not in RULES:
        raise SustainError(f"unknown steady-state rule {rule!r}; use one of {', '.join(RULES)}")
    done = successful(records)
    n, b = len(done), batch_size
    start = _kth_smallest([r.first_token_s for r in done if r.first_token_s is not None], b)
    if rule == "mlenergy":
        end = _kth_smallest([r.last_token_s for r in done if r.last_token_s is not None], n - b - 1)
        if n <= 2 * b + 1:
            return Window(start, end, rule, ok=False, reason=(
                f"{n} successful requests with maximum batch {b}: the mlenergy rule needs more than "
                f"2B + 1 = {2 * b + 1}, else the batch is never full between ramp-up and drain"
            ))
    else:
        scheduled = [r.scheduled_s for r in done if r.scheduled_s is not None]
        if len(scheduled) < n:
            return Window(start, None, rule, ok=False, reason=(
                f"scheduled_s is missing for {n - len(scheduled)} of {n} successful requests, so the moment "
                "the waiting queue emptied is unknown; use rule=mlenergy"
            ))
        end = max(scheduled, default=None)
    if start is None or end is None:
        return Window(start, end, rule, ok=False, reason=f"{n} successful requests cannot fill a batch of {b}")
    if end <= start:
        return Window(start, end, rule, ok=False, reason=(
            f"the window would close at {end:.3f} s, not after it opens at {start:.3f} s: "
            f"the batch of {b} never ran full"
        ))
    if end - start < min_window_s:
        return Window(start, end, rule, ok=False, reason=(
            f"the window lasts {end - start:.2f} s, shorter than min_window_s = {min_window_s:g} s"
        ))
    return Window(start, end, rule, ok=True)


def tokens_in_window(records: Iterable[RequestRecord], t0: float, t1: float) -> float:
    """Output tokens generated in (t0, t1]: counted from each request's token times where the engine
    reported them, else by the uniform-rate approximation (`uniform_tokens_in_window`)."""
    total = 0.0
    for r in successful(records):
        if r.token_times_s:
            total += sum(t0 < t <= t1 for t in r.token_times_s)
        else:
            total += uniform_tokens_in_window([r], t0, t1)
    return total


def uniform_tokens_in_window(records: Iterable[RequestRecord], t0: float, t1: float) -> float:
    """Output tokens in (t0, t1] assuming each request emits its first token at first_token_s and its other
    output_tokens − 1 tokens at a uniform rate over (first_token_s, last_token_s] (all at last_token_s when
    the two coincide). The half-open interval keeps adjacent windows additive.
    """
    total = 0.0
    for r in successful(records):
        first, last = r.first_token_s, r.last_token_s
        assert first is not None and last is not None
        if r.output_tokens >= 1 and t0 < first <= t1:
            total += 1.0
        rest = r.output_tokens - 1
        if rest <= 0:
            continue
        if last == first:
            total += rest if t0 < last <= t1 else 0.0
        else:
            overlap = min(t1, last) - max(t0, first)
            total += rest * max(overlap, 0.0) / (last - first)
    return total


def average_running_batch(records: Iterable[RequestRecord], t0: float, t1: float) -> float:
    """Time-averaged number of requests running in [t0, t1]: a request runs from scheduled_s (first_token_s
    when the engine did not report scheduling) to last_token_s."""
    if t1 <= t0:
        raise ValueError(f"average running batch needs a positive interval, got [{t0}, {t1}]")
    busy = 0.0
    for r in successful(records):
        begin = r.scheduled_s if r.scheduled_s is not None else r.first_token_s
        assert begin is not None and r.last_token_s is not None
        busy += max(min(t1, r.last_token_s) - max(t0, begin), 0.0)
    return busy / (t1 - t0)


@dataclass
class Attribution:
    mode: str  # "steady_state", or "whole_run" when the window is unusable
    reason: str | None  # why it fell back to the whole run
    window: Window  # the steady-state window as the rule found it, usable or not
    span_s: tuple[float, float]  # the interval whose energy and tokens give energy_per_token_j
    window_energy_j: float
    window_tokens: float
    energy_per_token_j: float
    per_request_j: dict[str, float]
    mean_j: float
    std_j: float  # population std (ddof=0)
    whole_run_energy_j: float  # over [first arrival, last token]
    whole_run_tokens: int
    whole_run_per_token_j: float
    whole_run_per_request_j: float  # whole-run energy / N, the cross-check of mean_j
    avg_running_batch: float  # over span_s
    batch_fill: float  # avg_running_batch / B
    source: str
    measured: bool
    warnings: list[str] = field(default_factory=list)
    idle_energy_j: float | None = None  # with idle left out: the span's energy while no request was in flight
    idle_s: float | None = None

    def price_reused(self, records: list[RequestRecord]) -> None:
        """Give requests finished by an earlier, interrupted attempt this run's energy per token: their own
        energy was never measured on this timeline. Mean and std then cover every request, and a warning
        says how many were priced this way."""
        if not records:
            return
        for r in records:
            self.per_request_j[r.id] = self.energy_per_token_j * r.output_tokens
        self.mean_j = statistics.fmean(self.per_request_j.values())
        self.std_j = statistics.pstdev(self.per_request_j.values())
        self.warnings.append(
            f"{len(records)} request(s) reused from an interrupted attempt; their energy uses this run's "
            f"{self.energy_per_token_j:.4g} J/token"
        )

    def to_metrics(self) -> dict[str, float]:
        return {
            "energy_per_request_j_mean": self.mean_j,
            "energy_per_request_j_std": self.std_j,
            "energy_per_token_j": self.energy_per_token_j,
            "energy_window_j": self.window_energy_j,
            "energy_window_s": self.span_s[1] - self.span_s[0],
            "energy_whole_run_j": self.whole_run_energy_j,
            "energy_whole_run_per_request_j": self.whole_run_per_request_j,
            "energy_whole_run_per_token_j": self.whole_run_per_token_j,
            "energy_measured": 1.0 if self.measured else 0.0,
            "avg_running_batch": self.avg_running_batch,
            "batch_fill": self.batch_fill,
            "steady_state": 1.0 if self.mode == "steady_state" else 0.0,
        }


def attribute(
    records: Iterable[RequestRecord],
    timeline: Timeline,
    batch_size: int,
    rule: str = "mlenergy",
    min_window_s: float = 0.0,
    exclude_idle: bool = False,
) -> Attribution:
    """Energy per request: steady-state energy per token × output tokens, or the whole run's when the
    steady-state window is unusable (the reason is kept). Raises SustainError when the timeline is unusable
    or nothing succeeded, so that no request is ever credited with 0 J.

    `exclude_idle` (agent sessions, whose think and tool time leave the engine idle): the price per token comes
    from the span's energy while a request was in flight; the energy of the idle rest is kept apart
    (`idle_energy_j`), reported beside the requests' energy, never folded into it."""
    records = list(records)
    done = successful(records)
    if not done:
        raise SustainError(
            "no request finished successfully, so there is no energy to attribute; check the engine log"
        )
    problem = timeline.validate()
    if problem is not None:
        raise SustainError(problem)

    run_start = min(r.arrival_s for r in done)
    run_end = max(r.last_token_s for r in done if r.last_token_s is not None)
    run_energy = timeline.energy_between(run_start, run_end)
    run_tokens = sum(r.output_tokens for r in done)
    if run_tokens <= 0:
        raise SustainError("the successful requests produced no output tokens; check the engine log")

    window = steady_state_window(done, batch_size, rule, min_window_s)
    mode, reason = "whole_run", window.reason
    span, span_energy, span_tokens = (run_start, run_end), run_energy, float(run_tokens)
    if window.ok:
        assert window.start_s is not None and window.end_s is not None
        steady_tokens = tokens_in_window(done, window.start_s, window.end_s)
        if steady_tokens > 0:
            mode, span = "steady_state", (window.start_s, window.end_s)
            span_energy, span_tokens = timeline.energy_between(*span), steady_tokens
        else:
            reason = "no output token falls inside the steady-state window"
    idle_j = idle_s = None
    if exclude_idle:
        busy = busy_intervals(done, *span)
        busy_energy = sum(timeline.energy_between(a, b) for a, b in busy)
        idle_j, idle_s = span_energy - busy_energy, (span[1] - span[0]) - sum(b - a for a, b in busy)
        span_energy = busy_energy
    per_token = span_energy / span_tokens
    per_request = {r.id: per_token * r.output_tokens for r in done}
    running = average_running_batch(done, *span)

    warnings = []
    if mode == "steady_state" and running < MIN_BATCH_FILL * batch_size:
        warnings.append(
            f"the average running batch {running:.2f} is {running / batch_size:.0%} of the maximum batch "
            f"{batch_size}, below {MIN_BATCH_FILL:.0%}: the batch never filled (KV cache too small?)"
        )
    cut = sum(r.finish_reason == "length" for r in done)
    if cut:
        warnings.append(f"{cut} of {len(done)} outputs were cut at max_tokens")
    if len(done) < len(records):
        kept = {id(r) for r in done}
        first = next(r for r in records if id(r) not in kept)
        why = (first.error or "no error, but no complete reply")[:ERROR_CHARS]
        warnings.append(f"{len(records) - len(done)} of {len(records)} requests failed and are left out (the first, "
                        f"{first.id}: {why})")

    return Attribution(
        mode=mode,
        reason=reason,
        window=window,
        span_s=span,
        window_energy_j=span_energy,
        window_tokens=span_tokens,
        energy_per_token_j=per_token,
        per_request_j=per_request,
        mean_j=statistics.fmean(per_request.values()),
        std_j=statistics.pstdev(per_request.values()),
        whole_run_energy_j=run_energy,
        whole_run_tokens=run_tokens,
        whole_run_per_token_j=run_energy / run_tokens,
        whole_run_per_request_j=run_energy / len(done),
        avg_running_batch=running,
        batch_fill=running / batch_size,
        source=timeline.source,
        measured=timeline.measured,
        warnings=warnings,
        idle_energy_j=idle_j,
        idle_s=idle_s,
    )


def busy_intervals(records: Iterable[RequestRecord], t0: float, t1: float) -> list[tuple[float, float]]:
    """The parts of [t0, t1] during which at least one request was in flight (arrival to last token)."""
    return union([(r.arrival_s, r.last_token_s) for r in records if r.last_token_s is not None], t0, t1)


def union(intervals: Iterable[tuple[float, float]], t0: float, t1: float) -> list[tuple[float, float]]:
    """The merged intervals, clipped to [t0, t1]."""
    merged: list[tuple[float, float]] = []
    for a, b in sorted((max(a, t0), min(b, t1)) for a, b in intervals):
        if b <= a:
            continue
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def remote(records: Iterable[RequestRecord], estimate: Any, label: str) -> Attribution:
    """Energy of a remote endpoint, whose hardware no meter here sees: each request priced by `estimate`
    (`energy_j(output_tokens)`, labelled with its model and constants), or no figure at all when
    `estimate` is None. Never this machine's joules: they are the client's, not the model's."""
    done = successful(records)
    per_request = {r.id: estimate.energy_j(r.output_tokens) for r in done} if estimate is not None else {}
    tokens = sum(r.output_tokens for r in done)
    total = sum(per_request.values()) if per_request else math.nan
    mean = statistics.fmean(per_request.values()) if per_request else math.nan
    per_token = total / tokens if per_request and tokens else math.nan
    return Attribution(
        mode="remote", reason=label, window=Window(None, None, "none", ok=False, reason=label), span_s=(0.0, 0.0),
        window_energy_j=total, window_tokens=float(tokens), energy_per_token_j=per_token, per_request_j=per_request,
        mean_j=mean, std_j=statistics.pstdev(per_request.values()) if per_request else math.nan,
        whole_run_energy_j=total, whole_run_tokens=tokens, whole_run_per_token_j=per_token,
        whole_run_per_request_j=mean, avg_running_batch=math.nan, batch_fill=math.nan, source=label, measured=False,
    )
