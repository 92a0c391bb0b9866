"""A pluggable part (task, engine, load profile, meter, judge endpoint, OM reference) from its config:
the class its `_target_` names, built with that typed config."""

from __future__ import annotations

from typing import Any

from sustain.errors import SustainError


def build(cfg: Any, group: str) -> Any:
    """`cfg._target_`'s class built with `cfg`; a target that names no class is one sentence."""
    from hydra.utils import get_class

    try:
        cls = get_class(cfg._target_)
    except Exception:
        raise SustainError(
            f"{group}._target_={cfg._target_} names no class sustain can import: fix the `_target_` of the "
            f"{group} config (`python -m sustain --cfg job` shows it)."
        ) from None
    return cls(cfg)
