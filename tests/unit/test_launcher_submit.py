"""The sustain launchers: one job array per distinct request, results in sweep order, sbatch headers."""

from __future__ import annotations

from pathlib import Path

import cloudpickle
import pytest
from hydra._internal.callbacks import Callbacks
from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra._internal.utils import create_config_search_path
from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn, JobStatus
from hydra.types import HydraContext, RunMode
from submitit.core.utils import FailedJobError, UncompletedJobError
from submitit.slurm.slurm import SlurmExecutor

from hydra_plugins.sustain_launchers import launchers
from sustain.config import register

CONF = Path(__file__).resolve().parents[2] / "src" / "sustain" / "conf"
GPU = "++resources.device=gpu"


@pytest.fixture
def make_launcher(tmp_path):
    def make(name: str, *overrides: str):
        register()
        loader = ConfigLoaderImpl(config_search_path=create_config_search_path(str(CONF)))
        config = loader.load_configuration(
            "config",
            overrides=[f"hydra/launcher={name}", f"hydra.sweep.dir={tmp_path}", *overrides],
            run_mode=RunMode.MULTIRUN,
        )
        return Plugins.instance().instantiate_launcher(
            hydra_context=HydraContext(config_loader=loader, callbacks=Callbacks()),
            task_function=lambda cfg: None,
            config=config,
        )

    return make


class FakeJob:
    def __init__(self, idx: int, fail: bool) -> None:
        self.idx, self.fail = idx, fail

    def results(self):
        if self.fail:
            raise UncompletedJobError(f"job {self.idx} was cancelled")
        return [JobReturn(status=JobStatus.COMPLETED, _return_value=self.idx)]


class FakeExecutor:
    """Stands for sbatch: refuses 4 GPUs, and the job for index 12 dies."""

    def __init__(self, request, submitted) -> None:
        self.request, self.submitted = request, submitted

    def map_array(self, fn, overrides, dir_keys, idxs, job_ids, states):
        self.submitted.append((self.request, list(idxs), fn))
        if self.request["gpus_per_node"] == 4:
            raise FailedJobError("sbatch: error: Invalid generic resource (gres) specification")
        return [FakeJob(i, fail=i == 12) for i in idxs]


@pytest.mark.parametrize(
    "name, cls",
    [
        ("local", "hydra._internal.core_plugins.basic_launcher.BasicLauncher"),
        ("parallel", "hydra_plugins.sustain_launchers.launchers.LocalParallelLauncher"),
        ("slurm", "hydra_plugins.sustain_launchers.launchers.SlurmLauncher"),
    ],
)
def test_launcher_options(make_launcher, name, cls):
    """Compared by name: Hydra's plugin scan executes plugin modules again, making new class objects."""
    launcher_type = type(make_launcher(name))
    assert f"{launcher_type.__module__}.{launcher_type.__qualname__}" == cls


def test_one_array_per_request_results_in_sweep_order(make_launcher, monkeypatch):
    launcher = make_launcher("slurm")
    submitted: list = []
    monkeypatch.setattr(launcher, "executor", lambda request: FakeExecutor(request, submitted))
    sweep = [["gpus=2", GPU], ["gpus=1", GPU], ["gpus=2", GPU, "batch_size=4"], ["gpus=4", GPU], ["gpus=1", GPU]]

    returns = launcher.launch(sweep, initial_job_idx=10)

    assert [(r["gpus_per_node"], idxs) for r, idxs, _ in submitted] == [(2, [10, 12]), (1, [11, 14]), (4, [13])]
    assert all(fn is launcher for _, _, fn in submitted)
    assert [r.status for r in returns] == [
        JobStatus.COMPLETED,
        JobStatus.COMPLETED,
        JobStatus.FAILED,
        JobStatus.FAILED,
        JobStatus.COMPLETED,
    ]
    assert [returns[i].return_value for i in (0, 1, 4)] == [10, 11, 14]
    with pytest.raises(UncompletedJobError, match="job 12"):
        returns[2].return_value
    with pytest.raises(RuntimeError, match=r"refused \[gpus_per_node=4, cpus_per_task=16\].*gres"):
        returns[3].return_value
    assert returns[3].overrides == ["gpus=4", GPU]


def sbatch_text(launcher, request) -> list[str]:
    executor = launcher.executor(request)
    return executor._executor._make_submission_file_text("python -m submitit.core._submit x", "uid").splitlines()


def test_sbatch_header_per_request_with_site_values(make_launcher, monkeypatch):
    monkeypatch.setattr(SlurmExecutor, "affinity", classmethod(lambda cls: 1))
    launcher = make_launcher("slurm", "++slurm.partition=gpu", "++slurm.account=proj", "++slurm.setup=[module load cuda]")

    one = sbatch_text(launcher, {"gpus_per_node": 1, "cpus_per_task": 4})
    two = sbatch_text(launcher, {"gpus_per_node": 2, "cpus_per_task": 8, "mem_gb": 64, "timeout_min": 240})
    cpu = sbatch_text(launcher, {"gpus_per_node": None, "cpus_per_task": 2})

    site = {"#SBATCH --partition=gpu", "#SBATCH --account=proj", "#SBATCH --job-name=sustain", "module load cuda"}
    assert site | {"#SBATCH --gpus-per-node=1", "#SBATCH --cpus-per-task=4", "#SBATCH --time=60"} <= set(one)
    assert site | {"#SBATCH --gpus-per-node=2", "#SBATCH --cpus-per-task=8", "#SBATCH --mem=64GB"} <= set(two)
    assert "#SBATCH --time=240" in two
    assert "#SBATCH --cpus-per-task=2" in cpu and not any("gpus" in line for line in cpu)


def test_parallel_launcher_stays_local_and_passes_the_request(make_launcher):
    executor = make_launcher("parallel").executor({"gpus_per_node": 2, "cpus_per_task": 8, "timeout_min": 15})
    assert executor.cluster == "local"
    assert executor._executor.parameters["gpus_per_node"] == 2
    assert executor._executor.parameters["timeout_min"] == 15


def test_checkpoint_resubmits_the_same_job(make_launcher):
    launcher = make_launcher("slurm", GPU)
    args = (["gpus=2"], "hydra.sweep.dir", 3, "job_id_for_3", {})
    delayed = launcher.checkpoint(*args)
    assert delayed.function is launcher and delayed.args == args
    assert isinstance(cloudpickle.loads(cloudpickle.dumps(delayed)).function, launchers.SlurmLauncher)
