"""A search space written as Hydra sweep overrides, turned into Optuna distributions.

    batch_size: choice(2,8,32,128)           # categorical
    gpus: range(1,3)                         # categorical over the range's values
    engine.args.gpu_memory_utilization: interval(0.6,0.9)      # float
    engine.args.max_num_batched_tokens: tag(log,int(interval(512,8192)))  # int, log scale

A sweep on the command line (`model=a,b`) joins the space; any other override is fixed for every trial.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from sustain.errors import SustainError


@dataclass
class SearchSpace:
    distributions: dict[str, Any] = field(default_factory=dict)  # override key → optuna distribution
    fixed: list[str] = field(default_factory=list)  # overrides every trial gets

    def overrides(self, params: Mapping[str, Any]) -> list[str]:
        """A trial's command line: the fixed overrides, then its sampled values."""
        return [*self.fixed, *(f"{key}={value}" for key, value in params.items())]


def search_space(params: Mapping[str, str], arguments: Sequence[str]) -> SearchSpace:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    lines = [f"{key}={value}" for key, value in params.items()] + list(arguments)
    space = SearchSpace()
    for override in parser.parse_overrides(lines):
        if override.is_sweep_override():
            space.distributions[override.get_key_element()] = distribution(override)
        else:
            space.fixed.append(override.input_line)
    if not space.distributions:
        raise SustainError("the search space is empty: sweep on the command line (batch_size=2,8,32 or "
                           "'batch_size=choice(2,8,32)') or set hydra.sweeper.params in an experiment file.")
    return space


def distribution(override: Any) -> Any:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    key = override.get_key_element()
    if override.is_interval_sweep():
        sweep = override.value()
        log = "log" in sweep.tags
        if isinstance(sweep.start, int) and isinstance(sweep.end, int):
            return IntDistribution(sweep.start, sweep.end, log=log)
        return FloatDistribution(float(sweep.start), float(sweep.end), log=log)
    if override.is_choice_sweep() or override.is_range_sweep():
        choices = list(override.sweep_string_iterator())
        if not choices:
            raise SustainError(f"{key}: the sweep {override.input_line} has no values: give at least one.")
        return CategoricalDistribution(choices)
    raise SustainError(f"{key}: {override.input_line} is not a sweep this search reads: "
                       f"use choice(...), range(...) or interval(...).")
