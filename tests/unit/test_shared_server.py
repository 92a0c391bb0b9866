"""`engine.shared=true`: one server across a sweep's jobs in one process, the batch as the client's cap.

A stand-in OpenAI server (scripts/standin_server.py) takes vLLM's place, started through the engine's own
path; only the argv differs.
"""

import subprocess
import sys
import textwrap

import psutil
import pytest

from sustain.config import ModelConfig, QuantizationConfig
from sustain.engines import server, shared_server
from sustain.engines.base import EngineJob, Sampling
from sustain.engines.streaming import Endpoint
from sustain.engines.vllm_server import VllmServerConfig, VllmServerEngine
from sustain.errors import SustainError
from sustain.tasks.base import Request
from tests.conftest import ROOT

STANDIN = [sys.executable, str(ROOT / "scripts" / "standin_server.py")]


def standin(out_dir):
    port = server.free_port()
    proc, load_s = server.start([*STANDIN, str(port), "--tokens", "6", "--delay-ms", "15"],
                                f"http://127.0.0.1:{port}/health", out_dir / "server.log", 20.0)
    return proc, Endpoint(f"http://127.0.0.1:{port}/v1", "m"), load_s


@pytest.fixture
def started(monkeypatch):
    """Every server the engine starts: (its engine arguments, its process)."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    log = []

    def start(self, job, args):
        proc, endpoint, load_s = standin(job.out_dir)
        log.append((args, proc))
        return proc, endpoint, load_s

    monkeypatch.setattr(VllmServerEngine, "_start", start)
    yield log
    shared_server.stop()
    assert all(proc.poll() is not None for _, proc in log)


def job(tmp_path, batch_size, n=10):
    return EngineJob(model=ModelConfig(name="m", path="embedded"), quantization=QuantizationConfig(),
                     batch_size=batch_size, gpus=1, requests=[Request(f"r{i}", []) for i in range(n)],
                     sampling=Sampling(max_tokens=6, temperature=0.0, top_p=1.0, seed=0), decoding=None,
                     out_dir=tmp_path)


def run(tmp_path, batch_size, **cfg):
    engine = VllmServerEngine(VllmServerConfig(shared=True, **cfg))
    engine.model_path = "embedded"
    result = engine.run(job(tmp_path, batch_size), lambda info: None, lambda record: None)
    return engine, result


def most_in_flight(records):
    events = sorted([(r.arrival_s, 1) for r in records] + [(r.last_token_s, -1) for r in records])
    level = peak = 0
    for _, step in events:
        level += step
        peak = max(peak, level)
    return peak


def test_jobs_with_the_same_key_share_one_server_and_the_batch_caps_the_client(tmp_path, started):
    first, run1 = run(tmp_path, 2)
    second, run2 = run(tmp_path, 4)
    assert len(started) == 1 and started[0][0]["max_num_seqs"] == 512 and started[0][1].poll() is None
    assert run1.load_s > 0 and run2.load_s == 0
    assert first.describe()["engine.shared.loaded_by_this_run"] == "true"
    assert second.describe() == {"engine": "vllm_server", "engine.server": "vllm openai", "engine.shared": "true",
                                 "engine.shared.max_num_seqs": "512", "engine.shared.loaded_by_this_run": "false"}
    assert most_in_flight(run1.records) == 2 and most_in_flight(run2.records) == 4
    assert all(r.error is None and r.output_tokens == 6 for r in run1.records + run2.records)


def test_another_key_stops_the_kept_server_and_starts_its_own(tmp_path, started):
    run(tmp_path, 2)
    _, result = run(tmp_path, 2, args={"swap_space": 2}, shared_max_num_seqs=64)
    assert len(started) == 2 and started[0][1].poll() is not None and started[1][1].poll() is None
    assert started[1][0]["max_num_seqs"] == 64 and started[1][0]["swap_space"] == 2 and result.load_s > 0


def test_a_failed_or_interrupted_job_stops_the_server_and_the_next_starts_one(tmp_path):
    for stopped_by in (KeyboardInterrupt, RuntimeError):
        with pytest.raises(stopped_by), shared_server.serving("k", lambda: standin(tmp_path)):
            proc = shared_server._kept.proc
            raise stopped_by()
        assert proc.poll() is not None and shared_server._kept is None
    with shared_server.serving("k", lambda: standin(tmp_path)) as lease:
        assert lease.started
    shared_server.stop()


def test_the_process_exit_stops_the_kept_server(tmp_path):
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from pathlib import Path
        from sustain.engines import shared_server
        from tests.unit.test_shared_server import standin
        with shared_server.serving("k", lambda: standin(Path({str(tmp_path)!r}))):
            print(shared_server._kept.proc.pid, flush=True)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    pid = int(out.stdout.split()[0])
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_a_batch_larger_than_the_shared_server_is_refused_before_start(tmp_path):
    engine = VllmServerEngine(VllmServerConfig(shared=True, shared_max_num_seqs=8))
    with pytest.raises(SustainError, match="batch_size=16 is larger than the shared server's max_num_seqs"):
        engine.prepare(job(tmp_path, 16))
