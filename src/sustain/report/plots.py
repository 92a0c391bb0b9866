"""Figures of one run, drawn headless (Agg) so they work on clusters and CI."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot_timeline(timeline: Any, attribution: Any, run_start: float, run_end: float, path: Path) -> None:
    """Power over time, the engine run marked, the span energy per token was taken from shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t0 = timeline.t[0]
    fig, ax = plt.subplots(figsize=(9, 3.6), dpi=120)
    ax.plot([t - t0 for t in timeline.t], timeline.power_w, lw=1.2, color="#1f5f8b", label="power")
    ax.axvline(run_start - t0, color="grey", ls=":", lw=1)
    ax.axvline(run_end - t0, color="grey", ls=":", lw=1, label="requests submitted / last finished")
    a, b = attribution.span_s
    label = "steady-state window" if attribution.mode == "steady_state" else "whole run (no steady state)"
    ax.axvspan(a - t0, b - t0, color="#f2a541", alpha=0.3, label=f"{label}: {attribution.window_energy_j:.0f} J")
    ax.set_xlabel("time since meter start (s)")
    ax.set_ylabel("power (W)")
    head, _, rest = timeline.source.partition(":")
    ax.set_title(f"{head.upper()}:{rest}", fontsize=8, loc="left")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
