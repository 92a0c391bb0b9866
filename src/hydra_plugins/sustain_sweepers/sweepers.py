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

from sustain import names

MAX_REPEATS = 50  # configurations asked for one batch that ran already: the search space is exhausted


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
        from sustain.tracking.sweep_runs import SweepRuns, parent_of
        from sustain.tracking.mlflow_tracker import Tracker

        tracking = self.config.tracking
        return SweepRuns(Tracker(tracking.uri, tracking.artifact_root, tracking.experiment), parent_of(self.sweep_dir))

    def sweep(self, arguments: List[str]) -> None:
        """The search; a problem the user can fix ends it with one sentence, its parent run marked failed."""
        import sys

        from sustain.errors import SustainError

        try:
            self.search(arguments)
        except SustainError as exc:
            print(f"sustain: error: {exc}", file=sys.stderr, flush=True)
            self.runs().fail_parent(exc.kind, str(exc))
            raise SystemExit(2) from None

    def search(self, arguments: List[str]) -> None:
        raise NotImplementedError

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

    def __init__(self, objectives: Sequence[str], directions: Sequence[str], params: Optional[DictConfig],
                 n_trials: int, n_jobs: int, sampler: Any, storage: Optional[str], study_name: Optional[str]) -> None:
        self.metrics, self.directions = list(objectives), list(directions)
        self.params = {str(k): str(v) for k, v in (params or {}).items()}
        self.n_trials, self.n_jobs = n_trials, max(1, n_jobs)
        self.sampler_cfg, self.storage, self.study_name = sampler, storage, study_name  # Hydra may pass it built

    def search(self, arguments: List[str]) -> None:
        from sustain.search import study as studies
        from sustain.search.objectives import objectives_from
        from sustain.search.space import search_space

        self.objectives = objectives_from(self.metrics, self.directions)
        space = search_space(self.params, arguments)
        storage = studies.storage_url(self.storage, str(self.config.tracking.uri))
        name = self.study_name or self.sweep_dir.name
        sampler = self.sampler(len(studies.existing_trials(name, storage)))
        study = studies.open_study(name, storage, self.objectives, sampler)
        resumed = studies.resume(study)
        left = studies.trials_left(study, self.n_trials)
        again = f", trial(s) {[t.number for t in resumed]} interrupted earlier are asked again first" if resumed else ""
        print(f"sustain: search '{name}' ({storage}): {left} of {self.n_trials} trial(s) to run{again}", flush=True)
        runs = self.runs()
        for trial in resumed:
            runs.fail_stale(trial.user_attrs.get("job_num", trial.number),
                            "the search was interrupted during this trial; its configuration is asked again")
        while left > 0:
            trials, repeated = self.ask(study, space, min(self.n_jobs, left))
            if not trials:
                break
            for job, trial in enumerate(trials, start=trials[0].number):
                trial.set_user_attr("job_num", job)
            returns = self.launch([space.overrides(t.params) for t in trials], trials[0].number)
            for trial, job_return in zip(trials, returns):
                self.tell(study, trial, runs.outcome(job_return, trial.user_attrs["job_num"]))
            for trial, same in repeated:
                studies.tell_repeat(study, trial, same)
            left -= len(trials)
        if left > 0:
            print(f"sustain: the search stops with {left} trial(s) left: its sampler asked {MAX_REPEATS} "
                  f"configurations that had run already (the space is exhausted)", flush=True)
        self.finish(study, runs, name)

    def ask(self, study: Any, space: Any, n: int) -> tuple[list[Any], list[tuple[Any, Any]]]:
        """Up to n new configurations to launch. An asked one that repeats an ended trial gets that trial's
        outcome at once; one that repeats a trial of this batch gets it after the batch (returned)."""
        from sustain.search import study as studies

        trials: list[Any] = []
        deferred: list[tuple[Any, Any]] = []
        repeats = 0
        while len(trials) < n and repeats < MAX_REPEATS:
            trial = study.ask(space.distributions)
            same = studies.same_configuration(study, trial, trials)
            if same is None:
                trials.append(trial)
                continue
            repeats += 1
            if same in trials:
                deferred.append((trial, same))
            else:
                studies.tell_repeat(study, trial, same)
        return trials, deferred

    def sampler(self, n_before: int) -> Any:
        """The configured sampler; a resumed study's seed moves on by its trials, so its draws do not repeat."""
        from hydra.utils import instantiate

        if not isinstance(self.sampler_cfg, DictConfig):
            return self.sampler_cfg
        cfg = self.sampler_cfg
        if OmegaConf.select(cfg, "seed") is not None and n_before:
            cfg = OmegaConf.merge(cfg, {"seed": cfg.seed + n_before})
        return instantiate(cfg)

    def tell(self, study: Any, trial: Any, outcome: Any) -> None:
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
        from sustain.search import study as studies

        rows = studies.pareto_rows(study, self.objectives)
        counts = studies.trial_counts(study)
        (self.sweep_dir / "pareto.json").write_text(studies.pareto_json(rows, self.objectives))
        for row in rows:
            if row.run_id:
                runs.tag(row.run_id, {names.SEARCH_PARETO_TAG: "true", "search.study": name})
        self.report("pareto.txt", studies.format_pareto(rows, self.objectives, counts), runs,
                    {"search.study": name, "search.pareto_trials": ",".join(str(r.trial) for r in rows)},
                    {"pareto_size": float(len(rows)), **{f"trials_{k}": float(v) for k, v in counts.items()}})


class BatchSizeSweeper(LaunchingSweeper):
    """The energy-optimal maximum batch size, one search per combination of the other sweeps."""

    def __init__(self, objective: str, grid: Sequence[int], start: int, rel_tol: float) -> None:
        self.objective, self.grid, self.start, self.rel_tol = objective, tuple(grid), start, rel_tol

    def search(self, arguments: List[str]) -> None:
        """Every search's next batch sizes go out together, so a parallel launcher runs them at once."""
        from sustain.search.batch_size import BatchSizeSearch

        runs = self.runs()
        searches = [(swept, fixed, BatchSizeSearch(self.grid, self.start, self.rel_tol))
                    for swept, fixed in combinations(arguments)]
        run_ids: dict[tuple[int, int], str | None] = {}
        job = 0
        while asked := [(search, fixed, b) for _, fixed, search in searches for b in search.ask()]:
            returns = self.launch([[*fixed, f"batch_size={b}"] for _, fixed, b in asked], job)
            for offset, ((search, _, b), job_return) in enumerate(zip(asked, returns)):
                outcome = runs.outcome(job_return, job + offset)
                run_ids[id(search), b] = outcome.run_id
                search.tell(b, (outcome.metrics or {}).get(self.objective))
            job += len(asked)
        for _, _, search in searches:
            if search.best is not None and run_ids.get((id(search), search.best)):
                runs.tag(run_ids[id(search), search.best], {names.SEARCH_BEST_BATCH_TAG: "true"})
        results = [(swept, search) for swept, _, search in searches]
        self.report("batch_search.txt", format_batch_results(results, self.objective, len(self.grid)), runs,
                    {"search.best_batch_size": " | ".join(f"{' '.join(sw)}: {s.best}" for sw, s in results)},
                    {"search_runs": float(job), "grid_runs": float(len(self.grid) * len(results))})


def combinations(arguments: Sequence[str]) -> List[tuple[List[str], List[str]]]:
    """The command line's sweeps expanded (`model=a,b gpus=1,2`: four searches): for each, the swept
    values alone and every override it runs with."""
    import itertools

    from hydra.core.override_parser.overrides_parser import OverridesParser

    from sustain.errors import SustainError

    swept, fixed = [], []
    for override in OverridesParser.create().parse_overrides(list(arguments)):
        if override.get_key_element().lstrip("+~") == "batch_size":
            raise SustainError("the batch-size search picks batch_size itself: drop it from the command line, "
                               "or set hydra.sweeper.grid.")
        if override.is_sweep_override():
            key = override.get_key_element()
            swept.append([f"{key}={v}" for v in override.sweep_string_iterator()])
        else:
            fixed.append(override.input_line)
    return [(list(values), [*fixed, *values]) for values in itertools.product(*swept)]


def format_batch_results(results: Sequence[Any], objective: str, grid_size: int) -> str:
    lines = [f"batch-size search ({objective}, minimised): {sum(len(s.values) for _, s in results)} run(s) "
             f"instead of the grid's {grid_size * len(results)}"]
    for swept, search in results:
        tried = ", ".join(f"{b}: {v:.4g}" if math.isfinite(v) else f"{b}: failed"
                          for b, v in sorted(search.values.items()))
        lines.append(f"{' '.join(swept) or 'batch_size'}: best batch_size={search.best} ({search.reason}); "
                     f"ran {tried}")
    return "\n".join(lines)
