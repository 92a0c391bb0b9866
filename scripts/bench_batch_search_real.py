"""The batch-size search for real on the embedded model, against the full grid it replaces (issue 11).

Runs, on whatever engine and meter this machine has, the paper's grid of maximum batch sizes (2..512,
nine runs) as an ordinary sweep, then `hydra/sweeper=batch_size` as a user would, in a second MLflow
store so that none of its runs is reused from the grid's. Then prints the grid's curve, the grid's
energy-optimal batch size, the search's runs and pick, and the search replayed on the grid's own
figures (what it would have picked had it seen exactly the grid's measurements).

Every point needs at least 2 x 512 + 1 requests for the steady-state window to open and close at
batch size 512, so the task is `arithmetic` with more distinct problems than the embedded 200 (the
embedded generator with more problems per shape; distinct prompts, so no prefix-cache shortcut), and
short outputs (`task.max_tokens`) to keep a grid within an hour on two CPU cores.

    python scripts/bench_batch_search_real.py                 # grid, then search, in /tmp/sustain-bs-real
    python scripts/bench_batch_search_real.py --only search   # the search alone (after a grid)
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_arithmetic_dataset import build_examples  # noqa: E402

from sustain.names import ENERGY_PER_REQUEST  # noqa: E402
from sustain.search.batch_size import PAPER_GRID, PAPER_START, BatchSizeSearch, run_search  # noqa: E402
from sustain.tasks.examples import write_jsonl  # noqa: E402

SHAPES = 10  # problem shapes in the generator


def write_dataset(path: Path, requests: int) -> None:
    write_jsonl(path, build_examples(math.ceil(requests / SHAPES))[:requests])


def sweep(folder: Path, name: str, dataset: Path, args: argparse.Namespace, extra: list[str]) -> float:
    """One `python -m sustain -m` into its own store; returns its wall time."""
    store = folder / name
    cmd = [sys.executable, "-m", "sustain", "-m", "task=arithmetic", f"task.dataset={dataset}",
           f"task.max_tokens={args.max_tokens}", f"tracking.uri=sqlite:///{store}/mlflow.db",
           f"tracking.artifact_root={store}/artifacts", f"checkpoint_dir={store}/checkpoints",
           f"hydra.sweep.dir={store}/sweep", *extra]
    print("bench:", " ".join(cmd), flush=True)
    start = time.monotonic()
    subprocess.run(cmd, check=True)
    return time.monotonic() - start


def measured(sweep_dir: Path) -> dict[int, float]:
    """Energy per request by batch size, from each job's summary.json (NaN: the job left none)."""
    values: dict[int, float] = {}
    for config in sorted(sweep_dir.glob("*/config.json")):
        batch = int(json.loads(config.read_text())["batch_size"])
        summary = config.with_name("summary.json")
        metrics = json.loads(summary.read_text())["metrics"] if summary.exists() else {}
        values[batch] = float(metrics.get(ENERGY_PER_REQUEST, math.nan))
    return values


def report(folder: Path, grid_s: float | None, search_s: float | None) -> None:
    grid = measured(folder / "grid" / "sweep")
    live = measured(folder / "search" / "sweep")
    if grid:
        print("grid (J/request):", ", ".join(f"{b}: {v:.3f}" for b, v in sorted(grid.items())))
        finite = {b: v for b, v in grid.items() if math.isfinite(v)}
        grid_best = min(finite, key=finite.get) if finite else None
        replay = run_search(BatchSizeSearch(PAPER_GRID, PAPER_START, 0.01), lambda b: grid.get(b))
        print(f"grid optimum: batch_size={grid_best} ({len(grid)} runs"
              + (f", {grid_s / 60:.1f} min)" if grid_s else ")"))
        print(f"search replayed on the grid's figures: batch_size={replay.best} with {len(replay.values)} of "
              f"{len(PAPER_GRID)} runs ({len(replay.values) / len(PAPER_GRID):.0%}; {replay.reason})")
    if live:
        finite = {b: v for b, v in live.items() if math.isfinite(v)}
        pick = min(finite, key=finite.get) if finite else None
        print("search, run live (J/request):", ", ".join(f"{b}: {v:.3f}" for b, v in sorted(live.items())))
        print(f"search picked batch_size={pick} with {len(live)} of {len(PAPER_GRID)} runs "
              f"({len(live) / len(PAPER_GRID):.0%}" + (f", {search_s / 60:.1f} min)" if search_s else ")"))
        if grid and pick in grid:
            best = min(v for v in grid.values() if math.isfinite(v))
            print(f"the grid measured the search's pick at {grid[pick]:.3f} J/request, "
                  f"{grid[pick] / best - 1:+.1%} against the grid's optimum")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, default=Path("/tmp/sustain-bs-real"))
    parser.add_argument("--requests", type=int, default=2 * max(PAPER_GRID) + 64)
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--only", choices=("grid", "search", "report"))
    args = parser.parse_args()
    args.folder.mkdir(parents=True, exist_ok=True)
    dataset = args.folder / "arithmetic.jsonl"
    write_dataset(dataset, args.requests)
    grid_s = search_s = None
    if args.only in (None, "grid"):
        grid_s = sweep(args.folder, "grid", dataset, args, [f"batch_size={','.join(map(str, reversed(PAPER_GRID)))}"])
    if args.only in (None, "search"):
        search_s = sweep(args.folder, "search", dataset, args, ["hydra/sweeper=batch_size"])
    report(args.folder, grid_s, search_s)


if __name__ == "__main__":
    main()
