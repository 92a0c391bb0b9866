"""The Optuna study behind a multi-objective search, kept in SQLite beside the MLflow store.

Running the same search again (same study name) continues it: trials an interruption left running are
marked failed and their configurations asked again first, and only the remaining trials run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from sustain.errors import SustainError
from sustain.search.objectives import Objective, pareto_front

INTERRUPTED = "interrupted_trials"  # study attribute: trials an interruption left running
REPEAT = "repeats"  # trial attribute: the trial whose configuration this one asked again


def storage_url(storage: str | None, tracking_uri: str) -> str:
    """`storage` when given, else optuna.db next to the SQLite MLflow store."""
    if storage:
        return storage
    if not tracking_uri.startswith("sqlite:///"):
        raise SustainError(f"tracking.uri={tracking_uri} is not a SQLite file, so the search has nowhere to keep "
                           f"its study: set hydra.sweeper.storage=sqlite:///path/optuna.db.")
    return f"sqlite:///{Path(tracking_uri.removeprefix('sqlite:///')).parent / 'optuna.db'}"


def open_study(name: str, storage: str, objectives: Sequence[Objective], sampler: Any) -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    directions = [o.direction for o in objectives]
    study = optuna.create_study(study_name=name, storage=storage, sampler=sampler, directions=directions,
                                load_if_exists=True)
    stored = [d.name.lower() for d in study.directions]
    if stored != directions:
        raise SustainError(f"study '{name}' in {storage} optimises {stored}, not {directions}: keep its objectives "
                           f"or name a new study (hydra.sweeper.study_name=...).")
    study.set_user_attr("objectives", [o.metric for o in objectives])
    return study


def existing_trials(name: str, storage: str) -> list[Any]:
    """The trials a stored study already has; none for a new one."""
    import optuna

    try:
        return optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)
    except KeyError:
        return []


def resume(study: Any) -> list[Any]:
    """Fail the trials an interruption left running and ask their configurations again first."""
    from optuna.trial import TrialState

    stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for trial in stale:
        study.enqueue_trial(trial.params, user_attrs={"resumes": trial.number})
        study.tell(trial.number, state=TrialState.FAIL)
    interrupted = sorted({*study.user_attrs.get(INTERRUPTED, []), *(t.number for t in stale)})
    study.set_user_attr(INTERRUPTED, interrupted)
    return stale


def trials_left(study: Any, n_trials: int) -> int:
    """Trials still to run: interrupted ones and repeats of an earlier configuration do not count."""
    from optuna.trial import TrialState

    interrupted = set(study.user_attrs.get(INTERRUPTED, []))
    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL))
            if t.number not in interrupted and REPEAT not in t.user_attrs]
    return max(0, n_trials - len(done))


def same_configuration(study: Any, trial: Any, pending: Sequence[Any]) -> Any | None:
    """A measured, failed or pending trial with the same parameters: running it again would tell nothing
    new (a failure such as running out of memory fails again). Interrupted trials do not count."""
    from optuna.trial import TrialState

    interrupted = set(study.user_attrs.get(INTERRUPTED, []))
    ended = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL))
             if t.number not in interrupted]
    return next((t for t in [*ended, *pending] if t.params == trial.params and REPEAT not in t.user_attrs), None)


def tell_repeat(study: Any, trial: Any, same: Any) -> None:
    """Give a repeated configuration the values of the trial it repeats (failed if that one failed)."""
    from optuna.trial import TrialState

    original = study.get_trials(deepcopy=False)[same.number]
    trial.set_user_attr(REPEAT, original.number)
    if original.state == TrialState.COMPLETE:
        study.tell(trial, original.values)
    else:
        study.tell(trial, state=TrialState.FAIL)


@dataclass
class ParetoRow:
    trial: int
    params: dict[str, Any]
    values: list[float]
    run_id: str | None


def pareto_rows(study: Any, objectives: Sequence[Objective]) -> list[ParetoRow]:
    """The study's non-dominated finished trials, best first on the first objective."""
    from optuna.trial import TrialState

    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if REPEAT not in t.user_attrs]
    front = [done[i] for i in pareto_front([t.values for t in done], objectives)]
    sign = 1 if objectives[0].direction == "minimize" else -1
    front.sort(key=lambda t: sign * t.values[0])
    return [ParetoRow(t.number, dict(t.params), list(t.values), t.user_attrs.get("mlflow_run_id")) for t in front]


def trial_counts(study: Any) -> dict[str, int]:
    """Trials by how they ended: measured, failed, interrupted (asked again), repeats (not run again)."""
    from optuna.trial import TrialState

    interrupted = set(study.user_attrs.get(INTERRUPTED, []))
    counts = {"complete": 0, "failed": 0, "interrupted": 0, "repeats": 0}
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL)):
        kind = ("repeats" if REPEAT in t.user_attrs else "interrupted" if t.number in interrupted
                else "complete" if t.state == TrialState.COMPLETE else "failed")
        counts[kind] += 1
    return counts


def format_pareto(rows: Sequence[ParetoRow], objectives: Sequence[Objective], counts: dict[str, int]) -> str:
    head = (f"pareto set: {len(rows)} of {counts['complete']} measured trial(s) ({counts['failed']} failed, "
            f"{counts['interrupted']} interrupted and asked again, {counts['repeats']} repeats not run again); "
            f"objectives " + ", ".join(f"{o.metric} ({o.direction[:3]})" for o in objectives))
    keys = sorted({k for r in rows for k in r.params})
    cols = ["trial", *keys, *(o.metric for o in objectives), "mlflow run"]
    lines = [[str(r.trial), *(str(r.params.get(k, "")) for k in keys), *(f"{v:.4g}" for v in r.values),
              r.run_id or "-"] for r in rows]
    widths = [max(len(c), *(len(line[i]) for line in lines)) if lines else len(c) for i, c in enumerate(cols)]
    table = [" ".join(c.ljust(w) for c, w in zip(cols, widths))]
    table += [" ".join(v.ljust(w) for v, w in zip(line, widths)) for line in lines]
    return "\n".join([head, *table])


def pareto_json(rows: Sequence[ParetoRow], objectives: Sequence[Objective]) -> str:
    return json.dumps({"objectives": [o.__dict__ for o in objectives],
                       "pareto": [r.__dict__ for r in rows]}, indent=2, default=str)
