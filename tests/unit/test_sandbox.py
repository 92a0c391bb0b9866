"""The sandbox ends hostile or broken programs as failed samples, inside their limits, host unharmed."""

import os
import uuid
from pathlib import Path

import pytest

from sustain.tasks.sandbox import Limits, run_python

LIMITS = Limits(wall_s=4.0, cpu_s=1, memory_bytes=256 * 2**20)
SLACK_S = 3.0  # process start and kill on a loaded 2-core machine


def run(source, limits=LIMITS):
    outcome = run_python(source, limits)
    assert outcome.duration_s < limits.wall_s + SLACK_S, outcome
    return outcome


def test_a_correct_program_passes_and_may_write_in_its_directory():
    outcome = run("open('scratch.txt', 'w').write('ok')\nassert open('scratch.txt').read() == 'ok'\nprint('done')")
    assert outcome.passed and outcome.reason == "passed" and "done" in outcome.output


def test_a_failing_assert_fails():
    outcome = run("assert 1 + 1 == 3")
    assert not outcome.passed and outcome.reason == "exit status 1: AssertionError"


def test_infinite_loop_is_stopped_by_the_cpu_limit():
    outcome = run("while True:\n    pass")
    assert not outcome.passed and outcome.reason in ("CPU-time limit of 1 s", "wall-clock limit of 4 s")


def test_sleeping_forever_is_stopped_by_the_wall_clock():
    outcome = run("import time\nwhile True:\n    time.sleep(1)", Limits(wall_s=1.5, cpu_s=1))
    assert not outcome.passed and outcome.reason == "wall-clock limit of 1.5 s" and outcome.returncode == -9


def test_fork_bomb_fails():
    outcome = run("import os\nwhile True:\n    os.fork()")
    assert not outcome.passed and "os.fork is not allowed" in outcome.reason
    outcome = run("import subprocess, sys\nwhile True:\n    subprocess.Popen([sys.executable, '-c', 'pass'])")
    assert not outcome.passed and "subprocess.Popen is not allowed" in outcome.reason


def test_memory_hog_fails():
    outcome = run("blocks = []\nwhile True:\n    blocks.append(bytearray(10**7))")
    assert not outcome.passed and outcome.reason == "exit status 1: MemoryError"


def test_output_flood_is_capped():
    outcome = run("while True:\n    print('x' * 1000)", Limits(wall_s=4.0, cpu_s=1, file_bytes=2**20))
    assert not outcome.passed and len(outcome.output) <= 4000


def test_writes_and_deletes_outside_the_directory_are_refused(tmp_path):
    outside = Path("/tmp") / f"sustain-sandbox-escape-{uuid.uuid4().hex}"  # /tmp: writable by anyone
    keep = tmp_path / "keep.txt"
    keep.write_text("precious")
    try:
        for source in (
            f"open({str(outside)!r}, 'w').write('x')",
            f"import os\nos.open({str(outside)!r}, os.O_WRONLY | os.O_CREAT)",
            f"import pathlib\npathlib.Path({str(outside)!r}).touch()",
            f"import os\nos.remove({str(keep)!r})",
            f"import shutil\nshutil.rmtree({str(tmp_path)!r})",
            "open('../escape.txt', 'w').write('x')",
        ):
            outcome = run(source)
            assert not outcome.passed and "not allowed" in outcome.reason, (source, outcome)
        assert not outside.exists()
        assert keep.read_text() == "precious"
    finally:
        outside.unlink(missing_ok=True)


def test_no_network():
    outcome = run("import socket\nsocket.socket().connect(('127.0.0.1', 22))")
    assert not outcome.passed and "socket.__new__ is not allowed" in outcome.reason


@pytest.mark.skipif(os.geteuid() != 0, reason="switching user needs root")
def test_runs_as_an_unprivileged_user_when_root():
    outcome = run("import os\nprint(os.getuid())")
    assert outcome.passed and outcome.user == "nobody" and outcome.output.strip() != "0"
