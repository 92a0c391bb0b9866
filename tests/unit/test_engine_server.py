"""The shared local-server lifecycle, with tiny stand-in servers (no model)."""

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

from sustain.engines import server
from sustain.errors import SustainError

SERVES = """
import sys, time, subprocess
from http.server import BaseHTTPRequestHandler, HTTPServer
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
print("child", child.pid, flush=True)
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers()
    def log_message(self, *a): pass
HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def gone(pid):
    return not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def child_pid(log):
    for _ in range(50):
        for line in log.read_text().splitlines():
            if line.startswith("child "):
                return int(line.split()[1])
        time.sleep(0.1)
    raise AssertionError("no child pid in the log")


def test_a_port_in_use_is_one_sentence():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SustainError, match=f"Port {port} on 127.0.0.1 is already in use") as err:
            server.port_or_free(port, "llama.cpp server")
        assert err.value.kind == "port_in_use"
    assert server.port_or_free(None, "x") > 0


def test_a_start_that_never_gets_healthy_names_timeout_and_log_and_leaves_nothing(tmp_path):
    log = tmp_path / "engine-server.log"
    argv = [sys.executable, "-c", "import subprocess, sys, time; c = subprocess.Popen([sys.executable, '-c', "
            "'import time; time.sleep(600)']); print('child', c.pid, flush=True); print('still loading', flush=True); "
            "time.sleep(600)"]
    with pytest.raises(SustainError) as err:
        with server.running(argv, "http://127.0.0.1:9/health", log, startup_timeout_s=1.5, name="vLLM server"):
            pytest.fail("must not get here")
    message = str(err.value)
    assert "vLLM server did not answer" in message and "within 2 s" in message and str(log) in message
    assert "still loading" in message and err.value.kind == "timeout"
    time.sleep(0.2)
    assert gone(child_pid(log))


def test_the_group_is_stopped_when_sustain_gets_sigterm(tmp_path):
    """A job that is sent SIGTERM (as sustain's CLI turns it into Ctrl-C) stops the server's whole group."""
    port = server.free_port()
    log = tmp_path / "s.log"
    job = textwrap.dedent(f"""
        import signal, sys, time
        from pathlib import Path
        from sustain.engines import server
        def stop(*_): raise KeyboardInterrupt
        signal.signal(signal.SIGTERM, stop)
        argv = [sys.executable, "-c", {SERVES!r}, "{port}"]
        with server.running(argv, "http://127.0.0.1:{port}/health", Path({str(log)!r}), 30):
            print("up", flush=True)
            time.sleep(600)
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-c", job], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout.readline().strip() == "up"
    child = child_pid(log)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    time.sleep(0.2)
    assert gone(child) and not server.healthy(f"http://127.0.0.1:{port}/health")


def test_verbose_tees_the_log_to_the_terminal(tmp_path, capfd):
    port = server.free_port()
    log = tmp_path / "s.log"
    with server.running([sys.executable, "-c", SERVES, str(port)], f"http://127.0.0.1:{port}/health", log, 30,
                        verbose=True):
        child_pid(log)
    assert "child" in capfd.readouterr().err and "child" in log.read_text()
