"""The multi-turn client: history, turn order, delays, the load profile over sessions, a failed turn, and a real
streamed exchange with the stand-in server."""

import asyncio
import sys
import time

import pytest

from sustain.engines import server, session_client
from sustain.engines.records import RequestRecord
from sustain.engines.streaming import Endpoint
from sustain.load.burst import BurstConfig
from sustain.load.concurrency import ConcurrencyConfig
from sustain.plugins import build
from sustain.types import Session, Turn
from tests.conftest import ROOT


def user(text):
    return ({"role": "user", "content": text},)


def two_turns(sid, delay=0.0, recorded=None):
    return Session(sid, (Turn(user(f"{sid} first")), Turn(user(f"{sid} second"), delay_s=delay, max_tokens=3)),
                   system="You are terse.", expected=None) if recorded is None else Session(
        sid, (Turn(user(f"{sid} first"), recorded=recorded), Turn(user(f"{sid} second"), delay_s=delay)))


class Sender:
    """Stands in for the streaming call: answers `reply to <last message>` after `wait_s`, fails on request."""

    def __init__(self, wait_s=0.0, fail=()):
        self.bodies, self.wait_s, self.fail, self.in_flight, self.peak = [], wait_s, set(fail), 0, 0

    async def __call__(self, client, url, headers, request_id, body):
        self.bodies.append((request_id, [dict(m) for m in body["messages"]], body.get("max_tokens"), time.monotonic()))
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        await asyncio.sleep(self.wait_s)
        self.in_flight -= 1
        now = time.monotonic()
        error = "HTTP 400: too long" if request_id in self.fail else None
        return RequestRecord(request_id, 10, 2, f"reply to {body['messages'][-1]['content']}", None if error else "stop",
                             now, None, now, now, error=error)


def drive(sessions, sender, load=None, history="generated"):
    seen = []

    def body_for(messages, cap):
        return {"messages": list(messages), **({"max_tokens": cap} if cap else {})}

    result = asyncio.run(session_client.run_all(Endpoint("http://127.0.0.1:9/v1", "m"), sessions, body_for,
                                                build(load or BurstConfig(), "load"), seen.append, 30, history,
                                                send=sender))
    return result, seen


def test_each_turn_carries_the_history_with_the_models_own_replies():
    sender = Sender()
    result, seen = drive([two_turns("a")], sender)
    assert [r.id for r in seen] == ["a/0", "a/1"] and [r.turn for r in seen] == [0, 1]
    assert all(r.session_id == "a" for r in result.records)
    (_, first, cap0, _), (_, second, cap1, _) = sender.bodies
    assert first == [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "a first"}]
    assert second[:2] == first and second[2] == {"role": "assistant", "content": "reply to a first"}
    assert second[3] == {"role": "user", "content": "a second"} and len(second) == 4
    assert cap0 is None and cap1 == 3


def test_recorded_history_replays_the_trace_and_keeps_its_tool_calls():
    calls = [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
    recorded = {"role": "assistant", "content": "as recorded", "tool_calls": calls}
    sender = Sender()
    drive([two_turns("a", recorded=recorded)], sender, history="recorded")
    assert sender.bodies[1][1][1] == {"role": "assistant", "content": "as recorded", "tool_calls": calls}
    sender = Sender()
    drive([two_turns("a", recorded=recorded)], sender, history="generated")
    assert sender.bodies[1][1][1] == {"role": "assistant", "content": "reply to a first", "tool_calls": calls}


def test_a_turn_waits_for_the_reply_and_its_delay():
    sender = Sender(wait_s=0.05)
    drive([two_turns("a", delay=0.2)], sender)
    assert sender.bodies[1][3] - sender.bodies[0][3] >= 0.05 + 0.2 - 0.01


def test_a_failed_turn_ends_its_session_and_no_other():
    sender = Sender(fail={"a/0"})
    result, _ = drive([two_turns("a"), two_turns("b")], sender)
    assert sorted(r.id for r in result.records) == ["a/0", "b/0", "b/1"]


def test_concurrency_caps_sessions_not_just_requests():
    sender = Sender(wait_s=0.02)
    sessions = [two_turns(str(i)) for i in range(6)]
    result, _ = drive(sessions, sender, load=ConcurrencyConfig(max_in_flight=2))
    assert sender.peak == 2 and len(result.records) == 12
    order = [rid.split("/")[0] for rid, *_ in sender.bodies]
    assert set(order[:4]) == {"0", "1"}  # a session holds its slot between its turns


def test_a_real_stream_through_the_stand_in_server(tmp_path):
    port = server.free_port()
    argv = [sys.executable, str(ROOT / "scripts" / "standin_server.py"), str(port), "--tokens", "5"]
    with server.running(argv, f"http://127.0.0.1:{port}/health", tmp_path / "s.log", 60):
        seen = []
        result = session_client.run(Endpoint(f"http://127.0.0.1:{port}/v1", "m"), [two_turns("a"), two_turns("b")],
                                    lambda messages, cap: {"model": "m", "messages": messages, "max_tokens": cap or 5,
                                                           "stream": True, "stream_options": {"include_usage": True}},
                                    build(BurstConfig(), "load"), seen.append, 30, "generated")
    assert sorted(r.id for r in result.records) == ["a/0", "a/1", "b/0", "b/1"]
    by_id = {r.id: r for r in result.records}
    assert by_id["a/1"].output_tokens == 3 and by_id["a/0"].output_tokens == 5
    assert by_id["a/1"].arrival_s >= by_id["a/0"].last_token_s
    assert all(r.error is None and len(r.token_times_s) == r.output_tokens for r in result.records)


@pytest.mark.parametrize("usage, timings, expected", [
    ({"prompt_tokens_details": {"cached_tokens": 48}}, None, 48),
    ({}, {"cache_n": 30.0, "prompt_n": 2.0}, 30),
    ({"prompt_tokens_details": None}, None, None),
    ({}, None, None),
])
def test_cached_tokens_from_vllm_usage_or_llama_cpp_timings(usage, timings, expected):
    from sustain.engines.streaming import cached_tokens

    assert cached_tokens(usage, timings) == expected
