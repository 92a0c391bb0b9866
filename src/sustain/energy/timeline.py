"""A cumulative energy curve on the `time.monotonic()` clock that the engine's request records share.

The meter samples cumulative counters, so the energy of any interval (the steady-state window, the whole
run) is a difference of two interpolated points on one curve, never a sum of noisy power readings.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Timeline:
    t: list[float]  # time.monotonic() seconds
    energy_j: list[float]  # cumulative J since the first sample, summed over every device of the run
    power_w: list[float]  # mean power of the interval ending at each sample (the first repeats the second)
    devices: list[str]
    source: str  # what produced the numbers, e.g. "measured: Zeus NVML energy counters, GPU 0+1"
    measured: bool
    model: dict[str, Any] = field(default_factory=dict)  # estimate constants; empty when measured
    device_energy_j: dict[str, float] = field(default_factory=dict)  # per device over the whole timeline
    domain: str = ""  # the part of the node it covers: gpu, cpu, dram, cpu+dram, or node (their sum)

    @property
    def duration_s(self) -> float:
        return self.t[-1] - self.t[0] if self.t else 0.0

    def _interval_s(self) -> float:
        return self.duration_s / (len(self.t) - 1)

    def _energy_at(self, when: float) -> float:
        """Cumulative energy at `when`; within one sample interval outside the samples, the edge interval's
        power is carried on (a counter sampled every 100 ms cannot say more), further out is an error."""
        slack = self._interval_s()
        if when < self.t[0] - slack or when > self.t[-1] + slack:
            raise ValueError(
                f"time {when:.3f} s lies outside the energy timeline [{self.t[0]:.3f}, {self.t[-1]:.3f}] s "
                f"by more than one sample interval ({slack:.3f} s): the meter must run for the whole engine run"
            )
        i = min(max(bisect_right(self.t, when), 1), len(self.t) - 1)
        t0, t1 = self.t[i - 1], self.t[i]
        e0, e1 = self.energy_j[i - 1], self.energy_j[i]
        return e0 + (e1 - e0) * (when - t0) / (t1 - t0)

    def energy_between(self, t0: float, t1: float) -> float:
        """Energy in J over [t0, t1], by linear interpolation of the cumulative curve."""
        if len(self.t) < 2:
            raise ValueError(f"an energy timeline needs at least 2 samples, this one has {len(self.t)}")
        if t1 < t0:
            raise ValueError(f"interval end {t1} precedes its start {t0}")
        return self._energy_at(t1) - self._energy_at(t0)

    def mean_power_between(self, t0: float, t1: float) -> float:
        """Mean power in W over [t0, t1]."""
        if t1 <= t0:
            raise ValueError(f"mean power needs a positive interval, got [{t0}, {t1}]")
        return self.energy_between(t0, t1) / (t1 - t0)

    def validate(self) -> str | None:
        """One sentence naming what makes this timeline unusable, or None when it is sound.

        The pipeline calls this after every run because Zeus reports an empty GPU (MIG slice, NVML
        without energy support) without an error: a counter that never advanced would otherwise
        attribute 0 J to every request.
        """
        n = len(self.t)
        if n < 2:
            return f"the energy timeline has {n} sample(s); the meter must run across the whole engine run"
        if not len(self.energy_j) == len(self.power_w) == n:
            return (
                f"the energy timeline is inconsistent: {n} times, {len(self.energy_j)} energies, "
                f"{len(self.power_w)} powers"
            )
        if any(b <= a for a, b in zip(self.t, self.t[1:])):
            return "the energy timeline's sample times do not strictly increase"
        if any(b < a for a, b in zip(self.energy_j, self.energy_j[1:])):
            return "the cumulative energy decreases somewhere in the timeline (counter reset?); rerun the measurement"
        fix = "use energy=estimate, or give the run whole GPUs whose NVML energy counters work"
        if self.energy_j[-1] <= 0.0:
            return (
                f"the energy counters ({', '.join(self.devices)}) did not advance in {self.duration_s:.1f} s "
                f"of sampling, so the device reports no energy (a MIG slice or no energy counter); {fix}"
            )
        stalled = [name for name, joules in self.device_energy_j.items() if joules <= 0.0]
        if stalled:
            return (
                f"the energy counter of {', '.join(stalled)} did not advance in {self.duration_s:.1f} s "
                f"while the others did, so the run's energy would be undercounted; {fix}"
            )
        return None

    def to_rows(self) -> list[dict[str, float]]:
        """One row per sample for a CSV artifact."""
        return [
            {"t_s": t, "energy_j": e, "power_w": p} for t, e, p in zip(self.t, self.energy_j, self.power_w)
        ]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Timeline:
        return cls(
            t=[float(x) for x in data["t"]],
            energy_j=[float(x) for x in data["energy_j"]],
            power_w=[float(x) for x in data["power_w"]],
            devices=list(data["devices"]),
            source=str(data["source"]),
            measured=bool(data["measured"]),
            model=dict(data.get("model", {})),
            device_energy_j={k: float(v) for k, v in data.get("device_energy_j", {}).items()},
            domain=str(data.get("domain", "")),
        )
