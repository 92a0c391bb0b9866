"""Submitit launchers that give every job of a sweep its own resource request.

Each job's config is composed on the submitting side and turned into a request (resources.py); jobs
with equal requests go out as one job array, so `gpus=1,2` gives two arrays asking 1 and 2 GPUs.
Jobs run through BaseSubmititLauncher.__call__ and keep its `checkpoint`, so a preempted job is requeued.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, List, Sequence, Tuple, Union

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import BaseSubmititLauncher
from omegaconf import OmegaConf

from hydra_plugins.sustain_launchers.resources import (
    Request,
    describe,
    group_by_request,
    job_request,
    platform_device,
)

log = logging.getLogger(__name__)


class PerJobResourcesLauncher(BaseSubmititLauncher):
    """Submits like hydra-submitit-launcher, but with each job's own request instead of one for all."""

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        """Submit one array per distinct request; every job ends in a JobReturn, in sweep order, so a
        refused or failed job does not stop the others (Hydra raises the first failure afterwards)."""
        from submitit.core.utils import FailedJobError

        assert self.config is not None and self.hydra_context is not None
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        if "mode" in self.config.hydra.sweep:
            os.chmod(sweep_dir, mode=int(str(self.config.hydra.sweep.mode), 8))
        log.info(f"Submitit '{self._EXECUTOR}' sweep output dir : {sweep_dir}")

        state = Singleton.get_state()
        platform = platform_device()
        requests: List[Request] = []
        job_args: List[Tuple[Any, ...]] = []
        for idx, overrides in enumerate(job_overrides, start=initial_job_idx):
            job_cfg = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
            requests.append(job_request(job_cfg, platform))
            log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))} [{describe(requests[-1])}]")
            job_args.append((list(overrides), "hydra.sweep.dir", idx, f"job_id_for_{idx}", state))

        outcomes: List[Union[JobReturn, Any]] = [None] * len(job_args)
        for request, positions in group_by_request(requests):
            try:
                jobs = self.executor(request).map_array(self, *zip(*(job_args[p] for p in positions)))
            except FailedJobError as exc:
                refused = RuntimeError(f"the scheduler refused [{describe(request)}]: {exc}")
                for p in positions:
                    outcomes[p] = failed(job_overrides[p], refused)
                continue
            for p, job in zip(positions, jobs):
                outcomes[p] = job
        return [o if isinstance(o, JobReturn) else result(o, job_overrides[i]) for i, o in enumerate(outcomes)]

    def executor(self, request: Request) -> Any:
        """An executor holding the launcher's parameters with this request laid over them."""
        import submitit

        params = {k: v for k, v in {**self.params, **request}.items() if v is not None}
        init = {"folder": params.pop("submitit_folder")}
        if "max_num_timeout" in params:
            init[f"{self._EXECUTOR}_max_num_timeout"] = params.pop("max_num_timeout")
        executor = submitit.AutoExecutor(cluster=self._EXECUTOR, **init)
        generic = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(**{k if k in generic else f"{self._EXECUTOR}_{k}": v for k, v in params.items()})
        return executor


def result(job: Any, overrides: Sequence[str]) -> JobReturn:
    from submitit.core.utils import UncompletedJobError

    try:
        return job.results()[0]
    except UncompletedJobError as exc:
        return failed(overrides, exc)


def failed(overrides: Sequence[str], exc: Exception) -> JobReturn:
    return JobReturn(overrides=list(overrides), status=JobStatus.FAILED, _return_value=exc)


class LocalParallelLauncher(PerJobResourcesLauncher):
    """All jobs at once on this machine, as separate processes (never Slurm, even where srun exists)."""

    _EXECUTOR = "local"


class SlurmLauncher(PerJobResourcesLauncher):
    """One Slurm job array per distinct request."""

    _EXECUTOR = "slurm"
