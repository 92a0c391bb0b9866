"""Sweep bookkeeping: a multirun is one MLflow parent run with one child per job.

The parent run is created when the multirun starts and its id is written into the sweep folder, so
jobs find it wherever they run (this process, submitit workers, Slurm nodes sharing the folder).
When the multirun ends, the parent gets the table of what finished, what failed and why.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)

PARENT_FILE = "mlflow_parent_run_id"
MAX_STUDY_LEN = 100


def parent_run_id() -> str | None:
    """The sweep's parent run id, when this job belongs to a multirun."""
    from hydra.types import RunMode

    hc = HydraConfig.get()
    if hc.mode != RunMode.MULTIRUN:
        return None
    path = Path(hc.sweep.dir) / PARENT_FILE
    return path.read_text().strip() if path.is_file() else None


BOOKKEEPING = ("hydra", "tracking", "checkpoint_dir", "rerun", "verbose")


def study_name(experiment: str | None, overrides: list[str], started: datetime) -> str:
    """The parent run's name: the experiment, else the swept overrides (else all of them), and the time;
    where runs are stored and Hydra's own settings say nothing of the study and are left out."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = [o for o in OverridesParser.create().parse_overrides(overrides)
              if o.key_or_group.split(".")[0].split("/")[0] not in BOOKKEEPING]
    swept = [o.input_line for o in parsed if o.is_sweep_override()]
    what = experiment or " ".join(swept or [o.input_line for o in parsed]) or "sweep"
    if len(what) > MAX_STUDY_LEN:
        what = what[: MAX_STUDY_LEN - 1] + "…"
    return f"{what} {started:%Y-%m-%d %H:%M}"


class SweepCallback(Callback):
    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from sustain.tracking.provenance import git_commit
        from sustain.tracking.mlflow_tracker import Tracker

        HydraConfig.instance().set_config(config)  # `${hydra:runtime.cwd}` in tracking.* resolves through it
        tracking = config.tracking
        tracker = Tracker(tracking.uri, tracking.artifact_root, tracking.experiment)
        sweep_dir = Path(str(config.hydra.sweep.dir))
        searching = "sustain_sweepers" in str(OmegaConf.select(config, "hydra.sweeper._target_", default=""))
        if searching and (sweep_dir / PARENT_FILE).is_file():  # a search's folder again: it resumes
            run_id = (sweep_dir / PARENT_FILE).read_text().strip()
            tracker.client.update_run(run_id, status="RUNNING")
            print(f"sustain: sweep '{sweep_dir.name}' resumed (MLflow parent run {run_id}) → {sweep_dir}", flush=True)
            return
        overrides = list(OmegaConf.to_container(config.hydra.overrides.task, resolve=False))
        launcher = OmegaConf.select(config, "hydra.launcher._target_", default="") or ""
        experiment = OmegaConf.select(config, "hydra.runtime.choices.experiment", default=None)
        name = study_name(experiment, overrides, datetime.now())
        run_id = tracker.start(
            run_name=name,
            tags={"sustain.sweep": "true", "sweep.dir": str(sweep_dir), "git_commit": git_commit(),
                  "launcher": launcher.rsplit(".", 1)[-1]},
            params={"overrides": " ".join(overrides)[:6000], "launcher": launcher},
        )
        sweep_dir.mkdir(parents=True, exist_ok=True)
        (sweep_dir / PARENT_FILE).write_text(run_id)
        (sweep_dir / "multirun.yaml").write_text(OmegaConf.to_yaml(config, resolve=False))
        tracker.log_artifact(sweep_dir / "multirun.yaml")
        print(f"sustain: sweep '{name}' (MLflow parent run {run_id}) → {sweep_dir}", flush=True)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from sustain.report.sweep_table import format_sweep_table, skipped_rows, sweep_rows
        from sustain.tracking.mlflow_tracker import Tracker

        HydraConfig.instance().set_config(config)
        sweep_dir = Path(str(config.hydra.sweep.dir))
        id_file = sweep_dir / PARENT_FILE
        if not id_file.is_file():
            return
        tracking = config.tracking
        tracker = Tracker(tracking.uri, tracking.artifact_root, tracking.experiment)
        tracker.run_id = id_file.read_text().strip()
        rows = sweep_rows(tracker.client, tracker.experiment_id, tracker.run_id)
        rows += skipped_rows(sweep_dir)
        table = format_sweep_table(rows)
        (sweep_dir / "sweep.txt").write_text(table + "\n")
        tracker.log_artifact(sweep_dir / "sweep.txt")
        counts = {s: sum(r["status"] == s for r in rows) for s in ("FINISHED", "FAILED", "SKIPPED")}
        tracker.log_metrics({f"jobs_{s.lower()}": n for s, n in counts.items()})
        tracker.finish("FAILED" if counts["FAILED"] and not counts["FINISHED"] else "FINISHED")
        print(table, flush=True)
