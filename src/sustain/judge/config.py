"""The judge's schema: the keys every judge endpoint shares (which LLM, how it is asked, the cache).

`_target_` names how the judge is reached (`sustain.judge.endpoints`): none (no judge), judge=openai (any
OpenAI-compatible endpoint) or judge=local (a vLLM server sustain starts for the run). Each endpoint's own
keys are in its schema next to it (`endpoints.SCHEMAS`), so a key of one endpoint is refused in the other.

`constrain` holds the judge's answer to the rubric's JSON with a score of 1, 2 or 3 while it decodes
(see `sustain.judge.constrained`): on in judge=local, as the embedded 135M model cannot keep to the schema
otherwise; off in judge=openai, as the paper's judge was not constrained.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional


@dataclass
class JudgeConfig:
    _target_: Optional[str] = None  # a sustain.judge.endpoints.JudgeEndpoint; None: no judge
    name: str = "none"  # none | openai | local: for tags and labels
    model: str = "embedded"  # openai: served model name; local: HF id, folder, or "embedded"
    temperature: float = 0.0
    max_tokens: int = 512  # reasoning judges (gpt-5, o-series) need 4096+
    timeout_s: float = 300.0  # per request
    max_retries: int = 1  # transport retries (OpenAI client) and re-asks after an unparseable answer
    constrain: bool = False  # decode to the rubric's schema and levels (judge=local: on; judge=openai: off, as the paper)
    concurrency: int = 4  # requests in flight
    cache: bool = True
    cache_dir: Optional[str] = None  # None: <sustain cache>/judge-cache


@dataclass
class OpenAIJudgeConfig(JudgeConfig):
    """judge=openai: the endpoint's URL and where its key is; the key itself never enters the config."""

    _target_: Optional[str] = "sustain.judge.endpoints.OpenAICompatible"
    name: str = "openai"
    base_url: str = "https://api.openai.com/v1"
    api_key_env: str = "OPENAI_API_KEY"  # the variable holding the key


@dataclass
class LocalJudgeConfig(JudgeConfig):
    """judge=local: how sustain starts the vLLM server that judges."""

    _target_: Optional[str] = "sustain.judge.endpoints.LocalServer"
    name: str = "local"
    port: int = 0  # 0: a free loopback port
    startup_timeout_s: float = 600.0
    gpu_memory_utilization: Optional[float] = None  # None: 0.35 on CPU (a share of RAM there), vLLM's on GPU
    enforce_eager: Optional[bool] = None  # None: True on CPU (35 s start instead of minutes), vLLM's on GPU
    engine_args: Dict[str, Any] = field(default_factory=dict)  # any `vllm serve` flag, e.g. {max_model_len: 8192}


def cache_path(cfg: JudgeConfig) -> Path:
    if cfg.cache_dir:
        return Path(cfg.cache_dir).expanduser()
    from sustain.models.embedded import cache_root

    return cache_root() / "judge-cache"
