"""A streaming OpenAI chat-completions client (completions for raw-text prompts): one `RequestRecord` per
request, every token timed.

Requests go out under a load profile (send offsets and a cap on requests in flight) over one asyncio loop
with aiohttp, the fastest client installed here (scripts/bench_overhead.py measures it). Per request it
takes, on the one `time.monotonic()` clock: arrival (when the request is sent), the time of every streamed
content chunk (`token_times_s`; vLLM and llama.cpp stream one token per chunk), first and last token,
prompt and output tokens from `usage` (`stream_options.include_usage`), the finish reason, an error, and
the server's own `timings` where it sends them (llama.cpp). Where a server streams several tokens per
chunk, `token_times_s` holds chunk times and its length differs from `output_tokens`.
"""

from __future__ import annotations

import asyncio
import bisect
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from sustain.engines.records import RequestRecord
from sustain.errors import SustainError
from sustain.load.base import LoadProfile
from sustain.types import THINK_END

DATA = b"data: "
DONE = b"[DONE]"
ERROR_BODY_CHARS = 300
CONTEXT_CHARS = "sustain_context_chars"  # a scoring body's context length, kept here and never sent
WINDOWS = "sustain_windows"  # a rolling body's (token ids, context length) windows, sent one by one


@dataclass(frozen=True)
class Endpoint:
    """An OpenAI-compatible API: `base_url` ends in /v1. The key is sent, never logged or described."""

    base_url: str
    model: str
    api_key: str | None = None
    keep_alive: bool = True  # False: a new connection per request (a server that closes them unannounced)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def __repr__(self) -> str:
        return f"Endpoint({self.base_url!r}, {self.model!r})"


@dataclass
class StreamResult:
    records: list[RequestRecord]
    start_s: float
    end_s: float


def run(endpoint: Endpoint, bodies: Sequence[tuple[str, dict[str, Any]]], profile: LoadProfile,
        on_record: Callable[[RequestRecord], None], timeout_s: float) -> StreamResult:
    """Send every (id, body) under `profile`; `on_record` sees each record as its request ends."""
    return asyncio.run(stream_all(endpoint, bodies, profile, on_record, timeout_s))


async def stream_all(endpoint: Endpoint, bodies: Sequence[tuple[str, dict[str, Any]]], profile: LoadProfile,
                     on_record: Callable[[RequestRecord], None], timeout_s: float) -> StreamResult:
    offsets = profile.arrivals(len(bodies))
    slots = asyncio.Semaphore(profile.max_in_flight or max(len(bodies), 1))
    base = endpoint.base_url.rstrip("/")
    records: list[RequestRecord] = []

    async def one(request_id: str, body: dict[str, Any]) -> None:
        async with slots:
            record = await stream_one(session, base + path_of(body), endpoint.headers(), request_id, body)
        records.append(record)
        on_record(record)

    async with http_session(timeout_s, endpoint.keep_alive) as session:
        start = time.monotonic()
        tasks = []
        for (request_id, body), offset in zip(bodies, offsets):
            delay = start + offset - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(request_id, body)))
        await asyncio.gather(*tasks)
        end = time.monotonic()  # the last response done, failed ones included: `vllm bench serve`'s duration
    return StreamResult(records, start, end)


def http_session(timeout_s: float, keep_alive: bool = True) -> Any:
    """One aiohttp session for a run's requests: unlimited connections, kept alive unless `keep_alive` is False;
    `timeout_s` without a byte read ends a request."""
    import aiohttp

    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, force_close=not keep_alive),
                                 json_serialize=json_dumps,
                                 timeout=aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=timeout_s))


def path_of(body: dict[str, Any]) -> str:
    """A body with a raw `prompt` is a completion (/completions), any other a chat completion."""
    return "/completions" if "prompt" in body else "/chat/completions"


def json_dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()


async def stream_one(session: Any, url: str, headers: dict[str, str], request_id: str,
                     body: dict[str, Any]) -> RequestRecord:
    """One streamed chat completion. A failed request is a record with `error` set, never an exception,
    except a refused key (HTTP 401/403), which no later request would get past either."""
    import aiohttp

    if CONTEXT_CHARS in body:
        return await score_one(session, url, headers, request_id, body)
    if WINDOWS in body:
        return await score_windows(session, url, headers, request_id, body)

    times: list[float] = []
    text: list[str] = []
    state = new_state()
    arrival = time.monotonic()
    error = None
    try:
        async with session.post(url, json=body, headers=headers) as response:
            if response.status != 200:
                error = await _http_error(response)
            else:
                async for line in response.content:
                    if line.startswith(DATA):
                        payload = line[len(DATA):].strip()
                        if payload == DONE:
                            break
                        _read_chunk(orjson.loads(payload), times, text, state)
    except (aiohttp.ClientError, asyncio.TimeoutError, orjson.JSONDecodeError) as exc:
        error = f"{type(exc).__name__}: {exc}"
    usage = state["usage"] or {}
    return RequestRecord(
        id=request_id,
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        output_tokens=int(usage.get("completion_tokens") or len(times)),
        output_text="".join(text),
        finish_reason=None if error else state["finish_reason"],
        arrival_s=arrival,
        scheduled_s=None,
        first_token_s=times[0] if times else None,
        last_token_s=times[-1] if times else None,
        error=error,
        token_times_s=times,
        server_timings=state["timings"],
        cached_tokens=cached_tokens(usage, state["timings"]),
        tool_calls=[state["tool_calls"][i] for i in sorted(state["tool_calls"])] or None,
        reasoning_tokens=None if error else reasoning_tokens(usage, state, "".join(text)),
    )


def reasoning_tokens(usage: dict[str, Any], state: dict[str, Any], text: str) -> int:
    """Output tokens spent reasoning: the server's own count (`completion_tokens_details.reasoning_tokens`), else
    the chunks streamed as `reasoning_content` (a server with a reasoning parser) plus the content chunks up to
    the end of a leading think block (`...</think>`, as `strip_reasoning` cuts it); one token per chunk, as vLLM
    and llama.cpp stream. 0 for an answer without reasoning."""
    details = usage.get("completion_tokens_details") or {}
    if details.get("reasoning_tokens") is not None:
        return int(details["reasoning_tokens"])
    inline = 0
    if THINK_END in text:
        end = text.index(THINK_END) + len(THINK_END)
        starts = [0, *state["text_ends"][:-1]]
        inline = bisect.bisect_left(starts, end)
    return state["reasoning_chunks"] + inline


def cached_tokens(usage: dict[str, Any], timings: dict[str, float] | None) -> int | None:
    """Prompt tokens the server took from its prefix cache: OpenAI's `usage.prompt_tokens_details.cached_tokens`
    (vLLM with --enable-prompt-tokens-details), else llama.cpp's `timings.cache_n`; None when neither says."""
    details = usage.get("prompt_tokens_details") or {}
    if details.get("cached_tokens") is not None:
        return int(details["cached_tokens"])
    if timings and "cache_n" in timings:
        return int(timings["cache_n"])
    return None


async def score_one(session: Any, url: str, headers: dict[str, str], request_id: str,
                    body: dict[str, Any]) -> RequestRecord:
    """One scoring completion (`served.scoring_body`): a single JSON answer, its one token timed on arrival."""
    import aiohttp

    send = {k: v for k, v in body.items() if k != CONTEXT_CHARS}
    arrival = time.monotonic()
    error, answer, done = None, {}, None
    try:
        async with session.post(url, json=send, headers=headers) as response:
            if response.status != 200:
                error = await _http_error(response)
            else:
                answer = orjson.loads(await response.read())
                done = time.monotonic()
                logprob, is_greedy = continuation_logprob(answer, body[CONTEXT_CHARS])
    except (aiohttp.ClientError, asyncio.TimeoutError, orjson.JSONDecodeError, KeyError, TypeError) as exc:
        error = f"{type(exc).__name__}: {exc}"
    choice = (answer.get("choices") or [{}])[0] if not error else {}
    usage = answer.get("usage") or {}
    return RequestRecord(
        id=request_id, prompt_tokens=int(usage.get("prompt_tokens") or 0),
        output_tokens=int(usage.get("completion_tokens") or 0) if not error else 0,
        output_text=choice.get("text", "")[len(send["prompt"]):], finish_reason=choice.get("finish_reason"),
        arrival_s=arrival, scheduled_s=None, first_token_s=done, last_token_s=done, error=error,
        token_times_s=[done] if done else [], logprob=None if error else logprob,
        is_greedy=None if error else is_greedy)


async def score_windows(session: Any, url: str, headers: dict[str, str], request_id: str,
                        body: dict[str, Any]) -> RequestRecord:
    """A whole document's log-likelihood (`vllm_server`'s rolling body): each window a completion of its token ids,
    echoed with their log-probabilities, one after another; the record is their sum, timed from the first request
    to the last answer, one output token per window."""
    import aiohttp

    arrival, logprob, greedy, prompt_tokens, done, error = time.monotonic(), 0.0, True, 0, None, None
    if not body[WINDOWS]:
        error = "the document has no token to score"
    try:
        for ids, ctxlen in body[WINDOWS]:
            send = {**{k: v for k, v in body.items() if k != WINDOWS}, "prompt": ids}
            async with session.post(url, json=send, headers=headers) as response:
                if response.status != 200:
                    error = await _http_error(response)
                    break
                answer = orjson.loads(await response.read())
            window, window_greedy = window_logprob(answer, ctxlen, len(ids))
            logprob, greedy, prompt_tokens = logprob + window, greedy and window_greedy, prompt_tokens + len(ids)
    except (aiohttp.ClientError, asyncio.TimeoutError, orjson.JSONDecodeError, KeyError, TypeError) as exc:
        error = f"{type(exc).__name__}: {exc}"
    done = None if error else time.monotonic()
    n = len(body[WINDOWS])
    return RequestRecord(
        id=request_id, prompt_tokens=prompt_tokens, output_tokens=0 if error else n, output_text="",
        finish_reason=None if error else "length", arrival_s=arrival, scheduled_s=None, first_token_s=done,
        last_token_s=done, error=error, token_times_s=[done] if done else [], logprob=None if error else logprob,
        is_greedy=None if error else greedy)


def window_logprob(answer: dict[str, Any], ctxlen: int, n_ids: int) -> tuple[float, bool]:
    """The echoed prompt tokens from `ctxlen` to the prompt's end (the generated token left out): their summed
    log-probability and whether each was its position's top-1."""
    logprobs = answer["choices"][0]["logprobs"]
    chosen = logprobs["token_logprobs"][ctxlen:n_ids]
    top = logprobs["top_logprobs"][ctxlen:n_ids]
    return float(sum(chosen)), all(lp >= max(t.values()) for lp, t in zip(chosen, top))


def continuation_logprob(answer: dict[str, Any], context_chars: int) -> tuple[float, bool]:
    """The echoed tokens at or after the context's end (`text_offset`), less the one generated token: their
    summed log-probability and whether each was its position's top-1, as lm-eval's `parse_logprobs` reads them."""
    logprobs = answer["choices"][0]["logprobs"]
    prompt = int(answer["usage"]["prompt_tokens"])
    positions = [i for i, offset in enumerate(logprobs["text_offset"][:prompt]) if offset >= context_chars]
    chosen = [logprobs["token_logprobs"][i] for i in positions]
    greedy = all(lp >= max(logprobs["top_logprobs"][i].values()) for i, lp in zip(positions, chosen))
    return float(sum(chosen)), greedy


def new_state() -> dict[str, Any]:
    """What `_read_chunk` gathers over one stream besides token times and text."""
    return {"finish_reason": None, "usage": None, "timings": None, "tool_calls": {}, "reasoning_chunks": 0,
            "text_ends": []}


def _read_chunk(chunk: dict[str, Any], times: list[float], text: list[str], state: dict[str, Any]) -> None:
    now = time.monotonic()
    for choice in chunk.get("choices") or ():
        delta = choice.get("delta") or {}
        content = delta.get("content") or choice.get("text")  # a chat delta, or a completion's text
        piece = content or delta.get("reasoning_content") or delta.get("reasoning")
        if piece or delta.get("tool_calls"):
            times.append(now)
            if content:
                text.append(piece)
                state["text_ends"].append((state["text_ends"] or [0])[-1] + len(piece))
            elif piece:
                state["reasoning_chunks"] += 1
        for call in delta.get("tool_calls") or ():
            _add_tool_call(state["tool_calls"], call)
        if choice.get("finish_reason"):
            state["finish_reason"] = choice["finish_reason"]
    if chunk.get("usage"):
        state["usage"] = chunk["usage"]
    if chunk.get("timings"):
        state["timings"] = {k: float(v) for k, v in chunk["timings"].items() if isinstance(v, (int, float))}
    if chunk.get("error"):
        raise _stream_error(chunk["error"])


def _add_tool_call(calls: dict[int, dict[str, str]], delta: dict[str, Any]) -> None:
    """A streamed tool call arrives in pieces keyed by `index`: its id and name first, then its arguments'
    JSON text chunk by chunk."""
    call = calls.setdefault(int(delta.get("index", len(calls))), {"id": "", "name": "", "arguments": ""})
    function = delta.get("function") or {}
    call["id"] = delta.get("id") or call["id"]
    call["name"] += function.get("name") or ""
    call["arguments"] += function.get("arguments") or ""


def _stream_error(error: Any) -> Exception:
    import aiohttp

    message = error.get("message", error) if isinstance(error, dict) else error
    return aiohttp.ClientPayloadError(f"the server reported an error mid-stream: {message}")


async def _http_error(response: Any) -> str:
    body = (await response.text())[:ERROR_BODY_CHARS]
    if response.status in (401, 403):
        raise SustainError(
            f"The endpoint {response.url.with_query(None)} refused the API key (HTTP {response.status}): check the "
            f"key in the environment variable the engine config names.", "auth")
    return f"HTTP {response.status}: {body}"
