"""`python -m sustain.report`: compare benchmarked configurations (MLflow runs, CSV files) the way the
paper does: Table 3, Table 4, the Pareto front (Figure 2), energy vs latency (Figure 6), OM rankings (Figure 3)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

from sustain.errors import SustainError
from sustain.report import compare

EPILOG = f"""\
examples:
  python -m sustain.report                                  # every finished run of experiment 'sustain'
  python -m sustain.report --parent-run RUN_ID              # one sweep; the report is logged to RUN_ID
  python -m sustain.report --tag task=hallucination --tag gpus=1
  python -m sustain.report --add-csv {compare.PAPER_TABLE3}   # the paper's Table 3 (with or without runs)

outputs (in --out): table3.md/.csv, table4.md/.csv, om_rankings.md/.csv, pareto.csv, runs.csv,
fig2_quality_vs_energy.png, fig6_energy_vs_latency.png, fig3_rank_bump.png and report.html (self-contained).
The reference is GPT-4o estimated as in the paper (66 output tokens: 0.58 s, about 1,498 J, judge 0.978, F1 1).
Exit status 2: nothing to compare, or a problem named in one sentence.
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m sustain.report", description=__doc__, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--tracking-uri", default="sqlite:///mlruns/mlflow.db",
                   help="MLflow store to read runs from (default: %(default)s)")
    p.add_argument("--experiment", default="sustain",
                   help="MLflow experiment name (default: %(default)s); one that does not exist gives no runs")
    p.add_argument("--parent-run", metavar="RUN_ID",
                   help="only the child runs of this parent run (a sweep); the report is also logged to it")
    p.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE",
                   help="only runs whose tag KEY equals VALUE, e.g. --tag gpus=1 (repeatable, all must match)")
    p.add_argument("--add-csv", action="append", default=[], metavar="PATH",
                   help="add configurations from a CSV with columns model, energy_j, decode_latency_s "
                        "(required) and energy_j_std, decode_latency_s_std, judge, judge_std, f1, gpus, "
                        "batch_size, quantization, energy_source, measured (optional); repeatable")
    p.add_argument("--quality", choices=("auto", "judge", "f1"), default="auto",
                   help="quality for the OM and the Pareto front: the LLM-as-a-judge score, macro F1, or auto "
                        "(judge when every model has one, else F1; default)")
    p.add_argument("--om-exclude", action="append", default=[], metavar="MODEL",
                   help="leave a model out of the OM rankings and Figure 3; repeatable. Without "
                        "Falcon3-7B-Instruct and Mistral-Nemo-Instruct-2407, the paper's Table 3 numbers give the "
                        "rankings its section 4.5 describes")
    p.add_argument("--out", type=Path, default=None,
                   help="output folder (default: reports/<timestamp>)")
    p.add_argument("--log-to-run", metavar="RUN_ID",
                   help="log every output as artifacts under report/ of this MLflow run (default: --parent-run)")
    return p.parse_args(argv)


def _tags(pairs: list[str]) -> dict[str, str]:
    tags = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SustainError(f"--tag {pair} is not KEY=VALUE: write it as e.g. --tag gpus=1.")
        tags[key] = value
    return tags


def _filter_text(args: argparse.Namespace, tags: dict[str, str]) -> str:
    parts = [f"experiment '{args.experiment}'", "status FINISHED"]
    if args.parent_run:
        parts.append(f"children of run {args.parent_run}")
    parts += [f"tag {k}={v}" for k, v in tags.items()]
    return ", ".join(parts)


def _energy_line(df: pd.DataFrame, origin: str) -> str:
    rows = df[df["origin"] == origin]
    parts = []
    for measured, name in ((True, "measured"), (False, "estimated")):
        sub = rows[rows["measured"] == measured]
        if len(sub):
            sources = "; ".join(sorted(sub["energy_source"].dropna().astype(str).unique())) or "source not recorded"
            parts.append(f"{len(sub)} {name} ({sources})")
    unknown = len(rows) - sum(rows["measured"].isin([True, False]))
    if unknown:
        parts.append(f"{unknown} not stated")
    name = "the MLflow runs" if origin == "mlflow" else origin
    return f"Energy of {name}: " + ", ".join(parts) + "."


def _sources(args, tags, runs, externals, df, reference, metric, om_excluded) -> list[str]:
    lines = [f"MLflow store {args.tracking_uri}, {_filter_text(args, tags)}: {len(runs)} run(s) with energy metrics."]
    lines += [f"CSV file {path}: {len(ext)} row(s), origin '{path.name}'." for path, ext in externals]
    replaced = len(runs) + sum(len(ext) for _, ext in externals) - len(df)
    if replaced:
        lines.append(f"{replaced} older row(s) repeating a configuration (origin, model, quantization, GPUs, "
                     f"batch size) were left out: the newest run of each configuration counts.")
    lines += [_energy_line(df, origin) for origin in df["origin"].unique()]
    flagged = runs[runs["validity_flags"].fillna("none") != "none"]
    if len(flagged):
        lines.append(f"{len(flagged)} MLflow run(s) carry validity flags (tag validity.flags): "
                     + "; ".join(f"{r.run_name}: {r.validity_flags}" for r in flagged.itertuples()))
    lines.append(f"Reference {reference.name}: {reference.source}; judge {reference.quality}, F1 {compare.REFERENCE_F1:g} "
                 f"(its own labels are the ground truth).")
    lines.append(f"Per model, the lowest-energy configuration is reported (Table 3); OM and the Pareto front use "
                 f"quality = {metric}" + (f"; left out of the OM rankings: {', '.join(om_excluded)}." if om_excluded else "."))
    return lines


def _write_table(out: Path, name: str, data: pd.DataFrame, shown: pd.DataFrame, title: str, note: str = "") -> None:
    data.to_csv(out / f"{name}.csv", index=False)
    text = f"# {title}\n\n" + compare.to_markdown(shown) + (f"\n{note}\n" if note else "")
    (out / f"{name}.md").write_text(text, encoding="utf-8")


def _log_to_run(tracking_uri: str, run_id: str, out: Path) -> None:
    from mlflow.tracking import MlflowClient

    try:
        client = MlflowClient(tracking_uri=tracking_uri)
        client.get_run(run_id)
        client.log_artifacts(run_id, str(out), artifact_path="report")
    except Exception as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise SustainError(f"the report could not be logged to MLflow run {run_id} ({first}): check the run id.") from None


def run(args: argparse.Namespace) -> Path:
    from sustain.report import figures
    from sustain.report.html import Block, render

    tags = _tags(args.tag)
    runs = compare.load_runs(args.tracking_uri, args.experiment, args.parent_run, tags)
    externals = [(Path(p), compare.load_external(p)) for p in args.add_csv]
    df = compare.latest_per_configuration(compare.combine([runs] + [ext for _, ext in externals]))
    if df.empty:
        raise SustainError(
            f"nothing to compare: no run with energy metrics in {args.tracking_uri} ({_filter_text(args, tags)}) "
            f"and no --add-csv file, so run a benchmark first or pass --add-csv."
        )
    known = set(df["model"]) | set(compare.with_labels(df)["label"])
    unknown = [m for m in args.om_exclude if m not in known]
    if unknown:
        raise SustainError(f"--om-exclude {unknown[0]} matches no model; known: {', '.join(sorted(df['model'].unique()))}.")

    reference = compare.default_reference()
    scenarios = compare.default_scenarios()
    t3 = compare.table3(df, reference)
    t4 = compare.table4(df)
    ranked = df[~df["model"].isin(args.om_exclude) & ~compare.with_labels(df)["label"].isin(args.om_exclude)]
    metric = compare.resolve_quality(compare.table3(ranked, reference), args.quality)
    if t3.loc[~t3["is_reference"], metric].isna().all():
        raise SustainError(f"no configuration has a {metric} score: use --quality f1 (or auto).")
    om = compare.om_rankings(ranked, reference, scenarios, metric)
    front = compare.pareto_front(t3, metric)

    out = args.out or Path("reports") / time.strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / "runs.csv", index=False)
    _write_table(out, "table3", t3, compare.format_table3(t3),
                 "Table 3: each model's lowest-energy configuration against the reference")
    _write_table(out, "table4", t4, compare.format_table4(t4),
                 "Table 4: energy-optimal maximum batch size per model and GPU count")
    legend = "Scenarios (Q quality, L decode latency, E energy): " + "; ".join(
        f"{name} = {compare.scenario_title(w)}" for name, w in scenarios.items()) + ". Cells: OM (rank)."
    _write_table(out, "om_rankings", om, compare.format_om(om, scenarios),
                 f"Overall Metric and rank per weight scenario (quality = {metric})", legend)
    front.to_csv(out / "pareto.csv", index=False)
    fig2 = figures.fig2_quality_vs_energy(t3, front, metric, out / "fig2_quality_vs_energy.png")
    fig6 = figures.fig6_energy_vs_latency(df, out / "fig6_energy_vs_latency.png")
    fig3 = figures.fig3_rank_bump(om, scenarios, out / "fig3_rank_bump.png")

    blocks = [
        Block("Table 3: lowest-energy configuration per model", "Mean ± std per request.", compare.format_table3(t3)),
        Block("Figure 2: output quality vs energy", f"Pareto front on quality = {metric} and energy.", figure=fig2),
        Block("Pareto front", "Configurations no other one beats on both quality and energy.",
              compare.format_table3(front)),
        Block("Table 4: energy-optimal max batch size per model and GPU count", table=compare.format_table4(t4)),
        Block("Figure 6: energy vs decode latency across max batch sizes", figure=fig6),
        Block("Overall Metric rankings", legend, compare.format_om(om, scenarios)),
        Block("Figure 3: ranks across weight scenarios", figure=fig3),
    ]
    sources = _sources(args, tags, runs, externals, df, reference, metric, args.om_exclude)
    (out / "report.html").write_text(render("sustain: comparison report", sources, blocks), encoding="utf-8")

    target = args.log_to_run or args.parent_run
    if target:
        _log_to_run(args.tracking_uri, target, out)
        print(f"sustain.report: logged to MLflow run {target} under report/")
    print(f"sustain.report: {len(runs)} MLflow run(s), {sum(len(e) for _, e in externals)} CSV row(s); "
          f"quality for OM = {metric}")
    print(f"sustain.report: outputs in {out.resolve()}")
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        run(args)
    except SustainError as exc:
        print(f"sustain.report: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
