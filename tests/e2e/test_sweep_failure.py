"""One broken job does not stop a sweep: the others finish and the end table says what failed and why."""

import subprocess

import pytest

pytestmark = pytest.mark.slow


def test_sweep_with_a_broken_job_finishes_the_others(tmp_path, sustain_cmd, run_env):
    proc = subprocess.run(
        [*sustain_cmd, "-m", "task.limit=4", "task.max_tokens=16", "batch_size=2",
         "model.path=nobody/no-such-model,embedded"],
        env=run_env, capture_output=True, text=True, timeout=1200, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = proc.stdout[proc.stdout.index("sweep: 2 job(s)"):]
    assert table.startswith("sweep: 2 job(s): 1 finished, 1 failed, 0 skipped")
    failed = next(line for line in table.splitlines() if "FAILED" in line)
    assert failed.startswith("#0 ") and "model_not_found: Model 'nobody/no-such-model'" in failed
    assert next(line for line in table.splitlines() if "FINISHED" in line).startswith("#1 ")
