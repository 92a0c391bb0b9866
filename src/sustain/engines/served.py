"""Engines that answer over the OpenAI chat API: a local server sustain starts, or a remote endpoint.

A subclass says how to reach (and, if local, start) its server in `serving`; requests then go out under the
job's load profile through the streaming client, so every served engine yields the same records.
"""

from __future__ import annotations

import contextlib
import time
from abc import abstractmethod
from collections.abc import Iterator
from dataclasses import replace
from functools import partial
from typing import Any

from sustain import tool_calls
from sustain.engines.base import Engine, EngineJob, OnLoaded, OnRecord
from sustain.engines.records import EngineRun
from sustain.engines.streaming import Endpoint
from sustain.errors import SustainError
from sustain.load.base import LoadConfig
from sustain.plugins import build
from sustain.types import Decoding, Request, Session


class ServedEngine(Engine):
    """`serving(job)` yields the endpoint and the seconds it took to be ready (0 for a remote one)."""

    @abstractmethod
    def serving(self, job: EngineJob) -> contextlib.AbstractContextManager[tuple[Endpoint, float]]:
        """Start (or reach) the server; stop it when the block ends."""

    def run(self, job: EngineJob, on_loaded: OnLoaded, on_record: OnRecord) -> EngineRun:
        from sustain.engines import session_client, streaming

        profile = build(job.load or LoadConfig(), "load")
        cap = self.client_cap(job)
        if cap is not None:
            profile.max_in_flight = min(cap, profile.max_in_flight or cap)
        bodies = [(r.id, self.request_body(job, r)) for r in job.requests]
        with self.serving(job) as (endpoint, load_s):
            platform, devices = self.devices()
            info = {**self.describe(), "load": profile.cfg.name, "load_s": load_s, "platform": platform,
                    "devices": devices}
            on_loaded(info)
            cpu0 = time.thread_time()  # the client's event loop runs in this thread; tools run in others
            if job.sessions:
                result = session_client.run(endpoint, job.sessions, partial(self.turn_body, job), profile, on_record,
                                            self.cfg.timeout_s, job.history, job.environment)
            else:
                result = streaming.run(endpoint, bodies, profile, on_record, self.cfg.timeout_s)
            info["client_cpu_s"] = time.thread_time() - cpu0
        return EngineRun(result.records, result.start_s, result.end_s, load_s, info)

    def devices(self) -> tuple[str | None, list[str]]:
        """What the server computes on: a platform ("cpu", "cuda", ...) and its devices; None when
        nothing here can tell (a remote endpoint)."""
        return None, []

    def client_cap(self, job: EngineJob) -> int | None:
        """A cap on requests in flight beyond the load profile's own (None: the profile's alone)."""
        return None

    def body(self, job: EngineJob, messages: list[dict[str, str]]) -> dict[str, Any]:
        """The chat-completions request: sampling, streamed usage, and constrained decoding if asked."""
        s = job.sampling
        body: dict[str, Any] = {
            "model": self.model_name(job), "messages": messages, "max_tokens": s.max_tokens,
            "temperature": s.temperature, "top_p": s.top_p, "seed": s.seed,
            "stream": True, "stream_options": {"include_usage": True},
        }
        if job.model.chat_template_kwargs:
            body["chat_template_kwargs"] = dict(job.model.chat_template_kwargs)
        body.update(self.decoding_fields(job))
        return body

    def turn_body(self, job: EngineJob, messages: list[dict[str, Any]], max_tokens: int | None, session: Session,
                  step: int) -> dict[str, Any]:
        """`body` for one session turn: the history so far, the turn's own output cap over the job's. A live
        session's tools go as the API's `tools` (`auto`: the model decides whether to call one; `required` on
        its first request: it must), or, with `tool_calling=constrained`, as a reply schema (sustain.tool_calls)."""
        body = self.body(job, list(messages))
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        if session.live:
            if session.tool_calling == "constrained":
                body.update(self.decoding_fields(replace(job, decoding=Decoding(
                    json_schema=tool_calls.reply_schema(session.tools)))))
            else:
                body.update(tools=list(session.tools),
                            tool_choice=session.first_tool_choice if step == 0 else "auto")
        return body

    def request_body(self, job: EngineJob, request: Request) -> dict[str, Any]:
        """`body` for one request: a raw-text request becomes a completions body (`prompt`, no chat template),
        and the request's own stop sequences and caps replace the job's."""
        body = self.body(job, request.messages)
        if request.prompt is not None:
            del body["messages"]
            body.pop("chat_template_kwargs", None)
            body["prompt"] = request.prompt
        body.update(request.sampling_overrides())
        if request.continuation is not None:
            body = scoring_body(body, request.prompt or "", request.continuation)
        if request.rolling:
            body = rolling_body(body, self.rolling_windows(job, request.prompt or ""))
        return body

    def rolling_windows(self, job: EngineJob, text: str) -> list[tuple[list[int], list[int]]]:
        """A document's (context, predicted) token windows; only an engine with `rolling_logprobs` has them."""
        raise NotImplementedError

    def model_name(self, job: EngineJob) -> str:
        return job.model.name

    def decoding_fields(self, job: EngineJob) -> dict[str, Any]:
        """JSON schemas as OpenAI's `response_format`; a server that constrains to a choice list overrides."""
        decoding = job.decoding
        if decoding is None:
            return {}
        if decoding.json_schema is not None:
            return {"response_format": {"type": "json_schema",
                                        "json_schema": {"name": "answer", "schema": decoding.json_schema}}}
        if decoding.choice is not None:
            raise SustainError(
                f"engine={self.name} cannot constrain answers to a list of choices: use task.decoding=json_schema "
                f"or task.decoding=free, or engine=vllm_server.")
        return {}


def scoring_body(body: dict[str, Any], context: str, continuation: str) -> dict[str, Any]:
    """A completion that scores `continuation` after `context` (lm-eval's local-completions loglikelihood):
    the whole text echoed with each token's log-probability and its top-1, one token generated, not streamed.
    The context's length in characters (trailing spaces go to the continuation, as lm-eval splits them)
    tells the client which echoed tokens are the continuation's; it is not sent."""
    from sustain.engines.streaming import CONTEXT_CHARS

    body = {k: v for k, v in body.items() if k not in ("stream", "stream_options", "stop")}
    body.update(prompt=context + continuation, echo=True, logprobs=1, max_tokens=1, temperature=0.0)
    body[CONTEXT_CHARS] = len(context.rstrip())
    return body


def rolling_body(body: dict[str, Any], windows: list[tuple[list[int], list[int]]]) -> dict[str, Any]:
    """Completions that score a whole document: each window's token ids echoed with their log-probabilities and
    top-1, one token generated, not streamed; the client sends them one by one and sums (`streaming.WINDOWS`)."""
    from sustain.engines.streaming import WINDOWS

    body = {k: v for k, v in body.items() if k not in ("stream", "stream_options", "stop")}
    body.update(echo=True, logprobs=1, max_tokens=1, temperature=0.0)
    body[WINDOWS] = [(context + predicted, len(context)) for context, predicted in windows]
    body["prompt"] = body[WINDOWS][0][0] if windows else []  # each window's ids replace it as it is sent
    return body


@contextlib.contextmanager
def remote(endpoint: Endpoint) -> Iterator[tuple[Endpoint, float]]:
    yield endpoint, 0.0
