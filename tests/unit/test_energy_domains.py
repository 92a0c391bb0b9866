"""energy=auto on a node with stand-ins for two GPUs (Zeus NVML) and two RAPL packages, one with DRAM:
every domain is sampled on one clock, attributed over the headline's window, and summed."""

import time

import pytest

from sustain.energy.attribution import attribute
from sustain.energy.domains import attribute_domains
from sustain.energy.meters import CompositeMeter, ZeusGpuMeter, ZeusRaplMeter
from sustain.energy.timeline import Timeline
from sustain.engines.records import RequestRecord
from tests.fakes import FakeCPUs, NVIDIAFakeGPUs, make_meter

SCALE = 0.1  # the attribution test's 11 s run, ten times faster
SLOTS = {
    "r0": (0.0, 0.5, 2.0, 16), "r2": (2.0, 2.5, 4.0, 16), "r4": (4.0, 4.5, 6.0, 16),
    "r6": (6.0, 6.5, 8.0, 16), "r8": (8.0, 8.5, 10.0, 16),
    "r1": (0.0, 1.0, 3.0, 21), "r3": (3.0, 3.5, 5.0, 31), "r5": (5.0, 5.5, 7.0, 31),
    "r7": (7.0, 7.5, 9.0, 31), "r9": (9.0, 9.5, 11.0, 31),
}  # fmt: skip
WATTS = {"gpu": 150.0, "cpu": 70.0, "dram": 10.0}  # GPUs 100 + 50; packages 40 + 30; DRAM 10


def _records(origin: float) -> list[RequestRecord]:
    return [RequestRecord(id=rid, prompt_tokens=100, output_tokens=n, output_text="x", finish_reason="stop",
                          arrival_s=origin, scheduled_s=origin + s * SCALE, first_token_s=origin + f * SCALE,
                          last_token_s=origin + last * SCALE)
            for rid, (s, f, last, n) in SLOTS.items()]


@pytest.fixture
def node(monkeypatch):
    import zeus.device
    import zeus.device.cpu.rapl

    gpus = NVIDIAFakeGPUs([100.0, 50.0])
    monkeypatch.setattr(zeus.device, "get_gpus", lambda: gpus)
    monkeypatch.setattr(zeus.device.cpu.rapl, "rapl_is_available", lambda: True)
    monkeypatch.setattr(zeus.device, "get_cpus", FakeCPUs)


def test_auto_meters_every_domain_and_attributes_each_over_the_same_window(node):
    meter, notes = make_meter("auto", gpus=2, estimate={}, interval_s=0.02)
    assert isinstance(meter, CompositeMeter) and notes == []
    assert [type(m) for m in meter.meters] == [ZeusGpuMeter, ZeusRaplMeter, ZeusRaplMeter]
    meter.start()
    origin = time.monotonic()
    time.sleep(1.2)
    headline = meter.stop()

    domains = meter.domains
    assert list(domains) == ["gpu", "cpu", "dram"]
    assert headline is domains["gpu"] and headline.measured  # the paper's headline: GPU where measured
    assert domains["dram"].devices == ["DRAM 0"] and domains["cpu"].devices == ["CPU package 0", "CPU package 1"]
    assert all(tl.t == headline.t for tl in domains.values())  # one clock: the same sample times
    assert meter.node.energy_j[-1] == pytest.approx(sum(tl.energy_j[-1] for tl in domains.values()))
    assert meter.source.startswith("measured: whole node = gpu (measured: Zeus NVML")

    attribution = attribute(_records(origin), headline, batch_size=2)
    assert attribution.mode == "steady_state"
    t0, t1 = attribution.span_s
    assert (t0 - origin, t1 - origin) == pytest.approx((0.1, 0.8))
    node_energy = attribute_domains(domains, attribution)
    assert [d.domain for d in node_energy.domains] == ["gpu", "cpu", "dram"]
    tokens_per_request = attribution.mean_j / attribution.energy_per_token_j
    for d in node_energy.domains:
        assert d.window_energy_j == pytest.approx(WATTS[d.domain] * (t1 - t0), rel=0.05)
        assert d.per_token_j == pytest.approx(d.window_energy_j / attribution.window_tokens)
        assert d.per_request_j_mean == pytest.approx(d.per_token_j * tokens_per_request)
    gpu = node_energy.domains[0]
    assert gpu.per_request_j_mean == pytest.approx(attribution.mean_j)
    assert node_energy.per_request_j_mean == pytest.approx(sum(d.per_request_j_mean for d in node_energy.domains))
    assert node_energy.per_request_j_mean == pytest.approx(attribution.mean_j * 230.0 / 150.0, rel=0.05)
    metrics, tags = node_energy.to_metrics(), node_energy.tags()
    assert metrics["energy_node_per_request_j_mean"] == node_energy.per_request_j_mean
    assert metrics["energy_dram_per_request_j_mean"] == node_energy.domains[2].per_request_j_mean
    assert tags["energy.node"] == "gpu measured + cpu measured + dram measured"
    assert tags["energy.dram.source"] == "measured: Zeus RAPL energy counters, DRAM of CPU package 0"


def test_without_rapl_the_cpu_and_dram_are_estimated_beside_the_measured_gpu(monkeypatch):
    import zeus.device

    gpus = NVIDIAFakeGPUs([100.0])
    monkeypatch.setattr(zeus.device, "get_gpus", lambda: gpus)
    meter, notes = make_meter("auto", gpus=1, estimate={"tdp_w": 20.0, "dram_w": 7.0}, interval_s=0.05)
    if any(type(m) is ZeusRaplMeter for m in meter.meters):
        pytest.skip("this machine has readable RAPL counters")
    assert [m.domain for m in meter.meters] == ["gpu", "cpu", "dram"]
    assert meter.source.startswith("partly estimated: whole node = gpu (measured")
    assert any("DRAM: using the estimate: 7 W DRAM" in n and "energy.estimate.dram_w" in n for n in notes)
    with meter:
        time.sleep(0.3)
    assert meter.timeline is meter.domains["gpu"] and not meter.domains["cpu"].measured
    assert not meter.domains["dram"].measured


def test_rapl_without_a_dram_zone_gets_the_dram_estimate_labelled(monkeypatch):
    import zeus.device
    import zeus.device.cpu.rapl

    monkeypatch.setattr(zeus.device.cpu.rapl, "rapl_is_available", lambda: True)
    monkeypatch.setattr(zeus.device, "get_cpus", FakeCPUs)
    monkeypatch.setattr(FakeCPUs, "supports_get_dram_energy_consumption", lambda self, index: False)
    meter, notes = make_meter("auto", gpus=0, estimate={"memory_gb": 64}, interval_s=0.05)
    assert [(m.domain, m.measured) for m in meter.meters] == [("cpu", True), ("dram", False)]
    assert any("RAPL exposes no DRAM zone" in n for n in notes)
    assert meter.source.startswith("partly estimated: whole node = cpu (measured: Zeus RAPL")
    assert " + dram (estimate: 20 W DRAM, constant; codecarbon RAM model: 64.0 GiB" in meter.source
    assert meter.model["dram"]["dimms"] == 4 and meter.model["dram"]["power_w"] == 20.0


def test_a_node_of_cpu_and_dram_estimates_sums_both():
    from sustain.energy.dram_power import rate
    from sustain.energy.meters import DramEstimateMeter, EstimateMeter

    cpu = EstimateMeter(tdp_w=40.0, tdp_source="test", min_load=1.0, interval_s=0.02)  # 40 W whatever the load
    dram = DramEstimateMeter(rate(memory_gb=128), interval_s=0.02)  # 8 DIMMs: 4 x 5 W + 4 x 4.5 W = 38 W
    meter = CompositeMeter([cpu, dram], interval_s=0.02)
    meter.start()
    origin = time.monotonic()
    time.sleep(1.2)
    headline = meter.stop()
    assert headline is meter.node and not headline.measured
    assert meter.source.startswith("estimate: whole node = cpu (estimate: 40 W TDP") and "+ dram (estimate: 38 W" in meter.source
    attribution = attribute(_records(origin), headline, batch_size=2)
    t0, t1 = attribution.span_s
    node = attribute_domains(meter.domains, attribution)
    assert node.label == "cpu estimate + dram estimate" and not node.measured
    cpu_d, dram_d = node.domains
    assert cpu_d.window_energy_j == pytest.approx(40.0 * (t1 - t0), rel=0.05)
    assert dram_d.window_energy_j == pytest.approx(38.0 * (t1 - t0), rel=0.02)
    assert node.per_token_j == pytest.approx(cpu_d.per_token_j + dram_d.per_token_j)
    assert node.per_request_j_mean == pytest.approx(attribution.mean_j)  # the headline is the node: both domains
    assert node.tags()["energy.dram.estimate.kind"] == "dimm_count_x_slot_power (codecarbon)"
    assert node.tags()["energy.dram.estimate.memory_gb"] == "128.0"


def test_a_domain_whose_counter_never_advanced_is_left_out_with_a_note():
    t = [0.0, 1.0, 2.0]
    good = Timeline(t=t, energy_j=[0.0, 50.0, 100.0], power_w=[50.0] * 3, devices=["GPU 0"], source="measured: g",
                    measured=True, device_energy_j={"GPU 0": 100.0}, domain="gpu")
    stuck = Timeline(t=t, energy_j=[0.0, 0.0, 0.0], power_w=[0.0] * 3, devices=["DRAM 0"], source="measured: d",
                     measured=True, device_energy_j={"DRAM 0": 0.0}, domain="dram")
    records = [RequestRecord(id=f"r{i}", prompt_tokens=10, output_tokens=10, output_text="x", finish_reason="stop",
                             arrival_s=0.0, scheduled_s=0.0, first_token_s=0.5, last_token_s=1.5) for i in range(2)]
    attribution = attribute(records, good, batch_size=4)
    node = attribute_domains({"gpu": good, "dram": stuck}, attribution)
    assert [d.domain for d in node.domains] == ["gpu"] and "dram left out" in node.notes[0]
    assert node.per_request_j_mean == pytest.approx(attribution.mean_j)
