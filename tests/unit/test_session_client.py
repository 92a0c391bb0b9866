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

    def body_for(messages, cap, session, step):
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
                                    lambda messages, cap, session, step: {"model": "m", "messages": messages, "max_tokens": cap or 5,
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


class Episode:
    """Stands in for a ToolEnvironment's episode: adds numbers, keeps a running total as its state."""

    def __init__(self, log):
        self.total, self.log = 0, log

    def call(self, call):
        import json

        from sustain.types import ToolResult

        try:
            self.total += json.loads(call.arguments)["n"]
        except (ValueError, KeyError) as exc:
            return ToolResult(f"error: {exc}", error=str(exc))
        return ToolResult(str(self.total))

    def state(self):
        return {"total": self.total}

    def close(self):
        self.log.append("closed")


class Environment:
    def __init__(self):
        self.log = []

    def start(self, session_id):
        self.log.append(session_id)
        return Episode(self.log)


class Agent(Sender):
    """A model that calls `add` on each step until it has called it `calls` times, then answers."""

    def __init__(self, calls, forced=False):
        super().__init__()
        self.calls, self.forced = calls, forced

    async def __call__(self, client, url, headers, request_id, body):
        record = await super().__call__(client, url, headers, request_id, body)
        step = int(request_id.rsplit("/", 1)[1])
        assert body["tools"] == [TOOL] and body["choice"] == ("required" if step == 0 and self.forced else "auto")
        if step < self.calls:
            record.tool_calls = [{"id": f"c{step}", "name": "add", "arguments": '{"n": 2}'},
                                 {"id": "", "name": "add", "arguments": "{bad"}]
        return record


TOOL = {"type": "function", "function": {"name": "add", "parameters": {"type": "object"}}}


def live_session(steps=8, choice="auto"):
    return Session("task", (Turn(user("add two twice")),), tools=(TOOL,), max_steps=steps, first_tool_choice=choice)


def drive_live(sender, session):
    env = Environment()
    seen = []
    asyncio.run(session_client.run_all(Endpoint("http://127.0.0.1:9/v1", "m"), [session],
                                       lambda messages, cap, session, step: {
                                           "messages": list(messages), "tools": list(session.tools),
                                           "choice": session.first_tool_choice if step == 0 else "auto"},
                                       build(BurstConfig(), "load"), seen.append, 30, "generated", env, send=sender))
    return seen, env


def test_a_live_session_answers_tool_calls_until_the_final_answer():
    sender = Agent(calls=2)
    seen, env = drive_live(sender, live_session())
    assert [r.id for r in seen] == ["task/0", "task/1", "task/2"] and env.log == ["task", "closed"]
    assert seen[0].tool_results == [{"content": "2", "error": None},
                                    {"content": seen[0].tool_results[1]["content"], "error": seen[0].tool_results[1]["error"]}]
    assert seen[0].tool_results[1]["error"] is not None  # malformed arguments: the environment says so
    assert seen[2].final_state == {"total": 4} and seen[2].tool_calls is None and seen[0].final_state is None
    history = sender.bodies[2][1]
    assert history[1]["role"] == "assistant" and history[1]["tool_calls"][1]["id"] == "call_0_1"
    assert [m["role"] for m in history] == ["user", "assistant", "tool", "tool", "assistant", "tool", "tool"]
    assert history[2] == {"role": "tool", "tool_call_id": "c0", "content": "2"}


def test_a_live_session_stops_at_max_steps_with_the_state_so_far():
    seen, env = drive_live(Agent(calls=99), live_session(steps=3))
    assert len(seen) == 3 and seen[-1].tool_results is None and seen[-1].final_state == {"total": 4}
    assert env.log[-1] == "closed"


def test_streamed_tool_calls_are_assembled_from_their_pieces():
    from sustain.engines import streaming

    times, text, state = [], [], streaming.new_state()
    chunks = [{"choices": [{"delta": {"tool_calls": [{"index": 0, "id": "c1", "type": "function",
                                                      "function": {"name": "get_weather", "arguments": ""}}]}}]},
              {"choices": [{"delta": {"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]}}]},
              {"choices": [{"delta": {"tool_calls": [{"index": 0, "function": {"arguments": '"Porto"}'}}]}}]},
              {"choices": [{"delta": {"tool_calls": [{"index": 1, "id": "c2", "function": {"name": "now",
                                                                                          "arguments": "{}"}}]}}]},
              {"choices": [{"delta": {}, "finish_reason": "tool_calls"}]}]
    for chunk in chunks:
        streaming._read_chunk(chunk, times, text, state)
    assert state["tool_calls"] == {0: {"id": "c1", "name": "get_weather", "arguments": '{"city": "Porto"}'},
                                   1: {"id": "c2", "name": "now", "arguments": "{}"}}
    assert len(times) == 4 and state["finish_reason"] == "tool_calls" and text == []



def stream_state(chunks):
    from sustain.engines import streaming

    times, text, state = [], [], streaming.new_state()
    for chunk in chunks:
        streaming._read_chunk(chunk, times, text, state)
    return times, "".join(text), state


def delta(**fields):
    return {"choices": [{"delta": fields}]}


def test_reasoning_tokens_are_counted_apart_from_the_answer():
    from sustain.engines.streaming import reasoning_tokens

    # inline think block: 4 chunks up to and including the one that closes it, then 2 answer chunks
    times, text, state = stream_state([delta(content=p) for p in ["<think>", "hm", " ok", "</think>", "Paris", "."]])
    assert reasoning_tokens({}, state, text) == 4 and len(times) == 6
    # the opening tag in the prompt (Qwen3's template): the count still ends at </think>
    times, text, state = stream_state([delta(content=p) for p in ["so", "</thi", "nk>\n", "Yes"]])
    assert reasoning_tokens({}, state, text) == 3
    # a reasoning parser's separate field: those chunks are reasoning, the content is the answer
    times, text, state = stream_state([delta(reasoning_content="a"), delta(reasoning_content="b"), delta(content="Yes")])
    assert reasoning_tokens({}, state, text) == 2 and text == "Yes" and len(times) == 3
    # no reasoning; and the server's own count wins
    times, text, state = stream_state([delta(content="Yes")])
    assert reasoning_tokens({}, state, text) == 0
    assert reasoning_tokens({"completion_tokens_details": {"reasoning_tokens": 7}}, state, text) == 7


def test_a_forced_first_tool_call_is_asked_on_the_first_request_only():
    seen, _ = drive_live(Agent(calls=2, forced=True), live_session(choice="required"))
    assert len(seen) == 3


def test_constrained_tool_calls_are_read_from_the_reply_envelope():
    from sustain import tool_calls

    class Enveloped(Sender):
        async def __call__(self, client, url, headers, request_id, body):
            record = await super().__call__(client, url, headers, request_id, body)
            step = int(request_id.rsplit("/", 1)[1])
            record.output_text = ('{"tool_call": {"name": "add", "arguments": {"n": 5}}}' if step == 0
                                  else '{"answer": "five"}')
            return record

    session = Session("task", (Turn(user("add five")),), tools=(TOOL,), tool_calling="constrained")
    seen, _ = drive_live(Enveloped(), session)
    assert seen[0].tool_calls == [{"id": "call_0", "name": "add", "arguments": '{"n": 5}'}]
    assert seen[0].tool_results == [{"content": "5", "error": None}]
    assert seen[1].tool_calls is None and seen[1].output_text == "five" and seen[1].final_state == {"total": 5}
    assert tool_calls.read_reply("cut at max_tok", 0) == ([], "cut at max_tok")
    schema = tool_calls.reply_schema((TOOL,))
    call = schema["anyOf"][0]["properties"]["tool_call"]["properties"]
    assert call["name"] == {"const": "add"} and call["arguments"]["additionalProperties"] is False
