"""The laptop study end to end: `python -m sustain -m experiment=local_4bit` then `python -m sustain.report` in
one folder (its ./mlruns), and the report's Table 3 holds both rows side by side: the embedded model in
bfloat16 on vLLM and its Q4_1 GGUF on llama.cpp, each with energy, latency and quality."""

import math
import subprocess
import sys

import pandas as pd
import pytest

from tests.e2e.test_servers import needs_llamacpp

# The smallest run that still gives both rows: two requests, a few tokens each.
SMALL = ["task.limit=2", "task.max_tokens=8"]
ROWS = {("vllm", "none"), ("llamacpp", "q4_1_gguf")}


@pytest.mark.slow
@needs_llamacpp
def test_local_4bit_report_has_both_rows(tmp_path, sustain_cmd, run_env):
    sweep = subprocess.run([*sustain_cmd, "-m", "experiment=local_4bit", *SMALL], check=False, cwd=tmp_path,
                           env=run_env, capture_output=True, text=True, timeout=1200)
    assert sweep.returncode == 0, sweep.stderr[-3000:]
    report = subprocess.run([sys.executable, "-m", "sustain.report", "--out", "report"], check=False,
                            cwd=tmp_path, env=run_env, capture_output=True, text=True, timeout=300)
    assert report.returncode == 0, report.stderr[-3000:]
    out = tmp_path / "report"

    t3 = pd.read_csv(out / "table3.csv")
    rows = t3[~t3["is_reference"]]
    assert set(zip(rows["engine"], rows["quantization"])) == ROWS and len(rows) == 2
    assert (rows["model"] == "smollm2_135m").all() and (rows["batch_size"] == 4).all()
    for column in ("energy_j", "decode_latency_s", "quality"):
        assert all(math.isfinite(v) for v in rows[column]), (column, rows[column].tolist())
    assert (rows["energy_j"] > 0).all() and (rows["decode_latency_s"] > 0).all()
    assert set(rows["quality_metric"]) == {"macro_f1"}

    md = (out / "table3.md").read_text()
    for label in rows["label"]:
        assert f"| {label} |" in md
    assert set(rows["label"]) == {"smollm2_135m (vllm)", "smollm2_135m (q4_1_gguf, llamacpp)"}
    for png in ("fig2_quality_vs_energy.png", "fig6_energy_vs_latency.png"):
        assert (out / png).stat().st_size > 10_000
