"""DRAM power where RAPL has no DRAM counter: codecarbon's RAM model, from the memory size alone.

codecarbon 3.3 (`codecarbon/external/ram.py`, `RAM._estimate_dimm_count` and `RAM._calculate_ram_power`;
the package is never imported here) guesses the number of DIMMs from the total memory and gives each a
fixed power, a little less per DIMM in larger machines:

- DIMMs: 1 up to 2 GB, 2 up to 16 GB, 4 up to 64 GB, 8 up to 128 GB; above, the total over the largest of
  4/8/16/32/64/128 GB that is at most 1/8 of it, rounded up and capped at 32.
- Power: 5 W per DIMM on x86 (`RAM_SLOT_POWER_X86`), 1.5 W on ARM; DIMMs 1-4 at full power, 5-8 at 90 %,
  9-16 at 80 %, the rest at 70 %; at least 2 DIMMs' worth on x86 (10 W), 3 W on ARM.

The memory size is the machine's (codecarbon's default `tracking_mode="machine"`; GB there are GiB,
bytes / 1024³): DRAM draws its power whichever process uses it. The power is constant over the run.
"""

from __future__ import annotations

import math
import platform
from dataclasses import dataclass

SLOT_W_X86 = 5.0  # codecarbon's RAM_SLOT_POWER_X86
SLOT_W_ARM = 1.5
MIN_W_ARM = 3.0
MIN_SLOTS_X86 = 2
DIMM_SIZES_GB = (4, 8, 16, 32, 64, 128)
MAX_DIMMS = 32
TIERS = ((4, 1.0), (8, 0.9), (16, 0.8), (MAX_DIMMS, 0.7))  # (up to this DIMM, share of the slot power)


@dataclass(frozen=True)
class DramRating:
    power_w: float
    memory_gb: float
    dimms: int | None  # None when the power was set, not modelled
    source: str  # how power_w was obtained, for tags and labels


def dimm_count(memory_gb: float) -> int:
    """codecarbon's guess at the number of DIMMs holding `memory_gb`."""
    for limit, count in ((2, 1), (16, 2), (64, 4), (128, 8)):
        if memory_gb <= limit:
            return count
    size = next((s for s in sorted(DIMM_SIZES_GB, reverse=True) if s <= memory_gb / 8), None)
    return min(math.ceil(memory_gb / size), MAX_DIMMS) if size else 8


def power_w(memory_gb: float, arm: bool = False) -> float:
    """codecarbon's DRAM power for `memory_gb` of memory, in W."""
    slot = SLOT_W_ARM if arm else SLOT_W_X86
    dimms = dimm_count(memory_gb)
    total = sum(slot * next(share for upto, share in TIERS if i <= upto) for i in range(1, dimms + 1))
    return max(MIN_W_ARM if arm else slot * MIN_SLOTS_X86, total)


def is_arm() -> bool:
    machine = platform.machine().lower()
    return "arm" in machine or "aarch" in machine


def machine_memory_gb() -> float:
    import psutil

    return psutil.virtual_memory().total / 1024**3


def rate(memory_gb: float | None = None, set_w: float | None = None) -> DramRating:
    """This machine's DRAM estimate: `set_w` when given, else codecarbon's model for `memory_gb` (None: this
    machine's memory)."""
    size = machine_memory_gb() if memory_gb is None else float(memory_gb)
    where = "this machine's" if memory_gb is None else "energy.estimate.memory_gb"
    if set_w is not None:
        return DramRating(float(set_w), size, None, f"DRAM power {float(set_w):g} W set in energy.estimate.dram_w")
    arm = is_arm()
    dimms = dimm_count(size)
    watts = power_w(size, arm)
    slot = SLOT_W_ARM if arm else SLOT_W_X86
    return DramRating(watts, size, dimms, f"codecarbon RAM model: {size:.1f} GiB ({where}) ≈ {dimms} DIMMs × "
                                          f"{slot:g} W ({'ARM' if arm else 'x86'}, less per DIMM beyond 4) = {watts:g} W")
