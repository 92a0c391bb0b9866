"""ITL, achieved rate, goodput and the batch-filled flag on hand-made records."""

import pytest

from sustain.engines.records import RequestRecord
from sustain.load.base import SloConfig
from sustain.metrics import latency


def rec(i, arrival, times, error=None):
    return RequestRecord(id=str(i), prompt_tokens=5, output_tokens=len(times), output_text="x", finish_reason="stop",
                         arrival_s=arrival, scheduled_s=None, first_token_s=times[0] if times else None,
                         last_token_s=times[-1] if times else None, error=error, token_times_s=times)


RECORDS = [rec(0, 0.0, [0.1, 0.2, 0.4]), rec(1, 1.0, [1.5, 1.6, 1.7, 2.7]), rec(2, 2.0, [2.05, 2.1])]


def test_itl_pools_every_gap_like_vllm_bench_serve():
    stats = latency.itl_stats(RECORDS)
    gaps_ms = [100, 200, 100, 100, 1000, 50]
    assert stats["mean_itl_ms"] == pytest.approx(sum(gaps_ms) / 6)
    assert stats["median_itl_ms"] == pytest.approx(100)
    assert stats["p99_itl_ms"] == pytest.approx(1000 - 0.05 * (1000 - 200))
    assert latency.itl_stats([rec(0, 0.0, [0.5])]) == {}  # one token: no gap, no keys


def test_achieved_rate_spans_first_to_last_arrival_and_is_absent_for_a_burst():
    assert latency.achieved_request_rate(RECORDS) == {"achieved_request_rate_req_s": pytest.approx(1.0)}
    assert latency.achieved_request_rate([rec(0, 3.0, [4.0]), rec(1, 3.0, [5.0])]) == {}


def test_goodput_counts_requests_within_every_slo():
    assert latency.goodput(RECORDS, 4.0) == {}
    by_ttft = latency.goodput(RECORDS, 4.0, ttft_ms=200)  # ttfts 100, 500, 50 ms
    assert by_ttft == {"goodput_share": pytest.approx(2 / 3), "request_goodput_req_s": pytest.approx(0.5)}
    by_itl = latency.goodput(RECORDS, 4.0, itl_ms=250)  # longest gaps 200, 1000, 50 ms
    assert by_itl["goodput_share"] == pytest.approx(2 / 3)
    both = latency.goodput(RECORDS, 4.0, ttft_ms=200, decode_ms=100)  # decodes 300, 1200, 50 ms
    assert both["goodput_share"] == pytest.approx(1 / 3)
    failed = RECORDS + [rec(3, 3.0, [], error="HTTP 500")]
    assert latency.goodput(failed, 4.0, ttft_ms=10_000)["goodput_share"] == pytest.approx(3 / 4)


def test_an_itl_slo_fails_a_request_without_token_times():
    untimed = rec(0, 0.0, [0.1, 0.2])
    untimed.token_times_s = None
    assert not latency.meets_slo(untimed, None, 1000, None) and latency.meets_slo(untimed, 1000, None, None)


def test_peak_in_flight_and_the_batch_filled_flag():
    assert latency.peak_in_flight(RECORDS) == 2  # request 2 arrives while request 1 decodes
    overlapping = [rec(i, 0.1 * i, [1.0 + i]) for i in range(4)]
    assert latency.peak_in_flight(overlapping) == 4
    m = latency.serving_metrics(RECORDS, 3.0, batch_size=2, slo=SloConfig(ttft_ms=200))
    assert m["batch_filled"] == 1.0 and m["peak_in_flight"] == 2.0 and "goodput_share" in m
    assert latency.serving_metrics(overlapping, 5.0, batch_size=8)["batch_filled"] == 0.0
