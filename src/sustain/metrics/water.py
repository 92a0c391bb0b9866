"""Water per request, the way Jegham et al. (2025) report it for LLM inference:

    litres = IT kWh × WUE_site + facility kWh × WUE_source,   facility kWh = IT kWh × PUE

(their Equation 3, written with E_query = facility energy: E_query / PUE × WUE_site + E_query × WUE_source).
WUE_site is the data centre's on-site water-use effectiveness (cooling, L per IT kWh); WUE_source the
water the grid consumes to generate a kWh (off-site, L per kWh drawn). `WATER_PRESETS` are the provider
figures Jegham et al. use (Azure for OpenAI's models, AWS for Anthropic's): N. Jegham, M. Abdelatti,
L. Elmoubarki, A. Hendawi, "How Hungry is AI? Benchmarking Energy, Water, and Carbon Footprint of LLM
Inference", arXiv:2505.09598 (2025), section 4 (infrastructure multipliers). Their PUEs (Azure 1.12,
AWS 1.14) are not implied: the run's `carbon.pue` applies. A number given instead is the on-site WUE,
and the off-site water counts only where `carbon.water_offsite_l_per_kwh` gives it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sustain.errors import SustainError
from sustain.metrics.carbon import kwh

WATER_SOURCE = "Jegham et al. 2025 (arXiv:2505.09598)"

WATER_PRESETS: dict[str, tuple[float, float]] = {  # (on-site WUE, off-site WUE), L/kWh
    "azure": (0.30, 4.35),
    "aws": (0.18, 5.11),
}


@dataclass(frozen=True)
class WaterIntensity:
    onsite_l_per_kwh: float
    offsite_l_per_kwh: float | None  # None: not known, so not counted (and the label says so)
    source: str

    @property
    def label(self) -> str:
        off = "off-site not counted (unknown)" if self.offsite_l_per_kwh is None else (
            f"off-site {self.offsite_l_per_kwh:g} L/kWh")
        return f"on-site WUE {self.onsite_l_per_kwh:g} L/kWh, {off} ({self.source})"


def _non_negative(value: float, what: str, given: object) -> float:
    if not math.isfinite(value) or value < 0:
        raise SustainError(f"{what} must be a non-negative number of L/kWh, got {given!r}.")
    return value


def water_intensity(preset_or_number: str | float, offsite_l_per_kwh: float | None = None) -> WaterIntensity:
    """A preset name or an on-site WUE number (also as text); `offsite_l_per_kwh` overrides the preset's."""
    offsite = None if offsite_l_per_kwh is None else _non_negative(
        float(offsite_l_per_kwh), "carbon.water_offsite_l_per_kwh", offsite_l_per_kwh)
    key = str(preset_or_number).strip().lower()
    if key in WATER_PRESETS:
        onsite, preset_offsite = WATER_PRESETS[key]
        source = f"{WATER_SOURCE}, {key}" + ("" if offsite is None else "; off-site user-supplied")
        return WaterIntensity(onsite, preset_offsite if offsite is None else offsite, source)
    try:
        onsite = float(key)
    except ValueError:
        raise SustainError(
            f"Unknown water preset {preset_or_number!r}: give the on-site WUE in L/kWh or one of "
            f"{', '.join(WATER_PRESETS)}."
        ) from None
    return WaterIntensity(_non_negative(onsite, "carbon.water", preset_or_number), offsite, "user-supplied value")


def water_l(energy_j: float, intensity: WaterIntensity, pue: float) -> float:
    """Litres for `energy_j` of IT energy: on-site per IT kWh, off-site per facility kWh (× PUE)."""
    if energy_j < 0:
        raise ValueError("energy must not be negative")
    if not pue >= 1.0:
        raise ValueError(f"PUE is facility energy / IT energy, so at least 1; got {pue}")
    it_kwh = kwh(energy_j)
    return it_kwh * intensity.onsite_l_per_kwh + it_kwh * pue * (intensity.offsite_l_per_kwh or 0.0)
