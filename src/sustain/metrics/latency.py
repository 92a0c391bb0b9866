"""Per-request latency statistics and run throughput, named like vLLM's `benchmark_serving` output.

Keys are `{stat}_{metric}_ms` with stat in mean, median, std, p50, p90, p95, p99 and metric in
ttft (arrival to first token), tpot (decode time per output token after the first), e2el (arrival to last
token) and decode (first to last token: the paper's user-experience metric). As in vLLM, `std` is the
population standard deviation (numpy, ddof=0) and percentiles use numpy's linear interpolation.
A request without a value (failed, or one output token for tpot) is left out of that metric; a metric
with no values at all has no keys, so a missing figure never reads as 0 ms.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

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


def throughput(records: Iterable[RequestRecord], duration_s: float) -> dict[str, float]:
    """Tokens and requests per second over `duration_s`, counting completed requests only, as vLLM does.

    A request is completed when it has no error and produced a last token. `mean_output_tokens` is
    left out when nothing completed.
    """
    if not duration_s > 0:
        raise ValueError(f"duration_s must be positive, got {duration_s}")
    done = [r for r in records if _completed(r)]
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
