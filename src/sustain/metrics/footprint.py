"""The run's footprint beyond the headline: every energy domain and the whole node, prefill vs decode,
water per request and a deployment's year, as one typed result the pipeline logs and the summary prints.

Water and the deployment's year use the whole-node energy per request (GPU + CPU + DRAM, as measured or
estimated), the facility's draw that cooling and the grid see; the headline (GPU where measured) stays
the paper's comparable figure, and each figure names its energy basis.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from sustain.energy.attribution import Attribution
from sustain.energy.domains import NodeEnergy, attribute_domains
from sustain.energy.phases import PhaseSplit, split_phases
from sustain.energy.timeline import Timeline
from sustain.engines.records import RequestRecord
from sustain import names
from sustain.metrics.carbon import grid_intensity
from sustain.metrics.deployment import DeploymentYear, project
from sustain.metrics.water import WaterIntensity, water_intensity, water_l


@dataclass
class Footprint:
    node: NodeEnergy
    phases: PhaseSplit
    water: WaterIntensity
    water_l_per_request: float
    deployment: DeploymentYear | None

    @property
    def basis(self) -> str:
        return f"whole node ({self.node.label})"

    def metrics(self) -> dict[str, float]:
        out = {**self.node.to_metrics(), **self.phases.to_metrics(), names.WATER_PER_REQUEST: self.water_l_per_request}
        if self.deployment is not None:
            out.update(self.deployment.to_metrics())
        return out

    def tags(self) -> dict[str, str]:
        out = {**self.node.tags(), "energy.phases.method": self.phases.method,
               "water.source": f"{self.water.label}; energy basis: {self.basis}"}
        if self.deployment is not None:
            out["deployment.inputs"] = self.deployment.label
        return out

    def summary(self) -> dict[str, Any]:
        return {
            "domains": [asdict(d) for d in self.node.domains],
            "node_label": self.node.label,
            "node_notes": self.node.notes,
            "phases_method": self.phases.method,
            "water": {"label": self.water.label, "basis": self.basis},
            "deployment": None if self.deployment is None else asdict(self.deployment),
        }


def measure_footprint(records: Iterable[RequestRecord], domains: dict[str, Timeline], attribution: Attribution,
                      headline: Timeline, carbon: Any) -> Footprint:
    """`carbon` is the run's CarbonConfig (grid, pue, water, water_offsite_l_per_kwh, requests_per_day)."""
    node = attribute_domains(domains, attribution)
    phases = split_phases(records, headline, attribution.span_s)
    water = water_intensity(carbon.water, carbon.water_offsite_l_per_kwh)
    per_request = water_l(node.per_request_j_mean, water, carbon.pue)
    year = None
    if carbon.requests_per_day is not None:
        grid, grid_source = grid_intensity(carbon.grid)
        year = project(carbon.requests_per_day, node.per_request_j_mean, f"whole node ({node.label})", grid,
                       grid_source, carbon.pue, water)
    return Footprint(node, phases, water, per_request, year)
