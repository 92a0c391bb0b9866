"""The load-profile interface: the arrival time of every request, and a cap on requests in flight.

A profile is chosen by `_target_` in `conf/load/<name>.yaml`; its module lists its config in `SCHEMAS`.
Only server engines send requests over time; the offline vLLM engine submits all at once, so it accepts
`load=burst` alone (`require_burst`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Optional

from sustain.errors import SustainError


@dataclass
class SloConfig:
    """Service-level objectives for goodput, in milliseconds; None leaves that objective out."""

    ttft_ms: Optional[float] = None  # arrival to first token
    itl_ms: Optional[float] = None  # the request's longest gap between two output tokens
    decode_ms: Optional[float] = None  # first to last output token


@dataclass
class LoadConfig:
    _target_: str = "sustain.load.burst.Burst"
    name: str = "burst"
    slo: SloConfig = field(default_factory=SloConfig)


class LoadProfile(ABC):
    """`arrivals(n)`: seconds after the start at which each of n requests is sent, non-decreasing."""

    max_in_flight: int | None = None

    def __init__(self, cfg: Any) -> None:
        self.cfg = cfg

    @abstractmethod
    def arrivals(self, n: int) -> list[float]:
        """Send times, in order of the requests."""


def require_burst(load: Any, engine: str) -> None:
    """One sentence when an engine that submits every request at once is given another load profile."""
    if load is not None and load.name != "burst":
        raise SustainError(
            f"{engine} submits every request at once and cannot follow load={load.name}: use a server engine "
            f"(engine=vllm_server or engine=llamacpp) for request rates and concurrency limits, or load=burst.")
