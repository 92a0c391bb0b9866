"""How long `python -m sustain.report` takes, and how much memory it holds, over large MLflow stores
(issue 22: 100,000 runs in <= 5 s and <= 500 MB resident, 10,000 runs in <= 2 s, memory flat as runs grow).

It fills a SQLite store with realistic finished runs (about 90 metrics, 40 params and 25 tags each, the
names sustain logs) and times the report as a subprocess, the way a user runs it: wall seconds, CPU seconds
of the report and every process it starts (its figure workers, each reaped here), and peak memory: the larger
of the report's own peak resident set and the peak of its process tree's summed PSS (shared pages divided
among the processes sharing them, sampled every 50 ms), each size `--repeat` times (min and median).

How the store is filled: MLflow itself creates the store and the experiment (so the schema is exactly
the installed MLflow's), and one run is logged through `MlflowClient.log_batch` as a template; the
runs are then written by direct SQL inserts (`executemany`) into the tables MLflow created
(runs, metrics, latest_metrics, params, tags). Logging them through MLflow's API would take about an
hour per 10,000 runs on a 2-core machine; the rows are the same that `log_batch` writes.

    python scripts/bench_report.py                                   # 10,000 runs in a temporary folder
    python scripts/bench_report.py --runs 1000,10000,100000 --keep /tmp/stores --plot curve.png   # the curve
    python scripts/bench_report.py --runs 10000 --keep /tmp/stores --versus="--jobs 1"   # two sides alternated
    python scripts/bench_report.py --runs 100000 --keep /tmp/stores --repeat 1 --profile   # + cProfile
"""
from __future__ import annotations

import argparse
import io
import math
import os
import pstats
import random
import shlex
import statistics
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import NamedTuple

MODELS = [
    "qwen2_5_0_5b", "qwen2_5_1_5b", "qwen2_5_3b", "qwen2_5_7b", "qwen2_5_14b", "qwen2_5_32b", "qwen2_5_72b",
    "qwen3_4b_2507", "qwen3_8b", "qwen3_14b", "qwen3_32b", "qwen3_30b_a3b_2507", "deepseek_r1_distill_qwen_7b",
    "deepseek_r1_distill_qwen_14b", "deepseek_r1_0528_qwen3_8b", "gemma3_4b", "gemma3_12b", "gemma3_27b",
    "mistral_nemo_2407", "mistral_small_24b_2501", "mistral_large_2411", "falcon3_1b", "falcon3_3b",
    "falcon3_7b", "falcon3_10b", "phi4_reasoning", "phi4_reasoning_plus", "llama4_scout_17b_16e",
]
BATCH_SIZES = [2, 4, 8, 16, 32, 64, 128, 256, 512]
GPUS = [1, 2, 4, 8]
TASKS = {"hallucination": "macro_f1", "financial_sentiment": "macro_f1", "arithmetic": "exact_match"}
LATENCY = [f"{stat}_{name}_ms" for name in ("ttft", "tpot", "e2el", "decode")
           for stat in ("mean", "median", "std", "p50", "p90", "p95", "p99")]
OTHER_METRICS = [
    "energy_per_request_j_mean", "energy_per_request_j_std", "energy_per_correct_j", "energy_whole_run_per_request_j",
    "energy_window_j", "energy_whole_run_j", "energy_per_token_j", "energy_window_s", "batch_fill",
    "avg_running_batch", "decode_latency_s_mean", "decode_latency_s_std", "quality", "macro_f1", "accuracy",
    "error_rate", "n_correct", "judge_score_mean", "judge_score_std", "judge_n_scored", "judge_time_s",
    "judge_energy_j", "completed_requests", "total_output_tokens", "total_prompt_tokens", "output_throughput_tok_s",
    "request_throughput_req_s", "mean_output_tokens", "gco2e_per_request", "gco2e_run", "kwh_per_1k_requests",
    "gco2e_per_1k_requests", "water_l_per_request", "deployment_kwh_per_year", "deployment_kgco2e_per_year",
    "deployment_water_l_per_year", "truncated_share", "failed_requests", "engine_load_s", "run_duration_s",
    "n_requests", "reused_requests", "om", "reference_energy_j", "reference_decode_latency_s", "reference_quality",
]
PER_CLASS = [f"{kind}_{label}" for label in ("grounded", "ungrounded", "small_talk", "error")
             for kind in ("precision", "recall", "f1")]
METRICS = LATENCY + OTHER_METRICS + PER_CLASS + [f"om_q{w}" for w in (0, 33, 50, 80, 98, 100, 999)]
PARAMS = [
    "model.name", "model.path", "model.dtype", "model.max_model_len", "model.max_tokens", "model.trust_remote_code",
    "quantization.name", "quantization.method", "quantization.model_path", "quantization.for_model",
    "task.name", "task.dataset", "task.limit", "task.decoding", "task.max_tokens", "task.temperature", "task.top_p",
    "task.strip_reasoning", "engine.seed", "engine.timeout_s", "engine.enforce_eager", "engine.cpu_memory_fraction",
    "energy.meter", "energy.interval_s", "energy.window_rule", "energy.min_window_s", "judge.name", "judge.model",
    "reference.name", "reference.output_tokens", "reference.quality", "carbon.grid", "carbon.pue", "carbon.wue",
    "carbon.requests_per_day", "overall.quality_metric", "overall.weights", "batch_size", "gpus", "run_name",
]
TAG_NAMES = [
    "model", "quantization", "gpus", "batch_size", "task", "task.primary_metric", "judge", "git_commit", "host",
    "python", "vllm_version", "torch_version", "sustain_version", "mlflow.source.name", "mlflow.runName",
    "sustain.config_hash", "energy.source", "energy.measured", "energy.attribution", "energy.notes",
    "carbon.grid_source", "engine.platform", "validity.flags", "validity.ok", "om.meaningful",
]


def fill(db: Path, n_runs: int, seed: int = 0, chunk: int = 2000) -> str:
    """A store of `n_runs` finished runs in experiment 'sustain'; returns its tracking URI. Rows go in
    `chunk` runs at a time, so filling 100,000 runs holds a few hundred MB, not gigabytes."""
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{db}"
    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("sustain", artifact_location=(db.parent / "artifacts").as_uri())
    template = client.create_run(exp, run_name="template").info.run_id
    client.log_batch(template, metrics=[Metric("energy_per_request_j_mean", 1.0, 0, 0)],
                     params=[Param("batch_size", "8")], tags=[RunTag("model", "template")])
    client.delete_run(template)

    rng = random.Random(seed)
    t0 = int(time.time() * 1000) - n_runs * 60_000
    with sqlite3.connect(db) as con:
        con.execute("PRAGMA synchronous = OFF")
        for first in range(0, n_runs, chunk):
            _insert(con, [_run(rng, db, int(exp), t0, i) for i in range(first, min(first + chunk, n_runs))])
    return uri


def _run(rng: random.Random, db: Path, exp: int, t0: int, i: int) -> tuple[tuple, list, list, list]:
    """One run's rows: (runs row, metrics, params, tags)."""
    run_id = uuid.uuid4().hex
    model_i = rng.randrange(len(MODELS))
    model, bs, gpus = MODELS[model_i], rng.choice(BATCH_SIZES), rng.choice(GPUS)
    task = rng.choice(list(TASKS))
    size = 0.5 + model_i
    energy = size * 40 * (1 + 8 / bs) * rng.uniform(0.9, 1.1) * (1 + 0.1 * gpus)
    decode = size * 0.3 * (1 + bs / 64) * rng.uniform(0.9, 1.1) / gpus ** 0.5
    quality = min(1.0, 0.3 + 0.02 * model_i + rng.uniform(-0.05, 0.05))
    values = {name: rng.uniform(0, 100) for name in METRICS}
    values.update({
        "energy_per_request_j_mean": energy, "energy_per_request_j_std": energy / 5,
        "energy_per_correct_j": energy / quality, "decode_latency_s_mean": decode,
        "decode_latency_s_std": decode / 4, "p90_decode_ms": decode * 1300, "quality": quality,
        "macro_f1" if TASKS[task] == "macro_f1" else "exact_match": quality,
        "judge_score_mean": min(1.0, quality + 0.3), "judge_score_std": 0.1, "n_correct": 100 * quality,
        "water_l_per_request": energy / 3.6e6 * 1.8, "deployment_kwh_per_year": energy * 10_000 * 365 / 3.6e6,
    })
    start = t0 + i * 60_000
    status = "FAILED" if rng.random() < 0.03 else "FINISHED"
    name = f"{model}-none-bs{bs}-g{gpus}-{task}"
    run = (run_id, name, "UNKNOWN", "", "", "bench", status, start, start + 50_000, "", "active",
           f"{db.parent}/artifacts/{run_id}", exp)
    metrics = [(key, float(value), start + 50_000, run_id, 0, 0) for key, value in values.items()]
    config = {"model.name": model, "quantization.name": "none", "task.name": task, "batch_size": str(bs),
              "gpus": str(gpus), "run_name": name}
    params = [(key, config.get(key, f"value-{rng.randrange(5)}"), run_id) for key in PARAMS]
    tag_values = {"model": model, "quantization": "none", "gpus": str(gpus), "batch_size": str(bs), "task": task,
                  "task.primary_metric": TASKS[task], "judge": "openai", "mlflow.runName": name,
                  "energy.source": "zeus: NVML energy counters (GPU)", "energy.measured": "true",
                  "validity.flags": "none", "om.meaningful": "true", "sustain.config_hash": uuid.uuid4().hex[:16]}
    tags = [(key, tag_values.get(key, f"tag-{rng.randrange(9)}"), run_id) for key in TAG_NAMES]
    return run, metrics, params, tags


def _insert(con: sqlite3.Connection, rows: list[tuple[tuple, list, list, list]]) -> None:
    runs = [r for r, _, _, _ in rows]
    metrics = [m for _, ms, _, _ in rows for m in ms]
    con.executemany("INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, "
                    "status, start_time, end_time, source_version, lifecycle_stage, artifact_uri, experiment_id) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", runs)
    con.executemany("INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) VALUES (?,?,?,?,?,?)",
                    metrics)
    con.executemany("INSERT INTO latest_metrics (key, value, timestamp, run_uuid, step, is_nan) "
                    "VALUES (?,?,?,?,?,?)", metrics)
    con.executemany("INSERT INTO params (key, value, run_uuid) VALUES (?,?,?)", [p for _, _, ps, _ in rows for p in ps])
    con.executemany("INSERT INTO tags (key, value, run_uuid) VALUES (?,?,?)", [t for _, _, _, ts in rows for t in ts])
    con.commit()


GOALS = {10_000: 2.0, 100_000: 5.0}  # issue 22: seconds of wall time at these sizes
GOAL_MB = 500.0  # issue 22: peak resident memory at any size


class Timing(NamedTuple):
    wall_s: float
    cpu_s: float  # the report and every process it started (its figure workers), exactly: each one reaped here
    peak_mb: float  # the larger of the report process's own peak resident set and its process tree's peak PSS


PR_SET_CHILD_SUBREAPER = 36


def _adopt_orphans() -> None:
    """Become the reaper of the report's orphaned descendants (the forkserver its figure workers come from
    outlives the report by a moment), so that their CPU time is counted by `wait4` here, not lost."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _pss_mb(pid: int) -> float:
    """A process's proportional set size: shared pages (the workers share most of theirs with the forkserver)
    divided among the processes sharing them, so a tree's PSS adds up to the memory it really holds."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("Pss:")) / 1024
    except (OSError, StopIteration):
        return 0.0


def _tree(pid: int) -> list[int]:
    import psutil

    try:
        return [pid] + [child.pid for child in psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return []


class TreeMemory:
    """The peak of the summed PSS of a process and all its descendants, sampled every `interval_s`."""

    def __init__(self, pid: int, interval_s: float = 0.05) -> None:
        import threading

        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, args=(pid, interval_s), daemon=True)
        self._thread.start()

    def _sample(self, pid: int, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            self.peak_mb = max(self.peak_mb, sum(_pss_mb(p) for p in _tree(pid)))

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak_mb


def time_report(uri: str, out: Path, extra: list[str]) -> tuple[Timing, str, str, int]:
    """Wall, CPU seconds and peak memory of one `python -m sustain.report` process and the processes it starts;
    on a shared machine the CPU time is the steadier figure. Returns the timing, stdout, stderr and exit status."""
    out.parent.mkdir(parents=True, exist_ok=True)
    _adopt_orphans()
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "sustain.report", "--tracking-uri", uri, "--out", str(out),
                                 *extra], stdout=stdout, stderr=stderr, text=True)
        memory = TreeMemory(proc.pid)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        tree_mb = memory.stop()
        cpu = usage.ru_utime + usage.ru_stime + _reap_orphans()
        proc.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        stderr.seek(0)
        text, errors = stdout.read(), stderr.read()
    return Timing(wall, cpu, max(usage.ru_maxrss / 1024, tree_mb)), text, errors, proc.returncode


def _reap_orphans() -> float:
    """CPU seconds of the report's descendants that outlived it, once each has exited."""
    cpu = 0.0
    while True:
        try:
            _, _, usage = os.wait4(-1, 0)
        except ChildProcessError:
            return cpu
        cpu += usage.ru_utime + usage.ru_stime


def profile(uri: str, out: Path, extra: list[str], top: int = 30) -> str:
    """The report under cProfile (py-spy is not a dependency): the `top` functions by cumulative time."""
    stats = out.parent / "report.prof"
    subprocess.run([sys.executable, "-m", "cProfile", "-o", str(stats), "-m", "sustain.report", "--tracking-uri", uri,
                    "--out", str(out), *extra], check=True, capture_output=True)
    text = io.StringIO()
    pstats.Stats(str(stats), stream=text).sort_stats("cumulative").print_stats(top)
    return text.getvalue()


def store(folder: Path, n_runs: int) -> str:
    """The store of `n_runs` runs in `folder`, filled unless it is already there (so filling is never timed)."""
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "mlflow.db"
    if db.exists():
        print(f"bench: reusing {db}")
        return f"sqlite:///{db}"
    start = time.perf_counter()
    uri = fill(db, n_runs)
    print(f"bench: filled {db} with {n_runs} runs (about {len(METRICS)} metrics, {len(PARAMS)} params, "
          f"{len(TAG_NAMES)} tags each) in {time.perf_counter() - start:.1f} s")
    return uri


def measure(n_runs: int, uri: str, folder: Path, repeat: int, sides: dict[str, list[str]]
            ) -> dict[str, list[Timing]] | None:
    """Each side's report `repeat` times, the sides alternated A B B A A B ... so that a drift of the machine's
    speed falls on both alike; each side's summary, and with two sides their ratio."""
    timings: dict[str, list[Timing]] = {name: [] for name in sides}
    for i in range(repeat):
        for name in (sides if i % 2 == 0 else reversed(list(sides))):
            timing, text, errors, code = time_report(uri, folder / "report", sides[name])
            if code != 0:
                print(text.strip(), errors.strip()[-2000:], sep="\n", file=sys.stderr)
                return None
            timings[name].append(timing)
    for name, side in timings.items():
        _summary(n_runs, repeat, f" {name}" if len(sides) > 1 else "", side)
    if len(sides) == 2:
        a, b = (statistics.median(t.wall_s for t in side) for side in timings.values())
        print(f"bench: {n_runs:>7} runs: wall {' / '.join(sides)} = {a / b:.3f} (medians)")
    return timings


def _summary(n_runs: int, repeat: int, label: str, timings: list[Timing]) -> None:
    walls, peaks = [t.wall_s for t in timings], [t.peak_mb for t in timings]
    goal = GOALS.get(n_runs)
    over = ([f"the {goal:g} s goal"] if goal is not None and min(walls) > goal else []) + (
        [f"the {GOAL_MB:g} MB goal"] if min(peaks) > GOAL_MB else [])
    print(f"bench: {n_runs:>7} runs x{repeat}{label}: wall min {min(walls):.2f} s, median {statistics.median(walls):.2f} "
          f"s; CPU median {statistics.median(t.cpu_s for t in timings):.2f} s; peak memory min {min(peaks):.0f} MB, "
          f"median {statistics.median(peaks):.0f} MB ({'OVER ' + ' and '.join(over) if over else 'within the goals'})")


def plot(curve: dict[str, dict[int, list[Timing]]], path: Path) -> None:
    """Wall time and peak memory against the number of runs, one line per side (its minimum), each run of the
    report a dot, the goals drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, (wall, memory) = plt.subplots(1, 2, figsize=(10, 4), dpi=110)
    for ax, field in ((wall, "wall_s"), (memory, "peak_mb")):
        for name, side in curve.items():
            sizes = sorted(side)
            line, = ax.plot(sizes, [min(getattr(t, field) for t in side[n]) for n in sizes], marker="o", label=name)
            for n in sizes:
                ax.scatter([n] * len(side[n]), [getattr(t, field) for t in side[n]], s=10, color=line.get_color(),
                           alpha=0.5, zorder=3)
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax.set_xlabel("finished runs in the MLflow store (SQLite)")
        ax.grid(alpha=0.3, which="both")
    wall.scatter(list(GOALS), list(GOALS.values()), marker="v", s=70, color="#c0392b", zorder=4, label="goal")
    memory.axhline(GOAL_MB, color="#c0392b", ls="--", lw=1, label=f"goal {GOAL_MB:g} MB")
    for ax in (wall, memory):
        ax.set_ylim(0, ax.get_ylim()[1] * 1.08)  # the goals drawn first, so that the axis takes them in
    wall.set_ylabel("wall seconds of `python -m sustain.report`")
    memory.set_ylabel("peak memory, MB (report and its workers, PSS)")
    for ax in (wall, memory):
        ax.legend(fontsize=8, loc="upper left")
    fig.suptitle(f"The report over many runs ({os.cpu_count()} CPUs; lines: the fastest of each size, dots: every "
                 f"run of the report)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def compiled() -> None:
    """sustain's modules byte-compiled, as pip leaves an installed package: where PYTHONDONTWRITEBYTECODE is set
    (as on this project's machines), an editable install would otherwise compile about 80 of them in every
    report, 0.07 s that no user with the default settings pays."""
    import compileall

    import sustain

    compileall.compile_dir(Path(sustain.__file__).parent, quiet=1)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", default="10000", help="comma-separated store sizes, e.g. 1000,10000,100000")
    p.add_argument("--repeat", type=int, default=3, help="timed reports per size (min and median are printed)")
    p.add_argument("--keep", type=Path, help="fill (or reuse) the stores in this folder (runs-N/) and keep them")
    p.add_argument("--profile", action="store_true", help="then profile the report over the last size (cProfile)")
    p.add_argument("--versus", metavar="ARGS", help='a second side, alternated with the first: the report with these '
                        'arguments instead, e.g. --versus="--jobs 1"')
    p.add_argument("--plot", type=Path, metavar="PNG", help="draw the curve (wall time and memory against runs) here")
    p.add_argument("report_args", nargs="*", help="extra arguments for sustain.report (after --)")
    args = p.parse_args()
    compiled()
    sizes = [int(n.replace("_", "")) for n in args.runs.split(",") if n.strip()]
    root = args.keep or Path(tempfile.mkdtemp(prefix="sustain-bench-"))
    sides = {" ".join(args.report_args) or "default": args.report_args}
    if args.versus is not None:
        sides[args.versus or "default"] = shlex.split(args.versus)
    within = True
    curve: dict[str, dict[int, list[Timing]]] = {name: {} for name in sides}
    for n_runs in sizes:
        folder = root / f"runs-{n_runs}"
        timings = measure(n_runs, store(folder, n_runs), folder, args.repeat, sides)
        if timings is None:
            return 2
        for name, side in timings.items():
            curve[name][n_runs] = side
        first = next(iter(timings.values()))
        within &= (min(t.wall_s for t in first) <= GOALS.get(n_runs, math.inf)
                   and min(t.peak_mb for t in first) <= GOAL_MB)
    print(f"bench: load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs after the runs")
    if args.plot:
        plot(curve, args.plot)
        print(f"bench: curve in {args.plot}")
    if args.profile:
        folder = root / f"runs-{sizes[-1]}"
        print(profile(f"sqlite:///{folder / 'mlflow.db'}", folder / "report-profile", args.report_args))
    return 0 if within else 1


if __name__ == "__main__":
    sys.exit(main())
