"""Prefill vs decode on hand-built runs whose answer is known."""

import pytest

from sustain.energy.phases import split_phases
from sustain.energy.timeline import Timeline
from sustain.engines.records import RequestRecord


def _power(segments):
    """A timeline sampled every 0.1 s from piecewise-constant power [(until_s, watts), ...] starting at 0."""
    t, e, p, now, energy = [0.0], [0.0], [segments[0][1]], 0.0, 0.0
    for until, watts in segments:
        while now < until - 1e-9:
            now = round(now + 0.1, 10)
            energy += watts * 0.1
            t.append(now), e.append(energy), p.append(watts)
    return Timeline(t=t, energy_j=e, power_w=p, devices=["GPU 0"], source="measured: test", measured=True,
                    device_energy_j={"GPU 0": energy})


def _record(rid, scheduled, first, last, prompt, output, token_times=None):
    return RequestRecord(id=rid, prompt_tokens=prompt, output_tokens=output, output_text="x", finish_reason="stop",
                         arrival_s=0.0, scheduled_s=scheduled, first_token_s=first, last_token_s=last,
                         token_times_s=token_times)


def test_one_request_splits_at_its_first_token_like_optimum_benchmarks_subtraction():
    # 1 s of prefill at 300 W, then 3 s of decode at 100 W; 1000 prompt tokens, 31 output tokens
    tl = _power([(1.0, 300.0), (4.0, 100.0)])
    split = split_phases([_record("a", 0.0, 1.0, 4.0, 1000, 31)], tl, (0.0, 4.0))
    assert split.prefill_j == pytest.approx(300.0) and split.decode_j == pytest.approx(300.0)
    assert split.per_prompt_token_j == pytest.approx(0.3)
    assert split.per_output_token_j == pytest.approx(10.0)  # 300 J over the 30 tokens after the first
    metrics = split.to_metrics()
    assert metrics["energy_per_prompt_token_j"] == pytest.approx(0.3)
    assert metrics["prefill_time_share"] == pytest.approx(0.25)


def test_overlapping_prefills_count_once_and_the_window_clips_prompts():
    tl = _power([(6.0, 100.0)])
    token_times = [1.0 + 0.1 * i for i in range(41)]  # 41 tokens, exactly timed, 1.0 .. 5.0
    records = [_record("a", 0.0, 1.0, 5.0, 100, 41, token_times), _record("b", 0.5, 1.5, 5.0, 200, 1),
               _record("c", 3.0, 4.0, 5.0, 400, 1)]
    split = split_phases(records, tl, (1.0, 5.0))  # a's prefill lies before the window
    # prefill-busy: b over (1.0, 1.5], c over (3.0, 4.0]: 1.5 s of 4 s at 100 W
    assert split.prefill_time_s == pytest.approx(1.5) and split.prefill_j == pytest.approx(150.0)
    assert split.decode_j == pytest.approx(250.0)
    assert split.prompt_tokens == pytest.approx(100 + 400)  # half of b's prompt, all of c's
    # a's tokens in (1, 5]: 40 by its token times; b and c emit only their first token, from prefill
    assert split.decode_tokens == pytest.approx(40)


def test_a_window_never_decoding_alone_has_no_energy_per_output_token_rather_than_zero():
    # three requests queued at once on a server without scheduling times: one is always "in prefill" (arrival to
    # first token) while another decodes, so no moment is decode alone
    tl = _power([(6.0, 100.0)])
    records = [RequestRecord(id=i, prompt_tokens=50, output_tokens=20, output_text="x", finish_reason="stop",
                             arrival_s=0.0, scheduled_s=None, first_token_s=first, last_token_s=first + 2.0)
               for i, first in (("a", 1.0), ("b", 3.0), ("c", 5.0))]
    split = split_phases(records, tl, (0.0, 5.0))
    assert split.decode_j == 0 and split.decode_tokens > 0
    assert split.per_output_token_j is None and "energy_per_output_token_j" not in split.to_metrics()
    assert split.per_prompt_token_j == pytest.approx(500 / 150)


def test_the_summary_says_why_there_is_no_split():
    from sustain.report.summary import _footprint_rows

    m = {"energy_node_per_request_j_mean": 5.0, "energy_per_prompt_token_j": 3.3}
    footprint = {"domains": [], "phases_method": "prefill-busy time"}
    rows = dict(_footprint_rows(footprint, m, lambda k, f: f.format(m[k]) if k in m else "n/a"))
    assert rows["prefill / decode"].startswith("3.3 J / prompt token, the whole window's energy; no split")
