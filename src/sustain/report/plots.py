"""Figures of one run, drawn headless (Agg) so they work on clusters and CI."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

DOMAIN_COLOURS = {"gpu": "#1f5f8b", "cpu": "#2a9d4b", "dram": "#8b5fbf", "cpu+dram": "#2a9d4b"}


def energy_badge(lines: dict[str, Any]) -> str:
    """What each plotted energy is, in words on the figure's face: measured by a counter, or an estimate."""
    def kind(tl: Any) -> str:
        if tl.measured:
            return "MEASURED (counters)"
        return "PARTLY ESTIMATED" if tl.source.startswith("partly") else "ESTIMATE, not measured"

    return "\n".join(f"{name}: {kind(tl)}" for name, tl in lines.items())


def plot_timeline(timeline: Any, attribution: Any, run_start: float, run_end: float, path: Path,
                  domains: dict[str, Any] | None = None) -> None:
    """Power over time (each energy domain where there are several), the engine run marked, the span energy
    per token was taken from shaded, and the energy source written on the figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t0 = timeline.t[0]
    fig, ax = plt.subplots(figsize=(9, 4.2), dpi=120)
    lines = domains or {timeline.domain or "energy": timeline}
    for name, tl in lines.items():
        how = "measured" if tl.measured else "estimate"
        ax.plot([t - t0 for t in tl.t], tl.power_w, lw=1.2, color=DOMAIN_COLOURS.get(name, "#1f5f8b"),
                label=f"{name} power ({how})")
    ax.axvline(run_start - t0, color="grey", ls=":", lw=1)
    ax.axvline(run_end - t0, color="grey", ls=":", lw=1, label="requests submitted / last finished")
    a, b = attribution.span_s
    label = "steady-state window" if attribution.mode == "steady_state" else "whole run (no steady state)"
    ax.axvspan(a - t0, b - t0, color="#f2a541", alpha=0.3, label=f"{label}: {attribution.window_energy_j:.0f} J")
    ax.set_xlabel("time since meter start (s)")
    ax.set_ylabel("power (W)")
    title = f"energy source (shaded window's energy): {timeline.source}"
    ax.set_title("\n".join(textwrap.wrap(title, 140)), fontsize=7, loc="left")
    measured = all(tl.measured for tl in lines.values())
    ax.text(0.99, 0.97, energy_badge(lines), transform=ax.transAxes, ha="right", va="top", fontsize=8,
            weight="bold", color="#1f5f8b" if measured else "#b23a48",
            bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.8})
    ax.set_ylim(bottom=0, top=ax.get_ylim()[1] * 1.25)  # room for the badge above the highest line
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)  # beside the plot, never over a line
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
