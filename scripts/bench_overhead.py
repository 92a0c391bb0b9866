"""Is sustain's streaming client ever the bottleneck? Token events per second on one core, and its CPU time.

Starts the stand-in server (scripts/standin_server.py, which streams as fast as it can) and drives it with
N concurrent streams (default 512, the paper's largest batch): first with sustain's client (aiohttp, every
token timed into a RequestRecord), then with a plain streaming client (httpx, counting SSE lines, no
records), alternated `--rounds` times. The client process is pinned to one core. Prints token events per
second and CPU seconds per 1,000 events for each, and their ratio (sustain / plain). Goal: >= 20,000 events/s.

    python scripts/bench_overhead.py [--streams 512] [--tokens 256] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from sustain.engines import server, streaming  # noqa: E402
from sustain.load.burst import Burst, BurstConfig  # noqa: E402


def body(tokens: int) -> dict:
    return {"model": "standin", "messages": [{"role": "user", "content": "go"}], "max_tokens": tokens,
            "stream": True, "stream_options": {"include_usage": True}}


def sustain_client(url: str, streams: int, tokens: int) -> int:
    result = streaming.run(streaming.Endpoint(url, "standin"), [(str(i), body(tokens)) for i in range(streams)],
                           Burst(BurstConfig()), lambda r: None, timeout_s=600)
    failed = [r.error for r in result.records if r.error]
    if failed:
        raise SystemExit(f"{len(failed)} requests failed, e.g. {failed[0]}")
    return sum(len(r.token_times_s or []) for r in result.records)


def plain_client(url: str, streams: int, tokens: int) -> int:
    import httpx

    async def one(client: httpx.AsyncClient) -> int:
        n = 0
        async with client.stream("POST", url + "/chat/completions", json=body(tokens)) as response:
            async for line in response.aiter_lines():
                if line.startswith("data: {") and '"content": "yes' in line:
                    n += 1
        return n

    async def all_() -> int:
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
        async with httpx.AsyncClient(timeout=600, limits=limits) as client:
            return sum(await asyncio.gather(*(one(client) for _ in range(streams))))

    return asyncio.run(all_())


def timed(fn, url: str, streams: int, tokens: int) -> tuple[float, float, int]:
    wall0, cpu0 = time.perf_counter(), time.process_time()
    events = fn(url, streams, tokens)
    return time.perf_counter() - wall0, time.process_time() - cpu0, events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=512)
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--per-write", type=int, default=16, help="stand-in chunks per socket write")
    parser.add_argument("--cpu", type=int, default=0, help="the one core the client runs on")
    a = parser.parse_args()
    os.sched_setaffinity(0, {a.cpu})
    port = server.free_port()
    argv = [sys.executable, str(ROOT / "scripts" / "standin_server.py"), str(port), "--tokens", str(a.tokens),
            "--per-write", str(a.per_write)]
    rates: dict[str, list[float]] = {"sustain": [], "plain": []}
    cpu_per_k: dict[str, list[float]] = {"sustain": [], "plain": []}
    with tempfile.TemporaryDirectory() as tmp, server.running(
            argv, f"http://127.0.0.1:{port}/health", Path(tmp) / "standin.log", 60, name="stand-in server"):
        url = f"http://127.0.0.1:{port}/v1"
        for _ in range(a.rounds):
            for name, fn in (("sustain", sustain_client), ("plain", plain_client)):
                wall, cpu, events = timed(fn, url, a.streams, a.tokens)
                rates[name].append(events / wall)
                cpu_per_k[name].append(cpu / events * 1000)
                print(f"{name:8s} {events} token events in {wall:.2f} s = {events / wall:,.0f} events/s; "
                      f"client CPU {cpu:.2f} s ({cpu / events * 1000:.3f} s per 1,000 events)", flush=True)
    s, p = statistics.median(rates["sustain"]), statistics.median(rates["plain"])
    cpu_k = statistics.median(cpu_per_k["sustain"])
    print(f"sustain client: {s:,.0f} token events/s on one core (wall clock, bounded by the stand-in too); "
          f"{cpu_k:.3f} CPU s per 1,000 events, i.e. {1000 / cpu_k:,.0f} events per CPU second "
          f"({a.streams} streams x {a.tokens} tokens; goal >= 20,000/s)")
    print(f"ratio sustain / plain streaming client: {s / p:.2f}")


if __name__ == "__main__":
    main()
