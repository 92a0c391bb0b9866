import json

import pytest

from sustain.energy.timeline import Timeline


def _timeline(**overrides) -> Timeline:
    fields = dict(
        t=[0.0, 1.0, 2.0, 3.0],
        energy_j=[0.0, 10.0, 30.0, 60.0],  # 10 W, then 20 W, then 30 W
        power_w=[10.0, 10.0, 20.0, 30.0],
        devices=["GPU 0"],
        source="measured: test counters",
        measured=True,
        device_energy_j={"GPU 0": 60.0},
    )
    fields.update(overrides)
    return Timeline(**fields)


def test_energy_between_interpolates_the_cumulative_curve():
    tl = _timeline()
    # E(0.5) = 5, E(2.5) = 30 + 0.5 * 30 = 45
    assert tl.energy_between(0.5, 2.5) == pytest.approx(40.0)
    assert tl.energy_between(1.0, 2.0) == pytest.approx(20.0)
    assert tl.energy_between(0.0, 3.0) == pytest.approx(60.0)
    assert tl.mean_power_between(0.5, 2.5) == pytest.approx(20.0)


def test_energy_between_carries_edge_power_within_one_interval():
    tl = _timeline()
    assert tl.energy_between(-0.5, 1.0) == pytest.approx(15.0)  # 1.5 s at 10 W
    assert tl.energy_between(2.0, 3.5) == pytest.approx(45.0)  # 1.5 s at 30 W


@pytest.mark.parametrize("window", [(-1.5, 1.0), (0.0, 4.5)])
def test_energy_between_refuses_windows_far_outside_the_samples(window):
    with pytest.raises(ValueError, match="outside the energy timeline"):
        _timeline().energy_between(*window)


def test_energy_between_rejects_reversed_interval():
    with pytest.raises(ValueError):
        _timeline().energy_between(2.0, 1.0)


def test_round_trip_through_json_and_rows():
    tl = _timeline(measured=False, model={"idle_w": 6.0, "per_core_w": 12.0})
    again = Timeline.from_dict(json.loads(json.dumps(tl.to_dict())))
    assert again == tl
    assert tl.to_rows()[2] == {"t_s": 2.0, "energy_j": 30.0, "power_w": 20.0}
    assert len(tl.to_rows()) == 4


def test_validate_accepts_a_sound_timeline():
    assert _timeline().validate() is None


def test_validate_flags_a_counter_that_never_advances():
    flat = _timeline(energy_j=[0.0] * 4, power_w=[0.0] * 4, device_energy_j={"GPU 0": 0.0})
    problem = flat.validate()
    assert problem is not None and "did not advance" in problem and "energy=estimate" in problem


def test_validate_flags_one_stalled_device_among_several():
    tl = _timeline(devices=["GPU 0", "GPU 1"], device_energy_j={"GPU 0": 60.0, "GPU 1": 0.0})
    problem = tl.validate()
    assert problem is not None and "GPU 1" in problem and "GPU 0" not in problem


def test_validate_flags_too_few_samples_and_decreasing_energy():
    assert "1 sample" in _timeline(t=[0.0], energy_j=[0.0], power_w=[0.0]).validate()
    assert "decreases" in _timeline(energy_j=[0.0, 10.0, 5.0, 60.0]).validate()
