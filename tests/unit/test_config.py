"""Composition of the real conf/ tree against the typed schema."""

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf, open_dict
from omegaconf.errors import ConfigAttributeError, ValidationError

from sustain.config import SustainConfig, register
from sustain.tracking.mlflow_tracker import flatten
from tests.conftest import ROOT

register()


def load(*overrides):
    with initialize_config_dir(config_dir=str(ROOT / "src" / "sustain" / "conf"), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides), return_hydra_config=True)


def typed(cfg):
    """The job config as the job sees it: hydra's node set aside, `${hydra:...}` still resolvable."""
    HydraConfig.instance().set_config(cfg)
    cfg = cfg.copy()
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg


def test_defaults_are_the_issue_defaults():
    cfg = load()
    assert cfg.model.name == "smollm2_135m" and cfg.model.path == "embedded"
    assert cfg.quantization.name == "none"
    assert cfg.task.name == "hallucination" and cfg.energy.name == "auto" and cfg.judge.name == "none"
    assert isinstance(OmegaConf.to_object(typed(cfg)), SustainConfig)


def test_run_name_is_readable():
    cfg = load("batch_size=64", "gpus=2")
    assert cfg.run_name == "smollm2_135m-none-bs64-g2-hallucination-json_schema"


def test_misspelt_key_fails_at_composition():
    with pytest.raises(ConfigCompositionException) as err:
        load("batch_sizee=3")
    assert isinstance(err.value.__cause__, ConfigAttributeError)
    assert "batch_sizee" in str(err.value.__cause__)


def test_wrong_type_fails_at_composition():
    with pytest.raises(ConfigCompositionException) as err:
        load("batch_size=many")
    assert isinstance(err.value.__cause__, ValidationError)


def test_misspelt_group_key_fails():
    with pytest.raises(ConfigCompositionException):
        load("task.decodng=free")


def test_engine_args_pass_through_any_vllm_argument():
    cfg = load("+engine.args.max_num_batched_tokens=4096", "+engine.args.swap_space=2")
    assert OmegaConf.to_object(typed(cfg)).engine.args == {"max_num_batched_tokens": 4096, "swap_space": 2}


def test_flatten_gives_dotted_params():
    assert flatten({"a": {"b": 1, "c": [1, 2]}, "d": None}) == {"a.b": "1", "a.c": "[1, 2]", "d": "None"}


def test_a_key_of_another_kind_is_one_sentence_naming_the_kinds_that_have_it():
    from sustain.config import unknown_key_message

    assert unknown_key_message(["judge=local", "judge.base_url=x"]) == (
        "'judge.base_url' is not a key of judge=local, only of judge=openai: choose that judge, or leave the key out.")
    assert "not a key of reference=gpt4o_estimate, only of reference=mlflow_run" in unknown_key_message(
        ["reference.run_id=x"])  # the default choice, from conf/config.yaml
    assert "only of energy=auto:" in unknown_key_message(["energy=estimate", "energy.estimate.dram_w=2"])
    assert "did you mean 'judge.base_url'" in unknown_key_message(["judge.base_ur=x"])
    assert unknown_key_message(["judge=local", "judge.port=3", "energy.estimate.dram_w=2"]) is None
    assert unknown_key_message(["experiment=smoke", "judge.port=3"]) is None  # the experiment may choose judge=local


@pytest.mark.parametrize("group, choices", [("judge", ["local", "none", "openai"]),
                                            ("energy", ["auto", "estimate", "zeus_gpu", "zeus_rapl"]),
                                            ("reference", ["gpt4o_estimate", "mlflow_run", "none"])])
def test_every_kind_composes_onto_its_own_schema(group, choices):
    from sustain.config import GROUPS

    for choice in choices:
        node = getattr(OmegaConf.to_object(typed(load(f"{group}={choice}"))), group)
        assert isinstance(node, GROUPS[group]) and node.name == choice
        assert (type(node) is GROUPS[group]) == (choice == "none")
