"""Hydra sweepers that decide the next configurations from the results of the last ones.

Each trial is an ordinary sustain job handed to the configured launcher (basic, parallel, slurm), so it
runs, is tracked under the sweep's parent MLflow run and fails like any job of `-m`. The search logic
lives in sustain.search; these classes only ask, launch and tell.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf


class LaunchingSweeper(Sweeper):
    """Shared set-up: the launcher, the sweep folder and the sweep's MLflow runs."""

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        from hydra.core.plugins import Plugins

        self.config = config
        self.hydra_context = hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            config=config, hydra_context=hydra_context, task_function=task_function)
        self.sweep_dir = Path(str(config.hydra.sweep.dir))

    def runs(self) -> Any:
        from sustain.search.trials import SweepRuns, parent_of
        from sustain.tracking.mlflow_tracker import Tracker

        tracking = self.config.tracking
        return SweepRuns(Tracker(tracking.uri, tracking.artifact_root, tracking.experiment), parent_of(self.sweep_dir))

    def launch(self, batch: List[List[str]], first_job: int) -> Sequence[Any]:
        self.validate_batch_is_legal(batch)
        return self.launcher.launch(batch, initial_job_idx=first_job)

    def report(self, name: str, text: str, runs: Any, tags: Dict[str, str], metrics: Dict[str, float]) -> None:
        print(text, flush=True)
        path = self.sweep_dir / name
        path.write_text(text + "\n")
        runs.log_to_parent(path, tags, metrics)


class ParetoSweeper(LaunchingSweeper):
    """Multi-objective search with Optuna (NSGA-II or TPE); ends with the Pareto set."""

    def __init__(self, objectives: DictConfig, params: DictConfig, n_trials: int, n_jobs: int, sampler: Any,
                 storage: Optional[str], study_name: Optional[str]) -> None:
        from sustain.search.objectives import objectives_from

        self.objectives = objectives_from(OmegaConf.to_container(objectives))
        self.params = {str(k): str(v) for k, v in OmegaConf.to_container(params).items()}
        self.n_trials, self.n_jobs = n_trials, max(1, n_jobs)
        self.sampler_cfg, self.storage, self.study_name = sampler, storage, study_name  # Hydra may pass it built

    def sweep(self, arguments: List[str]) -> None:
        from hydra.utils import instantiate

        from sustain.search import study as studies
        from sustain.search.space import search_space

        space = search_space(self.params, arguments)
        storage = studies.storage_url(self.storage, str(self.config.tracking.uri))
        name = self.study_name or self.sweep_dir.name
        sampler = instantiate(self.sampler_cfg) if isinstance(self.sampler_cfg, DictConfig) else self.sampler_cfg
        study = studies.open_study(name, storage, self.objectives, sampler)
        resumed = studies.resume(study)
        left = studies.trials_left(study, self.n_trials)
        print(f"sustain: search '{name}' ({storage}): {left} of {self.n_trials} trial(s) to run"
              + (f", trial(s) {resumed} interrupted earlier are asked again" if resumed else ""), flush=True)
        runs = self.runs()
        while left > 0:
            trials = [study.ask(space.distributions) for _ in range(min(self.n_jobs, left))]
            returns = self.launch([space.overrides(t.params) for t in trials], trials[0].number)
            for trial, job_return in zip(trials, returns):
                self.tell(study, trial, runs.outcome(job_return, trial.number), runs)
            left -= len(trials)
        self.finish(study, runs, name)

    def tell(self, study: Any, trial: Any, outcome: Any, runs: Any) -> None:
        from optuna.trial import TrialState

        from sustain.errors import SustainError
        from sustain.search.objectives import values_of

        if outcome.run_id:
            trial.set_user_attr("mlflow_run_id", outcome.run_id)
        try:
            values = values_of(outcome.metrics, self.objectives) if outcome.metrics is not None else None
        except SustainError as exc:
            outcome.error, values = str(exc), None
        if values is None:
            trial.set_user_attr("error", outcome.error[:2000])
            study.tell(trial, state=TrialState.FAIL)
            print(f"sustain: trial {trial.number} failed ({outcome.error}); the search goes on", flush=True)
            return
        study.tell(trial, values)
        if outcome.reused:
            print(f"sustain: trial {trial.number} re-uses finished run {outcome.run_id}", flush=True)

    def finish(self, study: Any, runs: Any, name: str) -> None:
        from optuna.trial import TrialState

        from sustain.search import study as studies

        rows = studies.pareto_rows(study, self.objectives)
        n_complete = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
        n_failed = len(study.get_trials(deepcopy=False, states=(TrialState.FAIL,)))
        (self.sweep_dir / "pareto.json").write_text(studies.pareto_json(rows, self.objectives))
        for row in rows:
            if row.run_id:
                runs.tag(row.run_id, {"search.pareto": "true", "search.study": name})
        self.report("pareto.txt", studies.format_pareto(rows, self.objectives, n_complete, n_failed), runs,
                    {"search.study": name, "search.pareto_trials": ",".join(str(r.trial) for r in rows)},
                    {"pareto_size": float(len(rows)), "trials_complete": float(n_complete),
                     "trials_failed": float(n_failed)})


class BatchSizeSweeper(LaunchingSweeper):
    """The energy-optimal maximum batch size, one search per combination of the other sweeps."""

    def __init__(self, objective: str, grid: Sequence[int], start: int, rel_tol: float) -> None:
        self.objective, self.grid, self.start, self.rel_tol = objective, tuple(grid), start, rel_tol

    def sweep(self, arguments: List[str]) -> None:
        from sustain.search.batch_size import BatchSizeSearch

        runs = self.runs()
        results, job = [], 0
        for fixed in combinations(arguments):
            search = BatchSizeSearch(self.grid, self.start, self.rel_tol)
            while batch := search.ask():
                returns = self.launch([[*fixed, f"batch_size={b}"] for b in batch], job)
                for offset, (b, job_return) in enumerate(zip(batch, returns)):
                    outcome = runs.outcome(job_return, job + offset)
                    search.tell(b, (outcome.metrics or {}).get(self.objective))
                job += len(batch)
            results.append((fixed, search))
        self.report("batch_search.txt", format_batch_results(results, self.objective, len(self.grid)), runs,
                    {"search.best_batch_size": " | ".join(f"{' '.join(f)}: {s.best}" for f, s in results)},
                    {"search_runs": float(job), "grid_runs": float(len(self.grid) * len(results))})


def combinations(arguments: Sequence[str]) -> List[List[str]]:
    """The command line's sweeps expanded (`model=a,b gpus=1,2`: four), fixed overrides in each."""
    import itertools

    from hydra.core.override_parser.overrides_parser import OverridesParser

    from sustain.errors import SustainError

    options = []
    for override in OverridesParser.create().parse_overrides(list(arguments)):
        if override.get_key_element().lstrip("+~") == "batch_size":
            raise SustainError("the batch-size search picks batch_size itself: drop it from the command line, "
                               "or set hydra.sweeper.grid.")
        if override.is_sweep_override():
            key = override.get_key_element()
            options.append([f"{key}={v}" for v in override.sweep_string_iterator()])
        else:
            options.append([override.input_line])
    return [list(c) for c in itertools.product(*options)]


def format_batch_results(results: Sequence[Any], objective: str, grid_size: int) -> str:
    lines = [f"batch-size search ({objective}, minimised): {sum(len(s.values) for _, s in results)} run(s) "
             f"instead of the grid's {grid_size * len(results)}"]
    for fixed, search in results:
        tried = ", ".join(f"{b}: {v:.4g}" if math.isfinite(v) else f"{b}: failed" for b, v in sorted(search.values.items()))
        lines.append(f"{' '.join(fixed) or '(defaults)'}: best batch_size={search.best} ({search.reason}); "
                     f"ran {tried}")
    return "\n".join(lines)
