"""Attribution on a hand-built run: N=10 successful requests, maximum batch B=2, two engine slots.

slot A: r0 [sched 0, first 0.5, last 2], r2 [2, 2.5, 4], r4 [4, 4.5, 6], r6 [6, 6.5, 8], r8 [8, 8.5, 10]
slot B: r1 [0, 1, 3],                  r3 [3, 3.5, 5], r5 [5, 5.5, 7], r7 [7, 7.5, 9], r9 [9, 9.5, 11]
Output tokens: slot A 16 each (15 after the first over 1.5 s), r1 21 (20 over 2 s), r3/r5/r7/r9 31 each
(30 over 1.5 s); 225 in all. Every request arrives at 0. The GPU draws a constant 100 W.
"""

import math

import pytest

from sustain.energy.attribution import attribute, average_running_batch, steady_state_window, tokens_in_window
from sustain.energy.timeline import Timeline
from sustain.engines.records import RequestRecord
from sustain.errors import SustainError

SLOTS = {  # id: (scheduled, first, last, output tokens)
    "r0": (0.0, 0.5, 2.0, 16), "r2": (2.0, 2.5, 4.0, 16), "r4": (4.0, 4.5, 6.0, 16),
    "r6": (6.0, 6.5, 8.0, 16), "r8": (8.0, 8.5, 10.0, 16),
    "r1": (0.0, 1.0, 3.0, 21), "r3": (3.0, 3.5, 5.0, 31), "r5": (5.0, 5.5, 7.0, 31),
    "r7": (7.0, 7.5, 9.0, 31), "r9": (9.0, 9.5, 11.0, 31),
}  # fmt: skip


def _record(rid, scheduled, first, last, tokens, **extra) -> RequestRecord:
    return RequestRecord(
        id=rid, prompt_tokens=100, output_tokens=tokens, output_text="x", finish_reason="stop",
        arrival_s=0.0, scheduled_s=scheduled, first_token_s=first, last_token_s=last, **extra,
    )  # fmt: skip


def _records(drop_scheduled: bool = False) -> list[RequestRecord]:
    order = ["r7", "r2", "r9", "r0", "r5", "r4", "r1", "r8", "r3", "r6"]  # not time order, on purpose
    records = [_record(i, None if drop_scheduled else SLOTS[i][0], *SLOTS[i][1:]) for i in order]
    # failures with early times that would move both bounds if they counted
    records.append(_record("failed", 0.0, 0.1, 0.2, 3, error="engine error"))
    records.append(_record("aborted", 0.0, 0.2, None, 2))
    return records


def _constant_100w() -> Timeline:
    t = [i / 10 for i in range(121)]  # 0 .. 12 s
    return Timeline(
        t=t, energy_j=[100.0 * x for x in t], power_w=[100.0] * len(t), devices=["GPU 0"],
        source="measured: test", measured=True, device_energy_j={"GPU 0": 1200.0},
    )  # fmt: skip


def test_mlenergy_window_opens_at_second_first_token_and_closes_at_seventh_finish():
    w = steady_state_window(_records(), batch_size=2)
    # firsts sorted 0.5, 1.0, ... -> 2nd = 1.0; lasts sorted 2, 3, 4, 5, 6, 7, 8, ... -> (10-2-1)=7th = 8.0
    assert (w.start_s, w.end_s, w.ok, w.reason) == (1.0, 8.0, True, None)


def test_queue_empty_window_closes_when_the_last_request_is_scheduled():
    w = steady_state_window(_records(), batch_size=2, rule="queue_empty")
    assert (w.start_s, w.end_s, w.ok) == (1.0, 9.0, True)


def test_queue_empty_without_scheduled_times_is_not_ok():
    w = steady_state_window(_records(drop_scheduled=True), batch_size=2, rule="queue_empty")
    assert not w.ok and "scheduled_s" in w.reason and "10 of 10" in w.reason


def test_window_not_ok_when_n_at_most_2b_plus_1():
    w = steady_state_window(_records(), batch_size=5)
    assert not w.ok and "10 successful" in w.reason and "2B + 1 = 11" in w.reason


def test_window_not_ok_when_shorter_than_minimum():
    # B=4: opens at the 4th first token 3.5, closes at the (10-4-1)=5th finish 6.0 -> 2.5 s
    assert steady_state_window(_records(), batch_size=4, min_window_s=2.5).ok
    w = steady_state_window(_records(), batch_size=4, min_window_s=3.0)
    assert (w.start_s, w.end_s, w.ok) == (3.5, 6.0, False)
    assert "2.50 s" in w.reason and "min_window_s = 3 s" in w.reason


def test_tokens_in_window_by_hand():
    # (1, 8]: r0 10 (1 s of 10/s), r1 20 (first token at exactly 1.0 is outside), r2 16, r4 16, r6 16,
    # r3 31, r5 31, r7 1 + 10 (0.5 s of 20/s), r8 0, r9 0 -> 151
    assert tokens_in_window(_records(), 1.0, 8.0) == pytest.approx(151.0)
    # (1, 9] adds r7's other 20 and r8's first token plus 0.5 s at 10/s: 151 + 20 + 6 = 177
    assert tokens_in_window(_records(), 1.0, 9.0) == pytest.approx(177.0)
    assert tokens_in_window(_records(), 0.0, 11.0) == pytest.approx(225.0)


def test_tokens_in_window_when_all_tokens_arrive_at_once():
    burst = [_record("b", 0.0, 2.0, 2.0, 5)]
    assert tokens_in_window(burst, 1.0, 3.0) == 5.0
    assert tokens_in_window(burst, 2.0, 3.0) == 0.0
    assert tokens_in_window(burst, 1.0, 2.0) == 5.0


def test_average_running_batch_by_hand():
    assert average_running_batch(_records(), 1.0, 8.0) == pytest.approx(2.0)
    # [9, 11]: r8 runs 9..10 (1 s), r9 9..11 (2 s) -> 3 s / 2 s
    assert average_running_batch(_records(), 9.0, 11.0) == pytest.approx(1.5)


def test_average_running_batch_falls_back_to_first_token_without_scheduled():
    pair = [_record("a", None, 1.0, 3.0, 4), _record("b", 0.0, 0.5, 2.0, 4)]
    assert average_running_batch(pair, 0.0, 4.0) == pytest.approx(1.0)  # (2 s + 2 s) / 4 s
    assert average_running_batch(pair, 1.5, 2.5) == pytest.approx(1.5)  # (1 s + 0.5 s) / 1 s


def test_attribute_steady_state_by_hand():
    a = attribute(_records(), _constant_100w(), batch_size=2)
    per_token = 700 / 151  # 100 W over [1, 8] / 151 tokens
    assert a.mode == "steady_state" and a.reason is None
    assert a.span_s == (1.0, 8.0)
    assert a.window_energy_j == pytest.approx(700.0)
    assert a.window_tokens == pytest.approx(151.0)
    assert a.energy_per_token_j == pytest.approx(per_token)
    assert set(a.per_request_j) == set(SLOTS)
    assert a.per_request_j["r0"] == pytest.approx(11200 / 151)
    assert a.per_request_j["r1"] == pytest.approx(14700 / 151)
    assert a.per_request_j["r9"] == pytest.approx(21700 / 151)
    assert a.mean_j == pytest.approx(22.5 * per_token)  # mean output tokens 225 / 10
    assert a.std_j == pytest.approx(math.sqrt(50.25) * per_token)  # tokens deviate -6.5 x5, -1.5, +8.5 x4
    assert a.whole_run_energy_j == pytest.approx(1100.0)  # arrival 0 .. last token 11
    assert a.whole_run_per_token_j == pytest.approx(1100 / 225)
    assert a.whole_run_per_request_j == pytest.approx(110.0)
    assert a.avg_running_batch == pytest.approx(2.0) and a.batch_fill == pytest.approx(1.0)
    assert a.measured and a.source == "measured: test"
    assert "2 of 12 requests failed and are left out (the first, failed: engine error)" in a.warnings
    metrics = a.to_metrics()
    assert metrics["energy_per_request_j_mean"] == pytest.approx(22.5 * per_token)
    assert metrics["energy_window_s"] == pytest.approx(7.0)
    assert metrics["energy_window_j"] == pytest.approx(700.0)
    assert metrics["steady_state"] == 1.0 and metrics["energy_measured"] == 1.0
    assert all(isinstance(v, float) for v in metrics.values())


def test_the_failed_requests_flag_names_the_first_failure_and_why():
    records = [r for r in _records() if r.id != "failed"]
    a = attribute(records, _constant_100w(), batch_size=2)
    assert "1 of 11 requests failed and are left out (the first, aborted: no error, but no complete reply)" in a.warnings


def test_attribute_falls_back_to_whole_run_with_the_reason():
    a = attribute(_records(), _constant_100w(), batch_size=5)
    assert a.mode == "whole_run" and "2B + 1 = 11" in a.reason
    assert a.span_s == (0.0, 11.0)
    assert a.energy_per_token_j == pytest.approx(1100 / 225)
    assert a.per_request_j["r0"] == pytest.approx(16 * 1100 / 225)
    assert a.mean_j == pytest.approx(110.0)
    assert a.to_metrics()["steady_state"] == 0.0
    # [0, 11]: slot A busy 0..10, slot B 0..11 -> 21 s / 11 s; ramp-up and drain are in, so no fill warning
    assert a.avg_running_batch == pytest.approx(21 / 11)
    assert not any("never filled" in w for w in a.warnings)


def test_attribute_warns_when_the_steady_batch_never_filled():
    # B=3 over the two-slot run: window [2.5, 7.0] (3rd first token, 6th finish) runs 2 of 3 -> 67 %
    a = attribute(_records(), _constant_100w(), batch_size=3)
    assert a.mode == "steady_state" and a.span_s == (2.5, 7.0)
    assert a.avg_running_batch == pytest.approx(2.0)
    assert any("67% of the maximum batch 3" in w for w in a.warnings)


def test_attribute_falls_back_when_the_window_is_too_short():
    a = attribute(_records(), _constant_100w(), batch_size=4, min_window_s=3.0)
    assert a.mode == "whole_run" and "shorter than min_window_s" in a.reason
    assert a.window.start_s == 3.5 and a.window.end_s == 6.0


def test_attribute_refuses_a_counter_that_never_advanced():
    flat = _constant_100w()
    flat.energy_j = [0.0] * len(flat.t)
    with pytest.raises(SustainError, match="did not advance"):
        attribute(_records(), flat, batch_size=2)


def test_attribute_refuses_a_run_without_successes():
    with pytest.raises(SustainError, match="no request finished"):
        attribute(_records()[-2:], _constant_100w(), batch_size=2)


def test_reused_requests_are_priced_at_this_runs_energy_per_token():
    a = attribute(_records(), _constant_100w(), batch_size=2)
    per_token = 700 / 151
    a.price_reused([_record("old1", 0.0, 0.5, 1.0, 10), _record("old2", 0.0, 0.5, 1.0, 30)])
    assert a.per_request_j["old1"] == pytest.approx(10 * per_token)
    assert a.per_request_j["old2"] == pytest.approx(30 * per_token)
    assert a.mean_j == pytest.approx((225 + 40) / 12 * per_token)  # 12 requests, 265 tokens
    assert any("2 request(s) reused" in w for w in a.warnings)
    a.price_reused([])
    assert sum("reused" in w for w in a.warnings) == 1
