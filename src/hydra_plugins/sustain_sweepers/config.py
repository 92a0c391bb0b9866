"""Structured sweeper configs; conf/hydra/sweeper/{pareto,batch_size}.yaml extend them."""

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore

from sustain.names import ENERGY_PER_REQUEST, QUALITY
from sustain.search.batch_size import PAPER_GRID, PAPER_START


@dataclass
class ParetoSearchConf:
    _target_: str = "hydra_plugins.sustain_sweepers.sweepers.ParetoSweeper"
    # metrics a run logs, in order (the first sorts the Pareto table); directions: minimize | maximize for
    # each, or empty for each metric's own direction in the metric registry
    objectives: List[str] = field(default_factory=lambda: [ENERGY_PER_REQUEST, QUALITY])
    directions: List[str] = field(default_factory=list)
    params: Optional[Dict[str, str]] = None  # key: Hydra sweep, e.g. batch_size: choice(2,8,32)
    n_trials: int = 12  # finished or failed trials in the study; interrupted ones do not count
    n_jobs: int = 1  # trials launched together (parallel and Slurm launchers run them at once)
    sampler: Any = None  # an optuna sampler, by _target_ (hydra/sweeper/sampler=nsga2|tpe)
    storage: Optional[str] = None  # None: optuna.db beside the SQLite MLflow store
    study_name: Optional[str] = None  # None: the sweep folder's name; the same name resumes the study


@dataclass
class BatchSizeSearchConf:
    _target_: str = "hydra_plugins.sustain_sweepers.sweepers.BatchSizeSweeper"
    objective: str = ENERGY_PER_REQUEST  # minimised
    grid: List[int] = field(default_factory=lambda: list(PAPER_GRID))
    start: int = PAPER_START
    rel_tol: float = 0.01  # also stop when a step gains less than this share of the energy; 0: only when bracketed


ConfigStore.instance().store(group="hydra/sweeper", name="sustain_pareto", node=ParetoSearchConf, provider="sustain")
ConfigStore.instance().store(group="hydra/sweeper", name="sustain_batch_size", node=BatchSizeSearchConf,
                             provider="sustain")
