"""Prefill vs decode: the window's energy split by what the engine was doing when it was spent.

Method (prefill-busy time, the timestamp form of optimum-benchmark's subtraction): a request is in
prefill from the moment it is scheduled (`scheduled_s`; `arrival_s` where the engine does not report
scheduling, which then counts its queueing too) until its first token. The energy of every moment in
the window during which at least one request is in prefill is prefill energy; the rest is decode
energy. With one request at a time this is exactly optimum-benchmark's split (prefill = the energy up to
the first token, decode = the remainder). Under continuous batching a step that prefills one request also
decodes the others, and such mixed steps count as prefill here, so prefill energy is an upper bound and
decode energy a lower bound; a split per engine step by scheduled prefill and decode tokens would be
finer but the request records do not carry it.

Energy per prompt token = prefill energy / prompt tokens prefilled in the window (each request's prompt
spread evenly over its prefill interval). Energy per output token = decode energy / output tokens after
each request's first (the first token comes out of prefill); none where some request was in prefill (or,
without scheduling times, queued) at every moment of the window, which leaves no decode energy to tell apart.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sustain.energy.attribution import successful, tokens_in_window, union
from sustain.energy.timeline import Timeline
from sustain.engines.records import RequestRecord
from sustain import names

METHOD = "prefill-busy time; mixed steps count as prefill, so prefill is an upper bound"


@dataclass
class PhaseSplit:
    span_s: tuple[float, float]
    prefill_j: float
    decode_j: float
    prefill_time_s: float
    prompt_tokens: float
    decode_tokens: float
    method: str = METHOD

    @property
    def per_prompt_token_j(self) -> float | None:
        return self.prefill_j / self.prompt_tokens if self.prompt_tokens > 0 else None

    @property
    def per_output_token_j(self) -> float | None:
        """None where no moment of the window was decode alone: a 0 J lower bound would read as free decoding."""
        return self.decode_j / self.decode_tokens if self.decode_tokens > 0 and self.decode_j > 0 else None

    def to_metrics(self) -> dict[str, float]:
        out = {"energy_prefill_j": self.prefill_j, "energy_decode_j": self.decode_j,
               "prefill_time_share": self.prefill_time_s / (self.span_s[1] - self.span_s[0])}
        if self.per_prompt_token_j is not None:
            out[names.ENERGY_PER_PROMPT_TOKEN] = self.per_prompt_token_j
        if self.per_output_token_j is not None:
            out[names.ENERGY_PER_OUTPUT_TOKEN] = self.per_output_token_j
        return out


def _prefill(r: RequestRecord) -> tuple[float, float]:
    begin = r.scheduled_s if r.scheduled_s is not None else r.arrival_s
    assert r.first_token_s is not None
    return min(begin, r.first_token_s), r.first_token_s


def split_phases(records: Iterable[RequestRecord], timeline: Timeline, span: tuple[float, float]) -> PhaseSplit:
    """Prefill and decode energy of `timeline` over `span` (see the module docstring for the method)."""
    done = successful(records)
    t0, t1 = span
    busy = union([_prefill(r) for r in done], t0, t1)
    prefill_j = sum(timeline.energy_between(a, b) for a, b in busy)
    total_j = timeline.energy_between(t0, t1)
    prompt = 0.0
    for r in done:
        a, b = _prefill(r)
        if b > a:
            prompt += r.prompt_tokens * max(min(b, t1) - max(a, t0), 0.0) / (b - a)
        elif t0 < b <= t1:
            prompt += r.prompt_tokens
    first_tokens = sum(1 for r in done if r.output_tokens >= 1 and t0 < (r.first_token_s or 0.0) <= t1)
    return PhaseSplit(
        span_s=(t0, t1),
        prefill_j=prefill_j,
        decode_j=max(total_j - prefill_j, 0.0),
        prefill_time_s=sum(b - a for a, b in busy),
        prompt_tokens=prompt,
        decode_tokens=tokens_in_window(done, t0, t1) - first_tokens,
    )
