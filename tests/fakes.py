"""Stand-ins that several test files share: an engine that answers in milliseconds, Zeus's GPU and RAPL
counters, and the config composition a run gets from `python -m sustain`."""

from __future__ import annotations

import time
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from sustain.config import register
from sustain.engines.base import Engine
from sustain.engines.records import EngineRun, RequestRecord

CONF = Path(__file__).resolve().parents[1] / "src" / "sustain" / "conf"


def compose_config(*overrides: str):
    """The root config with these overrides, as Hydra composes it for a run (unresolved)."""
    register()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("config", overrides=list(overrides))


class FakeEngine(Engine):
    """Runs `batch_size` requests at a time, `tokens` tokens each, one every `token_s` seconds; every
    other answer is `good` (valid JSON naming GROUNDED), the rest is prose (an Error)."""

    good = '{"result": "GROUNDED", "sources": [], "reason": "ok"}'
    tokens, token_s = 4, 0.01
    logprobs = None  # a function of a request with a continuation: its (logprob, is_greedy), as vLLM's would be

    def prepare(self, job):
        self.model_path = "fake"

    def run(self, job, on_loaded, on_record):
        on_loaded({"load_s": 0.0, "info": {"platform": None, "devices": ["fake"]}})
        if job.sessions:
            return self.run_sessions(job, on_record)
        start = time.monotonic()
        records = []
        for i in range(0, len(job.requests), job.batch_size):
            batch = job.requests[i:i + job.batch_size]
            arrival = time.monotonic()
            times = []
            for _ in range(self.tokens):
                time.sleep(self.token_s)
                times.append(time.monotonic())
            for k, req in enumerate(batch):
                text = self.good if (i + k) % 2 == 0 else "It is grounded."
                records.append(RequestRecord(req.id, 100, self.tokens, text, "stop", start, arrival, times[0],
                                             times[-1], token_times_s=list(times)))
                if self.logprobs is not None and req.scored:
                    records[-1].logprob, records[-1].is_greedy = self.logprobs(req)
                on_record(records[-1])
        return EngineRun(records=records, start_s=start, end_s=time.monotonic(), load_s=0.0, info={})

    def run_sessions(self, job, on_record):
        """Every session's turn k at once, then turn k+1: a turn's prompt grows by 100 tokens, of which all but
        the newest 100 come from the prefix cache; the last turn of even sessions answers `good`."""
        start = time.monotonic()
        records = []
        for k in range(max(len(s.turns) for s in job.sessions)):
            live = [s for s in job.sessions if k < len(s.turns)]
            time.sleep(max(s.turns[k].delay_s for s in live))
            arrival = time.monotonic()
            times = []
            for _ in range(self.tokens):
                time.sleep(self.token_s)
                times.append(time.monotonic())
            for i, session in enumerate(live):
                last = k == len(session.turns) - 1
                text = self.good if last and i % 2 == 0 else "It is grounded."
                records.append(RequestRecord(session.request_id(k), 100 * (k + 1), self.tokens, text, "stop",
                                             arrival, arrival, times[0], times[-1], token_times_s=list(times),
                                             cached_tokens=100 * k, session_id=session.id, turn=k))
                on_record(records[-1])
        return EngineRun(records=records, start_s=start, end_s=time.monotonic(), load_s=0.0, info={})


def fake_logprob(request) -> tuple[float, bool]:
    """A continuation's stand-in log-probability, varying with the prompt so documents pick different choices;
    a rolling request's, with its length."""
    if request.rolling:
        return -0.1 * len(request.prompt) - 1.0, False
    distance = abs(len(request.continuation) - (9 + len(request.prompt) % 5))
    return -0.5 - distance, distance == 0


class FakeScoringEngine(FakeEngine):
    """FakeEngine that returns prompt log-probabilities (`fake_logprob`), as engine=vllm does."""

    prompt_logprobs = True
    rolling_logprobs = True
    logprobs = staticmethod(fake_logprob)


def fake_run_overrides(tmp_path: Path) -> list[str]:
    """A run in seconds: the fake engine, the estimate meter, 12 examples two at a time, stores in tmp_path."""
    return [f"engine._target_={FakeEngine.__module__}.FakeEngine", "energy=estimate", "task.limit=12",
            "batch_size=2", f"tracking.uri=sqlite:///{tmp_path}/mlflow.db",
            f"tracking.artifact_root={tmp_path}/artifacts", f"checkpoint_dir={tmp_path}/checkpoints",
            "energy.min_window_s=0"]


def make_meter(kind, gpus, estimate, interval_s):
    """The meter `energy=<kind>` builds, through its YAML's `_target_` as a run composes it."""
    from sustain.plugins import build

    settings = [f"energy.estimate.{k}={'null' if v is None else v}" for k, v in estimate.items()]
    cfg = compose_config(f"energy={kind}", f"energy.interval_s={interval_s}", *settings)
    return build(OmegaConf.to_object(cfg.energy), "energy").build(gpus)


class _FakeGPU:
    def __init__(self, gpu_index: int) -> None:
        self.gpu_index = gpu_index


class NVIDIAFakeGPUs:
    """Stands in for zeus's NVIDIAGPUs: counters in mJ that grow at `watts` from `base_mj`."""

    def __init__(self, watts: list[float], base_mj: float = 5e9, fail_after_s: float | None = None) -> None:
        self.watts = watts
        self.base_mj = base_mj
        self.t0 = time.monotonic()
        self.fail_after_s = fail_after_s
        self.gpus = [_FakeGPU(i + 4) for i in range(len(watts))]

    def __len__(self) -> int:
        return len(self.watts)

    def get_name(self, index: int) -> str:
        return "Fake H100"

    def supports_get_total_energy_consumption(self, index: int) -> bool:
        return True

    def get_total_energy_consumption(self, index: int) -> int:
        from zeus.device.gpu.common import ZeusGPUUnknownError

        elapsed = time.monotonic() - self.t0
        if self.fail_after_s is not None and elapsed > self.fail_after_s:
            raise ZeusGPUUnknownError("GPU is lost")
        return int(self.base_mj + self.watts[index] * 1000.0 * elapsed) if self.base_mj else 0


class FakeCPUs:
    """Stands in for zeus's RAPLCPUs: package 0 with DRAM, package 1 without, 40/10/30 W."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()

    def __len__(self) -> int:
        return 2

    def supports_get_dram_energy_consumption(self, index: int) -> bool:
        return index == 0

    def get_total_energy_consumption(self, index: int):
        from zeus.device.cpu.common import CpuDramMeasurement

        ms = (time.monotonic() - self.t0) * 1000.0
        if index == 0:
            return CpuDramMeasurement(cpu_mj=1e6 + 40.0 * ms, dram_mj=2e6 + 10.0 * ms)
        return CpuDramMeasurement(cpu_mj=3e6 + 30.0 * ms)
