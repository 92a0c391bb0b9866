"""The batch-size search finds the grid's optimum by walking downhill and stops once it is bracketed."""

import math
import random

import pytest

from sustain.errors import SustainError
from sustain.search.batch_size import PAPER_GRID, BatchSizeSearch, run_search


def convex(optimum: int, rise: float = 1.0):
    """Energy per request, convex in log2(batch size), lowest at `optimum`."""
    def energy(b: int) -> float:
        u = math.log2(optimum) - math.log2(b)
        shape = 2 ** u - 1 - math.log(2) * u
        return 100 * (1 + 0.3 * (shape if u > 0 else rise * shape))
    return energy


@pytest.mark.parametrize("optimum", PAPER_GRID)
def test_finds_every_optimum_of_a_clean_curve(optimum):
    search = run_search(BatchSizeSearch(), convex(optimum))
    assert search.best == optimum
    assert search.reason == "bracketed"
    i = PAPER_GRID.index(optimum)
    assert {PAPER_GRID[k] for k in (i - 1, i + 1) if 0 <= k < len(PAPER_GRID)} <= set(search.values)


def test_runs_only_from_the_start_to_one_past_the_optimum():
    assert sorted(run_search(BatchSizeSearch(), convex(64)).values) == [32, 64, 128]
    assert sorted(run_search(BatchSizeSearch(), convex(256)).values) == [64, 128, 256, 512]
    assert sorted(run_search(BatchSizeSearch(), convex(8)).values) == [4, 8, 16, 32, 64, 128]


def test_optimum_at_either_edge_is_bracketed_by_the_edge():
    top = run_search(BatchSizeSearch(), convex(512))
    assert top.best == 512 and top.reason == "bracketed" and sorted(top.values) == [64, 128, 256, 512]
    bottom = run_search(BatchSizeSearch(start=2), convex(2))
    assert bottom.best == 2 and sorted(bottom.values) == [2, 4]


def test_a_start_at_the_top_of_the_grid_pairs_with_the_size_below():
    search = BatchSizeSearch(start=512)
    assert search.ask() == [256, 512]


def test_flat_curve_stops_at_once_on_a_tie_and_keeps_the_smaller_batch():
    search = run_search(BatchSizeSearch(), lambda b: 50.0)
    assert search.best == 64 and sorted(search.values) == [64, 128] and "gained 0.0%" in search.reason


def test_rel_tol_stops_when_a_step_gains_too_little():
    plateau = convex(256, rise=0.0)  # flat above the optimum's neighbourhood
    exact = run_search(BatchSizeSearch(), convex(256))
    loose = run_search(BatchSizeSearch(rel_tol=0.5), convex(256))
    assert loose.best == 128 and len(loose.values) == 2 and "rel_tol" in loose.reason
    assert len(exact.values) > len(loose.values)
    assert run_search(BatchSizeSearch(rel_tol=0.01), plateau).best == 256


def test_a_failed_run_counts_as_worse_than_any_measured_one():
    curve = convex(512)
    search = run_search(BatchSizeSearch(), lambda b: None if b == 512 else curve(b))
    assert search.best == 256 and search.values[512] == math.inf and search.reason == "bracketed"


def test_every_run_failing_ends_the_search_with_no_best():
    search = run_search(BatchSizeSearch(), lambda b: float("nan"))
    assert search.best is None and search.reason == "every run failed"


def test_small_noise_still_finds_the_optimum_of_a_steep_curve():
    rng = random.Random(3)
    curve = convex(32)
    hits = sum(run_search(BatchSizeSearch(), lambda b: curve(b) * (1 + rng.gauss(0, 0.01))).best == 32
               for _ in range(50))
    assert hits >= 45


def test_noise_can_fool_it_into_stopping_early():
    """A noisy bump on the way down looks like a bracket: the search stops there (what the benchmark measures)."""
    curve = convex(512)
    search = run_search(BatchSizeSearch(), lambda b: curve(b) * (1.5 if b == 256 else 1.0))
    assert search.best == 128 and search.reason == "bracketed"


def test_bad_settings_and_sizes_off_the_grid_are_refused():
    with pytest.raises(SustainError, match="not on its grid"):
        BatchSizeSearch(start=48)
    with pytest.raises(SustainError, match="fewer than two"):
        BatchSizeSearch(grid=(8,), start=8)
    with pytest.raises(SustainError, match="negative"):
        BatchSizeSearch(rel_tol=-0.1)
    with pytest.raises(SustainError, match="not on the search's grid"):
        BatchSizeSearch().tell(48, 1.0)
