"""The steady-state attribution applied to every energy domain of the node, over the headline's window.

The headline (`attribution.attribute`) fixes one span and its output tokens; each domain's energy over
that same span, per token and per request, follows from its own timeline, and the node's figure is their
sum. A domain whose timeline is unusable (a DRAM counter that never advanced) is left out with a note, so
that the node figure never silently counts it as 0 J.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sustain.energy.attribution import Attribution
from sustain.energy.timeline import Timeline
from sustain.errors import SustainError
from sustain import names


@dataclass
class DomainEnergy:
    domain: str
    source: str
    measured: bool
    window_energy_j: float
    per_token_j: float
    per_request_j_mean: float
    model: dict[str, Any] = field(default_factory=dict)  # an estimate's constants (CPU, TDP, where from)


@dataclass
class NodeEnergy:
    domains: list[DomainEnergy]
    span_s: tuple[float, float]
    per_request_j_mean: float
    per_token_j: float
    notes: list[str] = field(default_factory=list)

    @property
    def measured(self) -> bool:
        return all(d.measured for d in self.domains)

    @property
    def label(self) -> str:
        """What the node figure sums, e.g. "gpu measured + cpu estimate"."""
        return " + ".join(f"{d.domain} {'measured' if d.measured else 'estimate'}" for d in self.domains)

    def to_metrics(self) -> dict[str, float]:
        out = {names.ENERGY_NODE_PER_REQUEST: self.per_request_j_mean, "energy_node_per_token_j": self.per_token_j,
               "energy_node_measured": 1.0 if self.measured else 0.0}
        for d in self.domains:
            key = d.domain.replace("+", "_")
            out[names.ENERGY_DOMAIN_PER_REQUEST.format(domain=key)] = d.per_request_j_mean
            out[f"energy_{key}_window_j"] = d.window_energy_j
        return out

    def tags(self) -> dict[str, str]:
        out = {names.ENERGY_NODE_TAG: self.label, "energy.node.notes": " | ".join(self.notes) or "none"}
        for d in self.domains:
            key = d.domain.replace("+", "_")
            out[names.ENERGY_DOMAIN_SOURCE_TAG.format(domain=key)] = d.source
            out.update({f"energy.{key}.estimate.{name}": str(value) for name, value in d.model.items()})
        return out


def attribute_domains(domains: dict[str, Timeline], attribution: Attribution) -> NodeEnergy:
    """Each domain's energy over `attribution.span_s`, priced per token with the headline's tokens."""
    if not attribution.energy_per_token_j > 0:
        raise SustainError("the headline energy per token is not positive, so no domain can be priced per request")
    tokens_per_request = attribution.mean_j / attribution.energy_per_token_j
    t0, t1 = attribution.span_s
    found, notes = [], []
    for name, timeline in domains.items():
        problem = timeline.validate()
        if problem is not None:
            notes.append(f"{name} left out of the node figure: {problem}")
            continue
        energy = timeline.energy_between(t0, t1)
        per_token = energy / attribution.window_tokens
        found.append(DomainEnergy(name, timeline.source, timeline.measured, energy, per_token,
                                  per_token * tokens_per_request, dict(timeline.model)))
    if not found:
        raise SustainError("no energy domain has a usable timeline: " + "; ".join(notes))
    return NodeEnergy(found, (t0, t1), sum(d.per_request_j_mean for d in found),
                      sum(d.per_token_j for d in found), notes)
