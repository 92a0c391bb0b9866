"""A stand-in OpenAI chat server for tests and scripts/bench_overhead.py: streams a fixed answer, fast.

`python scripts/standin_server.py PORT [--tokens N] [--delay-ms D] [--per-write K] [--api-key KEY]
[--close-after-stream-ms C]` serves /health, /v1/models and streaming /v1/chat/completions on 127.0.0.1: N
content chunks of one token each (D ms apart, K chunks per socket write), then the finish reason and `usage`.
With --api-key, any other key gets HTTP 401. With --close-after-stream-ms, it closes the connection C ms after
each streamed response although the response said keep-alive, as llama.cpp's llama-server does: a client that
reuses the connection meanwhile loses its request. Not a model: it exists to exercise and time the client.
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


def make_app(tokens: int, delay_s: float, per_write: int, api_key: str | None,
             close_after_s: float | None = None) -> web.Application:
    token = chunk({"content": "yes "})
    spent: set = set()  # connections whose stream ended: closing, whatever comes on them

    def refused(request: web.Request) -> web.Response | None:
        if api_key and request.headers.get("Authorization") != f"Bearer {api_key}":
            return web.json_response({"error": {"message": "invalid api key"}}, status=401)
        return None

    async def complete(request: web.Request) -> web.StreamResponse:
        if refusal := refused(request):
            return refusal
        if request.transport in spent:
            request.transport.close()  # the request is lost, as on a connection the server is closing
            raise asyncio.CancelledError
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
        if close_after_s is None:
            await response.write(b"data: [DONE]\n\n")
            return response
        await response.write_eof(b"data: [DONE]\n\n")  # [DONE] and the stream's end in one write
        spent.add(request.transport)
        asyncio.get_running_loop().call_later(close_after_s, request.transport.close)
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
    parser.add_argument("--close-after-stream-ms", type=float)
    a = parser.parse_args()
    close = None if a.close_after_stream_ms is None else a.close_after_stream_ms / 1000.0
    web.run_app(make_app(a.tokens, a.delay_ms / 1000.0, a.per_write, a.api_key, close), host="127.0.0.1", port=a.port,
                print=None, access_log=None, backlog=1024)


if __name__ == "__main__":
    main()
