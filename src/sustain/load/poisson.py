"""`load=poisson` and `load=gamma`: requests at a mean rate, with gamma-distributed gaps, as `vllm bench serve`.

Gaps between requests are drawn from a gamma distribution with shape `burstiness` and mean 1/`rate`:
burstiness 1 is a Poisson process, below 1 burstier, above 1 more regular. The first request is sent at
once; the draws are seeded, so two runs with the same seed send at the same offsets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sustain.errors import SustainError
from sustain.load.base import LoadConfig, LoadProfile


@dataclass
class PoissonConfig(LoadConfig):
    _target_: str = "sustain.load.poisson.Gamma"
    name: str = "poisson"
    rate: float = 1.0  # requests per second (mean)
    seed: int = 0


@dataclass
class GammaConfig(PoissonConfig):
    name: str = "gamma"
    burstiness: float = 1.0  # gamma shape: 1 = Poisson, < 1 burstier, > 1 more regular


SCHEMAS = {"poisson_schema": PoissonConfig, "gamma_schema": GammaConfig}


class Gamma(LoadProfile):
    def __init__(self, cfg: PoissonConfig) -> None:
        super().__init__(cfg)
        self.burstiness = float(getattr(cfg, "burstiness", 1.0))
        if not cfg.rate > 0 or not self.burstiness > 0:
            raise SustainError(
                f"load={cfg.name} needs a positive rate and burstiness, got rate={cfg.rate} and "
                f"burstiness={self.burstiness}: e.g. load.rate=2 (requests per second); load=burst sends all at once.")

    def arrivals(self, n: int) -> list[float]:
        if n == 0 or math.isinf(self.cfg.rate):
            return [0.0] * n
        rng = np.random.default_rng(self.cfg.seed)
        gaps = rng.gamma(self.burstiness, 1.0 / (self.cfg.rate * self.burstiness), size=n - 1)
        return [0.0, *np.cumsum(gaps).tolist()]
