"""Energy to emissions: gCO2e = kWh x grid intensity (gCO2e/kWh) x PUE, with kWh = J / 3.6e6.

`GRID_PRESETS` are yearly average lifecycle carbon intensities of electricity generation for 2024 from
Ember's Yearly Electricity Data (the data behind its Global Electricity Review 2025 and the European
Electricity Review), as served by Ember's API and mirrored in the Green Web Foundation's co2.js
(`data/output/average-intensities.json`, August 2025 update). They are generation averages, not
marginal or market-based factors; pass a number instead where a better local figure is known.
Quebec (and other sub-national grids) are not covered by this source, so they have no preset.
"""

from __future__ import annotations

import math

from sustain.errors import SustainError

J_PER_KWH = 3.6e6

GRID_SOURCE = "Ember yearly electricity data, 2024"

GRID_PRESETS: dict[str, float] = {
    "world": 472.94,
    "eu27": 213.02,
    "us": 383.55,
    "canada": 184.99,
    "france": 44.18,
    "germany": 342.06,
    "poland": 614.98,
    "sweden": 35.89,
    "norway": 30.75,
    "uk": 215.79,
    "india": 708.96,
    "china": 557.5,
}


def kwh(energy_j: float) -> float:
    return energy_j / J_PER_KWH


def carbon_g(energy_j: float, grid_g_per_kwh: float, pue: float) -> float:
    """Grams CO2e for `energy_j` of IT energy, scaled by the data centre's PUE (>= 1 by definition)."""
    if energy_j < 0 or grid_g_per_kwh < 0:
        raise ValueError("energy and grid intensity must not be negative")
    if not pue >= 1.0:
        raise ValueError(f"PUE is facility energy / IT energy, so at least 1; got {pue}")
    return kwh(energy_j) * grid_g_per_kwh * pue


def per_thousand(
    energy_j_per_request: float, grid_g_per_kwh: float | None = None, pue: float = 1.0
) -> dict[str, float]:
    """Energy per request at the scale people compare: kWh (and, given a grid, gCO2e) per 1,000 requests.

    kWh per 1,000 requests equals Wh per request, so no separate Wh figure is given.
    """
    result = {"kwh_per_1k_requests": kwh(energy_j_per_request) * 1000.0}
    if grid_g_per_kwh is not None:
        result["gco2e_per_1k_requests"] = carbon_g(energy_j_per_request, grid_g_per_kwh, pue) * 1000.0
    return result


def grid_intensity(region_or_number: str | float) -> tuple[float, str]:
    """A grid intensity in gCO2e/kWh and where it came from: a preset name or a number (also as text)."""
    if isinstance(region_or_number, str):
        key = region_or_number.strip().lower()
        if key in GRID_PRESETS:
            return GRID_PRESETS[key], f"{GRID_SOURCE} ({key})"
        try:
            value = float(key)
        except ValueError:
            raise SustainError(
                f"Unknown grid region {region_or_number!r}: give a number in gCO2e/kWh "
                f"or one of {', '.join(GRID_PRESETS)}."
            ) from None
    else:
        value = float(region_or_number)
    if not math.isfinite(value) or value < 0:
        raise SustainError(
            f"Grid intensity must be a non-negative number of gCO2e/kWh, got {region_or_number!r}."
        )
    return value, "user-supplied value"
