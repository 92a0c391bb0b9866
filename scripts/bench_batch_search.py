"""Replay benchmark of the batch-size search (sustain.search.batch_size) against the full grid.

Recorded figures: one energy-per-request curve per row of the paper's Table 4 (model, GPUs, optimal
maximum batch size over 2..512), shaped like its Fig. 6 curves: in x = log2(batch size), energy falls
about hyperbolically in the batch size below the optimum and rises slowly above it,
    E(x) = E* (1 + a (2^(s u) - 1 - s ln2 u)),  u = x* - x,
with the optimum x* drawn within half a grid step of the table's value, steepness a and s and the
rise above the optimum drawn per curve (a third of the curves have a plateau: almost no rise). Each
curve is replayed without noise and with multiplicative noise of several sizes (the grid's own pick is
then the noisy argmin, as a full grid run would see it).

Prints, per noise level and rel_tol: how often the search finds the true optimum (noise-free argmin),
how often it agrees with the grid's pick, its runs against the grid's 9, and the energy it gives away.

    python scripts/bench_batch_search.py [--seeds 50]
"""

from __future__ import annotations

import argparse
import math
import random
import statistics

from sustain.search.batch_size import PAPER_GRID, BatchSizeSearch, run_search

# The paper's Table 4: energy-optimal maximum batch size per model and GPU count (31 rows).
TABLE4_OPTIMA = [32, 64, 128, 128, 64, 64, 8, 256, 64, 64, 32, 32, 512, 128, 512, 256, 64, 256, 64, 32, 16, 32,
                 128, 256, 256, 32, 256, 512, 512, 256, 256]
NOISE = (0.0, 0.02, 0.05, 0.10)
TOLERANCES = (0.0, 0.01, 0.03)


def curve(optimum: int, rng: random.Random) -> dict[int, float]:
    """Noise-free energy per request (J) on the paper's grid for one recorded configuration."""
    x_star = math.log2(optimum) + rng.uniform(-0.45, 0.45)
    a = rng.uniform(0.05, 0.4)
    s = rng.uniform(0.6, 1.1)
    rise = rng.choice((0.05, 1.0, 1.0))  # the linear rise above the optimum; 0.05: a plateau
    e_star = rng.uniform(20.0, 2000.0)

    def energy(x: float) -> float:
        u = x_star - x
        shape = 2 ** (s * u) - 1 - s * math.log(2) * u
        return e_star * (1 + a * (shape if u > 0 else rise * shape))

    return {b: energy(math.log2(b)) for b in PAPER_GRID}


def noisy(values: dict[int, float], sigma: float, rng: random.Random) -> dict[int, float]:
    return {b: v * math.exp(rng.gauss(0.0, sigma)) for b, v in values.items()}


def replay(seeds: int) -> list[dict[str, float]]:
    rows = []
    for sigma in NOISE:
        for tol in TOLERANCES:
            hits = agree = grid_hits = 0
            runs, regret, grid_regret = [], [], []
            for seed in range(seeds):
                rng = random.Random(seed)
                for optimum in TABLE4_OPTIMA:
                    true = curve(optimum, rng)
                    recorded = noisy(true, sigma, rng)
                    search = run_search(BatchSizeSearch(rel_tol=tol), recorded.get)
                    best_true = min(true, key=true.get)
                    grid_pick = min(recorded, key=recorded.get)
                    hits += search.best == best_true
                    agree += search.best == grid_pick
                    grid_hits += grid_pick == best_true
                    runs.append(len(search.values))
                    regret.append(true[search.best] / true[best_true] - 1)
                    grid_regret.append(true[grid_pick] / true[best_true] - 1)
            n = len(runs)
            rows.append({
                "noise": sigma, "rel_tol": tol, "hit_rate": hits / n, "grid_hit_rate": grid_hits / n,
                "agrees_with_grid": agree / n,
                "runs_mean": statistics.fmean(runs), "runs_max": max(runs),
                "run_share": statistics.fmean(runs) / len(PAPER_GRID),
                "regret_mean": statistics.fmean(regret), "regret_p95": sorted(regret)[int(0.95 * (n - 1))],
                "grid_regret_mean": statistics.fmean(grid_regret),
            })
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=50, help="curves per Table 4 row and setting")
    args = parser.parse_args()
    rows = replay(args.seeds)
    n = args.seeds * len(TABLE4_OPTIMA)
    print(f"batch-size search vs the full grid of {len(PAPER_GRID)} runs: {n} replayed curves per row "
          f"(Table 4 optima × {args.seeds} seeds)")
    print(f"{'noise':>6} {'rel_tol':>7} {'hit':>6} {'grid hit':>8} {'=grid':>6} {'runs':>5} {'max':>4} {'share':>6} "
          f"{'regret':>7} {'p95':>6} {'grid regret':>11}")
    for r in rows:
        print(f"{r['noise']:>6.0%} {r['rel_tol']:>7.0%} {r['hit_rate']:>6.1%} {r['grid_hit_rate']:>8.1%} "
              f"{r['agrees_with_grid']:>6.1%} "
              f"{r['runs_mean']:>5.2f} {r['runs_max']:>4d} {r['run_share']:>6.1%} {r['regret_mean']:>7.2%} "
              f"{r['regret_p95']:>6.2%} {r['grid_regret_mean']:>11.2%}")
    print("hit: the search's pick is the noise-free optimum (grid hit: the full grid's pick is); =grid: the search "
          "picks what the full grid picks; "
          "regret: true energy of the pick above the true optimum (grid regret: the same for the grid's pick).")


if __name__ == "__main__":
    main()
