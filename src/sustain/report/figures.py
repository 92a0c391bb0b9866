"""The comparison figures of the paper (Figures 2, 3 and 6) and the sessions and agents sections', drawn
headless (Agg) from the report's tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sustain.report.compare import FAMILY_ORDER, scenario_title

QUALITY_AXIS = {"judge": "LLM-as-a-judge score (0–1)", "f1": "macro F1 (0–1)", "quality": "{name} (0–1)"}
DECADE = 10.0
CAPTION_ROOM = (0, 0.07, 1, 1)  # tight_layout's rect: the bottom strip holds the energy source line
SESSION_DODGE = 0.5  # of one turn: the runs' points at a turn count spread over it, so that no run hides another
RANK_LABEL_PT = 8
RANK_COLUMN_IN, RANK_ROW_IN = 1.35, 0.55  # Figure 3's axes: inches per weight scenario and per ranked row
MAX_SERIES = 24  # beyond this, a legend entry per line and a number per point are unreadable (and slow)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _log_if_wide(ax: Any, axis: str, values: pd.Series) -> str:
    """Log scale where the values span a decade or more; returns the unit suffix for the label."""
    values = values[values > 0]
    if len(values) and values.max() / values.min() >= DECADE:
        (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
        return ", log scale"
    return ""


def _plain_ticks(ax: Any, axis: str) -> None:
    """Log axes labelled 300, 1000, 2000 rather than 3x10^2."""
    from matplotlib.ticker import FuncFormatter, LogLocator

    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    target.set_minor_locator(LogLocator(subs=(2, 3, 5)))
    target.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}"))


def _place_labels(ax: Any, xs: list[float], ys: list[float], labels: list[str], bold: list[bool],
                  within_axes: bool = False) -> None:
    """Put each label beside its point where it hides no other label or point (greedy, first fit), inside the
    figure (or, with `within_axes`, inside the axes: where a panel stands beside them)."""
    fig = ax.figure
    frame = ax.bbox if within_axes else fig.bbox
    renderer = fig.canvas.get_renderer()
    points = [ax.transData.transform((x, y)) for x, y in zip(xs, ys)]
    taken = [(px - 7, py - 7, px + 7, py + 7) for px, py in points]
    candidates = [(8, 5, "left"), (8, -13, "left"), (-8, 5, "right"), (-8, -13, "right"),
                  (8, 16, "left"), (8, -24, "left"), (-8, 16, "right"), (-8, -24, "right"), (0, 22, "center")]
    for (x, y), label, strong in zip(zip(xs, ys), labels, bold):
        ann = ax.annotate(label, (x, y), xytext=(8, 5), textcoords="offset points", fontsize=7.5,
                          fontweight="bold" if strong else "normal")
        for dx, dy, ha in candidates:  # one label moved from place to place: its text is laid out once
            ann.set_position((dx, dy))
            ann.set_horizontalalignment(ha)
            box = ann.get_window_extent(renderer).expanded(1.04, 1.1)
            inside = frame.x0 <= box.x0 and box.x1 <= frame.x1
            if inside and not any(box.x0 < b[2] and b[0] < box.x1 and box.y0 < b[3] and b[1] < box.y1 for b in taken):
                taken.append((box.x0, box.y0, box.x1, box.y1))
                break
        else:  # nowhere free: the first place
            ann.set_position((8, 5))
            ann.set_horizontalalignment("left")


def _caption(fig: Any, text: str) -> Any:
    """The energy source on the figure's face, so a PNG passed around still says where its energy came from."""
    import textwrap

    return fig.text(0.01, 0.01, textwrap.fill(text, 190), fontsize=6.5, color="#444444", va="bottom", ha="left")


def _save(fig: Any, path: Path, rect: tuple[float, float, float, float] | None = CAPTION_ROOM) -> Path:
    """Lay the figure out (tight, within `rect`; None where the caller placed the axes), write it and close it.
    The layout engine is dropped once it has run: savefig would otherwise lay out every text again in a draw of
    its own. zlib level 3: within 10 % of the default level's file size, in 70 % of its time."""
    if rect is not None:
        fig.tight_layout(rect=rect)
        fig.set_layout_engine(None)
    fig.savefig(path, pil_kwargs={"compress_level": 3})
    _pyplot().close(fig)
    return path


def _family_colors(families: list[str]) -> dict[str, Any]:
    plt = _pyplot()
    ordered = sorted(set(families), key=lambda f: (FAMILY_ORDER.index(f) if f in FAMILY_ORDER else 99, f))
    cmap = plt.get_cmap("tab10")
    return {f: cmap(i % 10) for i, f in enumerate(ordered)}


def fig2_quality_vs_energy(t3: pd.DataFrame, front: pd.DataFrame, quality: str, path: Path, caption: str = "",
                           quality_label: str = "quality") -> Path:
    """Each model's lowest-energy configuration: quality against energy, the Pareto front joined and named."""
    plt = _pyplot()
    points = t3.dropna(subset=[quality, "energy_j"])
    models = points[~points["is_reference"].astype(bool)]
    ref = points[points["is_reference"].astype(bool)]
    colors = _family_colors(models["family"].tolist())
    on_front = set(front["label"])

    from matplotlib.lines import Line2D

    fig, ax = plt.subplots(figsize=(10, 6.2), dpi=130)
    scale = _log_if_wide(ax, "x", points["energy_j"])
    if scale:
        _plain_ticks(ax, "x")
    handles = []
    for fam, color in colors.items():
        rows = models[models["family"] == fam]
        ax.scatter(rows["energy_j"], rows[quality], s=60, color=color, zorder=3,
                   edgecolors=["black" if l in on_front else "none" for l in rows["label"]], linewidths=1.4)
        handles.append(Line2D([], [], ls="", marker="o", ms=8, color=color, label=fam))
    if len(ref):
        ax.scatter(ref["energy_j"], ref[quality], s=220, marker="*", color="black", zorder=4)
        handles.append(Line2D([], [], ls="", marker="*", ms=13, color="black", label=f"reference: {ref['label'].iloc[0]}"))
    if len(front):
        ax.plot(front["energy_j"], front[quality], ls="--", lw=1.2, color="#555555", zorder=2, drawstyle="steps-post")
        handles.append(Line2D([], [], ls="--", marker="o", ms=8, color="#555555", mfc="white", mec="black", mew=1.4,
                              label="Pareto front (higher quality, lower energy)"))
    lo, hi = points[quality].min(), points[quality].max()
    pad = max((hi - lo) * 0.08, 0.01)
    ax.set_ylim(lo - pad, min(hi + pad, 1.0 + pad))
    span = points["energy_j"].max() / points["energy_j"].min()
    if scale:
        ax.set_xlim(points["energy_j"].min() / span ** 0.05, points["energy_j"].max() * span ** 0.15)
    ordered = points.sort_values("energy_j")
    _place_labels(ax, ordered["energy_j"].tolist(), ordered[quality].tolist(), ordered["label"].tolist(),
                  [l in on_front for l in ordered["label"]])
    ax.set_xlabel(f"Energy per request (J{scale})")
    ax.set_ylabel(QUALITY_AXIS[quality].format(name=quality_label))
    ax.set_title("Output quality vs energy per request (each model at its lowest-energy configuration)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(handles=handles, fontsize=8, loc="lower right", framealpha=0.9)
    _caption(fig, caption)
    return _save(fig, path)


def fig6_energy_vs_latency(runs: pd.DataFrame, path: Path, caption: str = "") -> Path:
    """Energy against decode latency, one line per model and GPU count across max batch sizes."""
    from sustain.report.compare import family, with_labels

    plt = _pyplot()
    data = with_labels(runs.dropna(subset=["energy_j", "decode_latency_s"]))
    data = data.assign(series=[_series(label, platform, g)
                               for label, platform, g in zip(data["label"], data["platform"], data["gpus"])])
    fig, ax = plt.subplots(figsize=(10, 6.2), dpi=130)
    xscale = _log_if_wide(ax, "x", data["decode_latency_s"])
    yscale = _log_if_wide(ax, "y", data["energy_j"])
    for axis, scale in (("x", xscale), ("y", yscale)):
        if scale:
            _plain_ticks(ax, axis)
    ordered = sorted(data["series"].unique(), key=lambda s: (FAMILY_ORDER.index(family(s)) if family(s) in FAMILY_ORDER else 99, s))
    if len(ordered) > MAX_SERIES:
        _many_series(ax, data, ordered)
    else:
        _few_series(ax, data, ordered)
    ax.set_xlabel(f"Decode latency per request (s{xscale})")
    ax.set_ylabel(f"Energy per request (J{yscale})")
    ax.grid(alpha=0.3, which="both")
    _caption(fig, caption)
    return _save(fig, path)


def _series(label: str, platform: Any, gpus: Any) -> str:
    """A line's name: the model and what it ran on: the CPU, or N GPUs (a CSV row's `gpus` too), or the
    configured `gpus` alone where the run could not tell (a remote endpoint)."""
    if platform == "cpu":
        return f"{label}, CPU"
    if pd.isna(gpus):
        return label
    if platform in ("None", "remote"):
        return f"{label}, gpus={int(gpus)}"
    return f"{label}, {int(gpus)} GPU{'s' if gpus > 1 else ''}"


def _few_series(ax: Any, data: pd.DataFrame, ordered: list[str]) -> None:
    """One line per model and GPU count, each in the legend, each point numbered with its batch size."""
    plt = _pyplot()
    cmap = plt.get_cmap("tab10" if len(ordered) <= 10 else "tab20")
    markers = "osD^vP*Xh<>"
    for i, series in enumerate(ordered):
        rows = data[data["series"] == series].sort_values("batch_size")
        ax.plot(rows["decode_latency_s"], rows["energy_j"], marker=markers[i % len(markers)], ms=6, lw=1.4,
                color=cmap(i % cmap.N), label=series)
        for row in rows.itertuples():
            if not pd.isna(row.batch_size):
                ax.annotate(str(int(row.batch_size)), (row.decode_latency_s, row.energy_j), xytext=(4, 4),
                            textcoords="offset points", fontsize=7, color=cmap(i % cmap.N))
    ax.set_title("Energy vs decode latency across max batch sizes (numbers: max batch size)")
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), title="model, device", title_fontsize=8)


def _many_series(ax: Any, data: pd.DataFrame, ordered: list[str]) -> None:
    """Too many lines to name one by one: each line drawn thin and coloured by family, the legend by family."""
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D

    from sustain.report.compare import family

    colors = _family_colors([family(s) for s in ordered])
    data = data.assign(family=data["series"].map(family)).sort_values(["series", "batch_size"])
    for fam, rows in data.groupby("family", sort=False):
        series = rows["series"].to_numpy(dtype=object)
        lines = np.split(rows[["decode_latency_s", "energy_j"]].to_numpy(dtype=float),
                         np.flatnonzero(series[1:] != series[:-1]) + 1)  # rows sorted by series: one piece each
        ax.add_collection(LineCollection(lines, colors=[colors[fam]], linewidths=0.7, alpha=0.7))
        ax.scatter(rows["decode_latency_s"], rows["energy_j"], s=5, color=colors[fam], alpha=0.7, linewidths=0)
    ax.autoscale_view()
    handles = [Line2D([], [], marker="o", ms=5, lw=1, color=c, label=f) for f, c in colors.items()]
    ax.set_title(f"Energy vs decode latency across max batch sizes ({len(ordered)} lines: one per model and GPU "
                 f"count, small to large batch)", fontsize=10)
    ax.legend(handles=handles, fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), title="family",
              title_fontsize=8)


def _text_color(color: Any) -> str:
    from matplotlib.colors import to_rgb

    r, g, b = to_rgb(color)
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.6 else "white"


def fig3_rank_bump(om: pd.DataFrame, scenarios: dict[str, tuple[float, float, float]], path: Path,
                   caption: str = "") -> Path | None:
    """Rank of each model under each weight scenario, its OM in the node; the reference drawn solid.
    Ties share a rank in the table but get separate rows here so that no node hides another. Rows whose
    OM is not meaningful are left out; None when no row is left."""
    om = om[om["om_meaningful"].astype(bool)].reset_index(drop=True) if "om_meaningful" in om else om
    if om.empty:
        return None
    plt = _pyplot()
    names = list(scenarios)
    n = len(om)
    xs = list(range(len(names)))
    pos = {s: om[f"om_{s}"].rank(ascending=False, method="first").astype(int).tolist() for s in names}
    cmap = plt.get_cmap("tab10" if n <= 11 else "tab20")
    colors, color_i = [], 0
    for is_ref in om["is_reference"]:
        colors.append("black" if is_ref else cmap(color_i % cmap.N))
        color_i += 0 if is_ref else 1

    fig, ax = plt.subplots(dpi=130)
    for i, row in enumerate(om.itertuples()):
        ys = [pos[s][i] for s in names]
        ax.plot(xs, ys, ls="-" if row.is_reference else ":", lw=2.2 if row.is_reference else 1.8,
                color=colors[i], zorder=1)
        ax.scatter(xs, ys, s=760, color=colors[i], zorder=2, edgecolors="white", linewidths=1)
        for x, y, s in zip(xs, ys, names):
            value = getattr(row, f"om_{s}")
            ax.text(x, y, f"{value:.1f}" if value >= 10 else f"{value:.3f}", ha="center", va="center", fontsize=6.5,
                    color=_text_color(colors[i]), zorder=3)

    def side_labels(axis: Any, scenario: str, right: bool) -> list[tuple[str, bool]]:
        order = sorted(range(n), key=lambda i: pos[scenario][i])
        ranks = [int(om[f"rank_{scenario}"].iloc[i]) for i in order]
        labels = [f"{r}. {om['label'].iloc[i]}" if right else f"{om['label'].iloc[i]}  {r}" for i, r in zip(order, ranks)]
        strong = [bool(om["is_reference"].iloc[i]) for i in order]
        axis.set_yticks(range(1, n + 1), labels, fontsize=RANK_LABEL_PT)
        for tick, i, bold in zip(axis.get_yticklabels(), order, strong):
            tick.set_color(colors[i])
            tick.set_fontweight("bold" if bold else "normal")
        axis.tick_params(axis="y", length=0)
        return list(zip(labels, strong))

    ax.set_ylim(n + 0.7, 0.3)
    left = side_labels(ax, names[0], right=False)
    twin = ax.twinx()
    twin.set_ylim(n + 0.7, 0.3)
    right = side_labels(twin, names[-1], right=True)
    ticks = [scenario_title(scenarios[s]).replace(" / ", "\n") for s in names]
    ax.set_xticks(xs, ticks, fontsize=RANK_LABEL_PT)
    ax.set_xlim(-0.5, xs[-1] + 0.5)
    ylabel = "Rank by Overall Metric (1 = best)"
    ax.set_ylabel(ylabel)
    ax.set_xlabel("Weight scenario (Q quality, L decode latency, E energy)")
    metric = om["quality_metric"].iloc[0]
    title = f"Ranking under weight scenarios (node: OM vs the reference, OM > 1 beats it; quality = {metric})"
    ax.set_title(title, fontsize=10)
    for axis in (ax, twin):
        for side in ("top", "right", "left"):
            axis.spines[side].set_visible(False)
    ax.grid(axis="x", alpha=0.2)
    _fit_rank_axes(fig, left, right, max(t.count("\n") + 1 for t in ticks), (title, ylabel), _caption(fig, caption),
                   (RANK_COLUMN_IN * len(names), RANK_ROW_IN * (n + 0.4)))
    return _save(fig, path, None)


def _fit_rank_axes(fig: Any, left: list[tuple[str, bool]], right: list[tuple[str, bool]], tick_lines: int,
                   titles: tuple[str, str], caption: Any, axes_in: tuple[float, float]) -> None:
    """Figure 3's size and margins from its own texts, each measured once, so that the axes keep their inches per
    scenario and per row (at least the y label's length) and no label is cut off. (A tight layout and a tight bounding box took three layouts
    and two draws of every text: most of the figure's time.)"""
    from matplotlib.font_manager import FontProperties

    renderer = fig.canvas.get_renderer()
    pt = 1 / 72

    def size(text: str, points: float, bold: bool = False) -> tuple[float, float]:
        w, h, _ = renderer.get_text_width_height_descent(text, FontProperties(size=points,
                                                                            weight="bold" if bold else "normal"),
                                                         ismath=False)
        return w / fig.dpi, h / fig.dpi

    def widest(labels: list[tuple[str, bool]]) -> float:
        return max((size(text, RANK_LABEL_PT, bold)[0] for text, bold in labels), default=0.0)

    line = {points: 1.2 * size("lp", points)[1] for points in (6.5, RANK_LABEL_PT, 10)}
    pad, tick_pad, label_pad = 0.12, 3.5 * pt, 4 * pt
    margin_left = pad + line[10] + label_pad + widest(left) + tick_pad
    margin_right = tick_pad + widest(right) + pad
    top = pad + line[10] + 6 * pt
    caption_lines = caption.get_text().count("\n") + 1 if caption.get_text() else 0
    bottom = pad + caption_lines * line[6.5] + pad + line[10] + label_pad + tick_lines * line[RANK_LABEL_PT] + tick_pad
    width = max(margin_left + axes_in[0] + margin_right, size(titles[0], 10)[0] + 2 * pad)
    height = top + max(axes_in[1], size(titles[1], 10)[0] + pad) + bottom
    fig.set_size_inches(width, height)
    fig.subplots_adjust(left=margin_left / width, right=1 - margin_right / width, bottom=bottom / height,
                        top=1 - top / height)
    caption.set_y(pad / height)  # a fixed distance from the edge, however tall the figure


def _run_colors(labels: list[str]) -> dict[str, Any]:
    plt = _pyplot()
    cmap = plt.get_cmap("tab10" if len(labels) <= 10 else "tab20")
    return {label: cmap(i % cmap.N) for i, label in enumerate(labels)}


def sessions_energy(points: pd.DataFrame, path: Path, caption: str = "") -> Path:
    """Left: energy against turns (each run's points side by side, its mean per turn count joined); right:
    energy against the session's prompt tokens. One colour per run."""
    plt = _pyplot()
    labels = sorted(points["label"].unique())
    colors = _run_colors(labels)
    fig, (by_turns, by_context) = plt.subplots(1, 2, figsize=(13, 5.6), dpi=130, sharey=True)
    yscale = _log_if_wide(by_turns, "y", points["energy_j"])
    xscale = _log_if_wide(by_context, "x", points["prompt_tokens"].astype(float))
    if yscale:
        _plain_ticks(by_turns, "y")
    if xscale:
        _plain_ticks(by_context, "x")
    width = SESSION_DODGE / max(len(labels), 1)
    for i, label in enumerate(labels):
        rows = points[points["label"] == label]
        shift = (i - (len(labels) - 1) / 2) * width
        means = rows.groupby("turns")["energy_j"].mean()
        by_turns.plot(means.index + shift, means.to_numpy(), lw=1.2, color=colors[label], alpha=0.8)
        by_turns.scatter(rows["turns"] + shift, rows["energy_j"], s=26, color=colors[label], alpha=0.8, label=label,
                         edgecolors="white", linewidths=0.5, zorder=3)
        by_context.scatter(rows["prompt_tokens"], rows["energy_j"], s=26, color=colors[label], alpha=0.8,
                           edgecolors="white", linewidths=0.5, zorder=3)
    turns = sorted(points["turns"].unique())
    by_turns.set_xticks(turns, [str(int(t)) for t in turns])
    by_turns.set_xlabel("Turns of the session (each run's points side by side; line: its mean)")
    by_turns.set_ylabel(f"Energy per completed session (J{yscale})")
    by_context.set_xlabel(f"Context: prompt tokens the session sent, summed over its turns{xscale}")
    for ax in (by_turns, by_context):
        ax.grid(alpha=0.3, which="both")
    fig.suptitle("Energy per completed session against its turns and its context (one point per session)",
                 fontsize=11)
    fig.legend(*by_turns.get_legend_handles_labels(), loc="lower center", ncol=min(3, len(labels)), fontsize=8,
               bbox_to_anchor=(0.5, 0.045), title="run", title_fontsize=8)
    _caption(fig, caption)
    rows_of_legend = -(-len(labels) // min(3, len(labels)))
    return _save(fig, path, (0, CAPTION_ROOM[1] + 0.045 * rows_of_legend + 0.04, 1, 1))


def sessions_prefix_cache(pairs: pd.DataFrame, path: Path, caption: str = "") -> Path:
    """Per pair of runs, the prefix cache on beside off: energy per completed session and p90 session latency,
    the ratio on / off over each pair."""
    import textwrap

    from matplotlib.patches import Patch

    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(max(10, 2.2 * len(pairs) + 6), 4.6), dpi=130)
    xs = list(range(len(pairs)))
    names = [textwrap.fill(str(c), 24) for c in pairs["configuration"]]
    panels = (("energy_per_session_j", "energy_ratio", "Energy per completed session (J)"),
              ("session_latency_s_p90", "latency_ratio", "p90 session latency (s)"))
    on_color, off_color = "#1f77b4", "#bbbbbb"
    for ax, (metric, ratio, title) in zip(axes, panels):
        on, off = pairs[f"{metric}_on"], pairs[f"{metric}_off"]
        ax.bar([x - 0.2 for x in xs], on, width=0.4, color=on_color)
        ax.bar([x + 0.2 for x in xs], off, width=0.4, color=off_color)
        for x, a, b, r in zip(xs, on, off, pairs[ratio]):
            top = pd.Series([a, b]).max()
            if pd.notna(r) and pd.notna(top):
                ax.annotate(f"on/off {r:.2f}", (x, top), xytext=(0, 3), textcoords="offset points", ha="center",
                            fontsize=7.5)
        ax.set_xticks(xs, names, fontsize=7.5)
        ax.set_xlim(-0.8, len(pairs) - 0.2)
        ax.set_title(title, fontsize=10)
        ax.margins(y=0.12)
        ax.grid(alpha=0.3, axis="y")
    fig.suptitle("The prefix cache's effect: runs that differ only in engine.args.enable_prefix_caching", fontsize=11)
    handles = [Patch(color=on_color, label="prefix cache on"), Patch(color=off_color, label="prefix cache off")]
    fig.legend(handles=handles, loc="upper center", ncol=2, fontsize=8, bbox_to_anchor=(0.5, 0.945), frameon=False)
    _caption(fig, caption)
    return _save(fig, path, (0, CAPTION_ROOM[1] + 0.02, 1, 0.92))


def agents_pareto(rows: pd.DataFrame, path: Path, caption: str = "", task: str = "agent") -> Path:
    """Per agent run: energy per successful task against success rate, the Pareto front joined and its runs in
    bold. A run with no such energy (no success) stands in a panel of its own at the right edge, open markers,
    so that no number on the energy axis is ever given to it."""
    from matplotlib.lines import Line2D

    from sustain.report.agents import ENERGY, SUCCESS

    plt = _pyplot()
    placed = rows[rows[ENERGY].notna() & rows[SUCCESS].notna()].sort_values(ENERGY)
    apart = rows[rows[ENERGY].isna() & rows[SUCCESS].notna()]
    if len(apart):
        fig, (ax, edge) = plt.subplots(1, 2, figsize=(11, 6.4), dpi=130, sharey=True,
                                       gridspec_kw={"width_ratios": [5, min(1 + 0.35 * len(apart), 3)]})
    else:
        fig, ax = plt.subplots(figsize=(10, 6.4), dpi=130)
    front = placed[placed["pareto"] == "yes"]
    others = placed[placed["pareto"] != "yes"]
    ax.scatter(others[ENERGY], others[SUCCESS], s=55, color="#6b8fb5", zorder=3)
    ax.scatter(front[ENERGY], front[SUCCESS], s=70, color="#d9822b", edgecolors="black", linewidths=1.2, zorder=4)
    ax.plot(front[ENERGY], front[SUCCESS], ls="--", lw=1.2, color="#555555", zorder=2, drawstyle="steps-post")
    scale = _energy_axis(ax, placed[ENERGY])
    if len(placed):
        _place_labels(ax, placed[ENERGY].tolist(), placed[SUCCESS].tolist(), placed["label"].tolist(),
                      [p == "yes" for p in placed["pareto"]], within_axes=len(apart) > 0)
    ax.set_ylim(-0.05, 1.08)
    ax.yaxis.set_major_formatter(_percent())
    ax.set_xlabel(f"Energy per successful task (J{scale}): every task's energy over the successful ones")
    ax.set_ylabel("Success rate (tasks ending as expected)")
    ax.grid(alpha=0.3, which="both")
    handles = [Line2D([], [], ls="--", marker="o", ms=8, color="#555555", mfc="#d9822b", mec="black",
                      label="Pareto front (less energy per success, higher success rate)")][:len(front)]
    handles += [Line2D([], [], ls="", marker="o", ms=7, color="#6b8fb5", label="other runs")][:len(others)]
    if len(apart):
        _edge_panel(edge, apart)
        handles.append(Line2D([], [], ls="", marker="o", ms=8, mfc="none", mec="#b23a48", mew=1.5,
                              label="no energy per successful task (right edge)"))
    if handles:
        ax.legend(handles=handles, fontsize=8, loc="best", framealpha=0.9)
    fig.suptitle(f"Task {task}: energy per successful task against success rate (one point per run)", fontsize=11)
    _caption(fig, caption)
    return _save(fig, path)


def _energy_axis(ax: Any, energy: pd.Series) -> str:
    """Log where the energies span a decade (2 and 5 alone named between decades, so that neighbours never
    collide), from 0 otherwise; an empty axis says why. Returns the unit suffix for the label."""
    if energy.empty:
        ax.set_xticks([])
        ax.text(0.5, 0.5, "no run succeeded: no energy per successful task to place", transform=ax.transAxes,
                ha="center", va="center", fontsize=9, color="#555555")
        return ""
    scale = _log_if_wide(ax, "x", energy)
    lo, hi = energy.min(), energy.max()
    if not scale:
        ax.set_xlim(0, hi * 1.25)
        return scale
    _plain_ticks(ax, "x")
    if hi / lo >= 30:
        from matplotlib.ticker import FuncFormatter

        ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if f"{v:e}"[0] in "25" else ""))
    ax.set_xlim(lo / (hi / lo) ** 0.08, hi * (hi / lo) ** 0.2)
    return scale


def _percent() -> Any:
    from matplotlib.ticker import PercentFormatter

    return PercentFormatter(1.0, decimals=0)


def _edge_panel(ax: Any, apart: pd.DataFrame) -> None:
    """The runs with no energy per successful task, side by side at their success rate, each label upright
    beside its open marker saying why it has no energy figure."""
    from sustain.report.agents import SUCCESS

    xs = [(i + 1) / (len(apart) + 1) for i in range(len(apart))]
    ax.scatter(xs, apart[SUCCESS], s=70, facecolors="none", edgecolors="#b23a48", linewidths=1.5, zorder=3)
    for x, row in zip(xs, apart.itertuples()):
        why = "no success" if not getattr(row, SUCCESS) else "no energy figure"
        high = getattr(row, SUCCESS) > 0.5
        ax.annotate(f"{row.label}: {why}", (x, getattr(row, SUCCESS)), xytext=(0, -9 if high else 9),
                    textcoords="offset points", rotation=90, ha="center", va="top" if high else "bottom",
                    fontsize=7.5, color="#b23a48")
    ax.set_xlim(0, 1)
    ax.set_xticks([])
    ax.set_facecolor("#f6f6f6")
    ax.set_xlabel("no energy per\nsuccessful task")
    ax.tick_params(axis="y", left=False)
