from pathlib import Path

import pytest
from omegaconf import OmegaConf

from sustain.judge.config import JudgeConfig, cache_path
from sustain.judge.endpoints import SCHEMAS, LocalJudgeConfig, OpenAIJudgeConfig

CONF = Path(__file__).resolve().parents[2] / "src" / "sustain" / "conf" / "judge"


def load(name: str, **extra) -> JudgeConfig:
    """The group file merged onto the schema it names, as Hydra composes it."""
    raw = OmegaConf.load(CONF / f"{name}.yaml")
    (schema,) = raw.pop("defaults")
    node = JudgeConfig if schema == "judge_schema" else SCHEMAS[schema]
    return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(node), raw, extra))


@pytest.mark.parametrize("name, kind", [("none", JudgeConfig), ("openai", OpenAIJudgeConfig),
                                        ("local", LocalJudgeConfig)])
def test_yaml_fits_its_kinds_schema(name, kind):
    cfg = load(name)
    assert type(cfg) is kind and cfg.name == name


@pytest.mark.parametrize("name, foreign", [("openai", {"port": 8000}), ("local", {"base_url": "http://x"}),
                                           ("none", {"api_key_env": "KEY"})])
def test_a_key_of_another_endpoint_is_refused(name, foreign):
    from omegaconf.errors import ConfigKeyError

    with pytest.raises(ConfigKeyError, match=next(iter(foreign))):
        load(name, **foreign)


def test_no_key_in_the_openai_config():
    raw = OmegaConf.to_container(OmegaConf.load(CONF / "openai.yaml"))
    assert "api_key" not in raw
    cfg = load("openai")
    assert cfg.api_key_env == "OPENAI_API_KEY" and cfg.model == "gpt-5" and cfg.max_tokens >= 4096


def test_local_defaults_serve_the_embedded_model():
    cfg = load("local")
    assert cfg.model == "embedded" and cfg.port == 0 and cfg.cache and cfg.temperature == 0.0
    assert cfg.gpu_memory_utilization is None and cfg.enforce_eager is None


def test_cache_dir_defaults_under_the_sustain_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("SUSTAIN_CACHE", str(tmp_path))
    assert cache_path(JudgeConfig()) == tmp_path / "judge-cache"
    assert cache_path(JudgeConfig(cache_dir=str(tmp_path / "x"))) == tmp_path / "x"


def test_constrain_defaults_on_for_the_local_judge_only():
    assert load("local").constrain and not load("openai").constrain
