"""The local judge server's process handling, with a stand-in for vLLM (a few lines of http.server)."""

import socket
import sys
import time

import psutil
import pytest

from sustain.errors import SustainError
from sustain.judge import server
from sustain.judge.endpoints import LocalJudgeConfig

STAND_IN = """
import sys, time, subprocess
from http.server import BaseHTTPRequestHandler, HTTPServer
delay, port = float(sys.argv[1]), int(sys.argv[2])
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])  # like vLLM's engine process
print("child", child.pid, flush=True)
time.sleep(delay)
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/health" else 404); self.end_headers()
    def log_message(self, *a): pass
HTTPServer(("127.0.0.1", port), H).serve_forever()
"""

DIES = "import sys; print('loading model'); print('ValueError: no such model', flush=True); sys.exit(3)"


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def child_pid(log_path) -> int:
    for line in log_path.read_text().splitlines():
        if line.startswith("child "):
            return int(line.split()[1])
    raise AssertionError("no child pid in the log")


def test_running_waits_for_health_and_stops_the_whole_group(tmp_path):
    port = server.free_port()
    log = tmp_path / "judge-server.log"
    argv = [sys.executable, "-c", STAND_IN, "1.5", str(port)]
    with server.running(argv, f"http://127.0.0.1:{port}/health", log, startup_timeout_s=30) as startup_s:
        assert startup_s >= 1.5 and port_open(port)
        child = psutil.Process(child_pid(log))
        assert child.is_running()
    assert not port_open(port)
    time.sleep(0.2)
    assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE


def test_a_server_that_dies_is_reported_with_its_log(tmp_path):
    log = tmp_path / "judge-server.log"
    with pytest.raises(SustainError) as err:
        with server.running([sys.executable, "-c", DIES], "http://127.0.0.1:9/health", log, startup_timeout_s=30):
            pytest.fail("must not get here")
    assert "exited with code 3" in str(err.value) and "ValueError: no such model" in str(err.value)
    assert str(log) in str(err.value)


def test_a_server_that_never_gets_healthy_times_out_and_is_stopped(tmp_path):
    port = server.free_port()
    log = tmp_path / "judge-server.log"
    argv = [sys.executable, "-c", STAND_IN, "600", str(port)]
    t0 = time.monotonic()
    with pytest.raises(SustainError, match="did not answer .* within 2 s"):
        with server.running(argv, f"http://127.0.0.1:{port}/health", log, startup_timeout_s=2):
            pass
    assert time.monotonic() - t0 < 20
    time.sleep(0.2)
    child = child_pid(log)
    assert not psutil.pid_exists(child) or psutil.Process(child).status() == psutil.STATUS_ZOMBIE


def test_engine_flags():
    assert server.to_flags({"max_model_len": 4096, "enforce_eager": True, "enable_prefix_caching": False,
                            "seed": None, "override_generation_config": {"temperature": 0}}) == [
        "--max-model-len", "4096", "--enforce-eager", "--no-enable-prefix-caching",
        "--override-generation-config", '{"temperature": 0}']


def test_engine_args_fill_cpu_defaults_and_let_the_config_win(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    plain = LocalJudgeConfig(constrain=False)
    assert server.engine_args(plain) == {"gpu_memory_utilization": 0.35, "enforce_eager": True}
    cfg = LocalJudgeConfig(constrain=False, gpu_memory_utilization=0.2,
                      engine_args={"enforce_eager": False, "seed": 1})
    assert server.engine_args(cfg) == {"gpu_memory_utilization": 0.2, "enforce_eager": False, "seed": 1}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert server.engine_args(plain) == {}


def test_a_constrained_judge_is_served_compact_json_unless_the_config_says_otherwise(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    compact = {"backend": "xgrammar", "disable_any_whitespace": True}
    assert server.engine_args(LocalJudgeConfig(constrain=True)) == {"structured_outputs_config": compact}
    assert "--structured-outputs-config" in server.to_flags(server.engine_args(LocalJudgeConfig(constrain=True)))
    own = {"backend": "guidance", "disable_any_whitespace": True}
    cfg = LocalJudgeConfig(constrain=True, engine_args={"structured_outputs_config": own})
    assert server.engine_args(cfg) == {"structured_outputs_config": own}


def test_entrypoint_is_a_runnable_vllm_module():
    import importlib.util

    name = server.entrypoint()
    assert name.startswith("vllm.entrypoints.") and importlib.util.find_spec(name) is not None
