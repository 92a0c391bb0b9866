"""Where the judge's LLM answers, chosen by `judge._target_`: any OpenAI-compatible endpoint, or a vLLM
server sustain starts on this machine for the judging. The scoring is the same for both; they differ in
how the endpoint is reached and whether its energy can be read here, and each has its own schema with
its own keys (`SCHEMAS`; the schemas themselves live in `sustain.judge.config`, which the server reads too).
"""

from __future__ import annotations

import contextlib
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sustain.errors import SustainError
from sustain.judge.config import LocalJudgeConfig, OpenAIJudgeConfig

LOCAL_API_KEY = "sustain-local"  # vLLM started without --api-key accepts any


@dataclass
class Endpoint:
    base_url: str
    model: str
    api_key: str = field(repr=False)
    identity: dict[str, Any]  # what makes a cached verdict valid: never the key


class JudgeEndpoint(ABC):
    """One way to reach the judge. Built from the `judge` config before anything is sent."""

    def __init__(self, cfg: Any) -> None:
        self.cfg = cfg

    def check(self) -> None:
        """Refuse, in one sentence, a config this endpoint cannot use."""

    @abstractmethod
    def endpoint(self) -> Endpoint:
        ...

    def serve(self, stack: contextlib.ExitStack, log_path: Path, energy: Any, needed: bool) -> tuple[float, Any, list[str]]:
        """Start what answers for as long as `stack` lives (when `needed`: some item is not cached), and
        the meter for its energy; returns start-up seconds, the meter (None: not measurable here) and
        notes on the meter's fallbacks. A remote endpoint needs nothing and cannot be metered."""
        return 0.0, None, []


SCHEMAS = {"openai_schema": OpenAIJudgeConfig, "local_schema": LocalJudgeConfig}


class OpenAICompatible(JudgeEndpoint):
    """`judge=openai`: the paper's GPT-5, or any endpoint at `base_url`; the key from the environment."""

    def check(self) -> None:
        if self.cfg.model == "embedded":
            raise SustainError("judge=openai needs judge.model, the model name the endpoint serves (e.g. gpt-5).")

    def endpoint(self) -> Endpoint:
        cfg = self.cfg
        api_key = os.environ.get(cfg.api_key_env, "")
        if not api_key:
            raise SustainError(
                f"judge=openai reads its API key from the environment variable {cfg.api_key_env}, which is "
                f"not set: export {cfg.api_key_env}=<key> (or name another variable in judge.api_key_env)."
            )
        base_url = cfg.base_url.rstrip("/")
        return Endpoint(base_url, cfg.model, api_key, {"base_url": base_url, "model": cfg.model})


class LocalServer(JudgeEndpoint):
    """`judge=local`: vLLM's OpenAI server on 127.0.0.1, metered with the run's `energy` settings."""

    def __init__(self, cfg: Any) -> None:
        super().__init__(cfg)
        self.port = 0
        self.model = ""

    def check(self) -> None:
        if self.cfg.startup_timeout_s <= 0:
            raise SustainError("judge.startup_timeout_s must be a positive number of seconds.")

    def endpoint(self) -> Endpoint:
        from sustain.judge import server
        from sustain.models.resolve import resolve

        self.model = resolve(self.cfg.model)
        self.port = self.cfg.port or server.free_port()
        identity = {"local": self.model, "engine_args": server.engine_args(self.cfg)}
        return Endpoint(f"http://{server.HOST}:{self.port}/v1", self.model, LOCAL_API_KEY, identity)

    def serve(self, stack: contextlib.ExitStack, log_path: Path, energy: Any, needed: bool) -> tuple[float, Any, list[str]]:
        from sustain.energy.meters import EveryDomainConfig
        from sustain.judge import server
        from sustain.plugins import build

        startup_s = stack.enter_context(server.serve(self.cfg, self.model, self.port, log_path)) if needed else 0.0
        energy = energy or EveryDomainConfig()
        meter, notes = build(energy, "energy").build(gpus=1)  # the server gets one GPU
        return startup_s, meter, notes
