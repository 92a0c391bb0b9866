"""Many configurations side by side: MLflow runs and published numbers → the paper's Table 3 and Table 4,
its Pareto front (Figure 2) and its Overall-Metric rankings (Figure 3).

Every table is a pure function of a runs DataFrame (one row per configuration, columns `COLUMNS`), so the
same numbers serve the CLI, a notebook and the tests. Quality is the task's own primary metric (`quality`,
named by `quality_metric`) or the judge's score; rows of different tasks are never ranked together: the
tables refuse a frame holding several tasks, `by_task` splits one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sustain.errors import SustainError
from sustain import names

if TYPE_CHECKING:
    from sustain.metrics.reference import Reference

COLUMNS = [
    "run_id", "run_name", "task", "model", "quantization", "engine", "platform", "gpus", "batch_size",
    "energy_j", "energy_j_std", "energy_per_correct_j", "energy_node_j", "gco2e_per_request", "decode_latency_s",
    "decode_latency_s_std", "p90_decode_s",
    "judge", "judge_std", "f1", "quality", "quality_metric", "quality_fallback", "n_correct", "mean_output_tokens",
    "water_l_per_request", "deployment_kwh_per_year", "deployment_kgco2e_per_year", "deployment_water_l_per_year",
    "footprint_inputs", "energy_source", "measured", "om_flagged", "validity_flags", "reference", "origin",
    "start_time", "search_pareto", "search_best_batch", "roofline",
]
CONFIGURATION = ["origin", "task", "model", "quantization", "engine", "gpus", "batch_size"]


def numeric() -> list[str]:
    return [*metric_columns(), "p90_decode_s"]


def metric_columns() -> dict[str, str]:
    """The runs frame's metric columns (short name → metric): every registry entry that has a column."""
    from sustain.registry import registry

    return registry().columns()


def columns() -> list[str]:
    """`COLUMNS`, then any metric column a plugin declared beyond them."""
    return [*COLUMNS, *(c for c in metric_columns() if c not in COLUMNS)]


P90_DECODE_MS = "p90_decode_ms"
FOOTPRINT = ["water_l_per_request", "deployment_kwh_per_year", "deployment_kgco2e_per_year",
             "deployment_water_l_per_year"]
# Tags and params whose values are the inputs of the water and deployment figures (WUE, requests per day, grid).
FOOTPRINT_PREFIXES = ("water.", "deployment.", "carbon.")
TAGS = {
    "model": "model", "quantization": "quantization", "engine": "engine", "platform": "engine.platform", "gpus": "gpus",
    "batch_size": "batch_size",
    "task": names.TASK_TAG, "quality_metric": names.QUALITY_METRIC_TAG, "energy_source": names.ENERGY_SOURCE_TAG,
    "measured": names.ENERGY_MEASURED_TAG, "om_flagged": names.OM_MEANINGFUL_TAG, "validity_flags": "validity.flags",
    "search_pareto": names.SEARCH_PARETO_TAG, "search_best_batch": names.SEARCH_BEST_BATCH_TAG,
}
REQUIRED_CSV = ("model", "energy_j", "decode_latency_s")
QUALITIES = ("judge", "quality", "f1")
QUALITY_CHOICES = {"auto": "auto", "judge": "judge", "task": "quality", "quality": "quality", "f1": "f1"}
# Every run before tasks became plugins ran the paper's task; a run or CSV row without a task tag is one of it.
PAPER_TASK = "hallucination"
LEGACY_METRIC = "macro_f1"
# The paper's reference labels are GPT-4o's own answers, so GPT-4o's F1 is 1 by construction (Table 3).
REFERENCE_F1 = 1.0
REFERENCE_OUTPUT_TOKENS = 66.0  # GPT-4o's mean answer length on the paper's data (section 4.2)
PAPER_TABLE3 = Path(__file__).resolve().parent / "data" / "paper_table3.csv"
NO_CORRECT = "undefined: no correct answer"
# Table 3 groups models by family in the order section 4.1 introduces them, best judge score first.
FAMILY_ORDER = ["Qwen2.5", "Qwen3", "DeepSeek", "Gemma", "Mistral", "Falcon", "Phi", "Llama"]
_FAMILY_PATTERNS = [
    ("DeepSeek", r"deepseek"),
    ("Qwen3", r"qwen3"),
    ("Qwen2.5", r"qwen2[._]5"),
    ("Gemma", r"gemma"),
    ("Mistral", r"mistral"),
    ("Falcon", r"falcon"),
    ("Phi", r"(^|[/_-])phi"),
    ("Llama", r"llama"),
]


@dataclass(frozen=True)
class Baseline:
    """What every configuration of one task is compared with: an estimate, or a row declared the reference.
    Its qualities are per measure; NaN where the reference has no such score for this task."""

    name: str
    energy_j: float
    decode_latency_s: float
    judge: float
    quality: float
    f1: float
    quality_metric: str
    source: str
    origin: str = "reference"
    measured: bool = False

    def score(self, metric: str) -> float:
        return {"judge": self.judge, "quality": self.quality, "f1": self.f1}[metric]


def default_reference() -> Reference:
    """The paper's Table 3 baseline: GPT-4o estimated for its 66-token answers."""
    from sustain.metrics.reference import gpt4o_estimate

    return gpt4o_estimate(REFERENCE_OUTPUT_TOKENS)


def baseline(reference: Reference | Baseline | None, task: str = PAPER_TASK) -> Baseline:
    """The estimate's judge score and F1 are the paper's, so they hold for the paper's task only."""
    if isinstance(reference, Baseline):
        return reference
    ref = reference or default_reference()
    paper = task == PAPER_TASK
    return Baseline(ref.name, ref.energy_j, ref.decode_latency_s, judge=ref.quality if paper else math.nan,
                    quality=REFERENCE_F1 if paper else math.nan, f1=REFERENCE_F1 if paper else math.nan,
                    quality_metric=LEGACY_METRIC if paper else "", source=ref.source)


def estimated_baseline(task: str, rows: pd.DataFrame) -> Baseline:
    """GPT-4o as the paper estimates it: for its own task with 66 tokens; for another task with the mean
    output tokens of the compared runs, and no quality (nobody measured GPT-4o on it)."""
    from sustain.metrics.reference import gpt4o_estimate

    if task == PAPER_TASK:
        return baseline(default_reference(), task)
    tokens = rows["mean_output_tokens"].dropna()
    ref = gpt4o_estimate(float(tokens.mean()) if len(tokens) else REFERENCE_OUTPUT_TOKENS)
    return baseline(ref, task)


def default_scenarios() -> dict[str, tuple[float, float, float]]:
    """The weight scenarios of sustain.metrics.overall, by growing quality weight (the x axis of Figure 3)."""
    from sustain.metrics.overall import WEIGHT_SCENARIOS, normalise_weights

    return dict(sorted(WEIGHT_SCENARIOS.items(), key=lambda kv: normalise_weights(*kv[1])))


def family(model: str) -> str:
    name = model.lower()
    for fam, pattern in _FAMILY_PATTERNS:
        if re.search(pattern, name):
            return fam
    return "other"


def empty_runs() -> pd.DataFrame:
    return _typed(pd.DataFrame(columns=columns()))


def load_runs(
    tracking_uri: str,
    experiment: str = "sustain",
    parent_run_id: str | None = None,
    tags: dict[str, str] | None = None,
) -> pd.DataFrame:
    """FINISHED runs with an energy figure, one row each. A store or experiment that does not exist
    yields no rows rather than an error (nor a new empty sqlite file)."""
    from sustain.tracking import store

    query = store.Query(experiment, parent_run_id, dict(tags or {}), (*metric_columns().values(), P90_DECODE_MS),
                        tuple(TAGS.values()), FOOTPRINT_PREFIXES)
    return from_raw(store.read(tracking_uri, query))


@dataclass(frozen=True)
class Newest:
    """The newest run of each configuration, and what the report says of every run it read."""

    rows: pd.DataFrame  # `from_raw`'s columns, one row per configuration
    count: int  # the runs read (those with an energy figure), every configuration's
    flagged: pd.DataFrame  # run_name and validity_flags of each run read that carries validity flags


def load_newest(
    tracking_uri: str,
    experiment: str = "sustain",
    parent_run_id: str | None = None,
    tags: dict[str, str] | None = None,
) -> Newest:
    """`latest_per_configuration(load_runs(...))`. From a SQLite store in two reads, so that memory follows the
    configurations rather than the runs (issue 22): every run's tags first (its configuration), then the metrics
    and params of the newest run of each configuration alone. MLflow's client (any other store) returns every
    value of every run whatever is asked, so there one read serves."""
    from dataclasses import replace

    from sustain.tracking import store

    query = store.Query(experiment, parent_run_id, dict(tags or {}), (*metric_columns().values(), P90_DECODE_MS),
                        tuple(TAGS.values()), FOOTPRINT_PREFIXES, require=metric_columns()["energy_j"])
    if not store.columnar(tracking_uri):
        every = from_raw(store.read(tracking_uri, query))
        return Newest(latest_per_configuration(every), len(every), _flagged(every))
    heads = store.read(tracking_uri, replace(query, kinds=("tag",)))
    if heads.runs.empty:
        return Newest(empty_runs(), 0, _flagged(empty_runs()))
    every = _configurations(heads)
    newest = latest_per_configuration(every)
    values = store.read(tracking_uri, replace(query, kinds=("metric", "param"), require=None,  # found already
                                              only=frozenset(newest["run_id"])))
    tagged = heads.tag.reindex(pd.Index(values.runs["run_id"], name="run_id"))
    raw = store.Raw(values.runs, values.metric, tagged, values.param)
    return Newest(from_raw(raw), len(every), _flagged(every))


def _flagged(runs: pd.DataFrame) -> pd.DataFrame:
    flagged = runs["validity_flags"].astype(object).fillna("none") != "none"
    return runs.loc[flagged, ["run_name", "validity_flags"]].reset_index(drop=True)


def from_raw(raw) -> pd.DataFrame:
    """The report's columns from what `store.read` returns, column by column (no per-run Python loop)."""
    if raw.runs.empty:
        return empty_runs()
    metrics = raw.wide("metric", (*metric_columns().values(), P90_DECODE_MS))
    data = {column: metrics[key].to_numpy(dtype=float) for column, key in metric_columns().items()}
    data["p90_decode_s"] = metrics[P90_DECODE_MS].to_numpy(dtype=float) / 1000.0
    df = _configurations(raw, data)
    df["measured"] = df["measured"].fillna("false").str.lower() == "true"
    df["om_flagged"] = df["om_flagged"].fillna("").str.lower() == "false"
    for column in ("search_pareto", "search_best_batch"):
        df[column] = df[column].fillna("").str.lower() == "true"
    df["footprint_inputs"] = _footprint_inputs(raw).reindex(df["run_id"]).to_numpy()
    df["reference"] = False
    df = df[df["energy_j"].notna()]
    return _with_defaults(_typed(df.reindex(columns=columns())))


def _configurations(raw, columns: dict[str, Any] | None = None) -> pd.DataFrame:
    """One row per run of `raw`: its name, start and tags, its configuration as the report reads a missing part
    of it (the model from the run name, no quantization, offline vLLM, the paper's task), then `columns`."""
    tags = raw.wide("tag", tuple(TAGS.values()))
    data = {"run_id": raw.runs["run_id"].array, "run_name": raw.runs["run_name"].array, **(columns or {})}
    data |= {column: _text(tags[key]) for column, key in TAGS.items()}
    df = pd.DataFrame(data)
    df["model"] = df["model"].fillna(df["run_name"])
    df["quantization"] = df["quantization"].fillna("none")
    df["engine"] = df["engine"].fillna("vllm")  # runs from before engines were plugins: offline vLLM
    df["gpus"] = pd.to_numeric(df["gpus"], errors="coerce")
    df["batch_size"] = pd.to_numeric(df["batch_size"], errors="coerce")
    df["task"] = _task(df["task"])
    df["origin"] = "mlflow"
    df["start_time"] = pd.to_datetime(raw.runs["start_time"].to_numpy(dtype="int64"), unit="ms", utc=True)
    return df


def _task(values: pd.Series) -> pd.Series:
    """Rows from before tasks were plugins ran the paper's task."""
    return values.where(values.notna() & (values.astype(str) != ""), PAPER_TASK).astype(str)


def _text(values: pd.Series) -> Any:
    """A tag's column as read (no Python string made per run); missing text where no run has the tag, whichever
    reader gave it (MLflow's client leaves such a column float)."""
    return values.to_numpy(dtype=object) if values.dtype == float else values.array


def _footprint_inputs(raw) -> pd.Series:
    """`key=value; ...` of the tags and params the water and deployment figures were computed from (a tag before
    a param of the same key); NaN for a run that has none."""
    tags, params = raw.wide("tag"), raw.wide("param")
    wide = tags[[k for k in tags.columns if str(k).startswith(FOOTPRINT_PREFIXES)]].combine_first(
        params[[k for k in params.columns if str(k).startswith(FOOTPRINT_PREFIXES)]])
    if wide.columns.empty:
        return pd.Series(dtype=object)
    keys = sorted(wide.columns)
    groups = wide.groupby(keys, dropna=False, sort=False)  # a few distinct settings among many runs
    texts = ["; ".join(f"{k}={v}" for k, v in zip(keys, first) if pd.notna(v)) or np.nan
             for first in groups.first().reset_index().itertuples(index=False)]
    return pd.Series(np.array(texts, dtype=object)[groups.ngroup().to_numpy()], index=wide.index)


def load_external(path: str | Path, reference_row: str | None = None) -> pd.DataFrame:
    """Published or hand-collected numbers (e.g. the paper's Table 3) as rows comparable with runs.
    A row is the reference rather than a model when its `reference` column is true, or its model is
    `reference_row`."""
    path = Path(path)
    if not path.is_file():
        raise SustainError(f"CSV file {path} does not exist: check the --add-csv path.")
    try:
        raw = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise SustainError(f"CSV file {path} cannot be parsed ({type(exc).__name__}): check its format.") from None
    for column in REQUIRED_CSV:
        if column not in raw.columns:
            raise SustainError(f"CSV file {path} has no column '{column}', which is required.")
    df = pd.DataFrame(index=raw.index, columns=columns())
    for column in columns():
        if column in raw.columns:
            df[column] = raw[column]
    for column in numeric() + ["gpus", "batch_size"]:
        try:
            df[column] = pd.to_numeric(df[column])
        except (TypeError, ValueError):
            raise SustainError(f"CSV file {path} has a non-numeric value in column '{column}'.") from None
    for column in ("measured", "reference"):
        df[column] = raw[column].map(_true) if column in raw.columns else False
    df["model"] = df["model"].astype(str)
    if reference_row is not None:
        df["reference"] = df["reference"] | (df["model"] == reference_row)
    df["om_flagged"] = False
    df["run_name"] = df["run_name"].fillna(df["model"])
    df["quantization"] = df["quantization"].fillna("none")
    df["origin"] = path.name
    return _with_defaults(_typed(df))


def _true(value) -> bool:
    return str(value).strip().lower() in ("true", "1", "yes")


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    """Floats for the measures, nullable integers for the configuration, whichever of them are present."""
    df = df.copy()
    for column in numeric():
        if column in df:
            df[column] = df[column].astype(float)
    for column in ("gpus", "batch_size"):
        if column in df:
            df[column] = df[column].astype("Int64")
    for column in ("measured", "reference", "om_flagged", "quality_fallback", "is_reference", "search_pareto",
                   "search_best_batch"):
        if column in df:
            df[column] = df[column].astype(object).fillna(False).astype(bool)
    if "start_time" in df:
        df["start_time"] = pd.to_datetime(df["start_time"], utc=True)
    return df.reset_index(drop=True)


def _with_defaults(df: pd.DataFrame) -> pd.DataFrame:
    """Rows from before tasks were plugins: the paper's task, and macro F1 as its quality (marked)."""
    df = df.copy()
    df["task"] = _task(df["task"])
    fallback = df["quality"].isna() & df["f1"].notna()
    df["quality_fallback"] = df["quality_fallback"].astype(bool) | fallback
    df["quality"] = df["quality"].where(~fallback, df["f1"])
    df["quality_metric"] = df["quality_metric"].where(~fallback, LEGACY_METRIC)
    df["quality_metric"] = df["quality_metric"].where(df["quality"].isna() | df["quality_metric"].notna(), "quality")
    return df


def combine(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f.reindex(columns=columns()) for f in frames if not f.empty]
    return _with_defaults(_typed(pd.concat(frames, ignore_index=True))) if frames else empty_runs()


def tasks(df: pd.DataFrame) -> list[str]:
    """The tasks in a frame, the paper's first."""
    return sorted(df["task"].dropna().unique(), key=lambda t: (t != PAPER_TASK, t))


def by_task(df: pd.DataFrame) -> Iterator[tuple[str, pd.DataFrame]]:
    for task in tasks(df):
        yield task, df[df["task"] == task].reset_index(drop=True)


def one_task(df: pd.DataFrame) -> str:
    found = tasks(df) if "task" in df else []
    if len(found) > 1:
        raise SustainError(f"these rows hold several tasks ({', '.join(found)}), which are never ranked together: "
                           f"compare one task at a time (compare.by_task).")
    return found[0] if found else PAPER_TASK


def split_references(df: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Baseline]]:
    """Rows declared the reference (CSV `reference` column or `--reference-row`) become their task's
    baseline instead of a model row, so the reference is listed once."""
    declared = df[df["reference"].astype(bool)]
    found: dict[str, Baseline] = {}
    for task, rows in by_task(declared):
        if len(rows) > 1:
            raise SustainError(f"{len(rows)} rows are declared the reference of task {task} "
                               f"({', '.join(rows['model'])}): keep one reference row per task.")
        row = rows.iloc[0]
        found[task] = Baseline(
            name=row["model"], energy_j=row["energy_j"], decode_latency_s=row["decode_latency_s"],
            judge=row["judge"], quality=row["quality"], f1=row["f1"], quality_metric=str(row["quality_metric"]),
            source=f"row '{row['model']}' of {row['origin']}, declared the reference"
                   + (f" ({row['energy_source']})" if isinstance(row["energy_source"], str) else ""),
            origin=str(row["origin"]), measured=bool(row["measured"]))
    return df[~df["reference"].astype(bool)].reset_index(drop=True), found


def _labels(df: pd.DataFrame) -> pd.Series:
    """Model name, with its quantization, its engine when the runs compared come from several engines, and
    its origin when the same model comes from several sources."""
    quant = df["quantization"].fillna("none").astype(str)
    engine = df["engine"].astype(object).fillna("").astype(str) if "engine" in df else pd.Series("", index=df.index)
    if engine[engine != ""].nunique() <= 1:
        engine = pd.Series("", index=df.index)
    details = quant.where(quant != "none", "").str.cat(engine, sep=", ").str.strip(", ")
    base = df["model"].where(details == "", df["model"] + " (" + details + ")")
    origins = df.assign(_base=base).groupby("_base")["origin"].transform("nunique")
    return base.where(origins <= 1, base + " [" + df["origin"].astype(str) + "]")


def latest_per_configuration(df: pd.DataFrame) -> pd.DataFrame:
    """The newest run of each configuration, so that a rerun replaces its predecessor instead of
    competing with it for the lowest energy."""
    ordered = df.sort_values("start_time", ascending=False, na_position="last", kind="stable")
    keys = ordered[CONFIGURATION].astype(object).fillna("")
    return ordered.loc[~keys.duplicated()].sort_index()


def with_labels(df: pd.DataFrame) -> pd.DataFrame:
    """Runs with a `label` naming the model, quantization and (when ambiguous) origin."""
    return df.assign(quantization=df["quantization"].fillna("none"), label=_labels(df))


def _lowest_energy(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    valid = df.dropna(subset=["energy_j"])
    if valid.empty:
        return valid
    return valid.loc[valid.groupby(keys, dropna=False, sort=False)["energy_j"].idxmin()]


def _family_rank(families: pd.Series) -> pd.Series:
    return families.map(lambda f: FAMILY_ORDER.index(f) if f in FAMILY_ORDER else len(FAMILY_ORDER))


TABLE3 = ["label", "task", "model", "quantization", "engine", "family", "energy_j", "energy_j_std", "energy_per_correct_j",
          "decode_latency_s", "decode_latency_s_std", "p90_decode_s", "judge", "judge_std", "quality",
          "quality_metric", "quality_fallback", "f1", "n_correct", *FOOTPRINT, "footprint_inputs", "batch_size",
          "gpus", "energy_source", "measured", "om_flagged", "origin", "run_id", "is_reference"]


def table3(df: pd.DataFrame, reference: Reference | Baseline | None = None) -> pd.DataFrame:
    """Each model's lowest-energy configuration, as the paper reports it, with the reference on top."""
    task = one_task(df)
    base = baseline(reference, task)
    best = _lowest_energy(with_labels(df), ["label"]).copy()
    best["family"] = best["model"].map(family)
    best["is_reference"] = False
    best["_family"] = _family_rank(best["family"])
    best["_quality"] = best["judge"].fillna(best["quality"])
    best = best.sort_values(["_family", "_quality", "quality", "label"], ascending=[True, False, False, True],
                            na_position="last").drop(columns=["_family", "_quality"])
    ref = pd.DataFrame([{
        "label": base.name, "task": task, "model": base.name, "quantization": "none", "family": "reference",
        "energy_j": base.energy_j, "decode_latency_s": base.decode_latency_s, "judge": base.judge,
        "quality": base.quality, "quality_metric": base.quality_metric or None, "f1": base.f1,
        "energy_source": base.source, "measured": base.measured, "origin": base.origin, "is_reference": True,
    }])
    out = pd.concat([ref.reindex(columns=TABLE3), best.reindex(columns=TABLE3)], ignore_index=True)
    return _typed(out)


def table4(df: pd.DataFrame) -> pd.DataFrame:
    """The energy-optimal maximum batch size per model and GPU count (the paper's annex Table 4)."""
    one_task(df)
    grouped = with_labels(df)
    best = _lowest_energy(grouped, ["label", "gpus"]).copy()
    valid = grouped.dropna(subset=["energy_j", "batch_size"])
    tested: dict[tuple[str, Any], set[int]] = {}  # a missing GPU count is pd.NA, one object: it keys like a value
    for label, gpus, size in zip(valid["label"], valid["gpus"].astype(object), valid["batch_size"]):
        tested.setdefault((label, gpus), set()).add(int(size))
    best["batch_sizes_tested"] = [", ".join(map(str, sorted(tested.get((label, gpus), ()))))
                                  for label, gpus in zip(best["label"], best["gpus"].astype(object))]
    best["family"] = best["model"].map(family)
    best["_family"] = _family_rank(best["family"])
    best = best.sort_values(["_family", "label", "gpus"])
    columns = ["label", "task", "model", "quantization", "engine", "gpus", "batch_size", "energy_j", "energy_per_correct_j",
               "decode_latency_s", "batch_sizes_tested", "origin"]
    return _typed(best[columns])


def resolve_quality(df: pd.DataFrame, quality: str = "auto") -> str:
    """`auto` takes the judge score only when every compared configuration has one, so that no ranking
    mixes judge scores with the task's metric; otherwise the task's primary metric (`quality`)."""
    if quality not in QUALITY_CHOICES:
        raise SustainError(f"quality '{quality}' is unknown: use judge, task (the task's primary metric), f1 or auto.")
    if QUALITY_CHOICES[quality] != "auto":
        return QUALITY_CHOICES[quality]
    rows = df[~df["is_reference"].astype(bool)] if "is_reference" in df else df
    return "judge" if len(rows) and rows["judge"].notna().all() else "quality"


def quality_name(df: pd.DataFrame, metric: str) -> str:
    """What a quality column holds, in words: `judge`, or the task metric's own name(s)."""
    if metric == "judge":
        return "judge"
    if metric == "f1":
        return LEGACY_METRIC
    found = sorted(df.loc[df["quality"].notna(), "quality_metric"].dropna().astype(str).unique())
    return " / ".join(found) or "quality"


def pareto_front(df: pd.DataFrame, quality: str = "judge") -> pd.DataFrame:
    """Rows that no other row beats on both counts (quality at least as high, energy at least as low,
    one of them strictly), cheapest first."""
    if quality not in QUALITIES:
        raise SustainError(f"quality '{quality}' is unknown for the Pareto front: use judge, quality or f1.")
    one_task(df)
    from sustain.search.objectives import Objective
    from sustain.search.objectives import pareto_front as front_of

    valid = df.dropna(subset=[quality, "energy_j"])
    points = valid[[quality, "energy_j"]].to_numpy().tolist()
    front = valid.iloc[front_of(points, [Objective(quality, "maximize"), Objective("energy_j", "minimize")])]
    return front.sort_values(["energy_j", quality], ascending=[True, False])


def _om_note(quality: float, q_ref: float, flagged: bool, metric: str) -> str:
    """Why an OM says nothing, or "" when it is meaningful: with a zero quality the energy and latency
    ratios alone decide it, which reads as a ranking and is not one."""
    if not q_ref > 0:
        return ("not meaningful: the reference has no score for this measure on this task (a CSV row with "
                "reference=true gives it one)") if math.isnan(q_ref) else "not meaningful: reference quality 0"
    if not quality > 0:
        return "not meaningful: quality 0"
    if flagged and metric != "judge":
        return "not meaningful: run tagged om.meaningful=false"
    return ""


def om_rankings(
    df: pd.DataFrame,
    reference: Reference | Baseline | None = None,
    scenarios: dict[str, tuple[float, float, float]] | None = None,
    quality: str = "auto",
) -> pd.DataFrame:
    """Overall Metric of each model's Table 3 row, and its rank, under each weight scenario; the reference
    is a row (OM 1 by construction). Models without the chosen quality score are left out; an OM that
    says nothing (zero quality) is NaN with its reason in `om_note`, and gets no rank."""
    from sustain.metrics.overall import overall_metric

    base = baseline(reference, one_task(df))
    scenarios = scenarios or default_scenarios()
    t3 = table3(df, base)
    metric = resolve_quality(t3, quality)
    q_ref = base.score(metric)
    rows = t3.dropna(subset=[metric, "energy_j", "decode_latency_s"])
    out = rows[["label", "task", "model", "origin", "is_reference"]].copy()
    out["quality_metric"] = quality_name(rows, metric)
    out["quality"] = rows[metric]
    out["decode_latency_s"] = rows["decode_latency_s"]
    out["energy_j"] = rows["energy_j"]
    out["om_note"] = [_om_note(q, q_ref, f, metric) for q, f in zip(out["quality"], rows["om_flagged"])]
    out["om_meaningful"] = out["om_note"] == ""
    for name, weights in scenarios.items():
        out[f"om_{name}"] = [
            overall_metric(q, lat, e, q_ref, base.decode_latency_s, base.energy_j, *weights) if ok else math.nan
            for q, lat, e, ok in zip(out["quality"], out["decode_latency_s"], out["energy_j"], out["om_meaningful"])
        ]
    for name in scenarios:
        out[f"rank_{name}"] = out[f"om_{name}"].rank(ascending=False, method="min").astype("Int64")
    first = next(iter(scenarios))
    return out.sort_values([f"rank_{first}", "label"], na_position="last").reset_index(drop=True)


def ranking(om: pd.DataFrame, scenario: str) -> list[str]:
    """Labels from best to worst under one scenario (rows whose OM is not meaningful are not ranked)."""
    return om.dropna(subset=[f"rank_{scenario}"]).sort_values([f"rank_{scenario}", "label"])["label"].tolist()


def energy_caption(df: pd.DataFrame) -> str:
    """Where the energy of these rows came from, in one line for the face of a figure."""
    refs = df[df["is_reference"].astype(bool)] if "is_reference" in df else df.iloc[:0]
    rows = df.drop(refs.index)
    parts = []
    for kind, sub in (("measured", rows[rows["measured"]]), ("estimated", rows[~rows["measured"]])):
        stated = sub["energy_source"].dropna().astype(str)
        if len(stated):
            sources = "; ".join(s if len(s) <= 70 else s[:67] + "..." for s in sorted(stated.unique()))
            parts.append(f"{kind} for {len(stated)} configuration(s) ({sources})")
        if len(sub) - len(stated):
            parts.append(f"source not stated for {len(sub) - len(stated)} configuration(s)")
    parts += [f"reference {r.label}: {'measured' if r.measured else 'estimate'} ({r.energy_source})"
              for r in refs.itertuples()]
    return "Energy per request: " + "; ".join(parts) + "."


def footprint(t3: pd.DataFrame) -> pd.DataFrame:
    """Water per request and a deployment's year, for the rows that carry them, with their inputs."""
    rows = t3[t3[FOOTPRINT].notna().any(axis=1)]
    return rows[["label", *FOOTPRINT, "footprint_inputs"]].reset_index(drop=True)


def _decimals(x: float) -> int:
    x = abs(x)
    return 0 if x >= 100 else 1 if x >= 10 else 2 if x >= 1 else 3 if x >= 0.1 else 4


def _num(x: float) -> str:
    return "" if x is None or pd.isna(x) else f"{x:.{_decimals(x)}f}"


def _pm(mean: float, std: float) -> str:
    """mean ± std, both to the precision the mean's size calls for."""
    if pd.isna(mean):
        return "n/a"
    d = _decimals(mean)
    return f"{mean:.{d}f}" if pd.isna(std) else f"{mean:.{d}f} ± {std:.{d}f}"


def _q(x: float) -> str:
    return "" if pd.isna(x) else f"{x:.3f}"


def _q_pm(mean: float, std: float) -> str:
    if pd.isna(mean):
        return "n/a"
    return _q(mean) if pd.isna(std) else f"{mean:.3f} ± {std:.3f}"


def _int_str(x) -> str:
    return "" if pd.isna(x) else str(int(x))


def energy_per_correct(value: float, n_correct: float, quality: float) -> str:
    """The figure, or why there is none: no correct answer (undefined), or not recorded (older runs)."""
    if not pd.isna(value):
        return _num(value)
    return NO_CORRECT if n_correct == 0 or quality == 0 else "n/a"


def energy_kind(measured: bool, is_reference: bool, source) -> str:
    if measured:
        return "measured"
    return "estimate" if is_reference or (isinstance(source, str) and source) else "not stated"


def format_table3(t3: pd.DataFrame) -> pd.DataFrame:
    """Table 3 as the paper prints it: mean ± std strings, quality under the task's own metric."""
    name = quality_name(t3, "quality")
    marks = ["*" if fb else "" for fb in t3["quality_fallback"]]
    return pd.DataFrame({
        "Model": [f"Reference: {l}" if r else l for l, r in zip(t3["label"], t3["is_reference"])],
        "Energy (J)": [_pm(m, s) for m, s in zip(t3["energy_j"], t3["energy_j_std"])],
        "Energy per correct answer (J)": [
            "n/a" if r else energy_per_correct(v, n, q)
            for v, n, q, r in zip(t3["energy_per_correct_j"], t3["n_correct"], t3["quality"], t3["is_reference"])],
        "Decode latency (s)": [_pm(m, s) for m, s in zip(t3["decode_latency_s"], t3["decode_latency_s_std"])],
        "LLM-as-a-judge": [_q_pm(m, s) for m, s in zip(t3["judge"], t3["judge_std"])],
        f"Quality ({name})": [(_q(x) or "n/a") + m for x, m in zip(t3["quality"], marks)],
        "Max batch size": [_int_str(x) for x in t3["batch_size"]],
        "GPUs": [_int_str(x) for x in t3["gpus"]],
        "Energy": [energy_kind(m, r, s) for m, r, s in zip(t3["measured"], t3["is_reference"], t3["energy_source"])],
        "Source": ["estimate" if r and o == "reference" else o for o, r in zip(t3["origin"], t3["is_reference"])],
    })


FALLBACK_NOTE = ("* macro_f1 of a run (or CSV row) from before tasks logged their primary metric as `quality`; "
                 "its task is taken as the paper's.")


def format_footprint(rows: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "Model": rows["label"],
        "Water (L / request)": [_num(x) for x in rows["water_l_per_request"]],
        "Deployment kWh / year": [_num(x) for x in rows["deployment_kwh_per_year"]],
        "Deployment kg CO2e / year": [_num(x) for x in rows["deployment_kgco2e_per_year"]],
        "Deployment water L / year": [_num(x) for x in rows["deployment_water_l_per_year"]],
        "Inputs": rows["footprint_inputs"].fillna("not recorded on the run"),
    })


def format_table4(t4: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "Model": t4["label"],
        "GPUs": [_int_str(x) for x in t4["gpus"]],
        "Energy-optimal max batch size": [_int_str(x) for x in t4["batch_size"]],
        "Energy (J)": [_num(x) for x in t4["energy_j"]],
        "Energy per correct answer (J)": [_num(x) or "n/a" for x in t4["energy_per_correct_j"]],
        "Decode latency (s)": [_num(x) for x in t4["decode_latency_s"]],
        "Batch sizes tested": t4["batch_sizes_tested"],
        "Source": t4["origin"],
    })


def search_picks(rows: pd.DataFrame) -> pd.DataFrame:
    """The runs a search picked (`hydra/sweeper=pareto`'s Pareto set, `hydra/sweeper=batch_size`'s best
    batch size), each configuration as measured, cheapest first."""
    picked = rows[rows["search_pareto"] | rows["search_best_batch"]]
    return with_labels(picked).sort_values(["energy_j", "label"]).reset_index(drop=True)


def format_search_picks(picks: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "Model": picks["label"],
        "Engine": picks["engine"],
        "GPUs": [_int_str(x) for x in picks["gpus"]],
        "Max batch size": [_int_str(x) for x in picks["batch_size"]],
        "Energy (J)": [_num(x) for x in picks["energy_j"]],
        "Energy per correct answer (J)": [_num(x) or "n/a" for x in picks["energy_per_correct_j"]],
        "Decode latency (s)": [_num(x) for x in picks["decode_latency_s"]],
        "Quality": [_q(q) + (f" ({m})" if isinstance(m, str) else "") for q, m in
                    zip(picks["quality"], picks["quality_metric"])],
        "Judge": [_q(x) for x in picks["judge"]],
        "Picked by": ["Pareto set" if p else "batch-size search" for p in picks["search_pareto"]],
    })


def scenario_title(weights: tuple[float, float, float]) -> str:
    from sustain.metrics.overall import normalise_weights

    q, lat, e = (round(w * 100, 1) for w in normalise_weights(*weights))
    return f"Q {q:g}% / L {lat:g}% / E {e:g}%"


def format_om(om: pd.DataFrame, scenarios: dict[str, tuple[float, float, float]]) -> pd.DataFrame:
    """OM (rank) per scenario; column headers carry the weights (quality / latency / energy). An OM that
    says nothing is shown as such, never as a number."""
    name = om["quality_metric"].iloc[0] if len(om) else "quality"
    out = pd.DataFrame({"Model": om["label"], f"Quality ({name})": [_q(x) for x in om["quality"]]})
    for scenario, weights in scenarios.items():
        out[f"{scenario}: {scenario_title(weights)}"] = [
            f"{v:.3f} ({r})" if ok else note
            for v, r, ok, note in zip(om[f"om_{scenario}"], om[f"rank_{scenario}"], om["om_meaningful"], om["om_note"])
        ]
    return out


def to_markdown(df: pd.DataFrame) -> str:
    """A GitHub-style pipe table, without needing the optional `tabulate` package."""
    def cell(v) -> str:
        return "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v).replace("|", "\\|")

    header = "| " + " | ".join(cell(c) for c in df.columns) + " |"
    rule = "|" + "|".join("---" for _ in df.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([header, rule, *body]) + "\n"
