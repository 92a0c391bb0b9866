"""What a user sees of `python -m sustain` around Hydra: flags Hydra does not know, the group listing of
`--help`, one sentence for a wrong-type override, and a terminal kept for sustain's own lines."""

from __future__ import annotations

import logging
import os
import typing
import warnings
from pathlib import Path
from typing import Any

VERBOSE_FLAG = "--verbose"
VERBOSE_ENV = "SUSTAIN_VERBOSE"
# Library loggers that narrate routine work (store migrations, HTTP requests) at INFO.
NOISY_LOGGERS = ("mlflow", "alembic", "httpx", "httpcore", "urllib3", "openai", "LiteLLM", "ragas")
# Device probing that warns about hardware the machine does not have (no NVML, no AMD SMI, no RAPL);
# what sustain measures with is in its own summary. Back on the terminal with --verbose.
PROBING_LOGGERS = ("zeus",)


def translate_flags(argv: list[str]) -> list[str]:
    """`--verbose` (Hydra owns argv and would refuse it) becomes the override `verbose=true`."""
    if VERBOSE_FLAG not in argv:
        return argv
    rest = [a for a in argv if a != VERBOSE_FLAG]
    return rest if any(a.startswith("verbose=") for a in rest) else [*rest, "verbose=true"]


def quiet_libraries(verbose: bool = False) -> None:
    """Routine INFO lines of MLflow and HTTP clients stay out of the terminal; their warnings still show.
    MLflow reads MLFLOW_LOGGING_LEVEL when imported, here and in every job process started from here."""
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in PROBING_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.ERROR)
    # ./conf is optional (site settings, a user's groups): its absence is the normal case.
    warnings.filterwarnings("ignore", message=r"provider=hydra\.searchpath in main, path=conf is not available")


def relabel_message(overrides: list[str], conf_dir: Path) -> str | None:
    """`judge.name=local` only relabels the chosen judge (its class is its `_target_`): one sentence
    pointing to the group choice `judge=local`, instead of a run that silently keeps the old one. Groups
    without a `_target_` (model, quantization) take a new name as the label it is."""
    import dataclasses

    from sustain.config import GROUPS

    for text in overrides:
        key, _, value = text.partition("=")
        group, _, field = key.lstrip("+").partition(".")
        schema = GROUPS.get(group)
        if field != "name" or schema is None or "_target_" not in {f.name for f in dataclasses.fields(schema)}:
            continue
        for choice in (v.strip() for v in value.split(",")):
            if (conf_dir / group / f"{choice}.yaml").is_file():
                return (f"'{key}={value}' would only relabel the {group} config, not choose it: write "
                        f"{group}={value} instead.")
    return None


def wrong_type_message(overrides: list[str]) -> str | None:
    """One sentence for the first override whose value its schema field cannot take, else None.

    A plugin group's key is checked against the first of its schemas that has it (the chosen kind's
    schema checks it again at composition); unknown keys are `unknown_key_message`'s.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except Exception:
        return None
    for override in parsed:
        key = override.key_or_group
        if override.is_delete() or override.package is not None or key.startswith("hydra") or "." not in key \
                and _is_group(key):
            continue
        owner = _owner(key)
        if owner is None:
            continue
        for value in _values(override):
            if isinstance(value, str) and "${" in value:
                continue
            problem = _refused(owner, key, value)
            if problem:
                return problem
    return None


def _is_group(key: str) -> bool:
    from sustain.config import GROUPS

    return key in GROUPS


def _owner(key: str) -> type | None:
    """The dataclass whose field `key` names, when the whole path lies in the schema; in a plugin group
    the first of its schemas (the base, then each kind's) that has the path."""
    from sustain.config import GROUPS, PLUGIN_PACKAGES, SustainConfig, plugin_schemas

    group, *rest = key.split(".")
    if group in PLUGIN_PACKAGES and rest:
        kinds = [GROUPS[group], *plugin_schemas(PLUGIN_PACKAGES[group]).values()]
        return next((owner for kind in kinds if (owner := _owner_in(kind, rest)) is not None), None)
    return _owner_in(SustainConfig, [group, *rest], GROUPS)


def _owner_in(node: Any, parts: list[str], groups: dict[str, type] | None = None) -> type | None:
    import dataclasses

    for depth, part in enumerate(parts[:-1]):
        hints = typing.get_type_hints(node)
        if part not in hints:
            return None
        node = (groups or {}).get(part, hints[part]) if depth == 0 else hints[part]
        if not dataclasses.is_dataclass(node):
            return None
    return node if parts[-1] in typing.get_type_hints(node) else None


def _values(override: Any) -> list[Any]:
    if not override.is_sweep_override():
        return [override.value()]
    try:
        return list(override.sweep_iterator())
    except Exception:
        return []  # an interval sweep: its bounds are numbers Hydra checks itself


def _refused(owner: type, key: str, value: Any) -> str | None:
    from omegaconf import OmegaConf
    from omegaconf.errors import ValidationError

    name = key.rsplit(".", 1)[-1]
    try:
        OmegaConf.structured(owner)[name] = value
    except ValidationError:
        expected = describe(typing.get_type_hints(owner)[name])
        return f"{key}={value} is not {expected}: give {key} {expected}."
    return None


def describe(annotation: Any) -> str:
    """A type as a user reads it: `Optional[int]` → "an integer or null"."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is typing.Union:
        return " or ".join([describe(a) for a in args] + ["null"])
    origin = typing.get_origin(annotation) or annotation
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string", list: "a list",
            dict: "a mapping"}.get(origin, f"a {getattr(origin, '__name__', origin)}")
