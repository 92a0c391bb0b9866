"""`python -m sustain.report`: compare benchmarked configurations (MLflow runs, CSV files) the way the
paper does: Table 3, Table 4, the Pareto front (Figure 2), energy vs latency (Figure 6), OM rankings (Figure 3),
one section per task; `--pick` names the lowest-energy configuration that meets your constraints."""

from __future__ import annotations

import argparse
import gc
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sustain.errors import SustainError
from sustain.report import agents as agent_section
from sustain.report import compare
from sustain.report.drawing import Drawing, Job, default_jobs
from sustain.report import pick as picking
from sustain.report import sessions as session_section
from sustain.report import subtasks as subtask_section

EPILOG = f"""\
examples:
  python -m sustain.report                                  # every finished run of experiment 'sustain'
  python -m sustain.report --parent-run RUN_ID              # one sweep; the report is logged to RUN_ID
  python -m sustain.report --tag task=hallucination --tag gpus=1
  python -m sustain.report --add-csv {compare.PAPER_TABLE3}   # the paper's Table 3 (with or without runs)
  python -m sustain.report --pick "judge>=0.9,p90_decode_s<=5"  # the cheapest configuration meeting both

outputs (in --out): table3.md/.csv, table4.md/.csv, om_rankings.md/.csv, pareto.csv, runs.csv,
fig2_quality_vs_energy.png, fig6_energy_vs_latency.png, fig3_rank_bump.png, report.html (self-contained),
pick.md with --pick, search.md/.csv when runs of a search are compared (its Pareto set, its best
batch size); with sessions runs (task=sessions), sessions.md/.csv (per run), sessions_points.csv and
sessions_energy.png (per session), sessions_prefix_cache.csv/.png (runs differing only in the prefix cache); with
agent runs (task=agent), agents.csv/.md and agents_pareto.png (energy per successful task against success rate,
per agent task); with runs made of tasks (task=lm_eval), subtasks.csv/.md (each lm-eval task and group as a
row family: its scores, energy per sample and per correct sample per run). Runs of different tasks get one section each, never one ranking: the CSVs carry a `task`
column and, with several tasks, each figure is drawn per task (fig2_quality_vs_energy.<task>.png).
Quality is the task's primary metric (tag task.primary_metric) or the judge's score; runs from before
tasks were plugins have only macro_f1, which is used and marked.
The reference is GPT-4o estimated as in the paper (66 output tokens: 0.58 s, about 1,498 J, judge 0.978, F1 1)
for the paper's task, or a CSV row declared the reference (column reference=true, or --reference-row).

--pick constraints: METRIC OP NUMBER, comma-separated; OP one of <=, >=, <, >, ==; METRIC one of
{", ".join(picking.aliases())}
(energy = energy per request in J, p90_decode_s = 90th percentile decode latency in s).
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
                        "(required) and energy_j_std, decode_latency_s_std, judge, judge_std, f1, quality, "
                        "quality_metric, task (default hallucination), energy_per_correct_j, p90_decode_s, gpus, "
                        "batch_size, quantization, energy_source, measured, reference (optional); repeatable")
    p.add_argument("--reference-row", metavar="MODEL",
                   help="the --add-csv row whose model is MODEL is the reference of its task, not a model "
                        "(same as a reference=true column)")
    p.add_argument("--quality", choices=tuple(compare.QUALITY_CHOICES), default="auto",
                   help="quality for the OM and the Pareto front: the LLM-as-a-judge score, the task's primary "
                        "metric (task; quality is the same), macro F1 (f1), or auto (judge when every model of "
                        "the task has one, else the task's metric; default)")
    p.add_argument("--om-exclude", action="append", default=[], metavar="MODEL",
                   help="leave a model out of the OM rankings and Figure 3; repeatable. Without "
                        "Falcon3-7B-Instruct and Mistral-Nemo-Instruct-2407, the paper's Table 3 numbers give the "
                        "rankings its section 4.5 describes")
    p.add_argument("--pick", metavar="CONSTRAINTS",
                   help='name the lowest-energy configuration meeting every constraint, e.g. '
                        '"judge>=0.9,p90_decode_s<=5" (see below), with its runner-up and costs against the reference')
    p.add_argument("--out", type=Path, default=None,
                   help="output folder (default: reports/<timestamp>)")
    p.add_argument("--log-to-run", metavar="RUN_ID",
                   help="log every output as artifacts under report/ of this MLflow run (default: --parent-run)")
    p.add_argument("--jobs", "-j", type=_positive, default=default_jobs(), metavar="N",
                   help="processes drawing the figures side by side, this one included (default: one per CPU, at "
                        "most 4, here %(default)s; 1 draws them all in this process)")
    return p.parse_args(argv)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of processes of 1 or more")
    return int(text)


@dataclass
class Section:
    """Everything the report says about one task."""

    task: str
    rows: pd.DataFrame
    base: compare.Baseline
    t3: pd.DataFrame
    t4: pd.DataFrame
    om: pd.DataFrame
    front: pd.DataFrame
    picks: pd.DataFrame  # the runs a search picked
    metric: str
    metric_name: str
    answer: picking.Answer | None = None
    fig2: Path | None = None
    fig6: Path | None = None
    fig3: Path | None = None


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
    name = "the MLflow runs" if origin == "mlflow" else origin
    return f"Energy of {name}: " + ", ".join(parts) + "."


def _score(value: float) -> str:
    return "no score for this task" if pd.isna(value) else f"{value:g}"


def _sources(args, tags, runs: compare.Newest, externals, df, sections: list[Section], declared) -> list[str]:
    lines = [f"MLflow store {args.tracking_uri}, {_filter_text(args, tags)}: {runs.count} run(s) with energy metrics."]
    lines += [f"CSV file {path}: {len(ext)} row(s), origin '{path.name}'." for path, ext in externals]
    replaced = runs.count + sum(len(ext) for _, ext in externals) - len(df) - len(declared)
    if replaced:
        lines.append(f"{replaced} older row(s) repeating a configuration (origin, task, model, quantization, GPUs, "
                     f"batch size) were left out: the newest run of each configuration counts.")
    lines += [_energy_line(df, origin) for origin in df["origin"].unique()]
    flagged = runs.flagged
    if len(flagged):
        lines.append(f"{len(flagged)} MLflow run(s) carry validity flags (tag validity.flags): "
                     + "; ".join(f"{r.run_name}: {r.validity_flags}" for r in flagged.itertuples()))
    legacy = int(df["quality_fallback"].sum())
    if legacy:
        lines.append(f"{legacy} row(s) predate task metrics (no `quality` metric): their macro_f1 is their "
                     f"quality, marked *, and their task is taken as {compare.PAPER_TASK}.")
    lines.append(f"Tasks: {', '.join(s.task for s in sections)}; each has its own section, reference and "
                 f"rankings, never mixed.")
    for s in sections:
        lines.append(f"Task {s.task}: reference {s.base.name}: {s.base.source}; judge {_score(s.base.judge)}, "
                     f"{s.base.quality_metric or 'task metric'} {_score(s.base.quality)}. OM and the Pareto front "
                     f"use quality = {s.metric_name}.")
    lines += _twin_hints(df, declared)
    if args.om_exclude:
        lines.append(f"Left out of the OM rankings: {', '.join(args.om_exclude)}.")
    lines.append("Per model, the lowest-energy configuration is reported (Table 3).")
    return lines


def _twin_hints(df: pd.DataFrame, declared: dict) -> list[str]:
    """A CSV row that looks like the estimated reference but was not declared one is listed twice."""
    looks = df[(df["origin"] != "mlflow") & df["model"].str.lower().str.contains("gpt-4o", regex=False)
               & (df["task"] == compare.PAPER_TASK)]
    if compare.PAPER_TASK in declared or looks.empty:
        return []
    name = looks["model"].iloc[0]
    return [f"Row '{name}' of {looks['origin'].iloc[0]} is listed as a model beside the estimated reference: "
            f"declare it the reference (column reference=true, or --reference-row '{name}') to list it once."]


def _write_table(out: Path, name: str, data: pd.DataFrame, sections: list[tuple[str, pd.DataFrame]], title: str,
                 note: str = "") -> None:
    data.to_csv(out / f"{name}.csv", index=False)
    parts = [f"# {title}\n"]
    for heading, shown in sections:
        parts.append((f"## Task {heading}\n\n" if len(sections) > 1 else "") + compare.to_markdown(shown))
    (out / f"{name}.md").write_text("\n".join(parts) + (f"\n{note}\n" if note else ""), encoding="utf-8")


def _log_to_run(tracking_uri: str, run_id: str, out: Path) -> None:
    from mlflow.tracking import MlflowClient

    try:
        client = MlflowClient(tracking_uri=tracking_uri)
        client.get_run(run_id)
        client.log_artifacts(run_id, str(out), artifact_path="report")
    except Exception as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise SustainError(f"the report could not be logged to MLflow run {run_id} ({first}): check the run id.") from None


def _section(task: str, rows: pd.DataFrame, base: compare.Baseline, args, scenarios) -> Section:
    t3 = compare.table3(rows, base)
    labels = compare.with_labels(rows)["label"]
    ranked = rows[~rows["model"].isin(args.om_exclude) & ~labels.isin(args.om_exclude)]
    metric = compare.resolve_quality(compare.table3(ranked, base), args.quality)
    if t3.loc[~t3["is_reference"], metric].isna().all():
        raise SustainError(f"task {task}: no configuration has a {metric} score: use --quality task (or auto).")
    om = compare.om_rankings(ranked, base, scenarios, metric)
    return Section(task, rows, base, t3, compare.table4(rows), om, compare.pareto_front(t3, metric),
                   compare.search_picks(rows), metric, compare.quality_name(t3, metric))


def _load(args, tags):
    runs = compare.load_newest(args.tracking_uri, args.experiment, args.parent_run, tags)
    externals = [(Path(p), compare.load_external(p, args.reference_row)) for p in args.add_csv]
    if args.reference_row and not any(ext["reference"].any() for _, ext in externals):
        raise SustainError(f"--reference-row {args.reference_row} matches no model of the --add-csv files: "
                           f"give the exact model name of the reference row.")
    rows, declared = compare.split_references(compare.combine([runs.rows] + [ext for _, ext in externals]))
    return runs, externals, compare.latest_per_configuration(rows), declared


def run(args: argparse.Namespace) -> Path:
    tags = _tags(args.tag)
    constraints = picking.parse(args.pick) if args.pick else None
    with Drawing(args.jobs) as drawing:
        return _report(args, tags, constraints, drawing)


def _report(args: argparse.Namespace, tags: dict[str, str], constraints, drawing: Drawing) -> Path:
    runs, externals, df, declared = _load(args, tags)
    if df.empty:
        raise SustainError(
            f"nothing to compare: no run with energy metrics in {args.tracking_uri} ({_filter_text(args, tags)}) "
            f"and no --add-csv file, so run a benchmark first or pass --add-csv."
        )
    known = set(df["model"]) | set(compare.with_labels(df)["label"])
    unknown = [m for m in args.om_exclude if m not in known]
    if unknown:
        raise SustainError(f"--om-exclude {unknown[0]} matches no model; known: {', '.join(sorted(df['model'].unique()))}.")

    scenarios = compare.default_scenarios()
    sections = [_section(task, rows, declared.get(task) or compare.estimated_baseline(task, rows), args, scenarios)
                for task, rows in compare.by_task(df)]
    for s in sections:
        s.answer = picking.pick(s.rows, constraints, s.base) if constraints else None

    out = args.out or Path("reports") / time.strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    figures = _draw_figures(out, sections, scenarios, drawing)
    _write_outputs(out, df, sections, scenarios)
    sessions = session_section.load(args.tracking_uri, args.experiment, args.parent_run, tags)
    if sessions is not None:
        session_section.write(sessions, out)
    agents = agent_section.load(args.tracking_uri, args.experiment, args.parent_run, tags)
    if agents is not None:
        agent_section.write(agents, out)
    subtasks = subtask_section.load(args.tracking_uri, args.experiment, args.parent_run, tags)
    if subtasks is not None:
        subtask_section.write(subtasks, out)
    sources = _sources(args, tags, runs, externals, df, sections, declared)
    drawing.finish()
    for section, name, figure in figures:
        setattr(section, name, figure.result())
    _write_html(out, sources, sections, scenarios, sessions, agents, subtasks)

    target = args.log_to_run or args.parent_run
    if target:
        _log_to_run(args.tracking_uri, target, out)
        print(f"sustain.report: logged to MLflow run {target} under report/")
    for s in sections:
        if s.answer is not None:
            print(s.answer.text())
    print(f"sustain.report: {runs.count} MLflow run(s), {sum(len(e) for _, e in externals)} CSV row(s); "
          + "; ".join(f"task {s.task}: quality for OM = {s.metric_name}" for s in sections))
    print(f"sustain.report: outputs in {out.resolve()}")
    return out


def _return_freed_memory() -> None:
    """Arrow's system allocator for this process: it hands the memory of the runs' columns back once they are
    reduced to a configuration each, where Arrow's default pool keeps it (about 55 MB at 100,000 runs)."""
    import pyarrow as pa

    pa.set_memory_pool(pa.system_memory_pool())


def _suffix(sections: list[Section], task: str) -> str:
    return "" if len(sections) == 1 else "." + re.sub(r"[^A-Za-z0-9_.-]", "_", task)


def _draw_figures(out: Path, sections: list[Section], scenarios, drawing: Drawing) -> list[tuple[Section, str, Job]]:
    """Figures 2, 6 and 3 of each section, submitted to be drawn while the tables are written."""
    from sustain.report import figures

    plans = [(s, _suffix(sections, s.task), compare.energy_caption(s.t3)) for s in sections]
    pending = [(s, "fig3", drawing.draw(figures.fig3_rank_bump, s.om, scenarios, out / f"fig3_rank_bump{end}.png",
                                        caption))
               for s, end, caption in plans]  # Figure 3 first: the longest to draw, it should not be left last
    for s, end, caption in plans:
        pending += [
            (s, "fig2", drawing.draw(figures.fig2_quality_vs_energy, s.t3, s.front, s.metric,
                                     out / f"fig2_quality_vs_energy{end}.png", caption, s.metric_name)),
            (s, "fig6", drawing.draw(figures.fig6_energy_vs_latency, s.rows, out / f"fig6_energy_vs_latency{end}.png",
                                     compare.energy_caption(s.rows))),
        ]
    return pending


def _write_outputs(out: Path, df: pd.DataFrame, sections: list[Section], scenarios) -> None:
    df.to_csv(out / "runs.csv", index=False)
    _write_table(out, "table3", pd.concat([s.t3 for s in sections]),
                 [(s.task, compare.format_table3(s.t3)) for s in sections],
                 "Table 3: each model's lowest-energy configuration against the reference",
                 compare.FALLBACK_NOTE if df["quality_fallback"].any() else "")
    _write_table(out, "table4", pd.concat([s.t4 for s in sections]),
                 [(s.task, compare.format_table4(s.t4)) for s in sections],
                 "Table 4: energy-optimal maximum batch size per model and GPU count")
    legend = "Scenarios (Q quality, L decode latency, E energy): " + "; ".join(
        f"{name} = {compare.scenario_title(w)}" for name, w in scenarios.items()) + ". Cells: OM (rank)."
    _write_table(out, "om_rankings", pd.concat([s.om for s in sections]),
                 [(f"{s.task} (quality = {s.metric_name})", compare.format_om(s.om, scenarios)) for s in sections],
                 "Overall Metric and rank per weight scenario", legend)
    pd.concat([s.front for s in sections]).to_csv(out / "pareto.csv", index=False)
    if any(len(s.picks) for s in sections):
        _write_table(out, "search", pd.concat([s.picks for s in sections]),
                     [(s.task, compare.format_search_picks(s.picks)) for s in sections if len(s.picks)],
                     "What the searches picked: the Pareto set (hydra/sweeper=pareto) and the energy-optimal "
                     "batch size (hydra/sweeper=batch_size), each configuration as measured")
    if any(s.answer is not None for s in sections):
        (out / "pick.md").write_text("# Pick\n\n```\n" + "\n".join(s.answer.text() for s in sections) + "\n```\n",
                                     encoding="utf-8")


def _write_html(out: Path, sources: list[str], sections: list[Section], scenarios,
                sessions: session_section.Sessions | None = None, agents: agent_section.Agents | None = None,
                subtasks: subtask_section.Subtasks | None = None) -> None:
    from sustain.report.html import Block, render

    blocks = []
    for s in sections:
        head = f"{s.task}: " if len(sections) > 1 else ""
        not_meaningful = int((~s.om["om_meaningful"]).sum())
        om_note = ("Cells: OM (rank); OM > 1 beats the reference." + (
            f" {not_meaningful} row(s) have an OM that is not meaningful (shown as such, not ranked)."
            if not_meaningful else ""))
        if s.answer is not None:
            blocks.append(Block(f"{head}Pick", text=s.answer.text()))
        if len(s.picks):
            blocks.append(Block(f"{head}What the search picked",
                                "Runs on a multi-objective search's Pareto set (hydra/sweeper=pareto) or the batch "
                                "size a batch-size search found cheapest (hydra/sweeper=batch_size), as measured.",
                                compare.format_search_picks(s.picks)))
        blocks += [
            Block(f"{head}Table 3: lowest-energy configuration per model",
                  "Mean ± std per request. " + (compare.FALLBACK_NOTE if s.t3["quality_fallback"].any() else ""),
                  compare.format_table3(s.t3)),
            Block(f"{head}Figure 2: output quality vs energy", f"Pareto front on quality = {s.metric_name} and energy.",
                  figure=s.fig2),
            Block(f"{head}Pareto front", "Configurations no other one beats on both quality and energy.",
                  compare.format_table3(s.front)),
            Block(f"{head}Table 4: energy-optimal max batch size per model and GPU count",
                  table=compare.format_table4(s.t4)),
            Block(f"{head}Figure 6: energy vs decode latency across max batch sizes", figure=s.fig6),
            Block(f"{head}Overall Metric rankings (quality = {s.metric_name})", om_note,
                  compare.format_om(s.om, scenarios)),
            Block(f"{head}Figure 3: ranks across weight scenarios",
                  "" if s.fig3 else "No row has a meaningful OM, so there is no ranking to draw.", figure=s.fig3),
        ]
        rows = compare.footprint(s.t3)
        if len(rows):
            blocks.append(Block(f"{head}Water and a deployment's year",
                                "Each model's Table 3 configuration; the inputs are the run's own tags and params.",
                                compare.format_footprint(rows)))
    if sessions is not None:
        blocks += session_section.blocks(sessions)
    if agents is not None:
        blocks += agent_section.blocks(agents)
    if subtasks is not None:
        blocks += subtask_section.blocks(subtasks)
    (out / "report.html").write_text(render("sustain: comparison report", sources, blocks), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        run(args)
    except SustainError as exc:
        print(f"sustain.report: {exc}", file=sys.stderr)
        return 2
    return 0


def command_line() -> int:
    """`main` as a process of its own, which ends with the report: nothing it made needs collecting. (Called from
    another program, `main` leaves its garbage collector and Arrow's allocator as they were.)"""
    _return_freed_memory()
    gc.freeze()  # what the imports made is never collected: the figure workers forked from here share its pages
    try:
        return main()
    finally:
        gc.freeze()  # the collector would walk every object left (matplotlib's, pandas') at exit, only to free them


if __name__ == "__main__":
    sys.exit(command_line())
