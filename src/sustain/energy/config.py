"""The energy group's schema: the keys every meter setup shares, and the estimate sections of the setups
that estimate.

Each setup (`energy._target_`, a `sustain.energy.meters.MeterSetup`) has its own schema in
`sustain.energy.meters.SCHEMAS`, so a key of one setup is refused in another.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass
class EnergyConfig:
    _target_: str = "sustain.energy.meters.EveryDomain"  # a sustain.energy.meters.MeterSetup
    name: str = "auto"  # auto | zeus_gpu | zeus_rapl | estimate
    interval_s: float = 0.1
    window_rule: str = "mlenergy"  # mlenergy | queue_empty
    min_window_s: float = 1.0


@dataclass
class EstimateConfig:
    """CPU power where no counter can be read: TDP × CPU load (codecarbon's model, `meters.EstimateMeter`)."""

    tdp_w: Optional[float] = None  # None: this CPU's rated power from codecarbon's CPU table
    min_load: float = 0.1  # never below this share of the TDP (codecarbon: 10 %)
    scope: str = "process_tree"  # process_tree: only this run's processes are charged | system: the whole machine


@dataclass
class NodeEstimateConfig(EstimateConfig):
    """The CPU estimate and DRAM's where no counter can be read: codecarbon's RAM model from the memory
    size (`sustain.energy.dram_power`)."""

    memory_gb: Optional[float] = None  # None: this machine's memory (psutil)
    dram_w: Optional[float] = None  # None: codecarbon's model for memory_gb; a number: this constant power
