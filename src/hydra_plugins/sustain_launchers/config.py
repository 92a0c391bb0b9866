"""Structured launcher configs; conf/hydra/launcher/{parallel,slurm}.yaml extend them."""

from dataclasses import dataclass

from hydra.core.config_store import ConfigStore
from hydra_plugins.hydra_submitit_launcher.config import LocalQueueConf, SlurmQueueConf


@dataclass
class ParallelConf(LocalQueueConf):
    _target_: str = "hydra_plugins.sustain_launchers.launchers.LocalParallelLauncher"


@dataclass
class SlurmConf(SlurmQueueConf):
    _target_: str = "hydra_plugins.sustain_launchers.launchers.SlurmLauncher"


ConfigStore.instance().store(group="hydra/launcher", name="sustain_parallel", node=ParallelConf, provider="sustain")
ConfigStore.instance().store(group="hydra/launcher", name="sustain_slurm", node=SlurmConf, provider="sustain")
