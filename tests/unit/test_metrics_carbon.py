import pytest

from sustain.errors import SustainError
from sustain.metrics.carbon import GRID_PRESETS, carbon_g, grid_intensity, per_thousand


def test_carbon_by_hand():
    assert carbon_g(3.6e6, 400, 1.2) == pytest.approx(480.0)
    assert carbon_g(1800.0, 500, 1.0) == pytest.approx(0.25)
    assert carbon_g(0.0, 400, 1.5) == 0.0


@pytest.mark.parametrize(("energy", "grid", "pue"), [(-1.0, 400, 1.2), (1.0, -5, 1.2), (1.0, 400, 0.9)])
def test_carbon_rejects_impossible_inputs(energy, grid, pue):
    with pytest.raises(ValueError):
        carbon_g(energy, grid, pue)


def test_per_thousand():
    assert per_thousand(3600.0) == pytest.approx({"kwh_per_1k_requests": 1.0})
    assert per_thousand(1499.0)["kwh_per_1k_requests"] == pytest.approx(1499.0 / 3600.0)
    with_grid = per_thousand(3600.0, grid_g_per_kwh=400, pue=1.2)
    assert with_grid["gco2e_per_1k_requests"] == pytest.approx(480.0)


def test_presets_cover_the_regions_and_are_plausible():
    regions = (
        *("world", "eu27", "us", "canada", "france", "germany", "poland"),
        *("sweden", "norway", "uk", "india", "china"),
    )
    assert set(GRID_PRESETS) == set(regions)
    for region in regions:
        assert 10 < GRID_PRESETS[region] < 1000
    assert GRID_PRESETS["norway"] < GRID_PRESETS["france"] < GRID_PRESETS["germany"] < GRID_PRESETS["poland"]


def test_grid_intensity_preset_and_numbers():
    value, source = grid_intensity("France")
    assert value == GRID_PRESETS["france"]
    assert "Ember" in source and "2024" in source
    assert grid_intensity(123) == (123.0, "user-supplied value")
    assert grid_intensity(" 250.5 ") == (250.5, "user-supplied value")


def test_grid_intensity_unknown_region():
    with pytest.raises(SustainError) as excinfo:
        grid_intensity("atlantis")
    message = str(excinfo.value)
    assert "atlantis" in message
    assert all(name in message for name in GRID_PRESETS)


@pytest.mark.parametrize("bad", [-1.0, "-3", float("nan"), "inf"])
def test_grid_intensity_rejects_bad_numbers(bad):
    with pytest.raises(SustainError):
        grid_intensity(bad)
