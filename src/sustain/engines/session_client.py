"""The multi-turn client: agent sessions sent turn by turn to an OpenAI-compatible server.

Each session holds its own history (its system prompt, every turn's messages and the replies) and sends a
turn only once the previous reply is in and the turn's delay (think or tool time) has passed. Under sessions
the load profile schedules *sessions*: its arrival offsets are session starts and its `max_in_flight` caps the
sessions running at once (load=concurrency: N concurrent sessions, the next starting when one ends;
load=poisson: sessions arriving at a rate). A session has at most one request in flight, so a cap on sessions
is a cap on requests. Requests go out through the same streaming call as single requests
(`streaming.stream_one`), so every turn's record is timed the same way; a failed turn ends its session.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Any

from sustain.engines.records import RequestRecord
from sustain.engines.streaming import Endpoint, StreamResult, json_dumps, path_of, stream_one
from sustain.load.base import LoadProfile
from sustain.types import Session

BodyFor = Callable[[list[dict[str, Any]], int | None], dict[str, Any]]  # (messages, max_tokens) -> request body


def run(endpoint: Endpoint, sessions: Sequence[Session], body_for: BodyFor, profile: LoadProfile,
        on_record: Callable[[RequestRecord], None], timeout_s: float, history: str) -> StreamResult:
    """Every session under `profile`; `on_record` sees each turn's record as it ends."""
    return asyncio.run(run_all(endpoint, sessions, body_for, profile, on_record, timeout_s, history))


async def run_all(endpoint: Endpoint, sessions: Sequence[Session], body_for: BodyFor, profile: LoadProfile,
                  on_record: Callable[[RequestRecord], None], timeout_s: float, history: str,
                  send: Callable[..., Any] = stream_one) -> StreamResult:
    """`send(session, url, headers, request_id, body)` is the streaming call (a fake in unit tests)."""
    import aiohttp

    offsets = profile.arrivals(len(sessions))
    slots = asyncio.Semaphore(profile.max_in_flight or max(len(sessions), 1))
    base = endpoint.base_url.rstrip("/")
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=timeout_s)
    records: list[RequestRecord] = []

    async def one(session: Session) -> None:
        async with slots:
            messages = session.opening()
            for k, turn in enumerate(session.turns):
                if turn.delay_s > 0:
                    await asyncio.sleep(turn.delay_s)
                messages.extend(turn.messages)
                body = body_for(messages, turn.max_tokens)
                record = await send(client, base + path_of(body), endpoint.headers(), session.request_id(k), body)
                record = dataclasses.replace(record, session_id=session.id, turn=k)
                records.append(record)
                on_record(record)
                if record.error is not None:
                    return
                messages.append(session.reply(k, record.output_text, history))

    async with aiohttp.ClientSession(connector=connector, timeout=timeout, json_serialize=json_dumps) as client:
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
