"""The roofline: hand-worked bounds, datasheet matching, the cached CPU bandwidth, and a missing shape."""

import json

import pytest

from sustain.engines.records import RequestRecord
from sustain.metrics import roofline as rl

# SmolLM-135M's shape: 30 layers, 576 hidden, 9 heads (3 KV), head dim 64, tied embeddings.
SMOL = {"num_hidden_layers": 30, "hidden_size": 576, "num_attention_heads": 9, "num_key_value_heads": 3,
        "vocab_size": 49152, "intermediate_size": 1536, "tie_word_embeddings": True, "torch_dtype": "bfloat16"}
MODEL = {"path": "nowhere/not-a-model", "dtype": "bfloat16", "params_b": 0.135}


def record(i, prompt=100, output=21, tpot=0.01, error=None):
    first = 1.0 + i
    return RequestRecord(str(i), prompt, output, "x", "stop", i, i, first, first + tpot * (output - 1), error)


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SUSTAIN_CACHE", str(tmp_path))
    return tmp_path


def test_135m_bf16_at_batch_4_on_100_gb_s_without_a_config():
    records = [record(i) for i in range(4)] + [record(9, tpot=0.5, error="boom")]
    piece, reason = rl.roofline_for(records, {"devices": ["cpu"]}, MODEL, {"name": "none"}, 4.0, None,
                                    measure=lambda: 100.0)
    assert reason is None
    # 135e6 weights × 2 B = 270 MB a step; 100 GB/s → 370.4 steps/s × 4 requests = 1481.5 tok/s.
    assert piece.bound_tok_s == pytest.approx(100e9 / 270e6 * 4)
    assert piece.measured_tok_s == pytest.approx(4 / 0.01)  # the failed request's slow TPOT left out
    assert piece.metrics() == pytest.approx({"roofline_share": 400 / 1481.48148, "roofline_bound_tok_s": 1481.48148,
                                             "memory_bandwidth_gb_s": 100.0})
    assert piece.kv_bytes is None
    assert "KV cache term left out" in piece.tags()["roofline.inputs"]
    assert "measured numpy copy" in piece.tags()["roofline.bandwidth_source"]


def test_kv_cache_from_config_json(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(SMOL))
    records = [record(i) for i in range(4)]
    piece, _ = rl.roofline_for(records, {"devices": ["cpu"]}, MODEL, None, 4.0, str(tmp_path), measure=lambda: 100.0)
    # 30 layers × 2 × 3 heads × 64 × 2 B = 23,040 B a token; 100 + 21/2 = 110.5 tokens × 4 requests.
    kv = 23040 * 110.5 * 4
    assert piece.kv_bytes == pytest.approx(kv)
    assert piece.bound_tok_s == pytest.approx(100e9 / (270e6 + kv) * 4)
    assert "KV cache term left out" not in piece.tags()["roofline.inputs"]
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF")
    from_cfg, _ = rl.roofline_for(records, {"devices": ["cpu"]}, {**MODEL, "path": str(tmp_path)}, None, 4.0,
                                  str(gguf), measure=lambda: 100.0)
    assert from_cfg.kv_bytes == pytest.approx(kv)  # a GGUF has no config.json: the model's own path does


def test_params_counted_from_config_when_params_b_missing(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(SMOL))
    # 49152×576 embeddings + 30 × (576×64×24 attention + 3×576×1536 MLP) = 134,479,872.
    assert rl.params_from_config(SMOL) == 134_479_872
    piece, _ = rl.roofline_for([record(0)], {"devices": ["NVIDIA L4"]}, {"dtype": "auto"}, None, 1.0,
                               str(tmp_path))
    assert piece.weight_bytes == 134_479_872 * 2
    assert piece.bandwidth == rl.Bandwidth(300.0, piece.bandwidth.source)


@pytest.mark.parametrize("name, gb_s", [
    ("NVIDIA H100 80GB HBM3", 3350), ("NVIDIA H100 PCIe", 2000), ("NVIDIA H100 NVL", 3900), ("NVIDIA H200", 4800),
    ("NVIDIA A100-SXM4-80GB", 2039), ("NVIDIA A100 80GB PCIe", 1935), ("NVIDIA A100-SXM4-40GB", 1555),
    ("NVIDIA L4", 300), ("NVIDIA L40S", 864), ("NVIDIA A10G", 600), ("NVIDIA GeForce RTX 4090", 1008)])
def test_datasheet_matching(name, gb_s):
    assert rl.datasheet_bandwidth(name).gb_s == gb_s


def test_tensor_parallel_sums_and_unknown_gpu_says_why():
    both = rl.bandwidth_for(["NVIDIA H100 80GB HBM3"] * 2)
    assert both.gb_s == 6700 and both.source.startswith("2 ×")
    assert rl.bandwidth_for(["Mystery Accelerator 9000"]) == "no datasheet bandwidth for Mystery Accelerator 9000"
    assert rl.bandwidth_for([], measure=lambda: 1 / 0).startswith("no device names")
    listed = rl.bandwidth_for(["CUDA0: NVIDIA L40S (46068 MiB, 45000 MiB free)"])  # llama.cpp's --list-devices
    assert listed.gb_s == 864


def test_cpu_bandwidth_measured_once_and_cached(cache):
    calls = []
    first = rl.cpu_bandwidth(lambda: calls.append(1) or 42.0)
    again = rl.cpu_bandwidth(lambda: calls.append(1) or 99.0)
    assert (first.gb_s, again.gb_s, len(calls)) == (42.0, 42.0, 1)
    assert list(json.loads((cache / "memory_bandwidth.json").read_text()).values()) == [42.0]


def test_measured_copy_bandwidth_is_plausible():
    assert 0.1 < rl.measure_copy_gb_s(mib=16, repeats=2) < 10_000


@pytest.mark.parametrize("quant, dtype, expected", [
    ({"method": "fp8"}, "auto", 1.0), ({"name": "awq", "method": "awq"}, "auto", 0.5), ({"name": "q4_0"}, None, 0.5625),
    ({"name": "q4_1"}, None, 0.625), ({"name": "q4_1_gguf"}, None, 0.625), ({"name": "gptq_int8"}, "auto", 1.0),
    ({"name": "custom"}, "auto", None), ({"name": "none"}, "float32", 4.0), (None, "auto", 2.0)])
def test_bytes_per_weight(quant, dtype, expected):
    assert rl.bytes_per_weight(dtype, quant, SMOL) == expected


def test_bytes_per_weight_from_checkpoint_quantization_config():
    gptq = {**SMOL, "torch_dtype": "float16", "quantization_config": {"quant_method": "gptq", "bits": 4}}
    assert rl.bytes_per_weight("auto", {"name": "custom", "method": None}, gptq) == 0.5
    assert rl.dtype_bytes("auto", gptq) == 2.0  # the KV cache stays 16-bit


def test_missing_inputs_give_a_reason():
    records = [record(0)]
    assert rl.roofline_for(records, {"devices": ["cpu"]}, MODEL, None, float("nan"), None)[1].startswith("no measured")
    assert rl.roofline_for([record(0, output=1)], {"devices": ["cpu"]}, MODEL, None, 1.0, None)[0] is None
    none, why = rl.roofline_for(records, {"devices": ["cpu"]}, {"dtype": "bfloat16"}, None, 1.0, None,
                                measure=lambda: 1.0)
    assert none is None and "params_b" in why
    none, why = rl.roofline_for(records, {"devices": ["cpu"]}, MODEL, {"method": "exotic"}, 1.0, None,
                                measure=lambda: 1.0)
    assert none is None and "bytes per weight" in why


def test_metrics_declared_for_every_logged_name():
    declared = {m.name for m in rl.METRICS}
    piece, _ = rl.roofline_for([record(0)], {"devices": ["NVIDIA H200"]}, MODEL, None, 1.0, None)
    assert set(piece.metrics()) == declared


def test_registry_collects_the_roofline_metrics():
    from sustain.registry import registry

    assert all(registry().get(m.name) == m for m in rl.METRICS)
    assert registry().by_column("roofline").name == "roofline_share"


def test_an_engine_on_the_cpu_is_bounded_by_the_measured_cpu_bandwidth(tmp_path, monkeypatch):
    """vLLM's CPU backend names the CPU model as its device; the platform says it is the CPU."""
    from types import SimpleNamespace

    from sustain.engines.records import RequestRecord
    from sustain.metrics.roofline import roofline_for

    monkeypatch.setenv("SUSTAIN_CACHE", str(tmp_path))
    records = [RequestRecord("a", 10, 5, "x", "stop", 0.0, 0.0, 1.0, 2.0, token_times_s=[1.0, 1.25, 1.5, 1.75, 2.0])]
    model = SimpleNamespace(path="nowhere", dtype="bfloat16", params_b=0.1)
    quant = SimpleNamespace(method=None, name="none")
    found, why = roofline_for(records, {"platform": "cpu", "devices": ["AMD EPYC"]}, model, quant, 1.0, None,
                              measure=lambda: 100.0)
    assert why is None and found.bandwidth.gb_s == 100.0
    assert found.share == pytest.approx(4.0 / (100e9 / (0.1e9 * 2)))
