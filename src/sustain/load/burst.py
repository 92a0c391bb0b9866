"""`load=burst`: every request at once, the paper's and ML.ENERGY's setting (the default)."""

from __future__ import annotations

from dataclasses import dataclass

from sustain.load.base import LoadConfig, LoadProfile


@dataclass
class BurstConfig(LoadConfig):
    _target_: str = "sustain.load.burst.Burst"
    name: str = "burst"


SCHEMAS = {"burst_schema": BurstConfig}


class Burst(LoadProfile):
    def arrivals(self, n: int) -> list[float]:
        return [0.0] * n
