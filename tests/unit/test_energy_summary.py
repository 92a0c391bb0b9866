"""The energy lines of the terminal summary and the timeline figure's energy label."""

import pytest

from sustain.config import CarbonConfig
from sustain.energy.attribution import attribute
from sustain.energy.timeline import Timeline
from sustain.engines.records import RequestRecord
from sustain.metrics.footprint import measure_footprint
from sustain.report.plots import energy_badge, plot_timeline
from sustain.report.summary import format_summary


def _timeline(domain, watts, measured, source):
    t = [i / 10 for i in range(61)]
    model = {} if measured else {"cpu": "AMD EPYC 7763", "tdp_w": 280.0, "tdp_source": "codecarbon CPU table"}
    return Timeline(t=t, energy_j=[watts * x for x in t], power_w=[watts] * len(t), devices=[domain], source=source,
                    measured=measured, device_energy_j={domain: watts * 6.0}, domain=domain, model=model)


def _run():
    records = [RequestRecord(id=f"r{i}", prompt_tokens=400, output_tokens=20, output_text="x", finish_reason="stop",
                             arrival_s=0.0, scheduled_s=0.5 * i, first_token_s=0.5 * i + 0.3,
                             last_token_s=0.5 * i + 1.0) for i in range(10)]
    gpu = _timeline("gpu", 100.0, True, "measured: Zeus NVML energy counters, GPU 0")
    cpu = _timeline("cpu", 20.0, False, "estimate: 20 W TDP × CPU load of this run's processes")
    attribution = attribute(records, gpu, batch_size=2)
    carbon = CarbonConfig(requests_per_day=1000.0)
    return records, {"gpu": gpu, "cpu": cpu}, attribution, measure_footprint(records, {"gpu": gpu, "cpu": cpu},
                                                                              attribution, gpu, carbon)


def _summary(footprint, attribution, metrics_extra=None, overall=None):
    metrics = {**attribution.to_metrics(), **footprint.metrics(), **(metrics_extra or {})}
    return {
        "metrics": metrics, "footprint": footprint.summary(), "overall": overall or {},
        "run": {"model": "m", "quantization": "none", "batch_size": 2, "gpus": 1, "n_requests": 10, "dataset": "d",
                "name": "run"},
        "energy": {"mode": attribution.mode, "source": attribution.source},
        "validity": {"flags": []},
        "judge": {"energy_source": "not measured (remote endpoint)"},
    }


def test_summary_prints_whole_node_phases_water_and_a_deployment_year_beside_the_gpu_headline():
    _, _, attribution, footprint = _run()
    text = format_summary(_summary(footprint, attribution))
    per_token = f"{attribution.energy_per_token_j:.4g} J / output token × each request's tokens (spread across"
    assert f"energy / request      {attribution.mean_j:.2f} J = {per_token}" in text
    node = footprint.node.per_request_j_mean
    assert node == pytest.approx(1.2 * attribution.mean_j) and node > 0
    assert f"whole node / request  {node:.2f} J = gpu {attribution.mean_j:.2f} J (measured) + cpu" in text
    assert "J / prompt token" in text and "prefill-busy time" in text
    assert "mL / request (on-site WUE 0.3 L/kWh, off-site 4.35 L/kWh" in text
    assert "deployment year" in text and "1000 requests/day × 365" in text
    assert footprint.metrics()["water_l_per_request"] > 0 and footprint.metrics()["deployment_kwh_per_year"] > 0
    tags = footprint.tags()
    assert tags["energy.cpu.estimate.cpu"] == "AMD EPYC 7763" and tags["energy.cpu.estimate.tdp_w"] == "280.0"
    assert "energy.gpu.estimate.cpu" not in tags


def test_summary_marks_a_zero_quality_overall_metric_and_a_remote_judges_energy():
    _, _, attribution, footprint = _run()
    extra = {"om": 27.9, "judge_score_mean": 0.5, "judge_score_std": 0.1, "judge_n_scored": 4, "judge_time_s": 3.0}
    overall = {"reference": {"name": "gpt-4o"}, "meaningful": False}
    text = format_summary(_summary(footprint, attribution, extra, overall))
    assert "not logged: quality 0 (here or in gpt-4o)" in text and "27.9" not in text
    assert "not measured (remote endpoint), kept apart" in text


def test_the_timeline_figure_states_its_energy_source(tmp_path):
    _, domains, attribution, _ = _run()
    assert energy_badge(domains) == "gpu: MEASURED (counters)\ncpu: ESTIMATE, not measured"
    plot_timeline(domains["gpu"], attribution, 0.0, 5.5, tmp_path / "t.png", domains)
    assert (tmp_path / "t.png").stat().st_size > 10_000


def test_summary_says_how_close_decoding_came_to_the_bandwidth_bound_or_why_not():
    _, _, attribution, footprint = _run()
    extra = {"roofline_share": 0.14, "roofline_bound_tok_s": 436.7, "memory_bandwidth_gb_s": 37.36}
    summary = _summary(footprint, attribution, extra)
    summary["tags"] = {"roofline.bandwidth_source": "measured numpy copy bandwidth"}
    assert ("decode at 14% of the memory-bandwidth bound (437 tok/s at the running batch, 37.4 GB/s, measured "
            "numpy copy bandwidth; an estimate)") in format_summary(summary)
    summary = _summary(footprint, attribution)
    summary["tags"] = {"roofline.missing": "no model size known for model=x"}
    assert "roofline              not estimated: no model size known for model=x" in format_summary(summary)
