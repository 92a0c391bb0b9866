"""The comparison figures render to real PNGs, and the HTML page carries them inline."""

import base64
import re

import matplotlib
import pytest

matplotlib.use("Agg")
import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from sustain.report import compare, figures  # noqa: E402
from sustain.report.html import Block, render  # noqa: E402


@pytest.fixture(scope="module")
def sweep():
    rows = []
    for model, scale in (("Qwen2.5-1.5B-Instruct", 1.0), ("Qwen2.5-7B-Instruct", 4.0)):
        for bs, e, lat in ((2, 400, 2.0), (8, 150, 3.0), (32, 60, 6.0), (128, 30, 12.0)):
            rows.append({"model": model, "gpus": 1, "batch_size": bs, "energy_j": e * scale,
                         "decode_latency_s": lat * scale ** 0.5, "f1": 0.6 + 0.05 * scale, "origin": "mlflow",
                         "measured": True, "quantization": "none"})
    return compare.combine([pd.DataFrame(rows, columns=compare.COLUMNS)])


def assert_png(path):
    image = mpimg.imread(path)
    assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 300
    assert image.std() > 0.01  # not a blank canvas


def test_three_figures_render(tmp_path, sweep):
    t3 = compare.table3(sweep)
    front = compare.pareto_front(t3, "f1")
    scenarios = compare.default_scenarios()
    om = compare.om_rankings(sweep, scenarios=scenarios, quality="f1")
    for path in (
        figures.fig2_quality_vs_energy(t3, front, "f1", tmp_path / "f2.png"),
        figures.fig6_energy_vs_latency(sweep, tmp_path / "f6.png"),
        figures.fig3_rank_bump(om, scenarios, tmp_path / "f3.png"),
    ):
        assert_png(path)
    assert plt.get_fignums() == []  # every figure closed


def test_log_scale_only_when_values_span_a_decade():
    fig, ax = plt.subplots()
    assert figures._log_if_wide(ax, "x", pd.Series([30.0, 400.0])) == ", log scale" and ax.get_xscale() == "log"
    assert figures._log_if_wide(ax, "y", pd.Series([30.0, 200.0])) == "" and ax.get_yscale() == "linear"
    plt.close(fig)


def test_html_embeds_png_and_escapes_text(tmp_path, sweep):
    png = figures.fig6_energy_vs_latency(sweep, tmp_path / "f6.png")
    page = render("title <x>", ["store a&b"], [Block("T", "n", table=pd.DataFrame({"m": ["<b>"]})),
                                                   Block("F", figure=png)])
    assert "title &lt;x&gt;" in page and "store a&amp;b" in page and "&lt;b&gt;" in page
    data = re.search(r'src="data:image/png;base64,([^"]+)"', page).group(1)
    assert base64.b64decode(data) == png.read_bytes()


def test_fig6_lines_say_what_they_ran_on():
    assert figures._series("qwen", "cpu", 1) == "qwen, CPU"
    assert figures._series("qwen", "cuda", 4) == "qwen, 4 GPUs"
    assert figures._series("qwen", float("nan"), 1) == "qwen, 1 GPU"  # a CSV row: the paper's GPUs
    assert figures._series("gpt-4o", "None", 1) == "gpt-4o, gpus=1"  # nothing here could tell
