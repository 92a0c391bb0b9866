"""Hand-checked answers for the comparison tables: Pareto front, Table 3, Table 4, OM ranks, CSV input."""

import math

import pandas as pd
import pytest

from sustain.errors import SustainError
from sustain.metrics.reference import Reference
from sustain.report import compare

REF = Reference("ref", quality=1.0, decode_latency_s=1.0, energy_j=100.0, source="hand-made")


def runs(rows: list[dict]) -> pd.DataFrame:
    """Rows with only the columns a test cares about; the rest as load_runs would leave them."""
    base = {"run_id": None, "run_name": None, "quantization": "none", "gpus": 1, "batch_size": 8,
            "energy_j_std": math.nan, "decode_latency_s_std": math.nan, "judge": math.nan, "judge_std": math.nan,
            "f1": math.nan, "energy_source": "zeus", "measured": True, "validity_flags": "none", "origin": "mlflow",
            "start_time": None}
    return compare.combine([pd.DataFrame([{**base, **r} for r in rows], columns=compare.COLUMNS)])


def test_pareto_front_of_five_points_by_hand():
    # (energy, quality): A cheap/poor, B dominated by C, C, D dominated by C, E best and dearest.
    df = runs([
        {"model": "A", "energy_j": 100, "decode_latency_s": 1, "judge": 0.50},
        {"model": "B", "energy_j": 300, "decode_latency_s": 1, "judge": 0.60},
        {"model": "C", "energy_j": 200, "decode_latency_s": 1, "judge": 0.80},
        {"model": "D", "energy_j": 400, "decode_latency_s": 1, "judge": 0.80},
        {"model": "E", "energy_j": 900, "decode_latency_s": 1, "judge": 0.95},
    ])
    front = compare.pareto_front(df, "judge")
    assert front["model"].tolist() == ["A", "C", "E"]


def test_pareto_front_keeps_exact_duplicates_and_skips_missing_quality():
    df = runs([
        {"model": "A", "energy_j": 100, "decode_latency_s": 1, "f1": 0.7},
        {"model": "B", "energy_j": 100, "decode_latency_s": 1, "f1": 0.7},
        {"model": "C", "energy_j": 100, "decode_latency_s": 1, "f1": 0.6},
        {"model": "D", "energy_j": 50, "decode_latency_s": 1},
    ])
    assert sorted(compare.pareto_front(df, "f1")["model"]) == ["A", "B"]
    with pytest.raises(SustainError):
        compare.pareto_front(df, "accuracy")


def test_table3_picks_lowest_energy_configuration_and_puts_reference_first():
    df = runs([
        {"model": "Qwen3-8B", "batch_size": 2, "energy_j": 900, "decode_latency_s": 2.0, "judge": 0.9},
        {"model": "Qwen3-8B", "batch_size": 32, "energy_j": 300, "decode_latency_s": 9.0, "judge": 0.8},
        {"model": "Qwen3-8B", "batch_size": 8, "energy_j": 500, "decode_latency_s": 4.0, "judge": 0.85},
        {"model": "Falcon3-7B-Instruct", "batch_size": 16, "energy_j": 200, "decode_latency_s": 3.0, "judge": 0.7},
        {"model": "Qwen3-8B", "quantization": "awq", "batch_size": 8, "energy_j": 250, "decode_latency_s": 5.0,
         "judge": 0.75},
    ])
    t3 = compare.table3(df, REF)
    assert t3["is_reference"].tolist() == [True, False, False, False]
    assert t3.loc[0, "energy_j"] == 100.0 and t3.loc[0, "f1"] == compare.REFERENCE_F1
    row = t3.set_index("label").loc["Qwen3-8B"]
    assert (row["batch_size"], row["energy_j"], row["decode_latency_s"], row["judge"]) == (32, 300, 9.0, 0.8)
    assert t3.set_index("label").loc["Qwen3-8B (awq)", "energy_j"] == 250
    # Paper order: the Qwen3 family before Falcon, best quality first within a family.
    assert t3["label"].tolist()[1:] == ["Qwen3-8B", "Qwen3-8B (awq)", "Falcon3-7B-Instruct"]


def test_table3_keeps_one_model_from_two_sources_apart():
    df = runs([
        {"model": "Qwen3-32B", "energy_j": 2000, "decode_latency_s": 80, "judge": 0.99},
        {"model": "Qwen3-32B", "energy_j": 2382, "decode_latency_s": 85, "judge": 0.992, "origin": "paper.csv"},
    ])
    labels = compare.table3(df, REF)["label"].tolist()[1:]
    assert sorted(labels) == ["Qwen3-32B [mlflow]", "Qwen3-32B [paper.csv]"]


def test_table4_by_hand():
    df = runs([
        {"model": "M", "gpus": 1, "batch_size": 2, "energy_j": 50, "decode_latency_s": 1},
        {"model": "M", "gpus": 1, "batch_size": 64, "energy_j": 20, "decode_latency_s": 5},
        {"model": "M", "gpus": 1, "batch_size": 256, "energy_j": 30, "decode_latency_s": 9},
        {"model": "M", "gpus": 2, "batch_size": 64, "energy_j": 40, "decode_latency_s": 4},
        {"model": "M", "gpus": 2, "batch_size": 256, "energy_j": 35, "decode_latency_s": 8},
        {"model": "N", "gpus": 1, "batch_size": 8, "energy_j": 10, "decode_latency_s": 1},
    ])
    t4 = compare.table4(df)
    got = {(r.label, r.gpus): r.batch_size for r in t4.itertuples()}
    assert got == {("M", 1): 64, ("M", 2): 256, ("N", 1): 8}
    assert t4.set_index(["label", "gpus"]).loc[("M", 1), "batch_sizes_tested"] == "2, 64, 256"


def test_om_rank_order_by_hand():
    # Reference (Q 1, L 1 s, E 100 J). Equal weights: OM = sqrt((Q^2 + (1/L)^2 + (100/E)^2) / 3).
    df = runs([
        {"model": "fast", "energy_j": 50, "decode_latency_s": 0.5, "judge": 0.5},   # sqrt((0.25+4+4)/3) = 1.658
        {"model": "good", "energy_j": 200, "decode_latency_s": 2.0, "judge": 1.0},  # sqrt((1+0.25+0.25)/3) = 0.707
    ])
    scenarios = {"equal": (1, 1, 1), "quality": (1, 0, 0)}
    om = compare.om_rankings(df, REF, scenarios, quality="judge").set_index("label")
    assert om.loc["fast", "om_equal"] == pytest.approx(math.sqrt(8.25 / 3))
    assert om.loc["good", "om_equal"] == pytest.approx(math.sqrt(1.5 / 3))
    assert om.loc["ref", "om_equal"] == pytest.approx(1.0)
    assert [om.loc[m, "rank_equal"] for m in ("fast", "ref", "good")] == [1, 2, 3]
    assert om.loc["good", "rank_quality"] == 1 and om.loc["ref", "rank_quality"] == 1  # a tie shares rank 1
    assert om.loc["fast", "rank_quality"] == 3


def test_quality_auto_uses_f1_unless_every_model_has_a_judge_score():
    both = runs([
        {"model": "a", "energy_j": 50, "decode_latency_s": 1, "judge": 0.9, "f1": 0.5},
        {"model": "b", "energy_j": 60, "decode_latency_s": 1, "judge": 0.8, "f1": 0.9},
    ])
    assert compare.resolve_quality(compare.table3(both, REF)) == "judge"
    some = runs([
        {"model": "a", "energy_j": 50, "decode_latency_s": 1, "judge": 0.9, "f1": 0.5},
        {"model": "b", "energy_j": 60, "decode_latency_s": 1, "f1": 0.9},
    ])
    om = compare.om_rankings(some, REF, {"q": (1, 0, 0)})
    assert set(om["quality_metric"]) == {"macro_f1"}  # the F1 fallback, named
    assert compare.ranking(om, "q") == ["ref", "b", "a"]  # F1: reference 1.0 > 0.9 > 0.5
    with pytest.raises(SustainError):
        compare.resolve_quality(compare.table3(some, REF), "bleu")


def test_load_external_fills_optional_columns(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("model,energy_j,decode_latency_s,f1\nX,12.5,0.4,0.8\n")
    df = compare.load_external(path)
    assert df.loc[0, "origin"] == "mine.csv" and df.loc[0, "energy_j"] == 12.5 and df.loc[0, "f1"] == 0.8
    assert math.isnan(df.loc[0, "judge"]) and math.isnan(df.loc[0, "energy_j_std"])
    assert pd.isna(df.loc[0, "gpus"]) and df.loc[0, "quantization"] == "none"
    assert list(df.columns) == compare.columns()


def test_load_external_names_missing_column_and_file(tmp_path):
    path = tmp_path / "broken.csv"
    path.write_text("model,energy_j,judge\nX,12.5,0.9\n")
    with pytest.raises(SustainError, match=r"broken\.csv.*'decode_latency_s'"):
        compare.load_external(path)
    bad = tmp_path / "text.csv"
    bad.write_text("model,energy_j,decode_latency_s\nX,lots,0.4\n")
    with pytest.raises(SustainError, match="energy_j"):
        compare.load_external(bad)
    with pytest.raises(SustainError, match="does not exist"):
        compare.load_external(tmp_path / "absent.csv")


def test_load_runs_without_a_store_is_empty_and_creates_nothing(tmp_path):
    db = tmp_path / "none.db"
    df = compare.load_runs(f"sqlite:///{db}")
    assert df.empty and list(df.columns) == compare.columns()
    assert not db.exists()


def test_formatting_and_markdown():
    t3 = compare.table3(runs([{"model": "a", "energy_j": 456, "energy_j_std": 97.4, "decode_latency_s": 0.5804,
                               "decode_latency_s_std": 0.1, "judge": 0.956, "judge_std": 0.156}]), REF)
    shown = compare.format_table3(t3)
    assert shown.loc[1, "Energy (J)"] == "456 ± 97"
    assert shown.loc[1, "Decode latency (s)"] == "0.580 ± 0.100"
    assert shown.loc[1, "LLM-as-a-judge"] == "0.956 ± 0.156"
    md = compare.to_markdown(pd.DataFrame({"a": ["x|y"], "b": [1]}))
    assert md.splitlines() == ["| a | b |", "|---|---|", "| x\\|y | 1 |"]


def test_family_follows_the_paper():
    assert compare.family("deepseek-ai/DeepSeek-R1-Distill-Qwen-14B") == "DeepSeek"
    assert compare.family("Qwen/Qwen2.5-7B-Instruct-AWQ") == "Qwen2.5"
    assert compare.family("microsoft/Phi-4-reasoning") == "Phi"
    assert compare.family("smollm2-135m") == "other"


def test_latest_run_of_a_configuration_replaces_older_ones():
    df = runs([
        {"model": "M", "batch_size": 8, "energy_j": 10, "decode_latency_s": 1, "start_time": "2026-01-01T00:00Z"},
        {"model": "M", "batch_size": 8, "energy_j": 30, "decode_latency_s": 1, "start_time": "2026-03-01T00:00Z"},
        {"model": "M", "batch_size": 8, "energy_j": 20, "decode_latency_s": 1, "start_time": "2026-02-01T00:00Z"},
        {"model": "M", "batch_size": 16, "energy_j": 40, "decode_latency_s": 1, "start_time": "2026-01-01T00:00Z"},
        {"model": "M", "batch_size": 8, "energy_j": 50, "decode_latency_s": 1, "origin": "paper.csv"},
    ])
    kept = compare.latest_per_configuration(df)
    assert sorted(zip(kept["origin"], kept["batch_size"], kept["energy_j"])) == [
        ("mlflow", 8, 30.0), ("mlflow", 16, 40.0), ("paper.csv", 8, 50.0)]


def test_engines_name_their_rows_only_when_the_runs_come_from_several():
    same = runs([
        {"model": "m", "engine": "vllm", "energy_j": 10, "decode_latency_s": 1, "f1": 0.5},
        {"model": "m", "quantization": "q4_1_gguf", "engine": "vllm", "energy_j": 20, "decode_latency_s": 1, "f1": 0.5},
    ])
    assert compare.table3(same, REF)["label"].tolist()[1:] == ["m", "m (q4_1_gguf)"]
    mixed = runs([
        {"model": "m", "engine": "vllm", "energy_j": 10, "decode_latency_s": 1, "f1": 0.5},
        {"model": "m", "engine": "vllm_server", "energy_j": 5, "decode_latency_s": 1, "f1": 0.5},
        {"model": "m", "quantization": "q4_1_gguf", "engine": "llamacpp", "energy_j": 20, "decode_latency_s": 1,
         "f1": 0.5},
    ])
    t3 = compare.table3(mixed, REF)
    rows = dict(zip(t3["label"][1:], t3["engine"][1:]))
    assert rows == {"m (vllm)": "vllm", "m (vllm_server)": "vllm_server",
                    "m (q4_1_gguf, llamacpp)": "llamacpp"}
    assert len(compare.latest_per_configuration(mixed)) == 3
