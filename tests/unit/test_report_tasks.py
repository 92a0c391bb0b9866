"""Quality follows the task, tasks are never ranked together, honest labels (issues 8, 10, 12), by hand."""

import math

import matplotlib
import pandas as pd
import pytest

matplotlib.use("Agg")

from sustain.errors import SustainError  # noqa: E402
from sustain.report import compare, figures  # noqa: E402
from sustain.report.summary import format_summary  # noqa: E402
from sustain.report.sweep_table import (  # noqa: E402
    NO_CORRECT,
    energy_per_correct_cell,
    format_sweep_table,
    quality_cell,
)

BASE = {"run_id": None, "run_name": None, "quantization": "none", "gpus": 1, "batch_size": 8, "measured": True,
        "energy_source": "zeus: NVML", "origin": "mlflow", "decode_latency_s": 1.0}


def runs(rows: list[dict]) -> pd.DataFrame:
    return compare.combine([pd.DataFrame([{**BASE, **r} for r in rows], columns=compare.COLUMNS)])


def test_quality_is_the_tasks_own_metric_and_older_runs_fall_back_to_macro_f1_marked():
    df = runs([
        {"model": "a", "task": "arithmetic", "energy_j": 10, "quality": 0.6, "quality_metric": "exact_match"},
        {"model": "b", "task": "arithmetic", "energy_j": 20, "quality": 0.9, "quality_metric": "exact_match",
         "f1": 0.1},
        {"model": "old", "energy_j": 30, "f1": 0.7},  # before tasks: no task tag, no `quality`
    ])
    old = df.set_index("model").loc["old"]
    assert (old["task"], old["quality"], old["quality_metric"], old["quality_fallback"]) == (
        "hallucination", 0.7, "macro_f1", True)
    assert not df.set_index("model").loc["b", "quality_fallback"]
    arithmetic = df[df["task"] == "arithmetic"]
    front = compare.pareto_front(compare.table3(arithmetic), compare.resolve_quality(compare.table3(arithmetic)))
    assert front["model"].tolist() == ["a", "b"]  # on exact match, not on b's stray F1 of 0.1
    shown = compare.format_table3(compare.table3(df[df["task"] == "hallucination"]))
    assert shown.loc[1, "Quality (macro_f1)"] == "0.700*"


def test_tasks_are_never_ranked_together():
    df = runs([
        {"model": "a", "task": "arithmetic", "energy_j": 10, "quality": 0.6, "quality_metric": "exact_match"},
        {"model": "a", "task": "code", "energy_j": 20, "quality": 0.3, "quality_metric": "pass_at_1"},
    ])
    for table in (compare.table3, compare.table4, compare.om_rankings):
        with pytest.raises(SustainError, match="several tasks"):
            table(df)
    with pytest.raises(SustainError, match="several tasks"):
        compare.pareto_front(df, "quality")
    assert [t for t, _ in compare.by_task(df)] == ["arithmetic", "code"]
    assert compare.tasks(runs([{"model": "m", "energy_j": 1, "task": "code"}, {"model": "n", "energy_j": 1}])) == [
        "hallucination", "code"]


def test_reference_scores_hold_for_the_papers_task_only():
    rows = runs([{"model": "a", "task": "arithmetic", "energy_j": 10, "quality": 0.6, "mean_output_tokens": 132,
                  "quality_metric": "exact_match"}])
    base = compare.estimated_baseline("arithmetic", rows)
    assert math.isnan(base.judge) and math.isnan(base.quality)
    assert base.decode_latency_s == pytest.approx(132 / 113.7)  # estimated for this task's output length
    om = compare.om_rankings(rows, base, {"q": (1, 1, 1)}, quality="quality")
    assert not om["om_meaningful"].any() and om["rank_q"].isna().all()
    assert "reference has no score for this measure on this task" in om.loc[0, "om_note"]
    paper = compare.estimated_baseline("hallucination", rows)
    assert (paper.judge, paper.quality, paper.f1) == (0.978, 1.0, 1.0)


def test_om_with_zero_quality_is_not_meaningful_and_not_ranked():
    df = runs([
        {"model": "zero", "energy_j": 1, "decode_latency_s": 0.1, "quality": 0.0, "quality_metric": "macro_f1"},
        {"model": "good", "energy_j": 100, "decode_latency_s": 1, "quality": 0.8, "quality_metric": "macro_f1"},
        {"model": "tagged", "energy_j": 50, "decode_latency_s": 1, "quality": 0.5, "quality_metric": "macro_f1",
         "om_flagged": True},
    ])
    om = compare.om_rankings(df, scenarios={"equal": (1, 1, 1)}, quality="quality").set_index("label")
    assert om.loc["zero", "om_note"] == "not meaningful: quality 0" and pd.isna(om.loc["zero", "rank_equal"])
    assert om.loc["tagged", "om_note"].endswith("om.meaningful=false") and math.isnan(om.loc["tagged", "om_equal"])
    assert om.loc["good", "om_meaningful"] and om.loc["good", "rank_equal"] == 1
    assert compare.ranking(om.reset_index(), "equal") == ["good", "gpt-4o (estimated)"]  # 15x less energy
    shown = compare.format_om(om.reset_index(), {"equal": (1, 1, 1)}).set_index("Model")
    assert shown.filter(like="equal").loc["zero"].iloc[0] == "not meaningful: quality 0"


def test_energy_per_correct_answer_beside_energy_or_why_not():
    df = runs([
        {"model": "a", "energy_j": 10, "energy_per_correct_j": 25, "quality": 0.4, "quality_metric": "exact_match",
         "n_correct": 4, "task": "arithmetic"},
        {"model": "b", "energy_j": 5, "quality": 0.0, "quality_metric": "exact_match", "n_correct": 0,
         "task": "arithmetic"},
    ])
    shown = compare.format_table3(compare.table3(df)).set_index("Model")
    assert shown.loc["a", "Energy per correct answer (J)"] == "25.0"
    assert shown.loc["b", "Energy per correct answer (J)"] == NO_CORRECT == compare.NO_CORRECT
    assert compare.energy_per_correct(math.nan, math.nan, 0.5) == "n/a"  # an older run: not recorded
    assert list(shown.columns).index("Energy per correct answer (J)") == list(shown.columns).index("Energy (J)") + 1


def test_declared_reference_row_is_listed_once(tmp_path):
    csv = tmp_path / "published.csv"
    csv.write_text("model,energy_j,decode_latency_s,judge,f1,reference\n"
                   "GPT-4o,1498,0.58,0.978,1.0,true\nQwen3-32B,2382,85,0.992,0.918,false\n")
    rows, declared = compare.split_references(compare.load_external(csv))
    t3 = compare.table3(rows, declared["hallucination"])
    assert t3["label"].tolist() == ["GPT-4o", "Qwen3-32B"] and t3["is_reference"].tolist() == [True, False]
    assert "declared the reference" in t3.loc[0, "energy_source"] and t3.loc[0, "quality"] == 1.0
    by_option = compare.load_external(csv, reference_row="Qwen3-32B")  # a second reference for the same task
    with pytest.raises(SustainError, match="one reference row per task"):
        compare.split_references(by_option)


def test_footprint_and_energy_caption():
    df = runs([
        {"model": "a", "energy_j": 10, "f1": 0.5, "water_l_per_request": 0.002, "deployment_kwh_per_year": 12.5,
         "footprint_inputs": "carbon.wue=1.8"},
        {"model": "b", "energy_j": 20, "f1": 0.6, "measured": False, "energy_source": "estimate: cpu (Xeon, 85 W)"},
    ])
    t3 = compare.table3(df)
    shown = compare.format_footprint(compare.footprint(t3))
    assert shown["Model"].tolist() == ["a"] and shown.loc[0, "Inputs"] == "carbon.wue=1.8"
    caption = compare.energy_caption(t3)
    assert "measured for 1 configuration(s) (zeus: NVML)" in caption
    assert "estimated for 1 configuration(s) (estimate: cpu (Xeon, 85 W))" in caption
    assert "reference gpt-4o (estimated): estimate" in caption


def test_every_figure_states_its_energy_source_on_its_face(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    texts = []
    real = Figure.savefig

    def spy(self, *args, **kwargs):
        texts.append([t.get_text() for t in self.texts])
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", spy)
    df = runs([{"model": m, "energy_j": e, "f1": q, "batch_size": b} for m, e, q, b in
               (("a", 10, 0.5, 2), ("a", 8, 0.5, 8), ("b", 30, 0.9, 8))])
    t3 = compare.table3(df)
    om = compare.om_rankings(df, quality="quality")
    caption = compare.energy_caption(t3)
    figures.fig2_quality_vs_energy(t3, compare.pareto_front(t3, "quality"), "quality", tmp_path / "2.png", caption,
                                   "macro_f1")
    figures.fig6_energy_vs_latency(df, tmp_path / "6.png", compare.energy_caption(df))
    figures.fig3_rank_bump(om, compare.default_scenarios(), tmp_path / "3.png", caption)
    assert len(texts) == 3
    assert all(any("Energy per request: measured for" in t.replace("\n", " ") for t in fig) for fig in texts)


def test_figure6_with_many_lines_is_drawn_by_family(tmp_path):
    rows = [{"model": f"qwen3-{i}b", "gpus": g, "batch_size": b, "energy_j": 10 * i / b, "f1": 0.5}
            for i in range(1, 8) for g in (1, 2, 4, 8) for b in (2, 8, 32)]
    path = figures.fig6_energy_vs_latency(runs(rows), tmp_path / "6.png", "Energy per request: test.")
    assert path.stat().st_size > 10_000


def test_fig3_without_a_meaningful_om_draws_nothing(tmp_path):
    df = runs([{"model": "zero", "energy_j": 1, "quality": 0.0, "quality_metric": "exact_match",
                "task": "arithmetic"}])
    om = compare.om_rankings(df, quality="quality")
    assert figures.fig3_rank_bump(om, compare.default_scenarios(), tmp_path / "3.png") is None


def test_sweep_table_names_each_jobs_quality_and_energy_per_correct():
    assert quality_cell({"quality": 0.5}, {"task.primary_metric": "pass_at_1"}) == "0.500 (pass_at_1)"
    assert quality_cell({"macro_f1": 0.25}, {}) == "0.250 (macro_f1)"
    assert quality_cell({}, {}) is None
    assert energy_per_correct_cell({"energy_per_correct_j": 12.0}) == 12.0
    assert energy_per_correct_cell({"quality": 0.0, "n_correct": 0.0}) == NO_CORRECT
    assert energy_per_correct_cell({"quality": 0.5}) is None
    table = format_sweep_table([
        {"job": "#0 a", "status": "FINISHED", "task": "arithmetic", "energy_j": 1.0,
         "energy_per_correct_j": NO_CORRECT, "quality": "0.000 (exact_match)", "error": ""},
        {"job": "#1 b", "status": "FINISHED", "task": "code", "energy_j": 2.0, "energy_per_correct_j": 4.0,
         "quality": "0.500 (pass_at_1)", "error": ""},
    ])
    assert "0.000 (exact_match)" in table and "0.500 (pass_at_1)" in table and NO_CORRECT in table
    assert "search" not in table.splitlines()[1]  # no search, no column for it


def test_sweep_table_marks_what_a_search_picked():
    from sustain.report.sweep_table import _search_pick

    assert _search_pick({"search.pareto": "true"}) == "pareto"
    assert _search_pick({"search.best_batch_size": "true"}) == "best batch size" and _search_pick({}) == ""
    table = format_sweep_table([
        {"job": "#0 a", "status": "FINISHED", "energy_j": 1.0, "search": "pareto", "error": ""},
        {"job": "#1 b", "status": "FINISHED", "energy_j": 2.0, "search": "", "error": ""},
    ]).splitlines()
    assert table[1].split()[-2:] == ["search", "error"] and table[2].split()[-2] == "pareto"
    assert table[3].split()[-2] == "-"


def test_summary_names_the_tasks_metric_and_energy_per_correct_answer():
    def summary(metrics, tags):
        return {"metrics": {"n_requests": 10.0, **metrics}, "tags": tags,
                "run": {"name": "r", "model": "m", "quantization": "none", "batch_size": 8, "gpus": 1,
                        "n_requests": 10, "dataset": "d", "task": "arithmetic"},
                "energy": {"mode": "steady_state", "source": "estimate"}, "validity": {"flags": []}, "overall": {}}

    text = format_summary(summary({"quality": 0.3, "n_correct": 3.0, "energy_per_correct_j": 7.5},
                                  {"task.primary_metric": "exact_match"}))
    assert "exact_match" in text and "0.300" in text and "3 of 10; 7.50 J per correct answer" in text
    text = format_summary(summary({"quality": 0.0, "n_correct": 0.0}, {"task.primary_metric": "exact_match"}))
    assert "undefined: no correct answer" in text
    assert "macro F1" in format_summary(summary({"macro_f1": 0.5}, {}))
