from types import SimpleNamespace

import numpy as np
import pytest

from sustain.engines.records import RequestRecord
from sustain.metrics.latency import latency_stats, measure_latency, throughput

STATS = ("mean", "median", "std", "p50", "p90", "p95", "p99")


def record(i, arrival=0.0, ttft=0.1, decode=None, tokens=11, prompt=100, error=None):
    first = None if ttft is None else arrival + ttft
    last = None if first is None or decode is None else first + decode
    return RequestRecord(
        id=str(i),
        prompt_tokens=prompt,
        output_tokens=tokens,
        output_text="",
        finish_reason=None if error else "stop",
        arrival_s=arrival,
        scheduled_s=arrival,
        first_token_s=first,
        last_token_s=last,
        error=error,
    )


def test_decode_percentiles_match_numpy():
    decode_ms = np.arange(1, 101, dtype=float)
    ttft_ms = np.arange(100, 0, -1, dtype=float) * 3
    records = [record(i, ttft=t / 1000, decode=d / 1000) for i, (t, d) in enumerate(zip(ttft_ms, decode_ms))]
    stats = latency_stats(records)
    for name, values in {
        "decode": decode_ms,
        "ttft": ttft_ms,
        "e2el": ttft_ms + decode_ms,
        "tpot": decode_ms / 10,
    }.items():
        assert stats[f"mean_{name}_ms"] == pytest.approx(np.mean(values))
        assert stats[f"median_{name}_ms"] == pytest.approx(np.median(values))
        assert stats[f"std_{name}_ms"] == pytest.approx(np.std(values, ddof=0))
        for p in (50, 90, 95, 99):
            assert stats[f"p{p}_{name}_ms"] == pytest.approx(np.percentile(values, p))
    assert stats["p99_decode_ms"] == pytest.approx(99.01)
    assert stats["median_decode_ms"] == pytest.approx(50.5)
    assert stats["std_decode_ms"] == pytest.approx(np.sqrt((100**2 - 1) / 12))
    assert len(stats) == 4 * len(STATS)


def test_missing_values_are_skipped_not_zeroed():
    records = [
        record(0, ttft=0.2, decode=0.5),
        record(1, ttft=None),
        record(2, ttft=0.4, decode=None),
        record(3, ttft=0.3, decode=0.7, tokens=1),
    ]
    stats = latency_stats(records)
    assert stats["mean_ttft_ms"] == pytest.approx(300.0)
    assert stats["mean_decode_ms"] == pytest.approx(600.0)
    assert stats["mean_e2el_ms"] == pytest.approx(850.0)
    assert stats["mean_tpot_ms"] == pytest.approx(50.0)
    assert stats["std_tpot_ms"] == 0.0


def test_no_values_means_no_keys():
    assert latency_stats([]) == {}
    stats = latency_stats([record(0, ttft=0.2, decode=None)])
    assert set(stats) == {f"{s}_ttft_ms" for s in STATS}


def test_throughput_is_vllm_bench_serves_hand_worked():
    """vLLM: completed = requests with success (no error, empty output included), output tokens of those,
    both over the benchmark duration. Here 10 + 30 + 0 tokens and 3 successes over 4 s."""
    records = [
        record(0, arrival=100.0, ttft=0.5, decode=1.5, tokens=10, prompt=100),
        record(1, arrival=100.5, ttft=0.5, decode=3.0, tokens=30, prompt=200),
        record(2, arrival=101.0, ttft=None, tokens=0, prompt=400, error="HTTP 500"),
        record(3, arrival=101.5, ttft=None, tokens=0, prompt=50),  # ended cleanly with no output
    ]
    result = throughput(records, duration_s=4.0)
    assert result == pytest.approx(
        {
            "completed_requests": 3,
            "total_output_tokens": 40,
            "total_prompt_tokens": 350,
            "output_throughput_tok_s": 10.0,
            "request_throughput_req_s": 0.75,
            "mean_output_tokens": 40 / 3,
        }
    )


def test_measure_latency_divides_by_first_sent_to_last_done():
    """The span is the engine run's start_s..end_s (first request sent to last response done), not the
    requests' own first arrival to last token: a response that ends after its last token still counts."""
    records = [
        record(0, arrival=10.0, ttft=0.5, decode=1.5, tokens=12),
        record(1, arrival=11.0, ttft=0.5, decode=0.5, tokens=6),
    ]
    load = SimpleNamespace(slo=None)
    figures = measure_latency(records, records, start_s=10.0, end_s=13.0, batch_size=2, load=load).metrics()
    assert figures["run_duration_s"] == 3.0
    assert figures["output_throughput_tok_s"] == pytest.approx(18 / 3.0)
    assert figures["request_throughput_req_s"] == pytest.approx(2 / 3.0)


def test_throughput_nothing_completed():
    result = throughput([record(0, ttft=None, error="x")], duration_s=1.0)
    assert result["output_throughput_tok_s"] == 0.0
    assert "mean_output_tokens" not in result


@pytest.mark.parametrize("duration", [0.0, -1.0])
def test_throughput_rejects_non_positive_duration(duration):
    with pytest.raises(ValueError):
        throughput([record(0, decode=1.0)], duration)
