"""A deployment's year: what `requests_per_day` requests cost in kWh, kg CO2e and litres over 365 days,
from the run's energy per request, the grid, the PUE and the water intensity. A linear projection: it
assumes the measured configuration (model, batch, hardware) serves every request as it did in the run."""

from __future__ import annotations

from dataclasses import dataclass

from sustain.errors import SustainError
from sustain import names
from sustain.metrics.carbon import carbon_g, kwh
from sustain.metrics.water import WaterIntensity, water_l

DAYS = 365


@dataclass(frozen=True)
class DeploymentYear:
    requests_per_day: float
    energy_per_request_j: float
    energy_basis: str  # which energy: e.g. "whole node (gpu measured + cpu estimate)"
    kwh: float  # facility kWh (IT × PUE)
    kgco2e: float
    water_l: float
    label: str  # every input, for the summary and the report

    def to_metrics(self) -> dict[str, float]:
        return {names.DEPLOYMENT_KWH_YEAR: self.kwh, names.DEPLOYMENT_KGCO2E_YEAR: self.kgco2e,
                names.DEPLOYMENT_WATER_L_YEAR: self.water_l}


def project(requests_per_day: float, energy_per_request_j: float, energy_basis: str, grid_g_per_kwh: float,
            grid_source: str, pue: float, water: WaterIntensity) -> DeploymentYear:
    if not requests_per_day > 0:
        raise SustainError(f"carbon.requests_per_day must be a positive number, got {requests_per_day!r}.")
    it_j = energy_per_request_j * requests_per_day * DAYS
    label = (f"{requests_per_day:g} requests/day × 365 × {energy_per_request_j:.4g} J/request ({energy_basis}), "
             f"PUE {pue:g}, grid {grid_g_per_kwh:g} gCO2e/kWh ({grid_source}), water {water.label}")
    return DeploymentYear(requests_per_day, energy_per_request_j, energy_basis, kwh(it_j) * pue,
                          carbon_g(it_j, grid_g_per_kwh, pue) / 1000.0, water_l(it_j, water, pue), label)
