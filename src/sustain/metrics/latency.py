"""Per-request latency statistics and run throughput, named like vLLM's `benchmark_serving` output.

Keys are `{stat}_{metric}_ms` with stat in mean, median, std, p50, p90, p95, p99 and metric in
ttft (arrival to first token), tpot (decode time per output token after the first), e2el (arrival to last
token) and decode (first to last token: the paper's user-experience metric). As in vLLM, `std` is the
population standard deviation (numpy, ddof=0) and percentiles use numpy's linear interpolation.
A request without a value (failed, or one output token for tpot) is left out of that metric; a metric
with no values at all has no keys, so a missing figure never reads as 0 ms.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from sustain.engines.records import RequestRecord

PERCENTILES = (50, 90, 95, 99)

_METRICS: dict[str, Callable[[RequestRecord], float | None]] = {
    "ttft": lambda r: r.ttft_s,
    "tpot": lambda r: r.tpot_s,
    "e2el": lambda r: r.e2e_s,
    "decode": lambda r: r.decode_s,
}


def _stats_ms(name: str, values_s: list[float]) -> dict[str, float]:
    ms = np.asarray(values_s, dtype=float) * 1000.0
    stats = {
        f"mean_{name}_ms": float(np.mean(ms)),
        f"median_{name}_ms": float(np.median(ms)),
        f"std_{name}_ms": float(np.std(ms)),
    }
    for p in PERCENTILES:
        stats[f"p{p}_{name}_ms"] = float(np.percentile(ms, p))
    return stats


def latency_stats(records: Iterable[RequestRecord]) -> dict[str, float]:
    """Mean, median, std and percentiles in milliseconds of ttft, tpot, e2el and decode latency."""
    records = list(records)
    stats: dict[str, float] = {}
    for name, get in _METRICS.items():
        values = [v for v in map(get, records) if v is not None]
        if values:
            stats.update(_stats_ms(name, values))
    return stats


def _completed(record: RequestRecord) -> bool:
    return record.error is None and record.last_token_s is not None


def _succeeded(record: RequestRecord) -> bool:
    """Ended without an error, with or without output tokens: `vllm bench serve`'s `success`."""
    return record.error is None


def throughput(records: Iterable[RequestRecord], duration_s: float) -> dict[str, float]:
    """Throughput as `vllm bench serve` computes it (`calculate_metrics`): the output tokens, and the
    number, of the requests that ended without an error, over the benchmark's duration.

    `duration_s` must be vLLM's span: from the first request sent to the last response done, failed ones
    included (the engine run's start_s to end_s); a figure over any other span needs another name.
    Prompt tokens count the same requests. `mean_output_tokens` is left out when none succeeded.
    """
    if not duration_s > 0:
        raise ValueError(f"duration_s must be positive, got {duration_s}")
    done = [r for r in records if _succeeded(r)]
    output_tokens = sum(r.output_tokens for r in done)
    result = {
        "completed_requests": float(len(done)),
        "total_output_tokens": float(output_tokens),
        "total_prompt_tokens": float(sum(r.prompt_tokens for r in done)),
        "output_throughput_tok_s": output_tokens / duration_s,
        "request_throughput_req_s": len(done) / duration_s,
    }
    if done:
        result["mean_output_tokens"] = output_tokens / len(done)
    return result


# Serving under load: inter-token latency, achieved rate, goodput, and whether the batch ever filled.
#
# The steady-state window under a finite request rate: the window rules (sustain.energy.attribution) open
# when B = batch_size requests have their first token and close as the batch drains, which presumes the
# engine's batch runs full in between. With requests arriving at a finite rate the batch fills only when
# requests arrive faster than they finish; otherwise the engine runs at the batch the rate sustains, the
# rules' window is empty or spans a batch that was never full, and energy per request is that of a
# partly idle engine, which is a real deployment's figure but not the paper's. `batch_filled` says which
# case a run is in (the most requests ever in flight at once, from the records): a run whose batch never
# filled should be read as "energy at this request rate", not compared with burst runs at the same B.


def reasoning_figures(records: Iterable[RequestRecord]) -> dict[str, float]:
    """Reasoning tokens apart from answer tokens, over the requests that ended without an error and whose engine
    counted them (the streaming client from the server's count, its reasoning field or the chunks up to </think>;
    the offline engine from the token ids); absent where none did. Energy is attributed per output token, so a
    request's reasoning costs its reasoning share of the request's energy."""
    counted = [r for r in records if _succeeded(r) and r.reasoning_tokens is not None]
    if not counted:
        return {}
    reasoning = sum(r.reasoning_tokens or 0 for r in counted)
    output = sum(r.output_tokens for r in counted)
    return {"mean_reasoning_tokens": reasoning / len(counted),
            "mean_answer_tokens": (output - reasoning) / len(counted),
            **({"reasoning_token_share": reasoning / output} if output else {})}


def itl_stats(records: Iterable[RequestRecord]) -> dict[str, float]:
    """ITL statistics in ms over every gap between consecutive output tokens of every request, pooled
    as `vllm bench serve` does (mean_itl_ms, median_itl_ms, std_itl_ms, p50..p99_itl_ms). Requests without
    token times add nothing; no keys at all when no request has two timed tokens."""
    gaps = [gap for r in records if r.error is None for gap in r.itl_s]
    return _stats_ms("itl", gaps) if gaps else {}


def achieved_request_rate(records: Iterable[RequestRecord]) -> dict[str, float]:
    """Requests sent per second between the first and the last arrival; left out when every request
    arrived at once (a burst has no finite rate)."""
    arrivals = sorted(r.arrival_s for r in records)
    span = arrivals[-1] - arrivals[0] if arrivals else 0.0
    return {"achieved_request_rate_req_s": (len(arrivals) - 1) / span} if span > 0 else {}


def meets_slo(record: RequestRecord, ttft_ms: float | None, itl_ms: float | None,
              decode_ms: float | None) -> bool:
    """A completed request within every objective that is set. The ITL objective bounds the request's
    longest gap between two tokens (no stall longer than it); a request without token times, or without
    the value an objective needs, does not meet it."""
    if not _completed(record):
        return False
    checks = [(ttft_ms, record.ttft_s), (decode_ms, record.decode_s),
              (itl_ms, max(record.itl_s) if record.itl_s else None)]
    return all(limit is None or (value is not None and value * 1000.0 <= limit) for limit, value in checks)


def goodput(records: Iterable[RequestRecord], duration_s: float, ttft_ms: float | None = None,
            itl_ms: float | None = None, decode_ms: float | None = None) -> dict[str, float]:
    """Share of all requests that completed within the SLOs (`goodput_share`) and their rate
    (`request_goodput_req_s`, as `vllm bench serve`'s goodput); no keys when no SLO is set."""
    if ttft_ms is None and itl_ms is None and decode_ms is None:
        return {}
    if not duration_s > 0:
        raise ValueError(f"duration_s must be positive, got {duration_s}")
    records = list(records)
    good = sum(meets_slo(r, ttft_ms, itl_ms, decode_ms) for r in records)
    return {"goodput_share": good / len(records) if records else 0.0, "request_goodput_req_s": good / duration_s}


def peak_in_flight(records: Iterable[RequestRecord]) -> int:
    """The most requests sent and not yet finished at any one moment (a request that failed before its
    last token counts from arrival to its first token, or not at all)."""
    events = []
    for r in records:
        end = r.last_token_s if r.last_token_s is not None else r.first_token_s
        if end is not None:
            events += [(r.arrival_s, 1), (end, -1)]
    peak = current = 0
    for _, step in sorted(events, key=lambda e: (e[0], e[1])):
        current += step
        peak = max(peak, current)
    return peak


def serving_metrics(records: Iterable[RequestRecord], duration_s: float, batch_size: int,
                    slo: Any = None, has_rate: bool = False) -> dict[str, float]:
    """Everything a run under a load profile logs beyond `latency_stats`: ITL, achieved rate, goodput
    against `slo` (anything with ttft_ms, itl_ms, decode_ms), the peak in flight and `batch_filled`
    (1.0 when that peak reached `batch_size`, else 0.0: see the steady-state note above). The achieved
    request rate only where the load has a rate (`has_rate`): requests sent at once achieved no rate."""
    records = list(records)
    peak = peak_in_flight(records)
    metrics = {**itl_stats(records), "peak_in_flight": float(peak), "batch_filled": float(peak >= batch_size)}
    if has_rate:
        metrics.update(achieved_request_rate(records))
    if slo is not None:
        metrics.update(goodput(records, duration_s, slo.ttft_ms, slo.itl_ms, slo.decode_ms))
    return metrics


@dataclass
class Latency:
    """A run's latency and serving figures: per-request statistics, throughput over the engine run, and
    what a load profile adds (ITL, achieved rate, goodput)."""

    figures: dict[str, float]

    def metrics(self) -> dict[str, float]:
        return dict(self.figures)


def measure_latency(records: list[RequestRecord], engine_records: list[RequestRecord], start_s: float,
                    end_s: float, batch_size: int, load: Any) -> Latency:
    """Statistics over every request of the run (reused ones too); throughput and load figures over the
    requests this engine run served."""
    duration = end_s - start_s
    figures = {**latency_stats(records), **throughput(engine_records, duration), **reasoning_figures(records),
               **serving_metrics(engine_records, duration, batch_size, load.slo,
                                 getattr(load, "rate", None) is not None)}
    decodes = [r.decode_s for r in records if r.decode_s is not None]
    if decodes:
        figures.update(decode_latency_s_mean=statistics.fmean(decodes), decode_latency_s_std=statistics.pstdev(decodes))
    figures.update(truncated_share=sum(r.finish_reason == "length" for r in records) / len(records),
                   failed_requests=float(sum(r.error is not None for r in records)),
                   run_duration_s=duration, n_requests=float(len(records)))
    return Latency(figures)
