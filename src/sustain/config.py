"""Typed configuration: the schema every Hydra config of sustain is checked against.

Each group's YAML in `conf/` extends the dataclass registered here, so a misspelt key or a wrong type
fails at composition with Hydra's message naming the key, before any work starts.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from hydra_plugins.sustain_launchers.schema import ResourcesConfig, SlurmSiteConfig
from sustain.energy.config import EnergyConfig
from sustain.engines.base import EngineConfig
from sustain.judge.config import JudgeConfig
from sustain.load.base import LoadConfig
from sustain.metrics.reference import ReferenceConfig
from sustain.tasks.base import TaskConfig


@dataclass
class ModelConfig:
    """A model as vLLM takes it: a Hugging Face id, a local folder, or `embedded` for the default."""

    name: str = MISSING  # short name used in run names and tables
    path: str = MISSING  # HF id, local folder, or "embedded"
    dtype: str = "auto"
    max_model_len: Optional[int] = None
    trust_remote_code: bool = False
    paper_gpus: Optional[int] = None  # GPU count the paper used (its Table 2)
    family: Optional[str] = None
    params_b: Optional[float] = None  # parameters, billions
    chat_template_kwargs: Dict[str, Any] = field(default_factory=dict)
    max_tokens: Optional[int] = None  # overrides task.max_tokens, e.g. for reasoning models' long traces
    tool_call_parser: str = "hermes"  # the vLLM server's --tool-call-parser for this model's tool-call format


@dataclass
class QuantizationConfig:
    """`method` is vLLM's `quantization` argument; `model_path` swaps in a pre-quantized checkpoint,
    which only makes sense for the model named in `for_model`."""

    name: str = "none"
    method: Optional[str] = None
    model_path: Optional[str] = None
    for_model: Optional[str] = None


@dataclass
class GpuConfig:
    """GPU settings applied through Zeus before the engine starts and restored after (sustain.energy.gpu_settings)."""

    power_limit_w: Optional[float] = None  # every GPU of the run; sweep with gpu.power_limit_w=200,300 -m
    clocks_mhz: Optional[int] = None  # lock the graphics clock of every GPU of the run at this frequency


@dataclass
class CarbonConfig:
    grid: str = "world"  # a region preset (see sustain.metrics.carbon) or gCO2e/kWh as a number
    pue: float = 1.0
    water: str = "azure"  # on-site WUE: a preset of sustain.metrics.water (with its off-site water) or L/kWh
    water_offsite_l_per_kwh: Optional[float] = None  # the grid's water intensity; overrides the preset's
    requests_per_day: Optional[float] = None  # a deployment's load: kWh, kg CO2e and litres per year


def _paper_scenarios() -> Dict[str, List[float]]:
    from sustain.metrics.overall import WEIGHT_SCENARIOS

    return {name: list(weights) for name, weights in WEIGHT_SCENARIOS.items()}


@dataclass
class OverallConfig:
    quality_metric: str = "auto"  # auto (judge when present, else macro_f1) | macro_f1 | judge_score_mean
    weights: List[float] = field(default_factory=lambda: [1 / 3, 1 / 3, 1 / 3])  # wQ, wL, wE
    scenarios: Dict[str, List[float]] = field(default_factory=_paper_scenarios)  # name: [wQ, wL, wE]


@dataclass
class TrackingConfig:
    uri: str = MISSING
    artifact_root: str = MISSING
    experiment: str = "sustain"


@dataclass
class SustainConfig:
    model: ModelConfig = MISSING
    quantization: QuantizationConfig = MISSING
    task: TaskConfig = MISSING
    energy: EnergyConfig = MISSING
    judge: JudgeConfig = MISSING
    reference: ReferenceConfig = MISSING
    engine: EngineConfig = MISSING
    load: LoadConfig = MISSING  # when the server engines send each request (burst: all at once)
    carbon: CarbonConfig = field(default_factory=CarbonConfig)
    gpu: GpuConfig = field(default_factory=GpuConfig)
    overall: OverallConfig = field(default_factory=OverallConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    resources: ResourcesConfig = field(default_factory=ResourcesConfig)  # what each job asks its scheduler
    slurm: SlurmSiteConfig = field(default_factory=SlurmSiteConfig)  # site settings, conf/local/default.yaml
    batch_size: int = 8  # vLLM max_num_seqs
    gpus: int = 1  # tensor-parallel size
    run_name: str = MISSING
    verbose: bool = False  # engine and server logs to the terminal as well as to the run folder
    rerun: bool = False  # run even when a finished run has the same config hash
    checkpoint_dir: str = MISSING  # finished requests of unfinished runs, for resuming


GROUPS = {
    "model": ModelConfig,
    "quantization": QuantizationConfig,
    "task": TaskConfig,
    "energy": EnergyConfig,
    "judge": JudgeConfig,
    "reference": ReferenceConfig,
    "engine": EngineConfig,
    "load": LoadConfig,
}

# Groups whose members are plugins, each kind with its own schema: a package, each of whose modules may list
# its kinds' schemas in `SCHEMAS`, or the one module that does (a package importing heavy libraries at the
# top of some module, as sustain.judge does with ragas, names the module instead).
PLUGIN_PACKAGES = {"task": "sustain.tasks", "engine": "sustain.engines", "load": "sustain.load",
                   "energy": "sustain.energy.meters", "judge": "sustain.judge.endpoints",
                   "reference": "sustain.metrics.reference"}


def register() -> None:
    """The schemas in Hydra's ConfigStore and sustain's resolvers (run names use one), for any process
    that composes sustain's config: the CLI, a sweep's jobs, a notebook or a test."""
    from sustain.resolvers import register_resolvers

    register_resolvers()
    cs = ConfigStore.instance()
    cs.store(name="sustain_schema", node=SustainConfig)
    for group, node in GROUPS.items():
        cs.store(group=group, name=f"{group}_schema", node=node)
    for group, package in PLUGIN_PACKAGES.items():
        for name, node in plugin_schemas(package).items():
            cs.store(group=group, name=name, node=node)


def plugin_schemas(package: str) -> dict[str, type]:
    """`SCHEMAS` of a plugin module, or of every module in a plugin package (which import heavy libraries
    lazily)."""
    import importlib
    import pkgutil

    top = importlib.import_module(package)
    if not hasattr(top, "__path__"):
        return dict(getattr(top, "SCHEMAS", {}))
    found: dict[str, type] = {}
    for info in pkgutil.iter_modules(top.__path__):
        found.update(getattr(importlib.import_module(f"{package}.{info.name}"), "SCHEMAS", {}))
    return found


def unknown_key_message(overrides: list[str], groups: frozenset[str] = frozenset()) -> str | None:
    """One sentence for the first command-line override that names no key of the schema, else None.

    Hydra rejects such overrides too, but its hint ("use +key=value") is wrong for a typed config;
    this names the key and the closest real one. In a plugin group a key of any kind passes here, and the
    chosen kind's schema refuses another kind's key at composition. Group choices (`model=...`), additions
    (`+...`), deletions (`~...`) and `hydra.*` are left to Hydra, whose messages for them are already specific.
    """
    import difflib

    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except Exception:
        return None  # a syntax error: Hydra's parser message says where
    for override in parsed:
        key = override.key_or_group
        if override.is_add() or override.is_delete() or override.is_force_add() or key.startswith("hydra"):
            continue
        if override.package is not None or ("." not in key and (key in GROUPS or key in groups)):
            continue
        nodes: list[Any] = [SustainConfig]
        path: list[str] = []
        for part in key.split("."):
            fields = _fields(nodes)
            if part not in fields:
                close = difflib.get_close_matches(part, fields, n=1)
                if not path and not close:
                    break  # maybe a group from the user's search path: Hydra knows
                where = ".".join(path) or "the config"
                hint = f"did you mean '{'.'.join([*path, close[0]])}'? " if close else ""
                return f"'{key}' is not a key of {where}: {hint}`python -m sustain --cfg job` lists every key."
            path.append(part)
            nodes = _kinds(part) if len(path) == 1 else [t for t in fields[part] if dataclasses.is_dataclass(t)]
            if not nodes:
                break
        message = _other_kinds_key(key, parsed)
        if message:
            return message
    return None


def _other_kinds_key(key: str, parsed: list[Any]) -> str | None:
    """One sentence when `key` belongs to other kinds of its plugin group than the one chosen (on the
    command line, else by conf/config.yaml; an `experiment=` may choose too, so then Hydra says it)."""
    from pathlib import Path

    from omegaconf import OmegaConf

    group, *rest = key.split(".")
    if group not in PLUGIN_PACKAGES or not rest or any(o.key_or_group == "experiment" for o in parsed):
        return None
    conf = Path(__file__).parent / "conf"
    chosen = [o.value() for o in parsed if o.key_or_group == group and not o.is_sweep_override()]
    if not chosen:
        defaults = OmegaConf.to_container(OmegaConf.load(conf / "config.yaml").defaults)
        chosen = [d[group] for d in defaults if isinstance(d, dict) and group in d]
    schema = _schema_of(conf / group, chosen[-1]) if chosen and isinstance(chosen[-1], str) else None
    if schema is None or _has_path(schema, rest):
        return None
    owners = sorted(p.stem for p in (conf / group).glob("*.yaml") if _has_path(_schema_of(conf / group, p.stem), rest))
    kinds = " or ".join(f"{group}={owner}" for owner in owners) or f"another {group}"
    return f"'{key}' is not a key of {group}={chosen[-1]}, only of {kinds}: choose that {group}, or leave the key out."


def _schema_of(folder: Any, choice: str) -> type | None:
    """The schema a group's YAML names in its defaults (following a YAML that extends another)."""
    from omegaconf import OmegaConf

    path = folder / f"{choice}.yaml"
    if not path.is_file():
        return None
    for entry in OmegaConf.load(path).get("defaults", []):
        if not isinstance(entry, str) or entry == "_self_":
            continue
        if entry == f"{folder.name}_schema":
            return GROUPS[folder.name]
        if entry.endswith("_schema"):
            return plugin_schemas(PLUGIN_PACKAGES[folder.name]).get(entry)
        return _schema_of(folder, entry)
    return None


def _has_path(schema: type | None, parts: list[str]) -> bool:
    import typing

    node: Any = schema
    for part in parts:
        if not dataclasses.is_dataclass(node):
            return node is not None  # a mapping such as engine.args takes any key
        hints = typing.get_type_hints(node)
        if part not in hints:
            return False
        node = hints[part]
    return True


def _kinds(group: str) -> list[type]:
    """The schemas a top-level key can have: a group's base and, in a plugin group, each kind's."""
    if group not in GROUPS:
        return [t for t in _fields([SustainConfig])[group] if dataclasses.is_dataclass(t)]
    return [GROUPS[group], *plugin_schemas(PLUGIN_PACKAGES[group]).values()] if group in PLUGIN_PACKAGES \
        else [GROUPS[group]]


def _fields(nodes: list[Any]) -> dict[str, list[Any]]:
    """Each key of any of `nodes` (dataclasses), with the types it has among them."""
    import typing

    found: dict[str, list[Any]] = {}
    for node in nodes:
        for name, annotation in typing.get_type_hints(node).items():
            found.setdefault(name, []).append(annotation)
    return found
