"""The report's sessions section: what a completed agent session costs in each sessions run, one point per
session against its turns and its context, and what the prefix cache changes where two runs differ in it alone.

Sessions runs are read apart from the comparison tables: those keep the newest run per model, GPUs and batch
size, which would fold a sweep over sessions at once and the prefix cache into one row. Here every finished
run counts, the newest of each config hash (a rerun replaces its predecessor).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from sustain import names
from sustain.report.compare import _num, to_markdown
from sustain.tracking import store
from sustain.tracking.mlflow_tracker import CONFIG_HASH_TAG

TABLE = "sessions.json"
PREFIX_KEY = "engine.args.enable_prefix_caching"
METRICS = ("sessions", "sessions_completed", "energy_per_session_j", "energy_per_successful_session_j",
           "sessions_per_kwh", "session_latency_s_p90", "prefix_cache_hit_rate", "session_idle_energy_j")
TAGS = {"model": "model", "quantization": "quantization", "engine": "engine", "gpus": "gpus",
        "task": names.TASK_TAG, "energy_source": names.ENERGY_SOURCE_TAG, "config_hash": CONFIG_HASH_TAG}
# Params that say where a run ran or was logged, not what it measured: runs differing in them alone are a pair.
UNMEASURED = ("run_name", "checkpoint_dir", "rerun", "verbose", "tracking.", "slurm.", "resources.")
RUN_COLUMNS = ["label", "run_name", "run_id", "task", "model", "quantization", "engine", "gpus", "load",
               "max_in_flight", "prefix_caching", "sessions", "sessions_completed", "sessions_scored",
               "sessions_succeeded", "energy_per_session_j", "energy_per_successful_session_j", "sessions_per_kwh",
               "session_latency_s_p90", "prefix_cache_hit_rate", "session_idle_energy_j", "energy_source"]
POINT_COLUMNS = ["label", "run_id", "session", "turns", "prompt_tokens", "energy_j"]
PAIR_COLUMNS = ["configuration", "energy_per_session_j_on", "energy_per_session_j_off", "energy_ratio",
                "session_latency_s_p90_on", "session_latency_s_p90_off", "latency_ratio",
                "prefix_cache_hit_rate_on", "prefix_cache_hit_rate_off", "run_on", "run_off"]
NO_PAIR = ("No two sessions runs differ only in engine.args.enable_prefix_caching, so the prefix cache's effect "
           "cannot be shown: run `python -m sustain -m experiment=agent_sessions` (1, 4 and 8 sessions at once, the "
           "prefix cache on and off) and report on it.")


@dataclass
class Sessions:
    runs: pd.DataFrame  # one row per sessions run, RUN_COLUMNS
    points: pd.DataFrame  # one row per completed session with an energy, POINT_COLUMNS
    pairs: pd.DataFrame  # runs differing only in the prefix cache, PAIR_COLUMNS
    without_table: list[str]  # runs that logged no sessions table (older runs)
    figure: Path | None = None
    pair_figure: Path | None = None


def load(tracking_uri: str, experiment: str, parent_run_id: str | None, tags: dict[str, str]) -> Sessions | None:
    """The sessions runs among those the report reads (runs with `sessions_completed`); None when there are none."""
    raw = store.read(tracking_uri, store.Query(experiment, parent_run_id, dict(tags), METRICS, tuple(TAGS.values()),
                                               (), require="sessions_completed"))
    runs = _runs(raw)
    if runs.empty:
        return None
    params = store.run_params(tracking_uri, runs["run_id"].tolist())
    runs = _with_settings(runs, params)
    tables = {run_id: store.read_table(tracking_uri, run_id, TABLE) for run_id in runs["run_id"]}
    runs = _with_success_counts(runs, tables)
    without = runs.loc[[tables[r] is None for r in runs["run_id"]], "label"].tolist()
    return Sessions(runs[RUN_COLUMNS], points(runs, tables), prefix_cache_pairs(runs, params), without)


def _runs(raw: store.Raw) -> pd.DataFrame:
    """One row per run with sessions metrics, the newest of each config hash, newest first."""
    if raw.runs.empty:
        return pd.DataFrame()
    metrics = raw.wide("metric", METRICS).apply(pd.to_numeric, errors="coerce")
    tags = raw.wide("tag", tuple(TAGS.values()))
    df = raw.runs.reset_index(drop=True).copy()
    for column in METRICS:
        df[column] = metrics[column].to_numpy(dtype=float)
    for column, key in TAGS.items():
        df[column] = tags[key].to_numpy(dtype=object)
    df = df[df["sessions_completed"].notna()].sort_values("start_time", ascending=False, kind="stable")
    same = df["config_hash"].where(df["config_hash"].notna(), df["run_id"])
    return df[~same.duplicated()].reset_index(drop=True)


def _with_settings(runs: pd.DataFrame, params: dict[str, dict[str, str]]) -> pd.DataFrame:
    """The two settings a sessions study sweeps, read from each run's params, and a label naming the run."""
    runs = runs.copy()
    got = [params.get(run_id, {}) for run_id in runs["run_id"]]
    runs["load"] = [p.get("load.name") for p in got]
    runs["max_in_flight"] = pd.to_numeric(pd.Series([p.get("load.max_in_flight") for p in got]), errors="coerce")
    runs["load_rate"] = [p.get("load.rate") for p in got]
    runs["prefix_caching"] = [_flag(p.get(PREFIX_KEY)) for p in got]
    runs["gpus"] = pd.to_numeric(runs["gpus"], errors="coerce")
    runs["setting"] = _settings(runs)
    cache = runs["prefix_caching"].map({"true": ", prefix cache on", "false": ", prefix cache off"}).fillna("")
    runs["label"] = runs["setting"] + cache
    repeated = runs["label"].duplicated(keep=False)
    runs.loc[repeated, "label"] = runs.loc[repeated, "label"] + " [" + runs.loc[repeated, "run_id"].str[:8] + "]"
    return runs


def _flag(value: str | None) -> str | None:
    text = str(value).strip().lower()
    return text if text in ("true", "false") else None


def _settings(runs: pd.DataFrame) -> pd.Series:
    """Model (its quantization; its engine, task and sessions where the runs differ in them) and how sessions
    were started."""
    quant = runs["quantization"].fillna("none").astype(str)
    parts = runs["model"].fillna(runs["run_name"]).astype(str).where(quant == "none", runs["model"] + " " + quant)
    for column in ("engine", "task"):
        if runs[column].nunique(dropna=False) > 1:
            parts = parts + ", " + runs[column].fillna("?").astype(str)
    if runs["sessions"].nunique(dropna=False) > 1:
        parts = parts + ", " + runs["sessions"].map(lambda n: "? sessions" if pd.isna(n) else f"{int(n)} sessions")
    return parts + [_load_text(r.load, r.max_in_flight, r.load_rate) for r in runs.itertuples()]


def _load_text(load: Any, max_in_flight: float, rate: Any) -> str:
    if load == "concurrency" and not pd.isna(max_in_flight):
        return f", {int(max_in_flight)} at once"
    if load == "poisson" and rate is not None:
        return f", {rate} sessions/s"
    if load == "burst":
        return ", all at once"
    return f", load {load}" if load else ""


def _with_success_counts(runs: pd.DataFrame, tables: dict[str, pd.DataFrame | None]) -> pd.DataFrame:
    """Sessions scored (declaring an expected end) and succeeded, from each run's sessions table."""
    runs = runs.copy()
    scored, succeeded = [], []
    for run_id in runs["run_id"]:
        table = tables[run_id]
        success = table["success"].dropna() if table is not None and "success" in table else None
        scored.append(float("nan") if success is None else float(len(success)))
        succeeded.append(float("nan") if success is None else float(success.astype(bool).sum()))
    return runs.assign(sessions_scored=scored, sessions_succeeded=succeeded)


def points(runs: pd.DataFrame, tables: dict[str, pd.DataFrame | None]) -> pd.DataFrame:
    """One row per completed session with an energy: its run's label, turns, prompt tokens and energy."""
    frames = []
    for run in runs.itertuples():
        table = tables.get(run.run_id)
        if table is None or table.empty:
            continue
        done = table[table["completed"].astype(bool) & table["energy_j"].notna()]
        frames.append(pd.DataFrame({"label": run.label, "run_id": run.run_id, "session": done["session"].astype(str),
                                    "turns": done["requests"], "prompt_tokens": done["prompt_tokens"],
                                    "energy_j": done["energy_j"].astype(float)}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=POINT_COLUMNS)


def prefix_cache_pairs(runs: pd.DataFrame, params: dict[str, dict[str, str]]) -> pd.DataFrame:
    """Runs whose params are the same but for engine.args.enable_prefix_caching (and where they ran or were
    logged): the newest run with the cache on beside the newest with it off."""
    groups: dict[frozenset, dict[str, Any]] = {}
    for run in runs.sort_values("start_time", ascending=False, kind="stable").itertuples():
        if pd.isna(run.prefix_caching):
            continue
        rest = frozenset((k, v) for k, v in params.get(run.run_id, {}).items()
                         if k != PREFIX_KEY and not k.startswith(UNMEASURED))
        groups.setdefault(rest, {}).setdefault(run.prefix_caching, run)
    rows = [_pair(found["true"], found["false"]) for found in groups.values() if len(found) == 2]
    return pd.DataFrame(rows, columns=PAIR_COLUMNS).sort_values("configuration", kind="stable").reset_index(drop=True)


def _pair(on: Any, off: Any) -> dict[str, Any]:
    def ratio(a: float, b: float) -> float:
        return a / b if pd.notna(a) and pd.notna(b) and b > 0 else float("nan")

    return {"configuration": on.setting,
            "energy_per_session_j_on": on.energy_per_session_j, "energy_per_session_j_off": off.energy_per_session_j,
            "energy_ratio": ratio(on.energy_per_session_j, off.energy_per_session_j),
            "session_latency_s_p90_on": on.session_latency_s_p90,
            "session_latency_s_p90_off": off.session_latency_s_p90,
            "latency_ratio": ratio(on.session_latency_s_p90, off.session_latency_s_p90),
            "prefix_cache_hit_rate_on": on.prefix_cache_hit_rate,
            "prefix_cache_hit_rate_off": off.prefix_cache_hit_rate,
            "run_on": on.run_id, "run_off": off.run_id}


def _ratio_text(x: float) -> str:
    return "" if pd.isna(x) else f"{x:.2f}"


def _share(x: float) -> str:
    return "" if pd.isna(x) else f"{x:.1%}"


def _of(part: float, whole: float, empty: str) -> str:
    return empty if pd.isna(part) or pd.isna(whole) else f"{int(part)} of {int(whole)}"


def format_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The per-run table as shown: counts as "k of n", energies to the precision their size calls for."""
    return pd.DataFrame({
        "Run": runs["label"],
        "Completed": [_of(c, n, "") for c, n in zip(runs["sessions_completed"], runs["sessions"])],
        "Succeeded": [_of(s, n, "not scored") if n else "no expected end" for s, n in
                      zip(runs["sessions_succeeded"], runs["sessions_scored"])],
        "J / completed session": runs["energy_per_session_j"].map(_num),
        "J / successful session": runs["energy_per_successful_session_j"].map(_num),
        "Sessions / kWh": runs["sessions_per_kwh"].map(_num),
        "p90 session latency (s)": runs["session_latency_s_p90"].map(_num),
        "Prefix cache hit rate": runs["prefix_cache_hit_rate"].map(_share),
        "Idle energy (J)": runs["session_idle_energy_j"].map(_num),
        "load.max_in_flight": runs["max_in_flight"].map(lambda x: "" if pd.isna(x) else str(int(x))),
        "enable_prefix_caching": runs["prefix_caching"].fillna("not set"),
    })


def format_pairs(pairs: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "Configuration": pairs["configuration"],
        "J / session, cache on": pairs["energy_per_session_j_on"].map(_num),
        "J / session, cache off": pairs["energy_per_session_j_off"].map(_num),
        "Energy on / off": pairs["energy_ratio"].map(_ratio_text),
        "p90 session latency (s), on": pairs["session_latency_s_p90_on"].map(_num),
        "p90 session latency (s), off": pairs["session_latency_s_p90_off"].map(_num),
        "Latency on / off": pairs["latency_ratio"].map(_ratio_text),
        "Hit rate on": pairs["prefix_cache_hit_rate_on"].map(_share),
        "Hit rate off": pairs["prefix_cache_hit_rate_off"].map(_share),
    })


def caption(runs: pd.DataFrame) -> str:
    """Where the energy came from and what a session's energy holds, for the face of a figure."""
    sources = sorted(runs["energy_source"].dropna().astype(str).unique())
    stated = "; ".join(s if len(s) <= 70 else s[:67] + "..." for s in sources) or "source not stated"
    return (f"Energy of a session: the sum of its requests' attributed energy ({stated}); the engine's energy while "
            f"no request was in flight (think and tool time) is not in it (idle energy, in the table).")


def write(found: Sessions, out: Path) -> None:
    """sessions.csv/.md (per run), sessions_points.csv (the figure's data), the prefix cache's pairs, figures."""
    from sustain.report import figures

    found.runs.to_csv(out / "sessions.csv", index=False)
    found.points.to_csv(out / "sessions_points.csv", index=False)
    text = ["# Sessions: per run\n", to_markdown(format_runs(found.runs)), "## The prefix cache's effect\n"]
    if len(found.pairs):
        found.pairs.to_csv(out / "sessions_prefix_cache.csv", index=False)
        text.append(to_markdown(format_pairs(found.pairs)))
        found.pair_figure = figures.sessions_prefix_cache(found.pairs, out / "sessions_prefix_cache.png",
                                                          caption(found.runs))
    else:
        text.append(NO_PAIR + "\n")
    (out / "sessions.md").write_text("\n".join(text), encoding="utf-8")
    if len(found.points):
        found.figure = figures.sessions_energy(found.points, out / "sessions_energy.png",
                                                           caption(found.runs))


def blocks(found: Sessions) -> list[Any]:
    """The HTML section: the per-run table, the per-session figure, the prefix cache's pairs or how to get one."""
    from sustain.report.html import Block

    missing = (f" No sessions table was logged by {', '.join(found.without_table)} (runs from before it was), so "
               f"they have no points." if found.without_table else "")
    if found.figure is None:
        missing += " No completed session has an energy figure, so there is nothing to draw."
    out = [Block("Sessions: per run",
                 "Every sessions run read (the newest of each configuration). A completed session got a reply to "
                 "every turn; J / successful session is every session's energy over the successful ones, failures "
                 "included. Idle energy (think and tool time, no request in flight) is kept apart, never in the "
                 "per-session figures.", format_runs(found.runs)),
           Block("Sessions: energy per completed session against turns and context",
                 "One point per completed session, one colour per run; context is the prompt tokens the session "
                 "sent, summed over its turns." + missing, figure=found.figure)]
    if len(found.pairs):
        out.append(Block("Sessions: the prefix cache's effect",
                         "Runs that differ only in engine.args.enable_prefix_caching, side by side; a ratio below 1 "
                         "means the cache saves.", format_pairs(found.pairs), figure=found.pair_figure))
    else:
        out.append(Block("Sessions: the prefix cache's effect", NO_PAIR))
    return out
