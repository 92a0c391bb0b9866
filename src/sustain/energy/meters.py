"""Energy meters that sample cumulative counters in a background thread of the parent process.

vLLM does its GPU work in child processes, so nothing here synchronises a framework: a thread reads the
device counters every `interval_s` (NVML and RAPL counters update about every 100 ms) and `stop()` turns
the samples into a `Timeline` on the `time.monotonic()` clock that the request records use.

Zeus is imported inside the meters so that the package imports on machines without it. Its device
abstraction is used as `zeus.device.get_gpus()` / `get_cpus()`; both honour `CUDA_VISIBLE_DEVICES` / the
RAPL sysfs tree of *this* process, so the meter must see the same `CUDA_VISIBLE_DEVICES` as the engine,
and GPU index i means the i-th visible GPU, as it does for vLLM.
"""

from __future__ import annotations

import abc
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sustain.energy.config import EnergyConfig, EstimateConfig, NodeEstimateConfig
from sustain.energy.timeline import Timeline
from sustain.errors import SustainError


class MeterUnavailable(SustainError):
    """A counter this machine does not have; `reason` says why, for fallback notes."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(f"energy={kind} cannot measure here: {reason}; use energy=auto or energy=estimate",
                         kind="energy_meter")
        self.reason = reason


class Meter(abc.ABC):
    """Samples cumulative per-device energy every `interval_s` seconds between `start()` and `stop()`."""

    source: str
    measured: bool
    devices: list[str]
    domain: str  # what part of the node it covers: gpu, cpu, dram (or cpu+dram for one RAPL meter)

    def __init__(self, interval_s: float = 0.1) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be positive, got {interval_s}")
        self.interval_s = interval_s
        self.model: dict[str, Any] = {}
        self.timeline: Timeline | None = None
        self._samples: list[tuple[float, list[float]]] = []
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: Exception | None = None

    @abc.abstractmethod
    def _read(self) -> tuple[float, list[float]]:
        """(monotonic time of the reading, cumulative J per device from an arbitrary origin)."""

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("a meter measures one run; create a new one")
        self._samples.append(self._read())
        self._thread = threading.Thread(target=self._sample_loop, name=f"sustain-{type(self).__name__}", daemon=True)
        self._thread.start()

    def _sample_loop(self) -> None:
        due = time.monotonic() + self.interval_s
        try:
            while not self._stop_event.wait(max(0.0, due - time.monotonic())):
                self._samples.append(self._read())
                due = max(due + self.interval_s, time.monotonic())
        except Exception as exc:  # surfaced by stop(): a thread cannot raise into the run
            self._error = exc

    def stop(self) -> Timeline:
        """Stop sampling, take a last sample and return the timeline (the same one on repeated calls)."""
        if self.timeline is not None:
            return self.timeline
        if self._thread is None:
            raise RuntimeError("stop() called on a meter that was never started")
        self._stop_event.set()
        self._thread.join()
        if self._error is not None:
            raise SustainError(
                f"the energy meter ({self.source}) failed while sampling: {self._error}; "
                "rerun, or use energy=estimate"
            ) from self._error
        self._samples.append(self._read())
        self.timeline = self._build_timeline()
        return self.timeline

    def _build_timeline(self) -> Timeline:
        t = [when for when, _ in self._samples]
        origin = self._samples[0][1]
        per_device = [[value - zero for value, zero in zip(values, origin)] for _, values in self._samples]
        energy = [sum(values) for values in per_device]
        return Timeline(
            t=t,
            energy_j=energy,
            power_w=_interval_power(t, energy),
            devices=list(self.devices),
            source=self.source,
            measured=self.measured,
            model=dict(self.model),
            device_energy_j=dict(zip(self.devices, per_device[-1])),
            domain=self.domain,
        )

    @property
    def domains(self) -> dict[str, Timeline]:
        """Each domain's timeline after stop(); a single meter is one domain."""
        if self.timeline is None:
            raise RuntimeError("domains are known after stop()")
        return {self.domain: self.timeline}

    def __enter__(self) -> Meter:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _interval_power(t: list[float], energy: list[float]) -> list[float]:
    """Mean power of each sampling interval; with ~100 ms counter updates single values are jumpy, sums are not."""
    power = [(e1 - e0) / (t1 - t0) for t0, t1, e0, e1 in zip(t, t[1:], energy, energy[1:])]
    return power[:1] + power if power else [0.0] * len(t)


class ZeusGpuMeter(Meter):
    """NVML (or AMDSMI) cumulative GPU energy through Zeus, summed over every GPU of the run."""

    measured = True
    domain = "gpu"

    def __init__(self, gpu_indices: Sequence[int], interval_s: float = 0.1) -> None:
        super().__init__(interval_s)
        if not gpu_indices:
            raise MeterUnavailable("zeus_gpu", "the run uses no GPU (gpus=0)")
        self.gpu_indices = list(gpu_indices)
        self._gpus = _open_gpus()
        visible = len(self._gpus)
        if max(self.gpu_indices) >= visible:
            cvd = os.environ.get("CUDA_VISIBLE_DEVICES", "unset")
            raise MeterUnavailable(
                "zeus_gpu",
                f"GPU index {max(self.gpu_indices)} requested but {visible} GPU(s) visible "
                f"(CUDA_VISIBLE_DEVICES={cvd})",
            )
        backend = "NVML" if type(self._gpus).__name__.startswith("NVIDIA") else "AMDSMI"
        self.devices = [self._open_counter(i) for i in self.gpu_indices]
        self.source = f"measured: Zeus {backend} energy counters, GPU {'+'.join(map(str, self.gpu_indices))}"

    def _open_counter(self, index: int) -> str:
        """The device's label, once its energy counter has given a plausible first reading."""
        from zeus.device.exception import ZeusBaseGPUError

        label = f"GPU {index}"
        try:
            physical = getattr(self._gpus.gpus[index], "gpu_index", index)
            label = f"GPU {index} (device {physical}, {self._gpus.get_name(index)})"
            supported = self._gpus.supports_get_total_energy_consumption(index)
            reading = self._gpus.get_total_energy_consumption(index) if supported else None
        except ZeusBaseGPUError as exc:
            raise MeterUnavailable("zeus_gpu", f"the energy counter of {label} cannot be read ({exc})") from exc
        if reading is None:
            raise MeterUnavailable("zeus_gpu", f"{label} has no energy counter (NVML needs Volta or newer)")
        if reading <= 0:
            raise MeterUnavailable(
                "zeus_gpu", f"the energy counter of {label} reads 0 (a MIG slice or a GPU without energy support)"
            )
        return label

    def _read(self) -> tuple[float, list[float]]:
        before = time.monotonic()
        joules = [self._gpus.get_total_energy_consumption(i) / 1000.0 for i in self.gpu_indices]
        return (before + time.monotonic()) / 2.0, joules


def _open_gpus() -> Any:
    try:
        from zeus.device import get_gpus
        from zeus.device.exception import ZeusBaseGPUError
    except ImportError as exc:
        raise MeterUnavailable("zeus_gpu", f"Zeus is not installed ({exc})") from exc
    try:
        return get_gpus()
    except (ZeusBaseGPUError, ImportError) as exc:
        raise MeterUnavailable("zeus_gpu", _nvml_failure() or f"Zeus could not open the GPUs ({exc})") from exc


def _nvml_failure() -> str | None:
    """Why NVML itself does not start, which Zeus's own error message leaves out."""
    try:
        import pynvml
    except ImportError:
        return "NVML unavailable: the nvidia-ml-py package (pynvml) is not installed"
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        return f"NVML unavailable: pynvml could not initialise ({exc})"
    pynvml.nvmlShutdown()
    return None


class ZeusRaplMeter(Meter):
    """RAPL cumulative energy through Zeus: CPU packages and/or DRAM (`parts`), where each is exposed."""

    measured = True

    def __init__(self, interval_s: float = 0.1, parts: Sequence[str] = ("cpu", "dram")) -> None:
        super().__init__(interval_s)
        if not parts or set(parts) - {"cpu", "dram"}:
            raise ValueError(f"RAPL parts are cpu and/or dram, got {parts}")
        self._cpus = _open_cpus()
        packages = range(len(self._cpus))
        dram = [i for i in packages if "dram" in parts and self._cpus.supports_get_dram_energy_consumption(i)]
        if parts == ("dram",) and not dram:
            raise MeterUnavailable("zeus_rapl", "RAPL exposes no DRAM zone on this machine")
        self._zones = [(i, part) for i in packages for part in ("cpu", "dram")
                       if (part == "cpu" and "cpu" in parts) or (part == "dram" and i in dram)]
        self.domain = "+".join(p for p in ("cpu", "dram") if p in parts and (p == "cpu" or dram))
        self.devices = [f"CPU package {i}" if part == "cpu" else f"DRAM {i}" for i, part in self._zones]
        names = "+".join(str(i) for i in packages)
        what = {"cpu": f"CPU package {names}", "cpu+dram": f"CPU package {names} with DRAM",
                "dram": f"DRAM of CPU package {'+'.join(str(i) for i in dram)}"}[self.domain]
        self.source = f"measured: Zeus RAPL energy counters, {what}"

    def _read(self) -> tuple[float, list[float]]:
        before = time.monotonic()
        readings = {i: self._cpus.get_total_energy_consumption(i) for i in {i for i, _ in self._zones}}
        joules = [(readings[i].cpu_mj if part == "cpu" else readings[i].dram_mj or 0.0) / 1000.0
                  for i, part in self._zones]
        return (before + time.monotonic()) / 2.0, joules


def _open_cpus() -> Any:
    try:
        from zeus.device import get_cpus
        from zeus.device.cpu.rapl import CONTAINER_RAPL_DIR, RAPL_DIR, rapl_is_available
        from zeus.device.exception import ZeusBaseCPUError
    except ImportError as exc:
        raise MeterUnavailable("zeus_rapl", f"Zeus is not installed ({exc})") from exc
    if not rapl_is_available():
        raise MeterUnavailable("zeus_rapl", f"RAPL unavailable: neither {RAPL_DIR} nor {CONTAINER_RAPL_DIR} exists")
    try:
        cpus = get_cpus()
        for i in range(len(cpus)):
            cpus.get_total_energy_consumption(i)
    except ZeusBaseCPUError as exc:
        raise MeterUnavailable("zeus_rapl", f"RAPL unavailable: {exc}") from exc
    if len(cpus) == 0:
        raise MeterUnavailable("zeus_rapl", f"RAPL unavailable: no package zone under {RAPL_DIR}")
    return cpus


SCOPES = ("process_tree", "system")


class EstimateMeter(Meter):
    """A labelled estimate of the CPU package where no counter exists: power = TDP × max(load, min_load).

    codecarbon's CPU-load model (`CPU._calculate_power_from_cpu_load`, codecarbon 3.3): the rated power
    (TDP, see `sustain.energy.cpu_power`) scaled by the CPU load, never below `min_load` of it (10 % in
    codecarbon). The load is busy CPU time per second over the machine's logical CPUs, from psutil: by
    default of this process and all its descendants (the engine process and vLLM's workers), so other
    work on a shared machine is not charged to the run; `scope="system"` counts the whole machine. The
    result is an estimate (`measured=False`) and says so, with its TDP and where it came from.
    """

    measured = False
    domain = "cpu"

    def __init__(self, tdp_w: float, tdp_source: str, min_load: float = 0.1, interval_s: float = 0.1,
                 scope: str = "process_tree", cpu: str = "CPU") -> None:
        super().__init__(interval_s)
        if not tdp_w > 0 or not 0 <= min_load <= 1:
            raise SustainError(
                f"the energy estimate needs tdp_w > 0 and 0 <= min_load <= 1 (got tdp_w={tdp_w}, "
                f"min_load={min_load}); fix energy.estimate in the config"
            )
        if scope not in SCOPES:
            raise SustainError(f"energy.estimate.scope={scope} is unknown: use {' or '.join(SCOPES)}")
        import psutil

        self._psutil = psutil
        self.scope = scope
        self._root = psutil.Process()
        self._procs: list[Any] = [self._root]
        self._reads = 0
        self._per_pid: dict[int, float] = {}
        self._tree_busy_s = 0.0
        self.tdp_w = float(tdp_w)
        self.min_load = float(min_load)
        self.cores = psutil.cpu_count(logical=True) or 1
        self.model = {
            "kind": "tdp_x_cpu_load (codecarbon)",
            "cpu": cpu,
            "tdp_w": self.tdp_w,
            "tdp_source": tdp_source,
            "min_load": self.min_load,
            "logical_cores": self.cores,
            "scope": scope,
            "busy": ("psutil CPU time (user+system) of this process and its descendants" if scope == "process_tree"
                     else "psutil system-wide CPU time: user+nice+system+irq+softirq"),
        }
        self.devices = [f"{cpu} (estimated, {self.cores} logical cores)"]
        where = "this run's processes" if scope == "process_tree" else "the whole machine"
        self.source = (
            f"estimate: {self.tdp_w:g} W TDP × CPU load of {where} (at least {self.min_load:.0%}), "
            f"{self.cores} logical cores; {tdp_source}"
        )
        self._last: tuple[float, float] | None = None
        self._energy_j = 0.0

    def _busy_s(self) -> float:
        """Cumulative busy CPU seconds in the meter's scope."""
        if self.scope == "system":
            times = self._psutil.cpu_times()
            return sum(getattr(times, name, 0.0) for name in ("user", "nice", "system", "irq", "softirq"))
        if self._reads % 10 == 0:  # finding descendants scans /proc: once a second, not every sample
            self._procs = [self._root, *self._root.children(recursive=True)]
        self._reads += 1
        now: dict[int, float] = {}
        for proc in self._procs:
            try:
                t = proc.cpu_times()
            except (self._psutil.NoSuchProcess, self._psutil.AccessDenied):
                continue
            now[proc.pid] = t.user + t.system
        self._tree_busy_s += sum(max(v - self._per_pid.get(pid, 0.0), 0.0) for pid, v in now.items())
        self._per_pid = now
        return self._tree_busy_s

    def _read(self) -> tuple[float, list[float]]:
        busy = self._busy_s()
        now = time.monotonic()
        if self._last is not None and now > self._last[0]:
            elapsed = now - self._last[0]
            load = min(max((busy - self._last[1]) / elapsed, 0.0) / self.cores, 1.0)
            self._energy_j += self.tdp_w * max(load, self.min_load) * elapsed
        self._last = (now, busy)
        return now, [self._energy_j]


class DramEstimateMeter(Meter):
    """A labelled estimate of DRAM where RAPL has no DRAM counter: a constant power from the memory size
    (codecarbon's RAM model, see `sustain.energy.dram_power`), `measured=False`, with its constants."""

    measured = False
    domain = "dram"

    def __init__(self, rating: Any, interval_s: float = 0.1) -> None:
        super().__init__(interval_s)
        if not rating.power_w > 0:
            raise SustainError(f"the DRAM estimate needs a power > 0 W (got {rating.power_w}); "
                               "fix energy.estimate.dram_w in the config")
        self.power_w = float(rating.power_w)
        self.model = {"kind": "dimm_count_x_slot_power (codecarbon)", "power_w": self.power_w,
                      "memory_gb": round(rating.memory_gb, 2), "dimms": rating.dimms, "source": rating.source}
        self.devices = [f"DRAM (estimated, {rating.memory_gb:.1f} GiB)"]
        self.source = f"estimate: {self.power_w:g} W DRAM, constant; {rating.source}"
        self._t0: float | None = None

    def _read(self) -> tuple[float, list[float]]:
        now = time.monotonic()
        self._t0 = now if self._t0 is None else self._t0
        return now, [self.power_w * (now - self._t0)]


class CompositeMeter(Meter):
    """Every energy domain of the node (GPU, CPU package, DRAM) sampled together, on one clock.

    One thread reads every domain's counters at each sample, so the domains share their sample times;
    stop() splits the samples back into one timeline per domain (`domains`) and their sum (`node`). The
    timeline it returns, the run's headline, is the GPU's where GPU counters exist, as ML.ENERGY and the
    paper report it; without them it is the whole node.
    """

    domain = "node"

    def __init__(self, meters: Sequence[Meter], interval_s: float = 0.1) -> None:
        super().__init__(interval_s)
        if not meters:
            raise ValueError("a composite meter needs at least one domain")
        self.meters = list(meters)
        self.devices = [device for meter in self.meters for device in meter.devices]
        self.measured = all(meter.measured for meter in self.meters)
        how = "measured" if self.measured else (
            "partly estimated" if any(m.measured for m in self.meters) else "estimate")
        self.source = f"{how}: whole node = " + " + ".join(f"{m.domain} ({m.source})" for m in self.meters)
        self.model = {m.domain: dict(m.model) for m in self.meters if m.model}
        self.node: Timeline | None = None

    def _read(self) -> tuple[float, list[float]]:
        """One reading of every domain, timed at the mean of their own reading times (an estimate's energy
        is integrated up to its own time, so a lone estimate keeps its clock exactly)."""
        readings = [meter._read() for meter in self.meters]
        return sum(t for t, _ in readings) / len(readings), [v for _, values in readings for v in values]

    def _build_timeline(self) -> Timeline:
        self.node = super()._build_timeline()
        first = 0
        for meter in self.meters:
            last = first + len(meter.devices)
            meter._samples = [(t, values[first:last]) for t, values in self._samples]
            meter.timeline = meter._build_timeline()
            first = last
        gpu = self.domains.get("gpu")
        return gpu if gpu is not None and gpu.measured else self.node

    @property
    def domains(self) -> dict[str, Timeline]:
        if self.node is None:
            raise RuntimeError("domains are known after stop()")
        return {meter.domain: meter.domains[meter.domain] for meter in self.meters}


class MeterSetup(abc.ABC):
    """Which meters a run reads, chosen by `energy._target_` (conf/energy/*.yaml) and built from the
    `energy` config; `build` also returns a note on every fallback it took."""

    def __init__(self, cfg: Any) -> None:
        self.cfg = cfg

    @abc.abstractmethod
    def build(self, gpus: int) -> tuple[Meter, list[str]]:
        """The meter for a run on GPUs 0..gpus-1 (in CUDA_VISIBLE_DEVICES order)."""


@dataclass
class EveryDomainConfig(EnergyConfig):
    _target_: str = "sustain.energy.meters.EveryDomain"
    name: str = "auto"
    estimate: NodeEstimateConfig = field(default_factory=NodeEstimateConfig)  # where a counter is missing


@dataclass
class GpuCountersConfig(EnergyConfig):
    _target_: str = "sustain.energy.meters.GpuCounters"
    name: str = "zeus_gpu"


@dataclass
class CpuCountersConfig(EnergyConfig):
    _target_: str = "sustain.energy.meters.CpuCounters"
    name: str = "zeus_rapl"


@dataclass
class CpuEstimateConfig(EnergyConfig):
    _target_: str = "sustain.energy.meters.CpuEstimate"
    name: str = "estimate"
    estimate: EstimateConfig = field(default_factory=EstimateConfig)


SCHEMAS = {"auto_schema": EveryDomainConfig, "zeus_gpu_schema": GpuCountersConfig,
           "zeus_rapl_schema": CpuCountersConfig, "estimate_schema": CpuEstimateConfig}


class EveryDomain(MeterSetup):
    """`energy=auto`: every domain this machine has, as one `CompositeMeter`: Zeus's GPU counters, RAPL's
    CPU package and DRAM counters, and where RAPL lacks one the labelled estimate of that domain
    (`EstimateMeter` for the CPU, `DramEstimateMeter` for DRAM)."""

    def build(self, gpus: int) -> tuple[Meter, list[str]]:
        interval_s = self.cfg.interval_s
        meters: list[Meter] = []
        notes: list[str] = []
        try:
            meters.append(ZeusGpuMeter(range(gpus), interval_s))
        except MeterUnavailable as exc:
            notes.append(f"no GPU energy counters: {exc.reason}")
        try:
            meters.append(ZeusRaplMeter(interval_s, parts=("cpu",)))
        except MeterUnavailable as exc:
            cpu = estimate_meter(self.cfg.estimate, interval_s)
            meters.append(cpu)
            notes += [f"no CPU energy counters: {exc.reason}", f"CPU: using the {cpu.source}"]
            dram_missing = exc.reason
        else:
            try:
                meters.append(ZeusRaplMeter(interval_s, parts=("dram",)))
                dram_missing = None
            except MeterUnavailable as exc:
                dram_missing = exc.reason
        if dram_missing is not None:
            dram = dram_estimate_meter(self.cfg.estimate, interval_s)
            meters.append(dram)
            notes += [f"no DRAM energy counter: {dram_missing}", f"DRAM: using the {dram.source}"]
        return CompositeMeter(meters, interval_s), notes


class GpuCounters(MeterSetup):
    """`energy=zeus_gpu`: NVML's counters or a SustainError, never a fallback."""

    def build(self, gpus: int) -> tuple[Meter, list[str]]:
        return ZeusGpuMeter(range(gpus), self.cfg.interval_s), []


class CpuCounters(MeterSetup):
    """`energy=zeus_rapl`: RAPL's counters or a SustainError, never a fallback."""

    def build(self, gpus: int) -> tuple[Meter, list[str]]:
        return ZeusRaplMeter(self.cfg.interval_s), []


class CpuEstimate(MeterSetup):
    """`energy=estimate`: the CPU estimate alone, e.g. to compare machines on the same model."""

    def build(self, gpus: int) -> tuple[Meter, list[str]]:
        return estimate_meter(self.cfg.estimate, self.cfg.interval_s), []


def estimate_meter(estimate: Any, interval_s: float = 0.1) -> EstimateMeter:
    """The CPU estimate from the `energy.estimate` section (an `EstimateConfig`): tdp_w None means this
    CPU's rated power from codecarbon's table (the match, or the fallback, is stated in the source)."""
    import psutil

    from sustain.energy import cpu_power

    rating = cpu_power.rate(psutil.cpu_count(logical=True) or 1)
    tdp = estimate.tdp_w
    if tdp is None:
        tdp, tdp_source = rating.tdp_w, rating.source
    else:
        tdp_source = f"TDP {float(tdp):g} W set in energy.estimate.tdp_w"
    return EstimateMeter(float(tdp), tdp_source, float(estimate.min_load), interval_s, str(estimate.scope),
                         cpu=rating.brand)


def dram_estimate_meter(estimate: Any, interval_s: float = 0.1) -> DramEstimateMeter:
    """The DRAM estimate from the `energy.estimate` section (a `NodeEstimateConfig`): codecarbon's model for `memory_gb` (None: this
    machine's memory), or `dram_w` when set."""
    from sustain.energy import dram_power

    return DramEstimateMeter(dram_power.rate(estimate.memory_gb, estimate.dram_w), interval_s)
