"""The energy-optimal maximum batch size without running the whole grid.

Energy per request against log2 of the maximum batch size falls steeply while the batch is too small to
keep the GPU busy, bottoms out, then rises slowly (the paper's convex trade-off). So the search starts
at the paper's most common optimum, walks downhill one grid point at a time, and stops once the best
point has a higher (or failed) neighbour on both sides: the optimum is bracketed. It also stops when a
step gained nothing (a flat curve), or with `rel_tol` > 0 no more than that share of the energy: on a
convex curve the next step gains less still, so the rest of the walk cannot pay for its runs.

The search only decides which batch sizes to run; running them is the caller's (the sweeper, a replay).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from sustain.errors import SustainError

PAPER_GRID = (2, 4, 8, 16, 32, 64, 128, 256, 512)
PAPER_START = 64  # the most frequent energy-optimal batch size of the paper's Table 4


@dataclass
class BatchSizeSearch:
    """Ask for batch sizes, tell their energy per request (None: the run failed), until `done`."""

    grid: tuple[int, ...] = PAPER_GRID
    start: int = PAPER_START
    rel_tol: float = 0.0
    values: dict[int, float] = field(default_factory=dict)
    reason: str = ""

    def __post_init__(self) -> None:
        self.grid = tuple(sorted(set(self.grid)))
        if len(self.grid) < 2:
            raise SustainError(f"the batch-size grid {list(self.grid)} has fewer than two sizes: give at least two.")
        if self.start not in self.grid:
            raise SustainError(f"the search's start batch size {self.start} is not on its grid {list(self.grid)}: "
                               f"pick one of them.")
        if self.rel_tol < 0:
            raise SustainError(f"rel_tol={self.rel_tol} is negative: use 0 (stop only when bracketed or flat) "
                               f"or a share like 0.01.")

    def tell(self, batch_size: int, value: float | None) -> None:
        """Record a run; a failed one (None, NaN) counts as worse than any measured point."""
        if batch_size not in self.grid:
            raise SustainError(f"batch size {batch_size} is not on the search's grid {list(self.grid)}.")
        bad = value is None or math.isnan(value)
        self.values[batch_size] = math.inf if bad else float(value)

    @property
    def best(self) -> int | None:
        """The lowest-energy batch size run so far (the smaller one on a tie: lower latency)."""
        finite = [b for b in self.grid if math.isfinite(self.values.get(b, math.inf))]
        return min(finite, key=lambda b: self.values[b]) if finite else None

    @property
    def done(self) -> bool:
        return not self.ask()

    def ask(self) -> list[int]:
        """The batch sizes to run next (two at first, then one); empty when the search is over."""
        pending = self._first_pair()
        if pending:
            return pending
        best = self.best
        if best is None:
            self.reason = "every run failed"
            return []
        i = self.grid.index(best)
        left, right = self._neighbour(i - 1), self._neighbour(i + 1)
        if left is not None and right is not None:
            self.reason = "bracketed"
            return []
        came_from = right if left is None else left
        if came_from is not None and math.isfinite(came_from):
            gain = came_from - self.values[best]
            if gain <= self.rel_tol * abs(self.values[best]):
                self.reason = f"last step gained {gain / abs(self.values[best]):.1%}, under rel_tol"
                return []
        return [self.grid[i - 1] if left is None else self.grid[i + 1]]

    def _first_pair(self) -> list[int]:
        i = self.grid.index(self.start)
        j = i + 1 if i + 1 < len(self.grid) else i - 1
        return [self.grid[k] for k in sorted((i, j)) if self.grid[k] not in self.values]

    def _neighbour(self, k: int) -> float | None:
        """A neighbour's value when it closes the bracket on that side: off the grid, or run; else None."""
        if k < 0 or k >= len(self.grid):
            return math.inf
        return self.values.get(self.grid[k])


def run_search(search: BatchSizeSearch, measure) -> BatchSizeSearch:
    """Drive `search` to the end with `measure(batch_size) -> energy or None`, one round at a time."""
    while batch := search.ask():
        for b in batch:
            search.tell(b, measure(b))
    return search
