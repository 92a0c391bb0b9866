"""Every metric sustain logs, declared once: name, unit, direction, aggregation and meaning.

The summary, the MLflow tracker, the report's tables, both sweepers' objectives and `--pick` read a
metric's direction, unit and short column name from here; a run that logs a name nothing declares fails
its tests. A plugin module (task, engine, meter, load) declares the metrics it adds in a module-level
`METRICS` list, found like its `SCHEMAS`; sustain's own stages declare theirs in `sustain.catalog`.

A declared name may hold `{placeholders}` for a family (`f1_{label}`, `p{q}_ttft_ms`): any name that
fits the pattern is that metric.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Iterator

MINIMIZE = "minimize"
MAXIMIZE = "maximize"
NEITHER = "none"  # a count or an input: no better or worse
DIRECTIONS = (MINIMIZE, MAXIMIZE, NEITHER)


@dataclass(frozen=True)
class Metric:
    name: str  # as logged to MLflow; `{x}` marks a family's variable part
    unit: str  # "J", "s", "ms", "1" (a share 0..1), "count", "gCO2e", ...
    direction: str  # minimize | maximize | none
    aggregation: str  # how one run's value is formed: "mean over requests", "steady-state window", ...
    description: str
    group: str  # quality, energy, latency, serving, carbon, water, overall, judge, run, session, agent, lm_eval
    column: str | None = None  # the report's short column and `--pick` name (energy_j), where it has one
    source: str = "sustain"  # the module that declares it

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise ValueError(f"metric {self.name}: direction {self.direction!r} is not one of {DIRECTIONS}")

    @property
    def is_family(self) -> bool:
        return "{" in self.name

    def pattern(self) -> re.Pattern[str]:
        parts = re.split(r"\{[a-z_]+\}", self.name)
        return re.compile("^" + "(.+?)".join(re.escape(p) for p in parts) + "$")


class Registry:
    """Declared metrics by name; families matched by pattern after exact names."""

    def __init__(self) -> None:
        self._exact: dict[str, Metric] = {}
        self._families: list[Metric] = []

    def add(self, metric: Metric) -> str:
        known = self._exact.get(metric.name) or next((f for f in self._families if f.name == metric.name), None)
        if known is not None and known != metric:
            raise ValueError(f"metric {metric.name} is declared twice ({known.source} and {metric.source})")
        if known is None:
            (self._families.append(metric) if metric.is_family else self._exact.__setitem__(metric.name, metric))
        return metric.name

    def get(self, name: str) -> Metric | None:
        found = self._exact.get(name)
        if found is not None:
            return found
        return next((f for f in self._families if f.pattern().match(name)), None)

    def __contains__(self, name: str) -> bool:
        return self.get(name) is not None

    def __iter__(self) -> Iterator[Metric]:
        yield from self._exact.values()
        yield from self._families

    def by_column(self, column: str) -> Metric | None:
        return next((m for m in self if m.column and m.column.lower() == column.lower()), None)

    def columns(self) -> dict[str, str]:
        """Short column name → metric name, for every metric that has one."""
        return {m.column: m.name for m in self if m.column}

    def undeclared(self, names: Iterable[str]) -> list[str]:
        return sorted(n for n in names if n not in self)


_REGISTRY = Registry()


def declare(name: str, unit: str, direction: str, aggregation: str, description: str, group: str,
            column: str | None = None, source: str = "sustain") -> str:
    """Declare one metric in the process-wide registry; returns its name, to be used as the constant."""
    return _REGISTRY.add(Metric(name, unit, direction, aggregation, description, group, column, source))


@lru_cache(maxsize=1)
def _plugins_loaded() -> bool:
    """Every plugin package's `METRICS` declared once (importing those modules imports no heavy library)."""
    import importlib
    import pkgutil

    importlib.import_module("sustain.catalog")
    for package in PLUGIN_PACKAGES:
        for info in pkgutil.iter_modules(importlib.import_module(package).__path__):
            module = importlib.import_module(f"{package}.{info.name}")
            for metric in getattr(module, "METRICS", ()):
                _REGISTRY.add(metric)
    return True


PLUGIN_PACKAGES = ("sustain.tasks", "sustain.engines", "sustain.load", "sustain.energy", "sustain.metrics")


def registry() -> Registry:
    """The whole registry: sustain's own metrics and every plugin's."""
    _plugins_loaded()
    return _REGISTRY


def direction(name: str) -> str | None:
    found = registry().get(name)
    return found.direction if found else None
