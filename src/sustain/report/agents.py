"""The report's agents section: for each live agent task, what one successful task costs each run against how
often it succeeds, the Pareto front of the two (min energy per success, max success rate), and a table of the
figures behind them.

Agent runs are read apart from the comparison tables, like sessions runs: every finished run with
`agent_success_rate` counts, the newest of each config hash. A run that never succeeded has no energy per
successful task; it is drawn at the figure's right edge, apart from the numbered axis, never at a made-up value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from sustain import names
from sustain.report.compare import _num, to_markdown
from sustain.search.objectives import Objective, pareto_front
from sustain.tracking import store
from sustain.tracking.mlflow_tracker import CONFIG_HASH_TAG

SUCCESS, VALIDITY = "agent_success_rate", "tool_call_validity"  # sustain.tasks.agent's (it imports sklearn)
TOOL_CALLING_KEY = "task.tool_calling"
THINKING_KEY = "model.chat_template_kwargs.enable_thinking"
ENERGY, PER_TASK = "energy_per_successful_session_j", "energy_per_session_j"
METRICS = (SUCCESS, VALIDITY, "sessions", "steps_per_session", "tool_calls_per_session", "steps_per_success",
           PER_TASK, ENERGY, "successful_sessions_per_kwh", "mean_reasoning_tokens", "reasoning_token_share")
TAGS = {"model": "model", "quantization": "quantization", "engine": "engine", "task": names.TASK_TAG,
        "energy_source": names.ENERGY_SOURCE_TAG, "config_hash": CONFIG_HASH_TAG}
OBJECTIVES = (Objective(ENERGY, "minimize"), Objective(SUCCESS, "maximize"))
ENFORCED = "enforced"  # constrained tool calls are well-formed by construction: no validity to measure
COLUMNS = ["task", "label", "run_name", "run_id", "model", "quantization", "engine", "tool_calling",
           "enable_thinking", "sessions", SUCCESS, VALIDITY, "steps_per_session", "tool_calls_per_session",
           "steps_per_success", PER_TASK, ENERGY, "successful_sessions_per_kwh", "mean_reasoning_tokens",
           "reasoning_token_share", "pareto", "energy_source"]


@dataclass
class Agents:
    runs: pd.DataFrame  # one row per agent run, COLUMNS, grouped by task
    figures: dict[str, Path] = field(default_factory=dict)  # task -> its Pareto figure


def load(tracking_uri: str, experiment: str, parent_run_id: str | None, tags: dict[str, str]) -> Agents | None:
    """The agent runs among those the report reads (runs with `agent_success_rate`); None when there are none."""
    raw = store.read(tracking_uri, store.Query(experiment, parent_run_id, dict(tags), METRICS, tuple(TAGS.values()),
                                               (TOOL_CALLING_KEY, THINKING_KEY), require=SUCCESS))
    runs = _runs(raw)
    return None if runs.empty else Agents(table(runs))


def _runs(raw: store.Raw) -> pd.DataFrame:
    """One row per run with an agent success rate, the newest of each config hash, with its two settings."""
    if raw.runs.empty:
        return pd.DataFrame()
    metrics = raw.wide("metric", METRICS).apply(pd.to_numeric, errors="coerce")
    tags = raw.wide("tag", tuple(TAGS.values()))
    params = raw.wide("param", (TOOL_CALLING_KEY, THINKING_KEY))
    df = raw.runs.reset_index(drop=True).copy()
    for column in METRICS:
        df[column] = metrics[column].to_numpy(dtype=float)
    for column, key in TAGS.items():
        df[column] = tags[key].to_numpy(dtype=object)
    df["tool_calling"] = params[TOOL_CALLING_KEY].to_numpy(dtype=object)
    df["enable_thinking"] = [_flag(v) for v in params[THINKING_KEY]]
    df = df[df[SUCCESS].notna()].sort_values("start_time", ascending=False, kind="stable")
    same = df["config_hash"].where(df["config_hash"].notna(), df["run_id"])
    return df[~same.duplicated()].reset_index(drop=True)


def _flag(value: Any) -> str | None:
    text = str(value).strip().lower()
    return {"true": "on", "false": "off"}.get(text)


def table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per task: a label naming each run, the Pareto membership on (energy per success, success rate), and
    tool-call validity marked enforced where the calls were constrained."""
    frames = []
    for task, rows in runs.assign(task=runs["task"].fillna("agent")).groupby("task", sort=True):
        rows = rows.assign(label=labels(rows), pareto=_on_front(rows))
        rows[VALIDITY] = rows[VALIDITY].astype(object).where(rows["tool_calling"] != "constrained", ENFORCED)
        frames.append(rows.sort_values([SUCCESS, ENERGY], ascending=[False, True], kind="stable"))
    return pd.concat(frames, ignore_index=True).reindex(columns=COLUMNS)


def labels(rows: pd.DataFrame) -> list[str]:
    """Model (and quantization), engine where the runs differ in it, how tools were called, thinking on/off
    where it was swept; a run id where two runs would still read the same."""
    quant = rows["quantization"].fillna("none").astype(str)
    text = rows["model"].fillna(rows["run_name"]).astype(str).where(quant == "none", rows["model"] + " " + quant)
    if rows["engine"].nunique(dropna=False) > 1:
        text = text + ", " + rows["engine"].fillna("?").astype(str)
    text = text + ", " + rows["tool_calling"].fillna("?").astype(str) + " calls"
    thinking = rows["enable_thinking"]
    if thinking.dropna().nunique() > 1:
        text = text + (", thinking " + thinking).fillna("")
    repeated = text.duplicated(keep=False)
    text[repeated] = text[repeated] + " [" + rows.loc[repeated, "run_id"].str[:8] + "]"
    return text.tolist()


def _on_front(rows: pd.DataFrame) -> list[str]:
    """yes for the runs no other beats on both energy per successful task and success rate; a run without a
    success (or without an energy) has no point to compare, so never."""
    placed = rows[rows[ENERGY].notna() & rows[SUCCESS].notna()]
    front = {placed.index[i] for i in pareto_front(placed[[ENERGY, SUCCESS]].to_numpy().tolist(), OBJECTIVES)}
    return ["yes" if i in front else "no" for i in rows.index]


def no_success(rows: pd.DataFrame) -> pd.Series:
    return rows[SUCCESS].fillna(0).eq(0) & rows[ENERGY].isna()


def _n(x: float) -> str:
    return "0" if x == 0 else _num(x)


def _pct(x: Any) -> str:
    return "" if x is None or pd.isna(x) else f"{x:.1%}"


def _validity(x: Any) -> str:
    return x if x == ENFORCED else ("no calls" if pd.isna(x) else f"{float(x):.1%}")


def _success(rate: float, n: float) -> str:
    return _pct(rate) if pd.isna(n) else f"{rate:.1%} ({round(rate * n)} of {int(n)})"


def _succeeded_energy(energy: float, rate: float) -> str:
    return "no success" if pd.isna(energy) and not rate else _num(energy)


def format_runs(rows: pd.DataFrame) -> pd.DataFrame:
    """The table as shown; enable_thinking and the reasoning columns only where some run has them."""
    shown = {
        "Run": rows["label"], "Engine": rows["engine"].fillna(""), "Tool calls": rows["tool_calling"].fillna(""),
        "enable_thinking": rows["enable_thinking"].fillna("not set"),
        "Success rate": [_success(r, n) for r, n in zip(rows[SUCCESS], rows["sessions"])],
        "Tool-call validity": rows[VALIDITY].map(_validity),
        "Steps / task": rows["steps_per_session"].map(_n),
        "Tool calls / task": rows["tool_calls_per_session"].map(_n),
        "J / task": rows[PER_TASK].map(_num),
        "J / successful task": [_succeeded_energy(e, r) for e, r in zip(rows[ENERGY], rows[SUCCESS])],
        "Successful tasks / kWh": rows["successful_sessions_per_kwh"].map(_n),
        "Reasoning tokens / request": rows["mean_reasoning_tokens"].map(_num),
        "Reasoning share of output": rows["reasoning_token_share"].map(_pct),
        "Pareto": rows["pareto"],
    }
    out = pd.DataFrame(shown)
    unset = [c for c, src in (("enable_thinking", "enable_thinking"), ("Reasoning tokens / request",
             "mean_reasoning_tokens"), ("Reasoning share of output", "reasoning_token_share")) if rows[src].isna().all()]
    return out.drop(columns=unset)


def caption(rows: pd.DataFrame) -> str:
    """Where the energy came from and what a task's energy holds, for the face of a figure."""
    sources = sorted(rows["energy_source"].dropna().astype(str).unique())
    stated = "; ".join(s if len(s) <= 70 else s[:67] + "..." for s in sources) or "source not stated"
    return (f"Energy ({stated}): a task's energy is the sum of its requests' attributed energy, idle time (tools "
            f"running) not in it; energy per successful task is every task's energy over the successful ones, "
            f"failures included.")


def _suffix(tasks: list[str], task: str) -> str:
    return "" if len(tasks) == 1 else "." + re.sub(r"[^A-Za-z0-9_.-]", "_", task)


def write(found: Agents, out: Path) -> None:
    """agents.csv/.md (per run, every task) and one Pareto figure per task."""
    from sustain.report import figures

    found.runs.to_csv(out / "agents.csv", index=False)
    tasks = list(found.runs["task"].unique())
    text = ["# Agents: success against energy per successful task\n"]
    for task in tasks:
        rows = found.runs[found.runs["task"] == task]
        text += [f"## Task {task}\n", to_markdown(format_runs(rows))]
        found.figures[task] = figures.agents_pareto(rows, out / f"agents_pareto{_suffix(tasks, task)}.png",
                                                    caption(rows), task)
    (out / "agents.md").write_text("\n".join(text), encoding="utf-8")


def blocks(found: Agents) -> list[Any]:
    """The HTML section: per task, the Pareto figure and the table."""
    from sustain.report.html import Block

    out = []
    for task, rows in found.runs.groupby("task", sort=False):
        failed = int(no_success(rows).sum())
        none = (f" {failed} run(s) succeeded at no task: they have no energy per successful task and stand at the "
                f"right edge, apart from the axis, open markers." if failed else "")
        if not (rows["pareto"] == "yes").any():
            none += " No run succeeded at any task, so there is no Pareto front."
        out += [Block(f"Agents, task {task}: energy per successful task against success rate",
                      "One point per run (the newest of each configuration); the Pareto front (less energy per "
                      "successful task, higher success rate) is joined and its runs in bold." + none,
                      figure=found.figures.get(task)),
                Block(f"Agents, task {task}: per run",
                      "Tool-call validity is 'enforced' for constrained calls (a call is well-formed by "
                      "construction), 'no calls' where the model made none. J / successful task is every task's "
                      "energy over the successful ones, failures included.", format_runs(rows))]
    return out
