"""sustain's overhead, as ratios: is sustain ever slower than the stack it measures?

Five parts, each printing one ratio sustain / plain (goal >= 0.98), A and B alternated `--rounds` times in
one run (A B, then B A, ...), the median of each side compared:

- `vllm`: generation throughput (output tokens per second of the generation window) of `engine=vllm`
  (sustain's `VllmEngine`: its engine process, token timing and record stream) against vLLM's
  `LLMEngine` stepped directly in a fresh process, with the same prompts (the default task's, chat template
  applied), engine arguments and sampling. Each side builds its engine anew per round; only the window
  from the first request added to the last finished is timed, on both.
- `vllm_server`: the same for `engine=vllm_server` (sustain's `VllmServerEngine.run` and its streaming
  client, every token timed into records) against a plain aiohttp client streaming the same request bodies
  to the same vLLM server (started once, by sustain's engine, and warmed up by one unmeasured burst),
  counting tokens from `usage`. Wall clock of the whole burst on both.
- `llamacpp`: the same for `engine=llamacpp` on llama.cpp's server (the embedded Q4_1 GGUF).
- `client`: is sustain's streaming client ever the bottleneck? The stand-in server
  (scripts/standin_server.py, which streams as fast as it can) driven by N concurrent streams (default 512,
  the paper's largest batch), sustain's client (aiohttp, every token timed into a RequestRecord) against a
  plain one (httpx, counting SSE lines), on one pinned core. Prints token events per second and CPU seconds
  per 1,000 events for each. Goal: >= 20,000 events/s.
- `sessions`: the same for multi-turn work: N concurrent sessions of `--turns` turns, each turn sent after the
  previous reply with the history growing (sustain's session client, every token timed into records, against a
  plain httpx client that keeps the same history). Goal: >= 20,000 events/s at 512 sessions.

    python scripts/bench_overhead.py [vllm] [vllm_server] [llamacpp] [client] [sessions]
        [--requests 32] [--batch 8] [--max-tokens 32] [--rounds 2] [--set KEY=VALUE ...]
        [--streams 512] [--tokens 256] [--turns 4]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from queue import Empty
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from sustain.engines import server, session_client, streaming
from sustain.load.burst import Burst, BurstConfig
from sustain.types import Session, Turn

PARTS = ("vllm", "vllm_server", "llamacpp", "client", "sessions")


def alternate(sides: dict[str, Callable[[], tuple[float, str]]], rounds: int, label: str) -> float:
    """Run the sides A B, B A, A B, ... (each round's order the reverse of the last, so that neither side
    always goes first: a warming cache or a machine slowing down falls on both alike); print each result, the
    per-round ratios and return the ratio of the medians (first / second)."""
    rates: dict[str, list[float]] = {name: [] for name in sides}
    for i in range(rounds):
        for name, side in (sides.items() if i % 2 == 0 else reversed(list(sides.items()))):
            before = _descendants()
            rate, detail = side()
            _nothing_left(before, f"{label} round {i + 1} {name}")
            rates[name].append(rate)
            print(f"{label} round {i + 1} {name:8s} {rate:10,.1f} {detail}", flush=True)
    first, second = rates.values()
    print(f"{label} per-round ratios: " + ", ".join(f"{x / y:.3f}" for x, y in zip(first, second)), flush=True)
    return statistics.median(first) / statistics.median(second)


HELPERS = ("multiprocessing.resource_tracker", "multiprocessing.forkserver")  # this process's own, for its lifetime


def _descendants() -> set[int]:
    import psutil

    found = set()
    for p in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if not any(helper in " ".join(p.cmdline()) for helper in HELPERS):
                found.add(p.pid)
    return found


def _nothing_left(before: set[int], what: str, grace_s: float = 15.0) -> None:
    """Stop the benchmark if a side left a process running (an engine core, a worker): it would take CPU from
    the next side and make the ratio read worse, or better, than it is."""
    import psutil

    deadline = time.monotonic() + grace_s
    while left := _descendants() - before:
        if time.monotonic() > deadline:
            names = []
            for pid in sorted(left):
                with contextlib.suppress(psutil.Error):
                    names.append(f"{pid} {' '.join(psutil.Process(pid).cmdline())[:80]}")
            raise SystemExit(f"{what} left {len(left)} process(es) running: " + "; ".join(names))
        time.sleep(0.2)


# --- engine=vllm against LLMEngine stepped directly -------------------------------------------------------

def sustain_config(engine: str, a: argparse.Namespace, tmp: Path) -> Any:
    """sustain's own typed config for this engine, as `python -m sustain` would compose it."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from sustain.config import register

    register()
    with initialize_config_dir(config_dir=str(ROOT / "src" / "sustain" / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=[
            f"engine={engine}", f"task.limit={a.requests}", f"task.max_tokens={a.max_tokens}",
            f"batch_size={a.batch}", "verbose=false", f"tracking.uri=sqlite:///{tmp}/mlflow.db",
            f"tracking.artifact_root={tmp}/artifacts", f"checkpoint_dir={tmp}/checkpoints", *a.set])
    return OmegaConf.to_object(cfg)


def prepared(engine: str, a: argparse.Namespace, tmp: Path) -> tuple[Any, Any]:
    """The engine and its job exactly as the pipeline prepares them (task loaded, model resolved)."""
    from sustain.pipeline import _prepare

    (tmp / engine).mkdir()
    _, engine_obj, job = _prepare(sustain_config(engine, a, tmp), tmp / engine)
    return engine_obj, job


def tokens_rate(records: list[Any], seconds: float) -> tuple[float, str]:
    failed = [r.error for r in records if r.error]
    if failed:
        raise SystemExit(f"{len(failed)} requests failed, e.g. {failed[0]}")
    tokens = sum(r.output_tokens for r in records)
    return tokens / seconds, f"tok/s ({tokens} output tokens in {seconds:.2f} s)"


def plain_llm_engine(spec: dict[str, Any], queue: Any) -> None:
    """vLLM's LLMEngine with the engine arguments and sampling sustain's spec holds (and the CPU defaults its
    worker fills in), stepped until done: returns the output tokens and the generation window. It leads a
    process group of its own, so the parent can stop vLLM's engine-core and worker processes with it."""
    os.setsid()
    os.environ.setdefault("VLLM_LOGGING_LEVEL", spec["log_level"])
    with open(spec["log_file"], "ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    from vllm import EngineArgs, SamplingParams
    from vllm.platforms import current_platform
    from vllm.v1.engine.llm_engine import LLMEngine

    args = dict(spec["engine_args"])
    if current_platform.is_cpu():
        args.setdefault("gpu_memory_utilization", spec["cpu_memory_fraction"])
        args.setdefault("enforce_eager", True if spec["enforce_eager"] is None else spec["enforce_eager"])
    elif spec["enforce_eager"] is not None:
        args.setdefault("enforce_eager", spec["enforce_eager"])
    if spec["json_schema"] is not None or spec["choice"] is not None:
        raise SystemExit("bench_overhead compares free decoding only: use a task with task.decoding=free")
    engine = LLMEngine.from_engine_args(EngineArgs(**args))
    params = SamplingParams(**spec["sampling"])
    tokenizer = engine.get_tokenizer()
    prompts = [(rid, tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True,
                                                   **spec["chat_template_kwargs"]))
               for rid, messages in spec["requests"]]
    tokens = 0
    start = time.monotonic()
    for rid, prompt in prompts:
        engine.add_request(rid, prompt, params)
    while engine.has_unfinished_requests():
        for out in engine.step():
            if out.finished:
                tokens += len(out.outputs[0].token_ids)
    queue.put((tokens, time.monotonic() - start))


def bench_vllm(a: argparse.Namespace, tmp: Path) -> float:
    engine, job = prepared("vllm", a, tmp)
    spec = engine.spec(job, tmp / "plain-engine.log")
    ctx = mp.get_context("spawn")

    def sustain_side() -> tuple[float, str]:
        run = engine.run(job, lambda info: None, lambda record: None)
        return tokens_rate(run.records, run.end_s - run.start_s)

    def plain_side() -> tuple[float, str]:
        queue = ctx.Queue()
        proc = ctx.Process(target=plain_llm_engine, args=(spec, queue), name="plain-vllm")
        proc.start()
        try:
            while True:
                try:
                    tokens, seconds = queue.get(timeout=5)
                    break
                except Empty:
                    if not proc.is_alive():
                        raise SystemExit(f"plain vLLM died (exit code {proc.exitcode}): see {spec['log_file']}")
        finally:
            proc.join(timeout=60)
            with contextlib.suppress(ProcessLookupError):  # vLLM's own processes outlive a killed parent
                os.killpg(proc.pid, signal.SIGKILL)
        return tokens / seconds, f"tok/s ({tokens} output tokens in {seconds:.2f} s)"

    return alternate({"sustain": sustain_side, "plain": plain_side}, a.rounds, "vllm")


# --- engine=vllm_server against a plain streaming client --------------------------------------------------

def plain_stream(endpoint: streaming.Endpoint, bodies: list[dict[str, Any]]) -> int:
    """Every body sent at once with aiohttp; returns the output tokens the server reports in `usage`."""
    import aiohttp
    import orjson

    url = endpoint.base_url + "/chat/completions"

    async def one(session: aiohttp.ClientSession, body: dict[str, Any]) -> int:
        tokens = 0
        async with session.post(url, data=orjson.dumps(body), headers={"Content-Type": "application/json"}) as resp:
            async for line in resp.content:
                if line.startswith(b"data: {") and (b'"usage":{' in line or b'"usage": {' in line):
                    usage = orjson.loads(line[6:]).get("usage")
                    tokens = usage["completion_tokens"] if usage else tokens
        return tokens

    async def all_() -> int:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                         timeout=aiohttp.ClientTimeout(total=None)) as session:
            return sum(await asyncio.gather(*(one(session, b) for b in bodies)))

    return asyncio.run(all_())


@contextlib.contextmanager
def running(engine: Any, job: Any):
    """The engine's server, started once and warmed up by one unmeasured burst of the job's requests (a fresh
    server's first burst is slower for whoever sends it); yields an engine whose runs use that server, and its
    endpoint."""
    from sustain.engines.served import remote

    already_serving = type("AlreadyServing", (type(engine),), {"serving": lambda self, job_: remote(self.endpoint)})
    with engine.serving(job) as (endpoint, load_s):
        print(f"{engine.cfg.name}: server ready in {load_s:.1f} s", flush=True)
        warm = already_serving(engine.cfg)
        warm.__dict__.update({k: v for k, v in engine.__dict__.items() if k != "cfg"}, endpoint=endpoint)
        plain_stream(endpoint, [engine.body(job, r.messages) for r in job.requests])
        yield warm, endpoint


def bench_served(name: str, a: argparse.Namespace, tmp: Path) -> float:
    """A server engine's `run` (its streaming client, every token timed into records) against a plain aiohttp
    client, on one server started once by sustain's engine and warmed up by one unmeasured burst."""
    engine, job = prepared(name, a, tmp)
    with running(engine, job) as (warm, endpoint):
        bodies = [engine.body(job, r.messages) for r in job.requests]

        def sustain_side() -> tuple[float, str]:
            t0 = time.perf_counter()
            run = warm.run(job, lambda info: None, lambda record: None)
            return tokens_rate(run.records, time.perf_counter() - t0)

        def plain_side() -> tuple[float, str]:
            t0 = time.perf_counter()
            tokens = plain_stream(endpoint, bodies)
            seconds = time.perf_counter() - t0
            return tokens / seconds, f"tok/s ({tokens} output tokens in {seconds:.2f} s)"

        return alternate({"sustain": sustain_side, "plain": plain_side}, a.rounds, name)


def bench_vllm_server(a: argparse.Namespace, tmp: Path) -> float:
    return bench_served("vllm_server", a, tmp)


def bench_llamacpp(a: argparse.Namespace, tmp: Path) -> float:
    return bench_served("llamacpp", a, tmp)


# --- the streaming client alone against the stand-in server -----------------------------------------------

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


def sessions(streams: int, turns: int) -> list[Session]:
    return [Session(str(i), tuple(Turn(({"role": "user", "content": f"step {k}: go on"},)) for k in range(turns)),
                    system="You are a benchmark.") for i in range(streams)]


def sustain_sessions(url: str, streams: int, tokens: int, turns: int) -> int:
    result = session_client.run(streaming.Endpoint(url, "standin"), sessions(streams, turns),
                                lambda messages, cap, session, step: {**body(tokens), "messages": messages},
                                Burst(BurstConfig()), lambda r: None, 600, "generated")
    failed = [r.error for r in result.records if r.error]
    if failed or len(result.records) != streams * turns:
        raise SystemExit(f"{len(failed)} requests failed, e.g. {failed[:1]}; {len(result.records)} records")
    return sum(len(r.token_times_s or []) for r in result.records)


def plain_sessions(url: str, streams: int, tokens: int, turns: int) -> int:
    """Each session's turns one after another over httpx, the history growing with each reply's text."""
    import httpx

    async def one(client: httpx.AsyncClient, session: Session) -> int:
        n, messages = 0, session.opening()
        for turn in session.turns:
            messages.extend(turn.messages)
            text = []
            async with client.stream("POST", url + "/chat/completions",
                                     json={**body(tokens), "messages": messages}) as response:
                async for line in response.aiter_lines():
                    if line.startswith("data: {") and '"content": "yes' in line:
                        n += 1
                        text.append("yes ")
            messages.append({"role": "assistant", "content": "".join(text)})
        return n

    async def all_() -> int:
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
        async with httpx.AsyncClient(timeout=600, limits=limits) as client:
            return sum(await asyncio.gather(*(one(client, s) for s in sessions(streams, turns))))

    return asyncio.run(all_())


def bench_client(a: argparse.Namespace, tmp: Path) -> float:
    return on_standin(a, tmp, "client", {"sustain": sustain_client, "plain": plain_client},
                      f"{a.streams} streams x {a.tokens} tokens")


def bench_sessions(a: argparse.Namespace, tmp: Path) -> float:
    def turns(fn: Callable[..., int]) -> Callable[[str, int, int], int]:
        return lambda url, streams, tokens: fn(url, streams, tokens, a.turns)

    return on_standin(a, tmp, "sessions", {"sustain": turns(sustain_sessions), "plain": turns(plain_sessions)},
                      f"{a.streams} concurrent sessions x {a.turns} turns x {a.tokens} tokens")


def on_standin(a: argparse.Namespace, tmp: Path, label: str, clients: dict[str, Callable[[str, int, int], int]],
               shape: str) -> float:
    """sustain's client against a plain one on the stand-in server, on one pinned core: events/s and CPU."""
    affinity = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {a.cpu})
    port = server.free_port()
    argv = [sys.executable, str(ROOT / "scripts" / "standin_server.py"), str(port), "--tokens", str(a.tokens),
            "--per-write", str(a.per_write)]
    cpu_per_k: dict[str, list[float]] = {name: [] for name in clients}
    url = f"http://127.0.0.1:{port}/v1"

    def side(name: str, fn: Callable[[str, int, int], int]) -> Callable[[], tuple[float, str]]:
        def measure() -> tuple[float, str]:
            wall0, cpu0 = time.perf_counter(), time.process_time()
            events = fn(url, a.streams, a.tokens)
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
            cpu_per_k[name].append(cpu / events * 1000)
            return events / wall, (f"token events/s ({events} in {wall:.2f} s; client CPU {cpu:.2f} s, "
                                   f"{cpu / events * 1000:.3f} s per 1,000 events)")
        return measure

    try:
        with server.running(argv, f"http://127.0.0.1:{port}/health", tmp / "standin.log", 60, name="stand-in server"):
            ratio = alternate({name: side(name, fn) for name, fn in clients.items()}, a.rounds, label)
    finally:
        os.sched_setaffinity(0, affinity)
    cpu_k = statistics.median(cpu_per_k["sustain"])
    print(f"sustain {label}: {1000 / cpu_k:,.0f} token events per CPU second ({cpu_k:.3f} CPU s per 1,000 events; "
          f"{shape}; goal >= 20,000/s)")
    return ratio


LABELS = {
    "vllm": "engine=vllm / plain LLMEngine, generation throughput",
    "vllm_server": "engine=vllm_server / plain streaming client of the same vLLM server, generation throughput",
    "llamacpp": "engine=llamacpp / plain streaming client of the same llama.cpp server, generation throughput",
    "client": "sustain's streaming client / plain streaming client, token events per second",
    "sessions": "sustain's multi-turn session client / plain multi-turn client, token events per second",
}
BENCHES = {"vllm": bench_vllm, "vllm_server": bench_vllm_server, "llamacpp": bench_llamacpp, "client": bench_client,
           "sessions": bench_sessions}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("parts", nargs="*", help=f"which ratios to measure, of {', '.join(PARTS)} (default: all)")
    parser.add_argument("--rounds", type=int, default=2, help="A, B alternations per part")
    parser.add_argument("--requests", type=int, default=32, help="vllm, vllm_server: requests per round")
    parser.add_argument("--batch", type=int, default=8, help="vllm, vllm_server: batch_size (max_num_seqs)")
    parser.add_argument("--max-tokens", type=int, default=32, help="vllm, vllm_server: max tokens per request")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="vllm, vllm_server: a sustain override for both sides, e.g. engine.cpu_memory_fraction=0.1")
    parser.add_argument("--streams", type=int, default=512, help="client: concurrent streams")
    parser.add_argument("--tokens", type=int, default=256, help="client: tokens per stream")
    parser.add_argument("--per-write", type=int, default=16, help="client: stand-in chunks per socket write")
    parser.add_argument("--cpu", type=int, default=0, help="client, sessions: the one core the client runs on")
    parser.add_argument("--turns", type=int, default=4, help="sessions: turns per session (history grows)")
    a = parser.parse_args()
    unknown = sorted(set(a.parts) - set(PARTS))
    if unknown:
        parser.error(f"no part named {unknown[0]}: choose among {', '.join(PARTS)}")
    ratios = {}
    tmp = Path(tempfile.mkdtemp(prefix="bench_overhead-"))
    try:
        for part in dict.fromkeys(a.parts or PARTS):
            ratios[part] = BENCHES[part](a, tmp)
            print(f"ratio {LABELS[part]}: {ratios[part]:.3f}", flush=True)
    except BaseException:
        print(f"bench_overhead: stopped; engine and server logs kept in {tmp}", file=sys.stderr, flush=True)
        raise
    shutil.rmtree(tmp, ignore_errors=True)
    if len(ratios) > 1:
        print("ratios (goal >= 0.98): " + ", ".join(f"{k} {v:.3f}" for k, v in ratios.items()))


if __name__ == "__main__":
    main()
