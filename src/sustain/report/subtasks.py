"""The report's sub-task section: a run made of tasks (`task=lm_eval`: its lm-eval tasks and groups) shows each
sub-task as a row family, one row per run, its scores beside its energy per sample and per correct sample.

The comparison tables rank a run by its primary metric alone (the first task's or group's), so every other task of
a multi-task run would be invisible there. Every finished run that logged sub-tasks (the `subtasks` metric and its
`subtasks.json` table) counts, the newest of each config hash.
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

TABLE = "subtasks.json"
COUNT = "subtasks"  # sustain.catalog's SUBTASKS (the catalog is not imported by the report)
TAGS = {"model": "model", "quantization": "quantization", "engine": "engine", "batch_size": "batch_size",
        "task": names.TASK_TAG, "energy_source": names.ENERGY_SOURCE_TAG, "config_hash": CONFIG_HASH_TAG}
COLUMNS = ["subtask", "kind", "tasks", "run", "run_name", "run_id", "model", "quantization", "engine",
           "batch_size", "n", "metric", "label", "value", "primary", "direction", "energy_per_sample_j",
           "energy_per_correct_j", "energy_source"]


@dataclass
class Subtasks:
    rows: pd.DataFrame  # one row per run, sub-task and metric, COLUMNS
    without_table: list[str]  # runs that logged sub-tasks but no table to read


def load(tracking_uri: str, experiment: str, parent_run_id: str | None, tags: dict[str, str]) -> Subtasks | None:
    """The runs with sub-tasks among those the report reads; None when there are none."""
    raw = store.read(tracking_uri, store.Query(experiment, parent_run_id, dict(tags), (COUNT,), tuple(TAGS.values()),
                                               (), require=COUNT))
    runs = _runs(raw)
    if runs.empty:
        return None
    tables = {run_id: store.read_table(tracking_uri, run_id, TABLE) for run_id in runs["run_id"]}
    frames = [table.assign(**{c: run[c] for c in runs.columns if c in COLUMNS})
              for run in runs.to_dict("records") if (table := tables[run["run_id"]]) is not None]
    without = [run["run"] for run in runs.to_dict("records") if tables[run["run_id"]] is None]
    if not frames:
        return Subtasks(pd.DataFrame(columns=COLUMNS), without)
    return Subtasks(pd.concat(frames, ignore_index=True).reindex(columns=COLUMNS), without)


def _runs(raw: store.Raw) -> pd.DataFrame:
    """One row per run with sub-tasks, the newest of each config hash, newest first, each with a label (`run`)."""
    if raw.runs.empty:
        return pd.DataFrame()
    counts = pd.to_numeric(raw.wide("metric", (COUNT,))[COUNT], errors="coerce")
    tags = raw.wide("tag", tuple(TAGS.values()))
    df = raw.runs.reset_index(drop=True).copy()
    df[COUNT] = counts.to_numpy(dtype=float)
    for column, key in TAGS.items():
        df[column] = tags[key].to_numpy(dtype=object)
    df = df[df[COUNT].notna()].sort_values("start_time", ascending=False, kind="stable")
    same = df["config_hash"].where(df["config_hash"].notna(), df["run_id"])
    df = df[~same.duplicated()].reset_index(drop=True)
    return df.assign(run=labels(df))


def labels(runs: pd.DataFrame) -> list[str]:
    """Model (and quantization); engine and max batch size where the runs differ in them; a run id where two runs
    would still read the same."""
    quant = runs["quantization"].fillna("none").astype(str)
    text = runs["model"].fillna(runs["run_name"]).astype(str).where(quant == "none", runs["model"] + " " + quant)
    if runs["engine"].nunique(dropna=False) > 1:
        text = text + ", " + runs["engine"].fillna("?").astype(str)
    if runs["batch_size"].nunique(dropna=False) > 1:
        text = text + ", batch " + runs["batch_size"].fillna("?").astype(str)
    repeated = text.duplicated(keep=False)
    text[repeated] = text[repeated] + " [" + runs.loc[repeated, "run_id"].str[:8] + "]"
    return text.tolist()


def family(rows: pd.DataFrame) -> pd.DataFrame:
    """One sub-task's rows as shown: a row per run (best primary score first), a column per metric."""
    wide = rows.pivot_table(index=["run", "run_id"], columns="metric", values="value", aggfunc="first", sort=False)
    primary = rows.loc[rows["primary"].astype(str).str.lower() == "true", "metric"]
    order = list(dict.fromkeys([*primary, *rows["metric"]]))
    first = rows.drop_duplicates("run_id").set_index("run_id")
    label = dict(zip(rows["metric"], rows["label"]))
    shown = pd.DataFrame({"Run": [run for run, _ in wide.index]})
    for metric in order:
        shown[label[metric] + (" (primary)" if metric in set(primary) else "")] = [_score(v) for v in wide[metric]]
    ids = [run_id for _, run_id in wide.index]
    shown["Documents"] = [_count(first.at[i, "n"]) for i in ids]
    group = rows["kind"].iloc[0] == "group"
    shown["J / sample"] = ["its tasks'" if group else _num(first.at[i, "energy_per_sample_j"]) for i in ids]
    shown["J / correct sample"] = ["its tasks'" if group else _per_correct(first.at[i, "energy_per_correct_j"],
                                                                         first.at[i, "energy_per_sample_j"])
                                   for i in ids]
    if len(primary):
        best = pd.to_numeric(wide[primary.iloc[0]], errors="coerce").tolist()
        shown = shown.iloc[sorted(range(len(best)), key=lambda i: (pd.isna(best[i]), -(best[i] or 0)))]
    return shown.reset_index(drop=True)


def _per_correct(energy: Any, per_sample: Any) -> str:
    """No correct document leaves nothing to divide by: said, never a blank that reads as 'not measured'."""
    if pd.isna(pd.to_numeric(energy, errors="coerce")):
        return "none correct" if not pd.isna(pd.to_numeric(per_sample, errors="coerce")) else ""
    return _num(energy)


def _score(value: Any) -> str:
    number = pd.to_numeric(value, errors="coerce")
    return "" if pd.isna(number) else f"{number:.4g}"


def _count(value: Any) -> str:
    number = pd.to_numeric(value, errors="coerce")
    return "" if pd.isna(number) else str(int(number))


def _families(found: Subtasks) -> list[tuple[str, str, pd.DataFrame]]:
    """(sub-task, what it is, its rows), tasks first then groups, each in name order."""
    out = []
    for (kind, name), rows in found.rows.groupby(["kind", "subtask"], sort=True):
        tasks = str(rows["tasks"].dropna().iloc[0]) if rows["tasks"].notna().any() else ""
        what = f"a group of {tasks.replace(',', ', ')}" if kind == "group" else "a task"
        out.append((str(name), what, rows))
    return sorted(out, key=lambda f: (f[1].startswith("a group"), f[0]))


NOTE = ("One row per run (the newest of each configuration), best primary score first. J / sample is the sub-task's "
        "attributed energy over its scored documents (a multiple-choice question costs all of its choices); "
        "J / correct sample is all of its energy over its correct documents. A group has no energy of its own: "
        "its tasks' rows do.")


def write(found: Subtasks, out: Path) -> None:
    """subtasks.csv (every run, sub-task and metric) and subtasks.md (a table per sub-task)."""
    found.rows.to_csv(out / "subtasks.csv", index=False)
    text = ["# Sub-tasks: each task and group of a run, with its energy\n", NOTE + "\n"]
    for name, what, rows in _families(found):
        text += [f"## {name} ({what})\n", to_markdown(family(rows))]
    if found.without_table:
        text.append(f"No sub-task table was logged by {', '.join(found.without_table)}.\n")
    (out / "subtasks.md").write_text("\n".join(text), encoding="utf-8")


def blocks(found: Subtasks) -> list[Any]:
    from sustain.report.html import Block

    return [Block(f"Sub-task {name} ({what})", NOTE if i == 0 else "", family(rows))
            for i, (name, what, rows) in enumerate(_families(found))]
