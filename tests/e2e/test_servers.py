"""The server engines end to end: vLLM's OpenAI server under a Poisson load, llama.cpp on the shipped Q4_1
GGUF, an OpenAI-compatible endpoint the test starts, and no server left behind when sustain is stopped."""

import signal
import subprocess
import sys
import time

import psutil
import pytest

from sustain.engines import server
from tests.conftest import ROOT
from tests.e2e.test_run import runs_of

SMALL = ["task.limit=6", "task.max_tokens=24", "batch_size=2"]

def _llamacpp_installed() -> bool:
    from sustain.engines.llamacpp import server_binary
    from sustain.errors import SustainError

    try:
        return server_binary().is_file()
    except SustainError:
        return False


needs_llamacpp = pytest.mark.skipif(  # CI installs it (make test): there these tests always run
    not _llamacpp_installed(), reason="llama.cpp's server is not installed: bash scripts/install.sh --llamacpp")


def finished_run(tmp_path, proc):
    assert proc.returncode == 0, proc.stderr[-3000:]
    _, runs = runs_of(tmp_path)
    [r] = runs
    assert r.info.status == "FINISHED"
    return r


def served_metrics_ok(m):
    assert m["n_requests"] == 6 and m["failed_requests"] == 0 and m["total_output_tokens"] >= 6
    assert m["p99_itl_ms"] >= m["median_itl_ms"] > 0 and m["mean_ttft_ms"] > 0 and "macro_f1" in m


@pytest.mark.slow
def test_vllm_server_under_a_poisson_load(tmp_path, sustain_cmd, run_env, tracking_overrides):
    proc = subprocess.run([*sustain_cmd, "engine=vllm_server", "load=poisson", "load.rate=2", *SMALL,
                           *tracking_overrides], env=run_env, capture_output=True, text=True, timeout=900)
    r = finished_run(tmp_path, proc)
    m = r.data.metrics
    served_metrics_ok(m)
    assert 0.3 < m["achieved_request_rate_req_s"] < 20 and "batch_filled" in m
    assert (tmp_path / "run" / "engine-server.log").stat().st_size > 0


@pytest.mark.slow
@needs_llamacpp
def test_llamacpp_on_the_shipped_q4_1_gguf(tmp_path, sustain_cmd, run_env, tracking_overrides):
    proc = subprocess.run([*sustain_cmd, "engine=llamacpp", "quantization=gguf_q4_1", *SMALL, *tracking_overrides],
                          env=run_env, capture_output=True, text=True, timeout=600)
    r = finished_run(tmp_path, proc)
    served_metrics_ok(r.data.metrics)
    assert r.data.tags["engine.gguf"] == "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.mark.slow
def test_openai_endpoint_the_test_starts(tmp_path, sustain_cmd, run_env, tracking_overrides):
    port = server.free_port()
    argv = [sys.executable, str(ROOT / "scripts" / "standin_server.py"), str(port), "--tokens", "12",
            "--delay-ms", "5", "--api-key", "sk-test-secret"]
    env = {**run_env, "SUSTAIN_TEST_KEY": "sk-test-secret"}
    with server.running(argv, f"http://127.0.0.1:{port}/health", tmp_path / "standin.log", 60):
        proc = subprocess.run([*sustain_cmd, "engine=openai", f"engine.base_url=http://127.0.0.1:{port}/v1",
                               "engine.api_key_env=SUSTAIN_TEST_KEY", "engine.model=standin", *SMALL,
                               *tracking_overrides], env=env, capture_output=True, text=True, timeout=600)
    r = finished_run(tmp_path, proc)
    served_metrics_ok(r.data.metrics)
    assert r.data.tags["energy.source"] == "not measured: remote endpoint"
    assert "sk-test-secret" not in proc.stdout + proc.stderr + str(r.data.tags) + str(r.data.params)


@pytest.mark.slow
@needs_llamacpp
def test_stopping_sustain_mid_run_leaves_no_server(tmp_path, sustain_cmd, run_env, tracking_overrides):
    proc = subprocess.Popen([*sustain_cmd, "engine=llamacpp", "task.limit=40", "task.max_tokens=256", "batch_size=1",
                             *tracking_overrides], env=run_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline, servers = time.monotonic() + 300, []
    while not servers and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.5)
        servers = [p for p in psutil.Process(proc.pid).children(recursive=True) if "llama-server" in p.name()]
    assert servers, "the llama.cpp server never started"
    time.sleep(3)  # requests in flight
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=120)
    time.sleep(0.5)
    assert not [p for p in servers if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
