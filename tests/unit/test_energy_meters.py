import os
import time

import pytest

from sustain.energy.config import EnergyConfig
from sustain.energy.meters import (CompositeMeter, DramEstimateMeter, EstimateMeter, MeterUnavailable,
                                   ZeusGpuMeter)
from sustain.errors import SustainError
from sustain.plugins import build
from tests.fakes import FakeCPUs, NVIDIAFakeGPUs, compose_config, make_meter

ESTIMATE = {"tdp_w": 24.0, "min_load": 0.25}


def _nvml_works() -> bool:
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:
        return False
    pynvml.nvmlShutdown()
    return True


no_counters = pytest.mark.skipif(
    _nvml_works() or os.path.exists("/sys/class/powercap"), reason="this machine has energy counters"
)


def _spin(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def test_estimate_meter_labels_a_nonzero_estimate():
    meter = EstimateMeter(tdp_w=24.0, tdp_source="test TDP", min_load=0.0, interval_s=0.05)
    cpu_start = time.process_time()
    with meter:
        _spin(0.5)
    cpu_s = time.process_time() - cpu_start
    tl = meter.timeline
    assert tl is meter.stop()
    assert tl.validate() is None
    assert not tl.measured and tl.domain == "cpu"
    assert tl.source.startswith("estimate:") and "24 W TDP × CPU load" in tl.source and "test TDP" in tl.source
    assert tl.model["tdp_w"] == 24.0 and tl.model["min_load"] == 0.0 and tl.model["tdp_source"] == "test TDP"
    assert len(tl.t) >= 8 and tl.duration_s == pytest.approx(0.5, abs=0.15)
    cores = tl.model["logical_cores"]
    # the power follows the CPU time this process really got, however crowded the machine
    assert tl.energy_j[-1] == pytest.approx(24.0 * cpu_s / cores, rel=0.3)
    assert tl.energy_j[-1] > 0
    assert all(0.0 <= p <= 24.0 + 1e-9 for p in tl.power_w)


def test_estimate_meter_never_charges_less_than_min_load_of_the_tdp():
    with EstimateMeter(tdp_w=24.0, tdp_source="test", min_load=0.5, interval_s=0.05) as meter:
        time.sleep(0.3)
    assert all(p >= 12.0 - 1e-9 for p in meter.timeline.power_w)


def test_estimate_meter_rejects_constants_that_give_zero():
    with pytest.raises(SustainError, match="tdp_w"):
        EstimateMeter(tdp_w=0.0, tdp_source="none")
    with pytest.raises(SustainError, match="min_load"):
        EstimateMeter(tdp_w=10.0, tdp_source="none", min_load=1.5)


@pytest.mark.parametrize("memory_gb, arm, watts", [
    (2, False, 10.0),  # 1 DIMM, but never under 2 DIMMs' 5 W on x86
    (16, False, 10.0),  # 2 x 5 W
    (32, False, 20.0),  # 4 x 5 W
    (128, False, 38.0),  # 8 DIMMs: 4 x 5 W + 4 x 4.5 W
    (512, False, 38.0),  # 8 x 64 GB
    (1536, False, 5 * 4 + 4.5 * 4 + 4 * 4),  # 12 x 128 GB: DIMMs 9-12 at 80 %
    (4096, False, 5 * 4 + 4.5 * 4 + 4 * 8 + 3.5 * 16),  # capped at 32 DIMMs, 17-32 at 70 %
    (16, True, 3.0),  # ARM: 2 x 1.5 W
    (128, True, 1.5 * 4 + 1.35 * 4),
])
def test_dram_power_is_codecarbons_ram_model(memory_gb, arm, watts):
    from sustain.energy.dram_power import power_w

    assert power_w(memory_gb, arm) == pytest.approx(watts)


def test_dram_estimate_meter_integrates_its_constant_power_and_says_how():
    from sustain.energy.dram_power import rate

    with DramEstimateMeter(rate(memory_gb=32), interval_s=0.05) as meter:
        time.sleep(0.3)
    tl = meter.timeline
    assert tl.validate() is None and not tl.measured and tl.domain == "dram"
    assert tl.energy_j[-1] == pytest.approx(20.0 * tl.duration_s, rel=1e-6)
    assert "codecarbon RAM model: 32.0 GiB (energy.estimate.memory_gb) ≈ 4 DIMMs × 5 W" in tl.source
    assert tl.model["power_w"] == 20.0 and tl.model["dimms"] == 4
    assert rate(memory_gb=32, set_w=3.0).power_w == 3.0
    with pytest.raises(SustainError, match="energy.estimate.dram_w"):
        DramEstimateMeter(rate(memory_gb=32, set_w=0.0))


def test_estimate_without_tdp_takes_this_cpu_from_codecarbons_table_or_says_why_not():
    from sustain.energy.cpu_power import detect_brand

    meter, _ = make_meter("estimate", gpus=0, estimate={"tdp_w": None}, interval_s=0.1)
    assert meter.model["cpu"] == detect_brand()
    assert "codecarbon" in meter.model["tdp_source"] and meter.model["tdp_source"] in meter.source
    assert meter.tdp_w > 0


@no_counters
def test_auto_falls_back_to_the_estimate_with_notes():
    meter, notes = make_meter("auto", gpus=1, estimate=ESTIMATE, interval_s=0.1)
    assert isinstance(meter, CompositeMeter) and [type(m) for m in meter.meters] == [EstimateMeter, DramEstimateMeter]
    text = " ".join(notes)
    assert "NVML" in text and "RAPL" in text and "CPU: using the estimate" in text
    assert "no DRAM energy counter" in text and "DRAM: using the estimate" in text and "codecarbon RAM model" in text
    assert meter.source.startswith("estimate: whole node = cpu (estimate: ") and " + dram (estimate: " in meter.source


@no_counters
@pytest.mark.parametrize("kind", ["zeus_gpu", "zeus_rapl"])
def test_explicit_zeus_meter_without_counters_raises(kind):
    with pytest.raises(SustainError, match="use energy=auto or energy=estimate"):
        make_meter(kind, gpus=1, estimate={}, interval_s=0.1)


@pytest.mark.parametrize("kind, key", [("zeus_gpu", "estimate.tdp_w=3"), ("estimate", "estimate.dram_w=3"),
                                       ("auto", "estimate.tdp=3")])
def test_a_key_the_chosen_setup_lacks_is_refused_at_composition(kind, key):
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException, match=f"energy.{key.split('=')[0]}"):
        compose_config(f"energy={kind}", f"energy.{key}")


def test_energy_estimate_is_the_estimate_alone_and_an_unknown_target_is_one_sentence():
    meter, notes = make_meter("estimate", gpus=0, estimate=ESTIMATE, interval_s=0.1)
    assert isinstance(meter, EstimateMeter) and notes == [] and meter.tdp_w == 24.0
    with pytest.raises(SustainError, match=r"energy._target_=sustain.energy.meters.Nope names no class"):
        build(EnergyConfig(_target_="sustain.energy.meters.Nope"), "energy")


def _fake_gpus(monkeypatch, gpus: NVIDIAFakeGPUs) -> None:
    import zeus.device

    monkeypatch.setattr(zeus.device, "get_gpus", lambda: gpus)


def test_gpu_meter_sums_the_counters_of_every_gpu(monkeypatch):
    _fake_gpus(monkeypatch, NVIDIAFakeGPUs([100.0, 50.0]))
    with ZeusGpuMeter([0, 1], interval_s=0.05) as meter:
        time.sleep(0.4)
    tl = meter.timeline
    assert tl.validate() is None and tl.measured
    assert tl.source == "measured: Zeus NVML energy counters, GPU 0+1"
    assert tl.devices == ["GPU 0 (device 4, Fake H100)", "GPU 1 (device 5, Fake H100)"]
    assert tl.energy_j[-1] == pytest.approx(150.0 * tl.duration_s, rel=0.02)
    assert tl.device_energy_j["GPU 0 (device 4, Fake H100)"] == pytest.approx(100.0 * tl.duration_s, rel=0.02)
    assert tl.mean_power_between(tl.t[0], tl.t[-1]) == pytest.approx(150.0, rel=0.02)


def test_gpu_meter_refuses_counters_that_read_zero(monkeypatch):
    _fake_gpus(monkeypatch, NVIDIAFakeGPUs([100.0], base_mj=0.0))
    with pytest.raises(MeterUnavailable, match="reads 0"):
        ZeusGpuMeter([0])


def test_gpu_meter_refuses_gpus_that_are_not_visible(monkeypatch):
    _fake_gpus(monkeypatch, NVIDIAFakeGPUs([100.0]))
    with pytest.raises(MeterUnavailable, match="GPU index 1 requested but 1 GPU"):
        ZeusGpuMeter([0, 1])


def test_gpu_counter_that_never_advances_is_caught_after_the_run(monkeypatch):
    _fake_gpus(monkeypatch, NVIDIAFakeGPUs([100.0, 0.0]))
    with ZeusGpuMeter([0, 1], interval_s=0.05) as meter:
        time.sleep(0.2)
    problem = meter.timeline.validate()
    assert problem is not None and "GPU 1" in problem and "did not advance" in problem


def test_sampling_failure_surfaces_at_stop(monkeypatch):
    _fake_gpus(monkeypatch, NVIDIAFakeGPUs([100.0], fail_after_s=0.1))
    meter = ZeusGpuMeter([0], interval_s=0.02)
    meter.start()
    time.sleep(0.3)
    with pytest.raises(SustainError, match="GPU is lost"):
        meter.stop()


def test_rapl_meter_sums_packages_and_dram(monkeypatch):
    import zeus.device
    import zeus.device.cpu.rapl

    from sustain.energy.meters import ZeusRaplMeter

    monkeypatch.setattr(zeus.device.cpu.rapl, "rapl_is_available", lambda: True)
    monkeypatch.setattr(zeus.device, "get_cpus", FakeCPUs)
    with ZeusRaplMeter(interval_s=0.05) as meter:
        time.sleep(0.3)
    tl = meter.timeline
    assert tl.validate() is None and tl.measured
    assert tl.source == "measured: Zeus RAPL energy counters, CPU package 0+1 with DRAM"
    assert tl.devices == ["CPU package 0", "DRAM 0", "CPU package 1"]
    assert tl.energy_j[-1] == pytest.approx(80.0 * tl.duration_s, rel=0.02)
    assert tl.device_energy_j["DRAM 0"] == pytest.approx(10.0 * tl.duration_s, rel=0.02)


def test_process_tree_estimate_does_not_charge_other_work_on_the_machine(tmp_path):
    """An orphaned busy loop (not a descendant of this process) is outside the run's processes."""
    import subprocess
    import sys
    import time

    flag = tmp_path / "stop"
    busy = f"import pathlib\nwhile not pathlib.Path({str(flag)!r}).exists(): pass"
    subprocess.run(["sh", "-c", f"{sys.executable} -c '{busy}' >/dev/null 2>&1 &"], check=True)
    try:
        time.sleep(0.3)
        meter = EstimateMeter(tdp_w=24.0, tdp_source="test", min_load=0.1, interval_s=0.05)
        meter.start()
        time.sleep(0.8)
        timeline = meter.stop()
    finally:
        flag.write_text("")
    assert timeline.model["scope"] == "process_tree" and "this run's processes" in timeline.source
    cores = timeline.model["logical_cores"]
    assert timeline.mean_power_between(timeline.t[0], timeline.t[-1]) < 24.0 * max(0.3 / cores, 0.1) + 1e-9
