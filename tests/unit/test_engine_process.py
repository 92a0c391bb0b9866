"""The engine process runner: records stream back, and a process that dies while starting ends the run in
seconds with the cause, however large the job (no vLLM here: the targets below are trivial workers)."""

import os
import signal
import subprocess
import sys
import textwrap
import time
import types
from dataclasses import asdict
from pathlib import Path

import pytest

from sustain.engines.process import EngineFailed, run_in_process
from sustain.engines.records import RequestRecord

ROOT = Path(__file__).resolve().parents[2]
BIG = "x" * 2_000_000  # far beyond a pipe's buffer: the size that made spawn's start-up write block


def streaming_worker(spec, queue):
    queue.put(("loaded", {"load_s": 0.5, "info": {"spec_chars": len(spec["blob"])}}))
    for i in range(spec["n"]):
        record = RequestRecord(id=str(i), prompt_tokens=3, output_tokens=2, output_text="ok", finish_reason="stop",
                               arrival_s=1.0, scheduled_s=1.0, first_token_s=1.1, last_token_s=1.2)
        queue.put(("record", asdict(record)))
    queue.put(("done", {"start_s": 1.0, "end_s": 2.0}))


def dying_worker(spec, queue):
    os._exit(4)


def test_a_worker_streams_every_record_and_gets_the_whole_spec():
    loaded, streamed = [], []
    run = run_in_process(streaming_worker, {"blob": BIG, "n": 3}, loaded.append, streamed.append, timeout_s=60)
    assert [r.id for r in run.records] == ["0", "1", "2"]
    assert [r.id for r in streamed] == ["0", "1", "2"]
    assert loaded == [{"load_s": 0.5, "info": {"spec_chars": len(BIG)}}]
    assert (run.load_s, run.start_s, run.end_s) == (0.5, 1.0, 2.0)


def test_a_worker_that_exits_before_loading_fails_in_seconds():
    t0 = time.monotonic()
    with pytest.raises(EngineFailed) as err:
        run_in_process(dying_worker, {"blob": BIG}, print, print, timeout_s=600, log_path="/tmp/engine.log")
    assert time.monotonic() - t0 < 30
    assert err.value.kind == "crashed"
    assert "exit code 4" in str(err.value) and "while starting" in str(err.value)
    assert "/tmp/engine.log" in str(err.value)


@pytest.mark.parametrize("script, names_the_guard", [
    ("raise SystemExit(5)\n", True),
    ("if __name__ == '__main__':\n    print('main')\nraise SystemExit(5)\n", False),
])
def test_a_main_script_that_kills_the_engine_process_is_named_only_without_a_guard(
        tmp_path, monkeypatch, script, names_the_guard):
    """The script dies in the engine process before it reaches sustain, so only the script's text can tell."""
    path = tmp_path / "main_script.py"
    path.write_text(script)
    main = types.ModuleType("__main__")
    main.__file__, main.__spec__ = str(path), None
    monkeypatch.setitem(sys.modules, "__main__", main)
    with pytest.raises(EngineFailed) as err:
        run_in_process(streaming_worker, {"blob": BIG, "n": 1}, print, print, timeout_s=600)
    message = str(err.value)
    assert ('if __name__ == "__main__":' in message and str(path) in message) is names_the_guard
    assert ("exit code 5" in message) is not names_the_guard


UNGUARDED = textwrap.dedent("""
    import os

    from sustain.engines.process import run_in_process
    from sustain.errors import SustainError
    from tests.unit.test_engine_process import BIG, streaming_worker

    try:
        run_in_process(streaming_worker, {"blob": BIG, "n": 1}, print, print, timeout_s=600)
    except SustainError as exc:
        print(f"{os.getpid()} {exc}", flush=True)
        raise SystemExit(3)
""")


@pytest.mark.parametrize("tail", ["", "if __name__ == '__main__':\n    print('guarded, but not sustain')\n"])
def test_a_script_that_calls_sustain_outside_a_main_guard_fails_in_seconds_naming_the_guard(tmp_path, tail):
    """Spawn re-runs the user's script in the engine process, which then dies while starting."""
    script = tmp_path / "unguarded.py"
    script.write_text(UNGUARDED + tail)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    proc = subprocess.Popen([sys.executable, str(script)], cwd=tmp_path, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    t0 = time.monotonic()
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail("run_in_process hung on an engine process that died while starting")
    assert time.monotonic() - t0 < 30
    mine = [line for line in out.splitlines() if line.startswith(f"{proc.pid} ")]
    assert len(mine) == 1, (out, err)
    assert 'if __name__ == "__main__":' in mine[0]
    assert str(script) in mine[0]
    assert proc.returncode == 3
