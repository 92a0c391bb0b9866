"""`load=concurrency`: every request queued at once, at most `max_in_flight` sent and unanswered at a time."""

from __future__ import annotations

from dataclasses import dataclass

from sustain.errors import SustainError
from sustain.load.base import LoadConfig, LoadProfile


@dataclass
class ConcurrencyConfig(LoadConfig):
    _target_: str = "sustain.load.concurrency.Concurrency"
    name: str = "concurrency"
    max_in_flight: int = 8


SCHEMAS = {"concurrency_schema": ConcurrencyConfig}


class Concurrency(LoadProfile):
    def __init__(self, cfg: ConcurrencyConfig) -> None:
        super().__init__(cfg)
        if cfg.max_in_flight < 1:
            raise SustainError(f"load.max_in_flight must be at least 1, got {cfg.max_in_flight}.")
        self.max_in_flight = cfg.max_in_flight

    def arrivals(self, n: int) -> list[float]:
        return [0.0] * n
