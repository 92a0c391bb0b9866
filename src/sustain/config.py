"""Typed configuration: the schema every Hydra config of sustain is checked against.

Each group's YAML in `conf/` extends the dataclass registered here, so a misspelt key or a wrong type
fails at composition with Hydra's message naming the key, before any work starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from hydra_plugins.sustain_launchers.schema import ResourcesConfig, SlurmSiteConfig
from sustain.engines.base import EngineConfig
from sustain.judge.config import JudgeConfig
from sustain.load.base import LoadConfig
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


@dataclass
class QuantizationConfig:
    """`method` is vLLM's `quantization` argument; `model_path` swaps in a pre-quantized checkpoint,
    which only makes sense for the model named in `for_model`."""

    name: str = "none"
    method: Optional[str] = None
    model_path: Optional[str] = None
    for_model: Optional[str] = None


@dataclass
class EstimateConfig:
    """CPU power where no counter can be read: TDP × CPU load (codecarbon's model, sustain.energy.meters)."""

    tdp_w: Optional[float] = None  # None: this CPU's rated power from codecarbon's CPU table
    min_load: float = 0.1  # never below this share of the TDP (codecarbon: 10 %)
    scope: str = "process_tree"  # process_tree: only this run's processes are charged | system: the whole machine


@dataclass
class EnergyConfig:
    _target_: str = "sustain.energy.meters.EveryDomain"  # a sustain.energy.meters.MeterSetup
    name: str = "auto"  # auto | zeus_gpu | zeus_rapl | estimate
    interval_s: float = 0.1
    window_rule: str = "mlenergy"  # mlenergy | queue_empty
    min_window_s: float = 1.0
    estimate: EstimateConfig = field(default_factory=EstimateConfig)


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


@dataclass
class ReferenceConfig:
    """The Overall Metric's comparison point: the paper's GPT-4o estimate, an earlier MLflow run, or none
    (a `sustain.metrics.reference.ReferenceSource` named by `_target_`)."""

    _target_: str = "sustain.metrics.reference.Gpt4oEstimate"
    name: str = "gpt4o_estimate"  # for tags and labels
    output_tokens: Optional[float] = 66.0  # None: the run's own mean output tokens
    output_tokens_field: Optional[str] = None  # a dataset field holding each example's reference tokens
    tokens_per_s: float = 113.7
    prefill_s: float = 0.5
    power_kw: float = 7.7
    pue: float = 0.18
    quality: float = 0.978
    quality_metric: str = "judge_score_mean"  # what `quality` measures (Table 3: GPT-4o's judge score)
    run_id: Optional[str] = None  # mlflow_run: this run ...
    tags: Dict[str, str] = field(default_factory=dict)  # ... or the newest finished run with these tags


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

# Groups whose members are plugins: each module of the package may list its own schemas in `SCHEMAS`.
PLUGIN_PACKAGES = {"task": "sustain.tasks", "engine": "sustain.engines", "load": "sustain.load"}


def register() -> None:
    cs = ConfigStore.instance()
    cs.store(name="sustain_schema", node=SustainConfig)
    for group, node in GROUPS.items():
        cs.store(group=group, name=f"{group}_schema", node=node)
    for group, package in PLUGIN_PACKAGES.items():
        for name, node in plugin_schemas(package).items():
            cs.store(group=group, name=name, node=node)


def plugin_schemas(package: str) -> dict[str, type]:
    """`SCHEMAS` of every module in a plugin package; those modules import heavy libraries lazily."""
    import importlib
    import pkgutil

    found: dict[str, type] = {}
    for info in pkgutil.iter_modules(importlib.import_module(package).__path__):
        found.update(getattr(importlib.import_module(f"{package}.{info.name}"), "SCHEMAS", {}))
    return found


def unknown_key_message(overrides: list[str], groups: frozenset[str] = frozenset()) -> str | None:
    """One sentence for the first command-line override that names no key of the schema, else None.

    Hydra rejects such overrides too, but its hint ("use +key=value") is wrong for a typed config;
    this names the key and the closest real one. Group choices (`model=...`), additions (`+...`),
    deletions (`~...`) and `hydra.*` are left to Hydra, whose messages for them are already specific.
    """
    import dataclasses
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
        node: Any = SustainConfig
        path: list[str] = []
        for part in key.split("."):
            fields = {f.name: f for f in dataclasses.fields(node)}
            if len(path) == 1 and path[0] in PLUGIN_PACKAGES:
                fields = _plugin_fields(path[0])  # any kind's key; the chosen kind's schema checks the rest
            if part not in fields:
                close = difflib.get_close_matches(part, fields, n=1)
                if not path and not close:
                    break  # maybe a group from the user's search path: Hydra knows
                where = ".".join(path) or "the config"
                hint = f"did you mean '{'.'.join([*path, close[0]])}'? " if close else ""
                return f"'{key}' is not a key of {where}: {hint}`python -m sustain --cfg job` lists every key."
            path.append(part)
            node = GROUPS.get(part, fields[part].type) if len(path) == 1 else fields[part].type
            node = None if len(path) == 2 and path[0] in PLUGIN_PACKAGES else _dataclass_of(node)
            if node is None:
                break
    return None


def _plugin_fields(group: str) -> dict[str, Any]:
    """Fields of every schema a plugin group knows (the base and each kind's)."""
    import dataclasses

    nodes = [GROUPS[group], *plugin_schemas(PLUGIN_PACKAGES[group]).values()]
    return {f.name: f for node in nodes for f in dataclasses.fields(node)}


def _dataclass_of(annotation: Any) -> Any:
    import dataclasses

    if isinstance(annotation, str):
        annotation = globals().get(annotation)
    return annotation if dataclasses.is_dataclass(annotation) else None
