"""sustain's own `${...}` resolvers, in a module of their own so that both the schema registration
(`sustain.config.register`) and the command line (`sustain.cli`, `sustain.__main__`) can install them
without importing each other."""

from __future__ import annotations

from typing import Any

SCHEMA_SUFFIX = "_schema"


def register_resolvers() -> None:
    """sustain's own `${...}` resolvers, in every process that composes or resolves its config: the CLI,
    and the job processes of a sweep (they import sustain.__main__, which calls this).

    `${sustain_groups:}` in hydra.help.template: Hydra's group listing without the `*_schema` entries,
    which are the typed configs YAML files extend, not choices. `${sustain_unless_default:value,default}`
    in run_name: `-value` when a choice is not the default, so runs that differ in it differ in name."""
    from omegaconf import OmegaConf

    if not OmegaConf.has_resolver("sustain_groups"):
        OmegaConf.register_new_resolver("sustain_groups", _group_listing)
    if not OmegaConf.has_resolver("sustain_unless_default"):
        OmegaConf.register_new_resolver("sustain_unless_default", unless_default)


def unless_default(value: object, default: object) -> str:
    """A run-name part: `-value`, or nothing when the value is the default."""
    return "" if str(value) == str(default) else f"-{value}"


def _group_listing() -> str:
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.object_type import ObjectType

    loader = GlobalHydra.instance().config_loader()
    lines = []
    for group in _groups(loader, ""):
        options = sorted(o for o in loader.get_group_options(group, ObjectType.CONFIG)
                         if not o.endswith(SCHEMA_SUFFIX))
        if options:
            lines.append(f"{group}: {', '.join(options)}")
    return "\n".join(lines)


def _groups(loader: Any, parent: str) -> list[str]:
    from hydra.core.object_type import ObjectType

    found = []
    for name in sorted(loader.list_groups(parent)):
        group = f"{parent}/{name}" if parent else name
        if group == "hydra" or group.startswith("hydra/"):
            continue
        if loader.get_group_options(group, ObjectType.CONFIG):
            found.append(group)
        found += _groups(loader, group)
    return found
