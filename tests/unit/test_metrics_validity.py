"""The validity flags a run's figures carry: here, a client that used the whole of its core."""

from types import SimpleNamespace

from sustain.engines.records import EngineRun
from sustain.metrics.validity import measurement_flags


def attribution():
    return SimpleNamespace(warnings=[], span_s=(0.0, 30.0), mode="steady_state", reason=None, batch_fill=1.0,
                           avg_running_batch=2.0)


def run(client_cpu_s):
    info = {"platform": "cpu"} if client_cpu_s is None else {"platform": "cpu", "client_cpu_s": client_cpu_s}
    return EngineRun(records=[], start_s=0.0, end_s=10.0, load_s=0.0, info=info)


def test_a_saturated_client_is_flagged_and_a_busy_one_is_not():
    flags = measurement_flags(attribution(), run(9.5), batch_size=2, gpus=1, load_name="burst")
    assert any("95% of a core" in f and "saturated" in f for f in flags)
    assert not any("saturated" in f for f in measurement_flags(attribution(), run(6.0), 2, 1, "burst"))
    assert not any("saturated" in f for f in measurement_flags(attribution(), run(None), 2, 1, "burst"))
