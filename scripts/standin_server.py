"""A stand-in OpenAI chat server for tests and scripts/bench_overhead.py: streams a fixed answer, fast.

`python scripts/standin_server.py PORT [--tokens N] [--delay-ms D] [--per-write K] [--api-key KEY]`
serves /health, /v1/models and streaming /v1/chat/completions on 127.0.0.1: N content chunks of one token
each (D ms apart, K chunks per socket write), then the finish reason and `usage`. With --api-key, any other
key gets HTTP 401. Not a model: it exists to exercise and time the client.
"""

from __future__ import annotations

import argparse
import asyncio
import json

from aiohttp import web


def chunk(delta: dict, finish: str | None = None, **extra) -> bytes:
    body = {"id": "c", "object": "chat.completion.chunk", "model": "standin",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def make_app(tokens: int, delay_s: float, per_write: int, api_key: str | None) -> web.Application:
    token = chunk({"content": "yes "})

    def refused(request: web.Request) -> web.Response | None:
        if api_key and request.headers.get("Authorization") != f"Bearer {api_key}":
            return web.json_response({"error": {"message": "invalid api key"}}, status=401)
        return None

    async def complete(request: web.Request) -> web.StreamResponse:
        if refusal := refused(request):
            return refusal
        body = await request.json()
        n = min(tokens, int(body.get("max_tokens") or tokens))
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(chunk({"role": "assistant", "content": ""}))
        sent = 0
        while sent < n:
            k = min(per_write, n - sent)
            await response.write(token * k)
            sent += k
            if delay_s:
                await asyncio.sleep(delay_s)
        usage = {"prompt_tokens": 7, "completion_tokens": n, "total_tokens": 7 + n}
        await response.write(chunk({}, "length" if n < tokens else "stop"))
        await response.write(b"data: " + json.dumps({"choices": [], "usage": usage}).encode() + b"\n\n")
        await response.write(b"data: [DONE]\n\n")
        return response

    async def health(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def models(request: web.Request) -> web.Response:
        if refusal := refused(request):
            return refusal
        return web.json_response({"object": "list", "data": [{"id": "standin", "object": "model"}]})

    app = web.Application()
    app.add_routes([web.get("/health", health), web.get("/v1/models", models),
                    web.post("/v1/chat/completions", complete)])
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("port", type=int)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--per-write", type=int, default=1)
    parser.add_argument("--api-key")
    a = parser.parse_args()
    web.run_app(make_app(a.tokens, a.delay_ms / 1000.0, a.per_write, a.api_key), host="127.0.0.1", port=a.port,
                print=None, access_log=None, backlog=1024)


if __name__ == "__main__":
    main()
