"""Many configurations side by side: MLflow runs and published numbers → the paper's Table 3 and Table 4,
its Pareto front (Figure 2) and its Overall-Metric rankings (Figure 3).

Every table is a pure function of a runs DataFrame (one row per configuration, columns `COLUMNS`), so the
same numbers serve the CLI, a notebook and the tests.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from sustain.errors import SustainError

if TYPE_CHECKING:
    from sustain.metrics.reference import Reference

COLUMNS = [
    "run_id", "run_name", "model", "quantization", "gpus", "batch_size",
    "energy_j", "energy_j_std", "decode_latency_s", "decode_latency_s_std",
    "judge", "judge_std", "f1", "energy_source", "measured", "validity_flags", "origin", "start_time",
]
CONFIGURATION = ["origin", "model", "quantization", "gpus", "batch_size"]
METRICS = {
    "energy_j": "energy_per_request_j_mean",
    "energy_j_std": "energy_per_request_j_std",
    "decode_latency_s": "decode_latency_s_mean",
    "decode_latency_s_std": "decode_latency_s_std",
    "judge": "judge_score_mean",
    "judge_std": "judge_score_std",
    "f1": "macro_f1",
}
NUMERIC = list(METRICS)
REQUIRED_CSV = ("model", "energy_j", "decode_latency_s")
QUALITIES = ("judge", "f1")
# The paper's reference labels are GPT-4o's own answers, so GPT-4o's F1 is 1 by construction (Table 3).
REFERENCE_F1 = 1.0
REFERENCE_OUTPUT_TOKENS = 66.0  # GPT-4o's mean answer length on the paper's data (section 4.2)
PAPER_TABLE3 = Path(__file__).resolve().parent / "data" / "paper_table3.csv"
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


def default_reference() -> Reference:
    """The paper's Table 3 baseline: GPT-4o estimated for its 66-token answers."""
    from sustain.metrics.reference import gpt4o_estimate

    return gpt4o_estimate(REFERENCE_OUTPUT_TOKENS)


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
    return _typed(pd.DataFrame(columns=COLUMNS))


def load_runs(
    tracking_uri: str,
    experiment: str = "sustain",
    parent_run_id: str | None = None,
    tags: dict[str, str] | None = None,
) -> pd.DataFrame:
    """FINISHED runs with an energy figure, one row each. A store or experiment that does not exist
    yields no rows rather than an error (nor a new empty sqlite file)."""
    if tracking_uri.startswith("sqlite:///") and not Path(tracking_uri.removeprefix("sqlite:///")).is_file():
        return empty_runs()
    from mlflow.tracking import MlflowClient

    clauses = ["attributes.status = 'FINISHED'"]
    if parent_run_id:
        clauses.append(f"tags.`mlflow.parentRunId` = {_quote(parent_run_id)}")
    clauses += [f"tags.`{key}` = {_quote(value)}" for key, value in (tags or {}).items()]
    try:
        client = MlflowClient(tracking_uri=tracking_uri)
        found = client.get_experiment_by_name(experiment)
        if found is None:
            return empty_runs()
        runs, token = [], None
        while True:
            page = client.search_runs([found.experiment_id], " and ".join(clauses), max_results=1000, page_token=token)
            runs.extend(page)
            token = page.token
            if not token:
                break
        if parent_run_id:
            runs.extend(_reused_by_sweep(client, parent_run_id, {r.info.run_id for r in runs}))
    except Exception as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise SustainError(f"MLflow store {tracking_uri} cannot be read ({first}): check --tracking-uri.") from None
    rows = [_run_row(run) for run in runs if METRICS["energy_j"] in run.data.metrics]
    return _typed(pd.DataFrame(rows, columns=COLUMNS))


def _reused_by_sweep(client, parent_run_id: str, seen: set[str]) -> list:
    """Finished runs a sweep skipped re-running (same config); the sweep's parent tags them `sweep.reused.<id>`."""
    tags = client.get_run(parent_run_id).data.tags
    ids = [key.removeprefix("sweep.reused.") for key in tags if key.startswith("sweep.reused.")]
    return [run for run in (client.get_run(i) for i in ids if i not in seen) if run.info.status == "FINISHED"]


def _quote(value: str) -> str:
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    raise SustainError(f"filter value {value!r} holds both quote characters, which MLflow filters cannot express.")


def _run_row(run) -> dict:
    metrics, tags = run.data.metrics, run.data.tags
    return {
        "run_id": run.info.run_id,
        "run_name": run.info.run_name,
        "model": tags.get("model", run.info.run_name),
        "quantization": tags.get("quantization", "none"),
        "gpus": _int(tags.get("gpus")),
        "batch_size": _int(tags.get("batch_size")),
        **{col: metrics.get(key, math.nan) for col, key in METRICS.items()},
        "energy_source": tags.get("energy.source"),
        "measured": tags.get("energy.measured", "false").lower() == "true",
        "validity_flags": tags.get("validity.flags"),
        "origin": "mlflow",
        "start_time": pd.Timestamp(run.info.start_time, unit="ms", tz="UTC"),
    }


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def load_external(path: str | Path) -> pd.DataFrame:
    """Published or hand-collected numbers (e.g. the paper's Table 3) as rows comparable with runs."""
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
    df = pd.DataFrame(index=raw.index, columns=COLUMNS)
    for column in COLUMNS:
        if column in raw.columns:
            df[column] = raw[column]
    for column in NUMERIC + ["gpus", "batch_size"]:
        try:
            df[column] = pd.to_numeric(df[column])
        except (TypeError, ValueError):
            raise SustainError(f"CSV file {path} has a non-numeric value in column '{column}'.") from None
    if "measured" in raw.columns:
        df["measured"] = raw["measured"].map(lambda v: str(v).strip().lower() in ("true", "1", "yes"))
    df["model"] = df["model"].astype(str)
    df["run_name"] = df["run_name"].fillna(df["model"])
    df["quantization"] = df["quantization"].fillna("none")
    df["origin"] = path.name
    return _typed(df)


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    """Floats for the measures, nullable integers for the configuration, whichever of them are present."""
    df = df.copy()
    for column in NUMERIC:
        if column in df:
            df[column] = df[column].astype(float)
    for column in ("gpus", "batch_size"):
        if column in df:
            df[column] = df[column].astype("Int64")
    if "start_time" in df:
        df["start_time"] = pd.to_datetime(df["start_time"], utc=True)
    return df.reset_index(drop=True)


def combine(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if not f.empty]
    return _typed(pd.concat(frames, ignore_index=True)) if frames else empty_runs()


def _labels(df: pd.DataFrame) -> pd.Series:
    """Model name, with its quantization, and its origin when the same model comes from several sources."""
    quant = df["quantization"].fillna("none").astype(str)
    base = df["model"].where(quant == "none", df["model"] + " (" + quant + ")")
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


def table3(df: pd.DataFrame, reference: Reference | None = None) -> pd.DataFrame:
    """Each model's lowest-energy configuration, as the paper reports it, with the reference on top."""
    reference = reference or default_reference()
    best = _lowest_energy(with_labels(df), ["label"]).copy()
    best["family"] = best["model"].map(family)
    best["is_reference"] = False
    best["_family"] = best["family"].map(lambda f: FAMILY_ORDER.index(f) if f in FAMILY_ORDER else len(FAMILY_ORDER))
    best["_quality"] = best["judge"].fillna(best["f1"])
    best = best.sort_values(["_family", "_quality", "f1", "label"], ascending=[True, False, False, True],
                            na_position="last").drop(columns=["_family", "_quality"])
    ref = pd.DataFrame([{
        "label": reference.name, "model": reference.name, "quantization": "none", "family": "reference",
        "energy_j": reference.energy_j, "decode_latency_s": reference.decode_latency_s,
        "judge": reference.quality, "f1": REFERENCE_F1, "energy_source": reference.source,
        "measured": False, "origin": "reference", "is_reference": True,
    }])
    columns = ["label", "model", "quantization", "family", "energy_j", "energy_j_std", "decode_latency_s",
               "decode_latency_s_std", "judge", "judge_std", "f1", "batch_size", "gpus", "energy_source",
               "measured", "origin", "run_id", "is_reference"]
    out = pd.concat([ref.reindex(columns=columns), best.reindex(columns=columns)], ignore_index=True)
    return _typed(out)


def table4(df: pd.DataFrame) -> pd.DataFrame:
    """The energy-optimal maximum batch size per model and GPU count (the paper's annex Table 4)."""
    grouped = with_labels(df)
    best = _lowest_energy(grouped, ["label", "gpus"]).copy()
    tested = grouped.dropna(subset=["energy_j"]).groupby(["label", "gpus"], dropna=False)["batch_size"].agg(
        lambda s: ", ".join(str(int(b)) for b in sorted(s.dropna().unique()))
    )
    best["batch_sizes_tested"] = [tested.get((label, gpus), "") for label, gpus in zip(best["label"], best["gpus"])]
    best["family"] = best["model"].map(family)
    best["_family"] = best["family"].map(lambda f: FAMILY_ORDER.index(f) if f in FAMILY_ORDER else len(FAMILY_ORDER))
    best = best.sort_values(["_family", "label", "gpus"])
    columns = ["label", "model", "quantization", "gpus", "batch_size", "energy_j", "decode_latency_s",
               "batch_sizes_tested", "origin"]
    return _typed(best[columns])


def resolve_quality(df: pd.DataFrame, quality: str = "auto") -> str:
    """`auto` takes the judge score only when every compared configuration has one, so that no ranking
    mixes judge scores with F1."""
    if quality in QUALITIES:
        return quality
    if quality != "auto":
        raise SustainError(f"quality '{quality}' is unknown: use judge, f1 or auto.")
    rows = df[~df["is_reference"].astype(bool)] if "is_reference" in df else df
    return "judge" if len(rows) and rows["judge"].notna().all() else "f1"


def pareto_front(df: pd.DataFrame, quality: str = "judge") -> pd.DataFrame:
    """Rows that no other row beats on both counts (quality at least as high, energy at least as low,
    one of them strictly), cheapest first."""
    if quality not in QUALITIES:
        raise SustainError(f"quality '{quality}' is unknown for the Pareto front: use judge or f1.")
    valid = df.dropna(subset=[quality, "energy_j"])
    q, e = valid[quality].to_numpy(), valid["energy_j"].to_numpy()
    dominated = [
        bool((((q >= q[i]) & (e <= e[i])) & ((q > q[i]) | (e < e[i]))).any()) for i in range(len(valid))
    ]
    front = valid.loc[[not d for d in dominated]]
    return front.sort_values(["energy_j", quality], ascending=[True, False])


def om_rankings(
    df: pd.DataFrame,
    reference: Reference | None = None,
    scenarios: dict[str, tuple[float, float, float]] | None = None,
    quality: str = "auto",
) -> pd.DataFrame:
    """Overall Metric of each model's Table 3 row, and its rank, under each weight scenario; the reference
    is a row (OM 1 by construction). Models without the chosen quality score are left out."""
    from sustain.metrics.overall import overall_metric

    reference = reference or default_reference()
    scenarios = scenarios or default_scenarios()
    t3 = table3(df, reference)
    metric = resolve_quality(t3, quality)
    q_ref = reference.quality if metric == "judge" else REFERENCE_F1
    rows = t3.dropna(subset=[metric, "energy_j", "decode_latency_s"])
    out = rows[["label", "model", "origin", "is_reference"]].copy()
    out["quality_metric"] = metric
    out["quality"] = rows[metric]
    out["decode_latency_s"] = rows["decode_latency_s"]
    out["energy_j"] = rows["energy_j"]
    for name, weights in scenarios.items():
        out[f"om_{name}"] = [
            overall_metric(q, lat, e, q_ref, reference.decode_latency_s, reference.energy_j, *weights)
            for q, lat, e in zip(out["quality"], out["decode_latency_s"], out["energy_j"])
        ]
    for name in scenarios:
        out[f"rank_{name}"] = out[f"om_{name}"].rank(ascending=False, method="min").astype(int)
    first = next(iter(scenarios))
    return out.sort_values([f"rank_{first}", "label"]).reset_index(drop=True)


def ranking(om: pd.DataFrame, scenario: str) -> list[str]:
    """Labels from best to worst under one scenario."""
    return om.sort_values([f"rank_{scenario}", "label"])["label"].tolist()


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


def format_table3(t3: pd.DataFrame) -> pd.DataFrame:
    """Table 3 as the paper prints it: mean ± std strings."""
    return pd.DataFrame({
        "Model": [f"Reference: {l}" if r else l for l, r in zip(t3["label"], t3["is_reference"])],
        "Energy (J)": [_pm(m, s) for m, s in zip(t3["energy_j"], t3["energy_j_std"])],
        "Decode latency (s)": [_pm(m, s) for m, s in zip(t3["decode_latency_s"], t3["decode_latency_s_std"])],
        "LLM-as-a-judge": [_q_pm(m, s) for m, s in zip(t3["judge"], t3["judge_std"])],
        "F1": [_q(x) or "n/a" for x in t3["f1"]],
        "Max batch size": [_int_str(x) for x in t3["batch_size"]],
        "GPUs": [_int_str(x) for x in t3["gpus"]],
        "Source": ["estimate" if r else o for o, r in zip(t3["origin"], t3["is_reference"])],
    })


def format_table4(t4: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "Model": t4["label"],
        "GPUs": [_int_str(x) for x in t4["gpus"]],
        "Energy-optimal max batch size": [_int_str(x) for x in t4["batch_size"]],
        "Energy (J)": [_num(x) for x in t4["energy_j"]],
        "Decode latency (s)": [_num(x) for x in t4["decode_latency_s"]],
        "Batch sizes tested": t4["batch_sizes_tested"],
        "Source": t4["origin"],
    })


def scenario_title(weights: tuple[float, float, float]) -> str:
    from sustain.metrics.overall import normalise_weights

    q, lat, e = (round(w * 100, 1) for w in normalise_weights(*weights))
    return f"Q {q:g}% / L {lat:g}% / E {e:g}%"


def format_om(om: pd.DataFrame, scenarios: dict[str, tuple[float, float, float]]) -> pd.DataFrame:
    """OM (rank) per scenario; column headers carry the weights (quality / latency / energy)."""
    out = pd.DataFrame({"Model": om["label"], f"Quality ({om['quality_metric'].iloc[0]})": [_q(x) for x in om["quality"]]})
    for name, weights in scenarios.items():
        out[f"{name}: {scenario_title(weights)}"] = [
            f"{v:.3f} ({r})" for v, r in zip(om[f"om_{name}"], om[f"rank_{name}"])
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
