"""MLflow's own UI over a store sustain filled: `mlflow server` on 127.0.0.1, its pages in headless Chromium.

The store is filled through sustain's Tracker the way a sweep fills it (a parent run, children nested under
it with their dataset input, power timeline, metrics and request table). The runs table that
`Tracker.ui_url` links to must show the sweep expanded into its jobs and sustain's metric columns; a
job's page its metrics, dataset and parent. Screenshots land in the test's tmp folder, and in
$SUSTAIN_SCREENSHOTS (e.g. reports/screenshots) when set.
"""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from sustain.tracking.mlflow_tracker import Tracker
from tests.conftest import ROOT
from tests.e2e import chromium

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(chromium.executable() is None, reason="needs Debian's chromium (.ci/run installs it)"),
]

DATA = ROOT / "src" / "sustain" / "tasks" / "data" / "hallucination.jsonl"
PARENT = "batch_size=2,8 2026-12-01 21:05"
JOBS = {2: (90.0, 2.1, 0.50), 8: (40.0, 3.4, 0.67)}  # batch_size: energy J, decode latency s, quality


def _fill(store: Path) -> tuple[Tracker, str, dict[int, str]]:
    uri, artifacts = f"sqlite:///{store}/mlflow.db", str(store / "artifacts")
    sweep = Tracker(uri, artifacts, "sustain")
    parent = sweep.start(PARENT, tags={"sustain.sweep": "true"},
                         params={"overrides": "batch_size=2,8"})
    children = {}
    for batch_size, (energy, latency, quality) in JOBS.items():
        job = Tracker(uri, artifacts, "sustain")
        children[batch_size] = job.start(f"smollm2_135m-none-bs{batch_size}-g1-hallucination",
                                         tags={"mlflow.parentRunId": parent}, params={"batch_size": str(batch_size)})
        job.log_dataset("hallucination", DATA, rows=6)
        job.log_power_timeline([{"t_s": 50 + i / 10, "energy_j": 3.0 * i, "power_w": 25.0 + i % 9} for i in range(80)])
        job.log_metrics({"quality": quality, "macro_f1": quality, "energy_per_request_j_mean": energy,
                         "decode_latency_s_mean": latency, "om": 0.4, "energy_per_correct_j": energy / quality})
        job.log_table([{"id": f"ex{i}", "predicted": "GROUNDED", "gold": "GROUNDED", "energy_j": energy}
                       for i in range(6)])
        job.finish()
    sweep.log_metrics({"jobs_finished": 2.0})
    sweep.finish()
    return sweep, parent, children


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    """(tracker, parent run id, child run ids, server URL) over a filled store."""
    sweep, parent, children = _fill(tmp_path / "store")
    port = _free_port()
    mlflow = Path(sys.executable).with_name("mlflow")
    log = (tmp_path / "mlflow-server.log").open("w")
    proc = subprocess.Popen([str(mlflow), "server", "--backend-store-uri", sweep.uri, "--host", "127.0.0.1",
                             "--port", str(port), "--workers", "1"], stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "MLFLOW_LOGGING_LEVEL": "WARNING"})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 240
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=5):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"mlflow server did not start: {(tmp_path / 'mlflow-server.log').read_text()[-2000:]}")
            time.sleep(1)
    yield sweep, parent, children, url
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


def test_runs_table_and_run_page_show_the_sweep_and_sustains_metrics(server, tmp_path):
    sweep, parent, children, url = server
    browser = chromium.Chromium(tmp_path / "chromium-profile", width=2600, height=900)
    shots = []
    try:
        table = browser.open(sweep.ui_url(server=url), ready=["smollm2_135m-none-bs8", "energy_per_request"])
        shots.append(browser.screenshot(tmp_path / "runs-table.png"))
        run_page = browser.open(sweep.ui_url(children[8], server=url),
                                ready=["energy_per_request_j_mean", "timeline.power_w", "hallucination (", PARENT])
        shots.append(browser.screenshot(tmp_path / "run-page.png"))
        charts = sweep.ui_url(children[8], server=url).replace(children[8], f"{children[8]}/model-metrics")
        browser.open(charts, ready=["Model metrics", "timeline.power_w"], scroll=True)
        time.sleep(5)  # the charts draw after their metric histories arrive
        shots.append(browser.screenshot(tmp_path / "run-power-chart.png"))
    finally:
        browser.close()
        if os.environ.get("SUSTAIN_SCREENSHOTS"):
            keep = Path(os.environ["SUSTAIN_SCREENSHOTS"])
            keep.mkdir(parents=True, exist_ok=True)
            for shot in shots:
                shutil.copy(shot, keep / shot.name)

    # The model-training runs table, not the GenAI overview of traces.
    assert "Run Name" in table and "No data available" not in table
    # The sweep's parent run and, nested under it, both jobs (their dataset input in the Dataset column).
    assert PARENT in table and "3 matching runs" in table
    assert table.index(PARENT) < table.index("smollm2_135m-none-bs8")
    assert "smollm2_135m-none-bs2-g1-hallucination" in table and "hallucination (" in table
    # sustain's metric columns, with the jobs' values.
    columns = table[table.index("Metrics"):table.index(PARENT)].split()
    assert {"decode_latency_s_mean", "energy_per_request_j_mean", "om", "quality"} <= set(columns)
    assert all(f"{v:g}" in table.split() for v in (90.0, 40.0, 2.1, 3.4, 0.67))
    # A job's page: its parent, metrics, dataset and the power timeline's last sample.
    assert "Parent run" in run_page and "Evaluation" in run_page
