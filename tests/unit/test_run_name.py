"""run_name tells runs apart: whatever is not the default among engine, load and decoding joins it."""

import subprocess
import sys

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from sustain.config import register
from tests.fakes import CONF, compose_config

BASE = "smollm2_135m-none-bs8-g1-hallucination"
DEFAULT = BASE + "-json_schema"  # the embedded default constrains its output: the name says so


def test_the_default_run_keeps_its_short_name():
    assert compose_config().run_name == DEFAULT


@pytest.mark.parametrize(("overrides", "tail"), [
    (["engine=llamacpp"], "-llamacpp"),
    (["engine=vllm_server"], "-vllm_server"),
    (["engine=vllm_server", "load=poisson"], "-vllm_server-poisson"),
    (["task.decoding=json_schema"], "-json_schema"),
    (["engine=llamacpp", "load=poisson", "task.decoding=json_schema"], "-llamacpp-poisson-json_schema"),
    (["engine=vllm", "load=burst", "task.decoding=free"], ""),
])
def test_choices_that_are_not_the_default_join_the_name(overrides, tail):
    assert compose_config("task.decoding=free", *overrides).run_name == BASE + tail


def test_the_task_stays_in_the_name_and_the_rest_follows_it():
    cfg = compose_config("task=financial_sentiment", "task.decoding=choice", "load=concurrency", "batch_size=2")
    assert cfg.run_name == "smollm2_135m-none-bs2-g1-financial_sentiment-concurrency-choice"


def test_a_sweeps_job_folder_carries_the_name():
    register()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=["engine=llamacpp"], return_hydra_config=True)
    cfg.hydra.job.num = 3
    assert OmegaConf.select(cfg, "hydra.sweep.subdir") == f"3-{BASE}-llamacpp-json_schema"


def test_every_job_process_has_the_resolver():
    """Sweep jobs (Hydra's, the Slurm and parallel launchers') unpickle sustain.__main__.job, which
    imports sustain.__main__: that import alone must register the resolver."""
    check = ("import sustain.__main__, omegaconf; "
             "print(omegaconf.OmegaConf.has_resolver('sustain_unless_default'))")
    out = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "True"
