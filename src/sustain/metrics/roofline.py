"""How close a run's decode came to the hardware's limit: its decode throughput as a share of the
memory-bandwidth bound.

Each decode step reads every weight once and the KV cache of every running request, so with a memory
bandwidth `bw` the fastest a step can be is `bytes_per_step / bw`, yielding one token per running request.
A share near 1 says the hardware is the limit; a low share says the software (scheduling, kernels,
launch overhead) is. An estimate: it ignores activations, caches and compute, so it is an upper bound.
"""

from __future__ import annotations

import json
import os
import platform
import re
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from sustain.registry import MAXIMIZE, NEITHER, Metric

ROOFLINE_SHARE = "roofline_share"
ROOFLINE_BOUND = "roofline_bound_tok_s"
MEMORY_BANDWIDTH = "memory_bandwidth_gb_s"

METRICS = [
    Metric(ROOFLINE_SHARE, "1", MAXIMIZE, "steady-state window", "Decode throughput as a share of the "
           "memory-bandwidth bound (weights plus KV cache read per step at the running batch): near 1 the "
           "hardware is the limit, low the software is. An estimate; its inputs are in the tag roofline.inputs.",
           "serving", "roofline", source=__name__),
    Metric(ROOFLINE_BOUND, "tok/s", NEITHER, "steady-state window", "Decode tokens per second the memory "
           "bandwidth allows at the running batch: bandwidth / bytes read per step × running batch.",
           "serving", source=__name__),
    Metric(MEMORY_BANDWIDTH, "GB/s", NEITHER, "whole run", "Memory bandwidth of the run's devices: the GPUs' "
           "datasheet figure summed, or a CPU's measured copy bandwidth (tag roofline.bandwidth_source).",
           "serving", source=__name__),
]

_NVIDIA = "NVIDIA {} datasheet"
# (pattern on the lower-cased device name, GB/s, source); the first match wins, so specific names first.
DATASHEET: tuple[tuple[str, float, str], ...] = (
    (r"b200", 8000.0, _NVIDIA.format("B200 (HGX, 8 TB/s)")),
    (r"h200", 4800.0, _NVIDIA.format("H200 SXM/NVL (4.8 TB/s)")),
    (r"h100.*nvl", 3900.0, _NVIDIA.format("H100 NVL (3.9 TB/s)")),
    (r"h100.*pcie", 2000.0, _NVIDIA.format("H100 PCIe (2.0 TB/s)")),
    (r"h100", 3350.0, _NVIDIA.format("H100 SXM (3.35 TB/s)")),
    (r"a100.*(pcie.*80|80.*pcie)", 1935.0, _NVIDIA.format("A100 80GB PCIe (1,935 GB/s)")),
    (r"a100.*80", 2039.0, _NVIDIA.format("A100 80GB SXM (2,039 GB/s)")),
    (r"a100", 1555.0, _NVIDIA.format("A100 40GB (1,555 GB/s)")),
    (r"l40s", 864.0, _NVIDIA.format("L40S (864 GB/s)")),
    (r"l40\b", 864.0, _NVIDIA.format("L40 (864 GB/s)")),
    (r"\bl4\b", 300.0, _NVIDIA.format("L4 (300 GB/s)")),
    (r"a10g", 600.0, "AWS EC2 G5 / NVIDIA A10G (600 GB/s)"),
    (r"\ba10\b", 600.0, _NVIDIA.format("A10 (600 GB/s)")),
    (r"rtx 6000 ada", 960.0, _NVIDIA.format("RTX 6000 Ada (960 GB/s)")),
    (r"rtx 4090", 1008.0, _NVIDIA.format("GeForce RTX 4090 spec page (1,008 GB/s)")),
    (r"rtx 3090", 936.0, _NVIDIA.format("GeForce RTX 3090 spec page (936 GB/s)")),
    (r"v100", 900.0, _NVIDIA.format("V100 SXM2 (900 GB/s)")),
    (r"\bt4\b", 320.0, _NVIDIA.format("T4 (320 GB/s)")),
)

# Bytes per weight by quantization (method or name) or dtype. GGUF block formats carry a scale (and a
# minimum for the _1 kinds) per 32 weights: q4_0 18 bytes, q4_1 20, q8_0 34.
BYTES_PER_WEIGHT: dict[str, float] = {
    "float32": 4.0, "fp32": 4.0, "bfloat16": 2.0, "bf16": 2.0, "float16": 2.0, "fp16": 2.0, "half": 2.0,
    "fp8": 1.0, "int8": 1.0, "w8a8": 1.0, "bitsandbytes": 0.5, "int4": 0.5, "awq": 0.5, "gptq": 0.5,
    "gptq_int4": 0.5, "gptq_int8": 1.0, "awq_marlin": 0.5, "gptq_marlin": 0.5, "q4_0": 18 / 32, "q4_1": 20 / 32,
    "q4_k_m": 4.85 / 8, "q5_k_m": 5.69 / 8, "q6_k": 6.56 / 8, "q8_0": 34 / 32,
}


@dataclass(frozen=True)
class Bandwidth:
    gb_s: float
    source: str


@dataclass(frozen=True)
class ModelShape:
    """What one decode step reads: parameters, and the KV bytes per context token (None when unknown)."""

    params: float
    kv_bytes_per_token: float | None
    source: str


@dataclass(frozen=True)
class Roofline:
    bandwidth: Bandwidth
    bytes_per_weight: float
    weight_bytes: float
    kv_bytes: float | None  # per step at the running batch; None when the model's shape is unknown
    running_batch: float
    measured_tok_s: float
    shape_source: str
    notes: tuple[str, ...] = ()

    @property
    def bytes_per_step(self) -> float:
        return self.weight_bytes + (self.kv_bytes or 0.0)

    @property
    def bound_tok_s(self) -> float:
        return self.bandwidth.gb_s * 1e9 / self.bytes_per_step * self.running_batch

    @property
    def share(self) -> float:
        return self.measured_tok_s / self.bound_tok_s

    def metrics(self) -> dict[str, float]:
        return {ROOFLINE_SHARE: self.share, ROOFLINE_BOUND: self.bound_tok_s, MEMORY_BANDWIDTH: self.bandwidth.gb_s}

    def tags(self) -> dict[str, str]:
        kv = "left out (model shape unknown)" if self.kv_bytes is None else f"{self.kv_bytes / 1e9:.4g} GB"
        inputs = (f"weights {self.weight_bytes / 1e9:.4g} GB ({self.bytes_per_weight:g} B/weight, "
                  f"{self.shape_source}); KV cache {kv}; running batch {self.running_batch:.3g}; "
                  f"measured decode {self.measured_tok_s:.4g} tok/s; bandwidth {self.bandwidth.gb_s:.4g} GB/s")
        if self.notes:
            inputs += "; " + "; ".join(self.notes)
        return {"roofline.inputs": inputs, "roofline.bandwidth_source": self.bandwidth.source}


def datasheet_bandwidth(device: str) -> Bandwidth | None:
    name = device.lower()
    for pattern, gb_s, source in DATASHEET:
        if re.search(pattern, name):
            return Bandwidth(gb_s, source)
    return None


def cache_dir() -> Path:
    return Path(os.environ.get("SUSTAIN_CACHE") or Path.home() / ".cache" / "sustain")


def _cpu_key() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        mem_gb = 0.0
    return f"{model} | {mem_gb:.0f} GiB"


def measure_copy_gb_s(mib: int = 256, repeats: int = 3) -> float:
    """Best of a few numpy copies of a large array: bytes read plus bytes written per second."""
    import numpy as np

    src = np.ones(mib * 2**20 // 8)
    dst = np.empty_like(src)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - t0)
    return 2 * src.nbytes / best / 1e9


def cpu_bandwidth(measure: Callable[[], float] = measure_copy_gb_s) -> Bandwidth:
    """A CPU's copy bandwidth, measured once per machine (CPU model and memory size) and cached."""
    path = cache_dir() / "memory_bandwidth.json"
    key = _cpu_key()
    try:
        cached = json.loads(path.read_text())
    except (OSError, ValueError):
        cached = {}
    if key not in cached:
        cached[key] = measure()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(cached, indent=1))
    return Bandwidth(float(cached[key]), f"measured numpy copy bandwidth of {key} (cached in {path})")


def bandwidth_for(devices: Iterable[str], measure: Callable[[], float] = measure_copy_gb_s) -> Bandwidth | str:
    """The devices' summed datasheet bandwidth (tensor parallel reads in parallel), a CPU's measured one,
    or the reason there is none."""
    names = [d for d in devices if d]
    if not names:
        return "no device names (a remote endpoint: its hardware is not known here)"
    if all(d.lower() == "cpu" for d in names):
        return cpu_bandwidth(measure)
    found = [(d, datasheet_bandwidth(d)) for d in names]
    missing = [d for d, b in found if b is None]
    if missing:
        return f"no datasheet bandwidth for {', '.join(missing)}"
    total = sum(b.gb_s for _, b in found)
    sources = sorted({b.source for _, b in found})
    return Bandwidth(total, f"{len(names)} × " + "; ".join(sources) if len(names) > 1 else sources[0])


def read_hf_config(model_path: str | None) -> dict[str, Any] | None:
    """The model's config.json from a local folder or the Hugging Face cache; never the network."""
    if not model_path:
        return None
    local = Path(model_path) / "config.json"
    if local.is_file():
        return json.loads(local.read_text())
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    cached = try_to_load_from_cache(model_path, "config.json")
    return json.loads(Path(cached).read_text()) if isinstance(cached, str) else None


def _first_config(*paths: str | None) -> dict[str, Any] | None:
    """The first readable config.json: the resolved checkpoint (a GGUF has none), then the configured path."""
    for path in paths:
        try:
            config = read_hf_config(str(path) if path else None)
        except (OSError, ValueError):
            continue
        if config:
            return config
    return None


def _experts(config: Mapping[str, Any]) -> int:
    text = _text_config(config)
    return max(int(text.get(k) or 0) for k in ("num_experts", "num_local_experts", "n_routed_experts"))


def _text_config(config: Mapping[str, Any]) -> Mapping[str, Any]:
    return config.get("text_config") or config


def kv_bytes_per_token(config: Mapping[str, Any], kv_bytes: float) -> float | None:
    """layers × 2 (K and V) × KV heads × head dim × bytes: what one context token costs a step to read."""
    c = _text_config(config)
    layers, hidden, heads = c.get("num_hidden_layers"), c.get("hidden_size"), c.get("num_attention_heads")
    if not (layers and hidden and heads):
        return None
    kv_heads = c.get("num_key_value_heads") or heads
    head_dim = c.get("head_dim") or hidden // heads
    return layers * 2 * kv_heads * head_dim * kv_bytes


def params_from_config(config: Mapping[str, Any]) -> float | None:
    """A dense decoder's parameter count from its shape (embeddings, attention, gated MLP)."""
    c = _text_config(config)
    layers, hidden, heads = c.get("num_hidden_layers"), c.get("hidden_size"), c.get("num_attention_heads")
    vocab, inter = c.get("vocab_size"), c.get("intermediate_size")
    if not (layers and hidden and heads and vocab and inter):
        return None
    kv_heads = c.get("num_key_value_heads") or heads
    head_dim = c.get("head_dim") or hidden // heads
    attention = hidden * head_dim * (2 * heads + 2 * kv_heads)
    embeddings = vocab * hidden * (1 if c.get("tie_word_embeddings", config.get("tie_word_embeddings")) else 2)
    return embeddings + layers * (attention + 3 * hidden * inter)


def bytes_per_weight(dtype: str | None, quantization: Mapping[str, Any] | None,
                     config: Mapping[str, Any] | None) -> float | None:
    """From the quantization (method, then name, then the checkpoint's quantization_config bits), else
    the dtype ("auto": the checkpoint's torch_dtype)."""
    q = quantization or {}
    for key in (q.get("method"), q.get("name")):
        key = re.sub(r"^gguf_|_gguf$", "", str(key or "").lower())
        if key in BYTES_PER_WEIGHT:
            return BYTES_PER_WEIGHT[key]
    bits = ((config or {}).get("quantization_config") or {}).get("bits")
    if bits:
        return bits / 8
    if (q.get("method") or q.get("name") or "none") != "none":
        return None
    return dtype_bytes(dtype, config)


def dtype_bytes(dtype: str | None, config: Mapping[str, Any] | None) -> float | None:
    """Bytes of the model's dtype ("auto": the checkpoint's torch_dtype, bf16 when it names none)."""
    if not dtype or dtype == "auto":
        dtype = (config or {}).get("torch_dtype") or (config or {}).get("dtype") or "bfloat16"
    return BYTES_PER_WEIGHT.get(str(dtype).lower().removeprefix("torch."))


def decode_tok_s(records: Iterable[Any], running_batch: float) -> float | None:
    """Aggregate decode tokens/s: each running request gains one token per step, a step lasting the mean
    time per output token, so running batch / mean TPOT."""
    ok = [r for r in records if getattr(r, "error", None) is None]
    tpots = [r.tpot_s for r in ok if r.tpot_s]
    return running_batch / statistics.fmean(tpots) if tpots else None


def mean_context_tokens(records: Iterable[Any]) -> float | None:
    """Context a request holds, averaged over its decode: prompt plus half its output."""
    ok = [r for r in records if getattr(r, "error", None) is None and r.output_tokens > 1]
    return statistics.fmean(r.prompt_tokens + r.output_tokens / 2 for r in ok) if ok else None


def _get(cfg: Any, key: str) -> Any:
    return cfg.get(key) if isinstance(cfg, Mapping) else getattr(cfg, key, None)


def _shape(model_cfg: Any, config: Mapping[str, Any] | None, kv_bytes: float) -> ModelShape | str:
    params_b = _get(model_cfg, "params_b")
    kv = kv_bytes_per_token(config, kv_bytes) if config else None
    if params_b:
        source = "model.params_b"
        params = params_b * 1e9
    else:
        params = params_from_config(config) if config else None
        source = "parameters counted from config.json (dense)"
    if not params:
        return "neither model.params_b nor a readable config.json gives the parameter count"
    return ModelShape(params, kv, source)


def roofline_for(records: list[Any], engine_info: Mapping[str, Any], model_cfg: Any, quantization_cfg: Any,
                 avg_running_batch: float | None, model_path: str | None,
                 measure: Callable[[], float] = measure_copy_gb_s) -> tuple[Roofline | None, str | None]:
    """The run's roofline, or None and the reason an input is missing."""
    if not avg_running_batch or avg_running_batch != avg_running_batch or avg_running_batch <= 0:
        return None, "no measured running batch (no steady-state window)"
    measured = decode_tok_s(records, avg_running_batch)
    if measured is None:
        return None, "no request decoded two tokens or more"
    on_cpu = engine_info.get("platform") == "cpu"  # devices then name the CPU model ("AMD EPYC")
    bandwidth = cpu_bandwidth(measure) if on_cpu else bandwidth_for(engine_info.get("devices") or [], measure)
    if isinstance(bandwidth, str):
        return None, bandwidth
    config = _first_config(model_path, _get(model_cfg, "path"))
    if config is not None and _experts(config) > 1:
        return None, ("a mixture of experts reads only the routed experts' weights per step, which this bound "
                      "does not model (it would read the share too high)")
    quant = {k: _get(quantization_cfg, k) for k in ("method", "name")} if quantization_cfg else None
    bpw = bytes_per_weight(_get(model_cfg, "dtype"), quant, config)
    if bpw is None:
        return None, f"unknown bytes per weight for quantization {quant} / dtype {_get(model_cfg, 'dtype')}"
    kv_dtype_bytes = dtype_bytes(_get(model_cfg, "dtype"), config) or 2.0
    shape = _shape(model_cfg, config, kv_dtype_bytes)
    if isinstance(shape, str):
        return None, shape
    notes: list[str] = []
    context = mean_context_tokens(records)
    kv = None
    if shape.kv_bytes_per_token is None:
        notes.append("KV cache term left out: no config.json with the model's shape")
    elif context is not None:
        kv = shape.kv_bytes_per_token * context * avg_running_batch
        notes.append(f"KV context {context:.0f} tokens/request (prompt + half the output)")
    return Roofline(bandwidth, bpw, shape.params * bpw, kv, avg_running_batch, measured, shape.source,
                    tuple(notes)), None
