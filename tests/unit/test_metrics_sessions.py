"""Sessions priced as completed tasks, hand-worked on a constant 100 W run.

Three sessions of two turns, each declaring an expected end (A succeeds, B's answer is wrong, C's second turn
fails); every prompt is 100 tokens, the second turn's 80 of them from the prefix cache (C's failed turn reports
nothing). (arrival, first token, last token, output tokens):
A/0 (0, 0.5, 1, 10)  A/1 (3, 3.5, 4, 10)   think 2 s before A/1
B/0 (0, 0.5, 1, 10)  B/1 (5, 5.5, 6, 20)   think 4 s before B/1
C/0 (0, 0.5, 2, 10)  C/1 (6, -, -, 0) failed, think 4 s
Busy (a request in flight): [0, 2] ∪ [3, 4] ∪ [5, 6] = 4 s = 400 J over 60 tokens; idle [2, 3] ∪ [4, 5] = 200 J.
"""

import math
from types import SimpleNamespace

import pytest

from sustain.energy.attribution import attribute, busy_intervals
from sustain.energy.timeline import Timeline
from sustain.engines.records import RequestRecord
from sustain.metrics.sessions import session_figures
from sustain.registry import registry
from sustain.types import Prediction, Session, Turn

TIMES = {"A/0": (0, .5, 1, 10), "A/1": (3, 3.5, 4, 10), "B/0": (0, .5, 1, 10), "B/1": (5, 5.5, 6, 20),
         "C/0": (0, .5, 2, 10)}


def sessions():
    def s(sid, think):
        return Session(sid, (Turn(({"role": "user", "content": "q"},)),
                             Turn(({"role": "user", "content": "q2"},), delay_s=think)),
                       expected={"final_contains": "yes"})
    return [s("A", 2.0), s("B", 4.0), s("C", 4.0)]


def records():
    out = [RequestRecord(rid, 100, n, "yes" if rid == "A/1" else "no", "stop", a, None, f, l,
                         cached_tokens=80 if rid.endswith("/1") else 0, session_id=rid[0], turn=int(rid[-1]))
           for rid, (a, f, l, n) in TIMES.items()]
    out.append(RequestRecord("C/1", 0, 0, "", None, 6.0, None, None, None, error="HTTP 400", session_id="C", turn=1))
    return out


def predictions():
    return {r.id: Prediction(r.id, r.output_text, None, r.id == "A/1") for r in records()}


def constant_100w():
    t = [i / 10 for i in range(81)]
    return Timeline(t=t, energy_j=[100.0 * x for x in t], power_w=[100.0] * len(t), devices=["cpu"],
                    source="estimate: test", measured=False)


def test_idle_time_between_turns_is_priced_apart():
    assert busy_intervals(records(), 0.0, 6.0) == [(0.0, 2.0), (3.0, 4.0), (5.0, 6.0)]
    folded = attribute(records(), constant_100w(), batch_size=3, min_window_s=100)
    apart = attribute(records(), constant_100w(), batch_size=3, min_window_s=100, exclude_idle=True)
    assert folded.mode == apart.mode == "whole_run" and folded.idle_energy_j is None
    assert folded.energy_per_token_j == pytest.approx(600 / 60)
    assert apart.energy_per_token_j == pytest.approx(400 / 60)
    assert apart.idle_energy_j == pytest.approx(200.0) and apart.idle_s == pytest.approx(2.0)
    assert sum(apart.per_request_j.values()) == pytest.approx(400.0)


def test_session_figures_hand_worked():
    attribution = attribute(records(), constant_100w(), batch_size=3, min_window_s=100, exclude_idle=True)
    figures = session_figures(sessions(), records(), predictions(), attribution)
    rows = {r.session: r for r in figures.rows}
    assert rows["A"].energy_j == pytest.approx(400 / 60 * 20) and rows["B"].energy_j == pytest.approx(400 / 60 * 30)
    assert [rows[s].completed for s in "ABC"] == [True, True, False]
    assert [rows[s].success for s in "ABC"] == [True, False, False]
    assert rows["A"].cached_tokens == 80 and rows["C"].cached_tokens is None
    assert (rows["A"].wall_s, rows["B"].wall_s, rows["C"].wall_s) == (4.0, 6.0, 2.0)
    m = figures.metrics()
    assert m["sessions_completed"] == 2 and m["turns_per_session_mean"] == 2
    assert m["energy_per_session_j"] == pytest.approx((400 / 60 * 20 + 400 / 60 * 30) / 2)
    assert m["energy_per_successful_session_j"] == pytest.approx(400.0)  # every session's energy, one success
    assert m["sessions_per_kwh"] == pytest.approx(2 * 3.6e6 / 400)
    assert m["successful_sessions_per_kwh"] == pytest.approx(3.6e6 / 400)
    assert m["sessions_per_hour"] == pytest.approx(2 * 3600 / 6)
    assert m["session_idle_energy_j"] == pytest.approx(200.0)
    assert m["energy_per_session_with_idle_j"] == pytest.approx(600 / 2)
    assert m["session_latency_s_p50"] == pytest.approx(5.0) and m["session_latency_s_p90"] == pytest.approx(5.8)
    assert m["think_s_mean"] == pytest.approx((2 + 4 + 4) / 3)
    assert m["prefix_cache_hit_rate"] == pytest.approx(160 / 400)
    assert registry().undeclared(m) == []
    turns = {t["turn"]: t for t in figures.turns}
    assert turns[1]["requests"] == 3 and turns[1]["cached_tokens_mean"] == 80
    assert turns[0]["ttft_ms_mean"] == pytest.approx(500.0)


def test_no_success_figures_without_an_expected_end_and_no_cache_figure_without_a_report():
    plain = [Session(s.id, s.turns) for s in sessions()]
    recs = [r for r in records() if r.error is None]
    for r in recs:
        r.cached_tokens = None
    per = SimpleNamespace(per_request_j={r.id: 1.0 for r in recs}, idle_energy_j=None, idle_s=None)
    m = session_figures(plain, recs, predictions(), per).metrics()
    assert "energy_per_successful_session_j" not in m and "successful_sessions_per_kwh" not in m
    assert "prefix_cache_hit_rate" not in m and "session_idle_energy_j" not in m
    assert m["sessions_completed"] == 2 and math.isclose(m["energy_per_session_j"], 2.0)


def test_a_session_that_sent_nothing_is_incomplete_and_counted():
    per = SimpleNamespace(per_request_j={}, idle_energy_j=None, idle_s=None)
    figures = session_figures(sessions(), [], {}, per)
    assert [r.requests for r in figures.rows] == [0, 0, 0] and figures.metrics()["sessions_completed"] == 0
    assert figures.summary()["completed"] == 0
