"""Config sections the sustain launchers read from each job's config.

Only dataclasses, so `sustain.config` can import them into its schema without pulling in submitit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional


@dataclass
class ResourcesConfig:
    """What one job asks its scheduler for; read per job, so a sweep may vary it (and `gpus`)."""

    device: str = "auto"  # gpu | cpu | auto: cpu where this environment's vLLM is the CPU build
    cpus_per_gpu: int = 4  # a GPU job asks gpus × cpus_per_gpu CPUs
    cpus: int = 2  # a CPU job's CPUs (the threads of vLLM's CPU backend)
    mem_gb: Optional[int] = None  # None: the launcher's mem_gb, else the partition's default
    timeout_min: Optional[int] = None  # None: the launcher's timeout_min


@dataclass
class SlurmSiteConfig:
    """Where this site's Slurm takes jobs (`hydra/launcher=slurm`); set it in conf/local/default.yaml."""

    partition: Optional[str] = None
    account: Optional[str] = None
    qos: Optional[str] = None
    constraint: Optional[str] = None
    setup: List[str] = field(default_factory=list)  # shell lines run before the job, e.g. `module load cuda`
    array_parallelism: int = 256  # jobs of one array running at once
    additional_parameters: Dict[str, Any] = field(default_factory=dict)  # any other sbatch option
