import pytest

from sustain.errors import SustainError
from sustain.metrics.deployment import project
from sustain.metrics.overall import meaningful
from sustain.metrics.water import water_intensity, water_l


def test_water_follows_jegham_on_site_per_it_kwh_off_site_per_facility_kwh():
    azure = water_intensity("azure")
    assert (azure.onsite_l_per_kwh, azure.offsite_l_per_kwh) == (0.30, 4.35) and "2505.09598" in azure.source
    # 3.6e6 J = 1 IT kWh; PUE 1.12 -> 1.12 facility kWh: 0.30 + 1.12 * 4.35 L
    assert water_l(3.6e6, azure, 1.12) == pytest.approx(0.30 + 1.12 * 4.35)
    # Jegham's own form with E_query = facility energy gives the same litres
    e_query = 1.12
    assert water_l(3.6e6, azure, 1.12) == pytest.approx(e_query / 1.12 * 0.30 + e_query * 4.35)


def test_a_number_is_the_on_site_wue_and_off_site_counts_only_where_given():
    own = water_intensity("1.8")
    assert own.offsite_l_per_kwh is None and "off-site not counted" in own.label
    assert water_l(3.6e6, own, 1.5) == pytest.approx(1.8)
    both = water_intensity(1.8, offsite_l_per_kwh=3.0)
    assert water_l(3.6e6, both, 1.5) == pytest.approx(1.8 + 4.5)
    assert water_intensity("aws", offsite_l_per_kwh=1.0).offsite_l_per_kwh == 1.0
    with pytest.raises(SustainError, match="Unknown water preset 'mars'.*azure, aws"):
        water_intensity("mars")
    with pytest.raises(SustainError, match="non-negative"):
        water_intensity("-1")


def test_a_deployments_year_names_its_inputs():
    year = project(10_000, 360.0, "whole node (cpu estimate)", 400.0, "Ember", 1.2, water_intensity("azure"))
    it_kwh = 360.0 * 10_000 * 365 / 3.6e6  # 365 kWh of IT energy
    assert year.kwh == pytest.approx(it_kwh * 1.2)
    assert year.kgco2e == pytest.approx(it_kwh * 1.2 * 0.4)
    assert year.water_l == pytest.approx(it_kwh * 0.30 + it_kwh * 1.2 * 4.35)
    for text in ("10000 requests/day", "360 J/request (whole node (cpu estimate))", "PUE 1.2", "400 gCO2e/kWh",
                 "on-site WUE 0.3 L/kWh"):
        assert text in year.label
    assert set(year.to_metrics()) == {"deployment_kwh_per_year", "deployment_kgco2e_per_year",
                                      "deployment_water_l_per_year"}
    with pytest.raises(SustainError, match="requests_per_day"):
        project(0, 360.0, "x", 400.0, "Ember", 1.2, water_intensity("azure"))


def test_overall_metric_with_a_zero_quality_is_not_meaningful():
    assert meaningful(0.4, 0.978)
    assert not meaningful(0.0, 0.978) and not meaningful(0.5, 0.0)
