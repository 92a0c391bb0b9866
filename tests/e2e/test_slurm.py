"""Sweeps on a real single-node Slurm (scripts/slurm-local.sh): each job goes out with its own request.

Needs root and apt (the script installs Slurm, munge and MariaDB, then runs them under a scratch root
with free ports). The smoke sweep runs the real vLLM engine: several minutes on 2 CPU cores.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "slurm-local.sh"
SWEEP_TIMEOUT_S = 1500


def port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_base() -> int:
    """Four free ports in a row, so this cluster never meets another one on the same host."""
    for base in range(16817, 18817, 10):
        if all(port_free(port) for port in range(base, base + 4)):
            return base
    pytest.fail("no four free ports in a row between 16817 and 18817")


def processes_under(root: Path) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(root) in args:
            found.append(args)
    return found


@pytest.fixture(scope="module")
def slurm():
    if os.geteuid() != 0:
        pytest.skip("scripts/slurm-local.sh runs the Slurm daemons as root")
    root = Path(tempfile.mkdtemp(prefix="sustain-slurm-", dir="/tmp"))
    root.chmod(0o755)  # munged runs as the munge user and must reach its socket under root
    env = {**os.environ, "SUSTAIN_SLURM_ROOT": str(root), "SUSTAIN_SLURM_PORT": str(free_port_base())}
    subprocess.run(["bash", str(SCRIPT), "install"], env=env, check=True, timeout=900)
    # capture_output: `up` returning at all shows no daemon holds the caller's pipe open.
    up = subprocess.run(["bash", str(SCRIPT), "up"], env=env, capture_output=True, text=True, timeout=300)
    assert up.returncode == 0, up.stderr
    match = re.fullmatch(r"export SLURM_CONF=(\S+)", up.stdout.strip())
    assert match, up.stdout
    env["SLURM_CONF"] = match.group(1)
    try:
        yield env
    finally:
        down = subprocess.run(["bash", str(SCRIPT), "down"], env=env, capture_output=True, text=True, timeout=300)
        left = processes_under(root)
        shutil.rmtree(root, ignore_errors=True)
        assert down.returncode == 0, down.stderr
        assert not left, f"still running after down: {left}"


def slurm_cmd(env: dict, *args: str) -> str:
    return subprocess.run(list(args), env=env, capture_output=True, text=True, check=True, timeout=60).stdout


def sacct(env: dict, *fields: str) -> list[dict[str, str]]:
    """Every allocation so far, requeued attempts included."""
    out = slurm_cmd(env, "sacct", "-n", "-P", "-X", "-D", "-S", "2000-01-01", "-o", ",".join(fields))
    return [dict(zip(fields, line.split("|"))) for line in out.splitlines() if line]


def settled_rows(env: dict, array: str) -> list[dict[str, str]]:
    """The array's accounting once every attempt has ended: results arrive before slurmdbd hears of it."""
    deadline = time.monotonic() + 120
    while True:
        fields = ("JobID", "State", "ReqCPUS", "Timelimit")
        rows = [r for r in sacct(env, *fields) if r["JobID"].startswith(f"{array}_")]
        if all(r["State"] not in ("PENDING", "RUNNING", "COMPLETING") for r in rows) or time.monotonic() > deadline:
            return rows
        time.sleep(1)


def sweep_args(tmp: Path, *overrides: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "sustain",
        "-m",
        *overrides,
        f"tracking.uri=sqlite:///{tmp}/mlflow.db",
        f"tracking.artifact_root={tmp}/artifacts",
        f"hydra.sweep.dir={tmp}/multirun",
    ]


def run_sweep(env: dict, tmp: Path, *overrides: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        sweep_args(tmp, *overrides), cwd=tmp, env=env, capture_output=True, text=True, timeout=SWEEP_TIMEOUT_S
    )


def sbatch_flags(script: Path) -> dict[str, str]:
    return dict(re.findall(r"^#SBATCH --([\w-]+)=(\S+)$", script.read_text(), flags=re.M))


def test_node_is_this_machine_without_gpus(slurm):
    cpus, gres, state = slurm_cmd(slurm, "sinfo", "-h", "-o", "%c %G %T").split()
    assert int(cpus) == os.cpu_count()
    assert gres == "(null)"
    assert state == "idle"
    slurm_cmd(slurm, "sacct", "-n", "-X")  # accounting answers (else submitit cannot learn job states)


def test_gpu_sweep_asks_each_job_its_own_gpus(slurm, tmp_path):
    """No GRES here, so sbatch refuses every GPU request; the scripts submitit wrote show what was asked."""
    done = run_sweep(slurm, tmp_path, "hydra/launcher=slurm", "experiment=smoke", "gpus=1,2", "++resources.device=gpu")

    assert done.returncode != 0
    assert done.stderr.count("Invalid generic resource (gres) specification") >= 2, done.stderr[-3000:]
    assert "the scheduler refused [gpus_per_node=1, cpus_per_task=4]" in done.stderr
    requests = sorted(
        (flags["gpus-per-node"], flags["cpus-per-task"])
        for flags in map(sbatch_flags, (tmp_path / "multirun" / ".submitit").glob(".submission_file_*.sh"))
    )
    assert requests == [("1", "4"), ("2", "8")]
    assert slurm_cmd(slurm, "squeue", "-h") == ""


def test_parallel_launcher_stays_off_slurm(slurm, tmp_path):
    """SLURM.md pitfall 5: with srun on PATH, submitit's AutoExecutor would pick Slurm unless told."""
    before = len(sacct(slurm, "JobID"))
    done = run_sweep(slurm, tmp_path, "hydra/launcher=parallel", "task.dataset=/nonexistent.jsonl", "batch_size=1,2")

    assert done.returncode == 0, done.stderr[-3000:]
    assert len(sacct(slurm, "JobID")) == before
    job_ids = [log.parent.name for log in (tmp_path / "multirun" / ".submitit").glob("*/*_0_log.out")]
    assert len(job_ids) == 2 and all(i.isdigit() for i in job_ids)  # process ids, not Slurm array tasks


def test_smoke_sweep_runs_on_slurm_and_survives_preemption(slurm, tmp_path):
    """Both jobs share one request, so one array; job 0 is preempted (USR2) once, requeued, and finishes."""
    overrides = ("hydra/launcher=slurm", "experiment=smoke", "task.limit=4", "task.max_tokens=16",
                 "batch_size=1,2", "resources.timeout_min=20")
    sweep = subprocess.Popen(
        sweep_args(tmp_path, *overrides),
        cwd=tmp_path,
        env=slurm,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    submitit = tmp_path / "multirun" / ".submitit"
    deadline = time.monotonic() + 600
    while not any("sustain: run" in p.read_text() for p in submitit.glob("*_0/*_0_0_log.out")):
        assert sweep.poll() is None, sweep.stdout.read()[-3000:]
        assert time.monotonic() < deadline, "job 0 never started its run"
        time.sleep(1)
    first = next(submitit.glob("*_0")).name
    slurm_cmd(slurm, "scancel", "--signal=USR2", first)
    output, _ = sweep.communicate(timeout=SWEEP_TIMEOUT_S)

    assert sweep.returncode == 0, output[-3000:]
    array = first.split("_")[0]
    flags = sbatch_flags(submitit / array / f"{array}_submission.sh")
    assert flags["array"].startswith("0-1")
    assert flags["cpus-per-task"] == "2" and flags["time"] == "20"
    assert "gpus-per-node" not in flags

    rows = settled_rows(slurm, array)
    assert sorted((r["JobID"], r["State"]) for r in rows) == [
        (f"{array}_0", "COMPLETED"),
        (f"{array}_0", "REQUEUED"),
        (f"{array}_1", "COMPLETED"),
    ]
    assert {(r["ReqCPUS"], r["Timelimit"]) for r in rows} == {("2", "00:20:00")}
    assert "Requeued job" in (submitit / first / f"{first}_0_log.out").read_text()

    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    experiment = client.get_experiment_by_name("sustain")
    finished = [
        r
        for r in client.search_runs([experiment.experiment_id], "attributes.status = 'FINISHED'")
        if "batch_size" in r.data.params
    ]
    assert sorted(r.data.params["batch_size"] for r in finished) == ["1", "2"]
    for run in finished:
        assert run.data.metrics["completed_requests"] == 4
        assert "energy_per_request_j_mean" in run.data.metrics
        summary = next((tmp_path / "multirun").glob(f"*-bs{run.data.params['batch_size']}-*/summary.json"))
        assert run.info.run_id in summary.read_text()

    [parent] = client.search_runs([experiment.experiment_id], "tags.`sustain.sweep` = 'true'")
    assert {r.data.tags["mlflow.parentRunId"] for r in finished} == {parent.info.run_id}
    killed = client.search_runs([experiment.experiment_id], "attributes.status = 'KILLED'")
    assert [r.data.tags["error.kind"] for r in killed] == ["preempted"]  # job 0's first attempt
    assert "sweep: 2 job(s): 2 finished, 0 failed, 0 skipped" in output

    again = run_sweep(slurm, tmp_path, *overrides)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "sweep: 2 job(s): 0 finished, 0 failed, 2 skipped (already done)" in again.stdout
