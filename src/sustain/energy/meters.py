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
from typing import Any

from sustain.energy.timeline import Timeline
from sustain.errors import SustainError

KINDS = ("auto", "zeus_gpu", "zeus_rapl", "estimate")


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
        )

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
    """RAPL cumulative CPU package energy (plus DRAM where the package exposes it) through Zeus."""

    measured = True

    def __init__(self, interval_s: float = 0.1) -> None:
        super().__init__(interval_s)
        self._cpus = _open_cpus()
        self._dram = [self._cpus.supports_get_dram_energy_consumption(i) for i in range(len(self._cpus))]
        self.devices = []
        for i, dram in enumerate(self._dram):
            self.devices.append(f"CPU package {i}")
            if dram:
                self.devices.append(f"DRAM {i}")
        packages = "+".join(str(i) for i in range(len(self._cpus)))
        with_dram = " with DRAM" if any(self._dram) else ""
        self.source = f"measured: Zeus RAPL energy counters, CPU package {packages}{with_dram}"

    def _read(self) -> tuple[float, list[float]]:
        before = time.monotonic()
        joules: list[float] = []
        for i, dram in enumerate(self._dram):
            reading = self._cpus.get_total_energy_consumption(i)
            joules.append(reading.cpu_mj / 1000.0)
            if dram:
                joules.append((reading.dram_mj or 0.0) / 1000.0)
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
    """A labelled estimate where no counter exists: power = idle_w + per_core_w × busy cores.

    Busy cores come from psutil CPU times between samples: by default of this process and all its
    descendants (the engine process and vLLM's workers), so other work on a shared machine is not
    charged to the run; `scope="system"` counts the whole machine instead. The result is an estimate
    (`measured=False`) and says so in its source.
    """

    measured = False

    def __init__(self, idle_w: float, per_core_w: float, interval_s: float = 0.1,
                 scope: str = "process_tree") -> None:
        super().__init__(interval_s)
        if idle_w < 0 or per_core_w < 0 or idle_w + per_core_w <= 0:
            raise SustainError(
                f"the energy estimate needs idle_w >= 0 and per_core_w >= 0, not both 0 "
                f"(got idle_w={idle_w}, per_core_w={per_core_w}); fix them in the config"
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
        self.idle_w = float(idle_w)
        self.per_core_w = float(per_core_w)
        self.cores = psutil.cpu_count(logical=True) or 1
        self.model = {
            "kind": "linear_cpu_utilisation",
            "idle_w": self.idle_w,
            "per_core_w": self.per_core_w,
            "logical_cores": self.cores,
            "scope": scope,
            "busy": ("psutil CPU time (user+system) of this process and its descendants" if scope == "process_tree"
                     else "psutil system-wide CPU time: user+nice+system+irq+softirq"),
        }
        self.devices = [f"CPU (estimated, {self.cores} logical cores)"]
        where = "busy cores of this run's processes" if scope == "process_tree" else "busy cores system-wide"
        self.source = (
            f"estimate: linear CPU-utilisation model, {self.idle_w:.1f} W idle + "
            f"{self.per_core_w:.1f} W per busy core ({where}, {self.cores} logical cores)"
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
            busy_cores = min(max((busy - self._last[1]) / elapsed, 0.0), float(self.cores))
            self._energy_j += (self.idle_w + self.per_core_w * busy_cores) * elapsed
        self._last = (now, busy)
        return now, [self._energy_j]


def make_meter(
    kind: str, gpus: int, estimate: dict[str, float], interval_s: float = 0.1
) -> tuple[Meter, list[str]]:
    """The meter for `kind` and notes on every fallback taken.

    "auto" tries Zeus GPU counters for GPUs 0..gpus-1 (in CUDA_VISIBLE_DEVICES order), then RAPL, then
    the estimate built from `estimate` ({"idle_w": ..., "per_core_w": ...}). An explicit "zeus_gpu" or
    "zeus_rapl" that this machine cannot serve raises SustainError instead of falling back.
    """
    if kind not in KINDS:
        raise SustainError(f"unknown energy meter {kind!r}; use one of {', '.join(KINDS)}")
    if kind == "zeus_gpu":
        return ZeusGpuMeter(range(gpus), interval_s), []
    if kind == "zeus_rapl":
        return ZeusRaplMeter(interval_s), []
    notes: list[str] = []
    if kind == "auto":
        try:
            return ZeusGpuMeter(range(gpus), interval_s), notes
        except MeterUnavailable as exc:
            notes.append(f"no GPU energy counters: {exc.reason}")
        try:
            return ZeusRaplMeter(interval_s), notes
        except MeterUnavailable as exc:
            notes.append(f"no CPU energy counters: {exc.reason}")
    meter = _estimate_meter(estimate, interval_s)
    if notes:
        notes.append(f"using the {meter.source}")
    return meter, notes


def _estimate_meter(estimate: dict[str, float], interval_s: float) -> EstimateMeter:
    expected = {"idle_w", "per_core_w"}
    if not expected <= set(estimate) <= expected | {"scope"}:
        raise SustainError(
            f"the energy estimate takes the keys idle_w, per_core_w and scope, got {sorted(estimate)}; "
            "fix the estimate section of the config"
        )
    return EstimateMeter(float(estimate["idle_w"]), float(estimate["per_core_w"]), interval_s,
                         str(estimate.get("scope", "process_tree")))
