"""The offline vLLM engine plugin, up to the point where a process would start."""

from pathlib import Path

import pytest

from sustain.config import QuantizationConfig
from sustain.engines.base import EngineJob, Sampling
from sustain.engines.vllm import VllmEngine, VllmEngineConfig, engine_arg_names
from sustain.errors import SustainError
from sustain.tasks.base import Decoding, Request


def job(tmp_path: Path, **quant) -> EngineJob:
    from sustain.config import ModelConfig

    return EngineJob(model=ModelConfig(name="m", path=str(tmp_path)), quantization=QuantizationConfig(**quant),
                     batch_size=4, gpus=1, requests=[Request("a", [{"role": "user", "content": "hi"}])],
                     sampling=Sampling(8, 0.0, 1.0, 0), decoding=Decoding(choice=["x", "y"]), out_dir=tmp_path)


def test_engine_args_are_read_from_vllm_source_without_importing_it():
    import sys

    names = engine_arg_names()
    assert {"max_num_seqs", "tensor_parallel_size", "enforce_eager", "max_num_batched_tokens"} <= names
    assert "vllm.engine.arg_utils" not in sys.modules


def test_a_misspelt_engine_argument_is_refused_before_anything_starts(tmp_path):
    engine = VllmEngine(VllmEngineConfig(args={"max_num_seq": 4}))
    with pytest.raises(SustainError, match="'max_num_seq' is not an argument of vLLM's EngineArgs.*'max_num_seqs'"):
        engine.prepare(job(tmp_path))


def test_a_checkpoint_of_another_model_is_refused(tmp_path):
    engine = VllmEngine(VllmEngineConfig())
    with pytest.raises(SustainError, match="is a checkpoint of other, not of model=m"):
        engine.prepare(job(tmp_path, name="awq", for_model="other"))


def test_the_spec_carries_batch_decoding_and_log_file(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    engine = VllmEngine(VllmEngineConfig(args={"max_num_batched_tokens": 2048}))
    j = job(tmp_path)
    engine.prepare(j)
    spec = engine.spec(j, tmp_path / "engine.log")
    assert spec["engine_args"]["max_num_seqs"] == 4 and spec["engine_args"]["max_num_batched_tokens"] == 2048
    assert spec["choice"] == ["x", "y"] and spec["json_schema"] is None
    assert spec["requests"] == [("a", [{"role": "user", "content": "hi"}])]
    assert spec["log_file"].endswith("engine.log") and spec["verbose"] is False
