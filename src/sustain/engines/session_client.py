"""The multi-turn client: agent sessions sent turn by turn to an OpenAI-compatible server.

Each session holds its own history (its system prompt, every turn's messages and the replies) and sends a
turn only once the previous reply is in and the turn's delay (think or tool time) has passed. Under sessions
the load profile schedules *sessions*: its arrival offsets are session starts and its `max_in_flight` caps the
sessions running at once (load=concurrency: N concurrent sessions, the next starting when one ends;
load=poisson: sessions arriving at a rate). A session has at most one request in flight, so a cap on sessions
is a cap on requests. Requests go out through the same streaming call as single requests
(`streaming.stream_one`), so every turn's record is timed the same way; a failed turn ends its session.

A live session (`Session.tools`) is one user task the model acts on: each reply's tool calls are answered by
the job's environment (in a worker thread: a jailed tool must not hold up the other sessions) and sent back,
until a reply without a tool call or `max_steps` requests. Each record carries its reply's tool calls and
what the environment answered; the last one the environment's final state.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Any

from sustain import tool_calls
from sustain.engines.records import RequestRecord
from sustain.engines.streaming import Endpoint, StreamResult, http_session, path_of, stream_one
from sustain.load.base import LoadProfile
from sustain.types import Session, ToolCall

# (messages, max_tokens, session, step) -> the request body
BodyFor = Callable[[list[dict[str, Any]], int | None, Session, int], dict[str, Any]]


def run(endpoint: Endpoint, sessions: Sequence[Session], body_for: BodyFor, profile: LoadProfile,
        on_record: Callable[[RequestRecord], None], timeout_s: float, history: str,
        environment: Any = None) -> StreamResult:
    """Every session under `profile`; `on_record` sees each turn's record as it ends."""
    return asyncio.run(run_all(endpoint, sessions, body_for, profile, on_record, timeout_s, history, environment))


async def run_all(endpoint: Endpoint, sessions: Sequence[Session], body_for: BodyFor, profile: LoadProfile,
                  on_record: Callable[[RequestRecord], None], timeout_s: float, history: str,
                  environment: Any = None, send: Callable[..., Any] = stream_one) -> StreamResult:
    """`send(session, url, headers, request_id, body)` is the streaming call (a fake in unit tests);
    `environment` (a `ToolEnvironment`) answers live sessions' tool calls."""
    offsets = profile.arrivals(len(sessions))
    slots = asyncio.Semaphore(profile.max_in_flight or max(len(sessions), 1))
    base = endpoint.base_url.rstrip("/")
    records: list[RequestRecord] = []

    async def ask(session: Session, k: int, messages: list[dict[str, Any]], cap: int | None) -> RequestRecord:
        body = body_for(messages, cap, session, k)
        record = await send(client, base + path_of(body), endpoint.headers(), session.request_id(k), body)
        return dataclasses.replace(record, session_id=session.id, turn=k)

    def done(record: RequestRecord) -> None:
        records.append(record)
        on_record(record)

    async def replay(session: Session) -> None:
        messages = session.opening()
        for k, turn in enumerate(session.turns):
            if turn.delay_s > 0:
                await asyncio.sleep(turn.delay_s)
            messages.extend(turn.messages)
            record = await ask(session, k, messages, turn.max_tokens)
            done(record)
            if record.error is not None:
                return
            messages.append(session.reply(k, record.output_text, history))

    async def one(session: Session) -> None:
        async with slots:
            if session.live:
                await live(session, environment, ask, done)
            else:
                await replay(session)

    async with http_session(timeout_s, endpoint.keep_alive) as client:
        start = time.monotonic()
        tasks = []
        for session, offset in zip(sessions, offsets):
            delay = start + offset - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(session)))
        await asyncio.gather(*tasks)
        end = time.monotonic()
    return StreamResult(records, start, end)


async def live(session: Session, environment: Any, ask: Callable[..., Any], done: Callable[[RequestRecord], None]) -> None:
    """The model acts on one task: its tool calls answered by an episode of `environment`, until a final answer
    (a reply without tool calls), a failed request, or `max_steps` requests."""
    episode = await asyncio.to_thread(environment.start, session.id)
    try:
        task = session.turns[0]
        messages = [*session.opening(), *task.messages]
        for k in range(session.max_steps):
            record = await ask(session, k, messages, task.max_tokens)
            if session.tool_calling == "constrained" and record.error is None:
                found, answer = tool_calls.read_reply(record.output_text, k)
                record = dataclasses.replace(record, tool_calls=found or None, output_text=answer if not found
                                             else record.output_text)
            calls = [ToolCall(c.get("id") or f"call_{k}_{i}", c.get("name", ""), c.get("arguments", ""))
                     for i, c in enumerate(record.tool_calls or [])]
            if record.error is not None or not calls or k == session.max_steps - 1:
                done(dataclasses.replace(record, final_state=await asyncio.to_thread(episode.state)))
                return
            results = [await asyncio.to_thread(episode.call, call) for call in calls]
            done(dataclasses.replace(record, tool_results=[{"content": r.content, "error": r.error} for r in results]))
            messages.append(assistant_message(record.output_text, calls))
            messages.extend({"role": "tool", "tool_call_id": c.id, "content": r.content} for c, r in zip(calls, results))
    finally:
        await asyncio.to_thread(episode.close)


def assistant_message(text: str, calls: list[ToolCall]) -> dict[str, Any]:
    """The model's reply as the history holds it: its text and its tool calls, in OpenAI's shape."""
    return {"role": "assistant", "content": text,
            "tool_calls": [{"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                           for c in calls]}
