"""What one launched sustain job gave a search: its metrics and MLflow run, or why it has none.

A job returns its metrics (sustain.__main__.job). A job skipped because a finished run has the same
config (`skipped.json` in its folder) gives that run's metrics, so a resumed search re-uses its work.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sustain.tracking.mlflow_tracker import Tracker


@dataclass
class Outcome:
    metrics: dict[str, float] | None  # None: the job failed
    run_id: str | None
    error: str = ""
    reused: bool = False  # the metrics are an earlier identical run's


class SweepRuns:
    """The MLflow runs of one sweep: its parent and the children its jobs created."""

    def __init__(self, tracker: Tracker, parent_run_id: str | None) -> None:
        self.tracker = tracker
        self.parent_run_id = parent_run_id

    def job_run(self, job_num: int) -> Any | None:
        if self.parent_run_id is None:
            return None
        runs = self.tracker.client.search_runs(
            [self.tracker.experiment_id],
            filter_string=f"tags.mlflow.parentRunId = '{self.parent_run_id}' and tags.`sweep.job_num` = '{job_num}'",
            order_by=["attributes.start_time DESC"], max_results=1,
        )
        return runs[0] if runs else None

    def outcome(self, job_return: Any, job_num: int) -> Outcome:
        from hydra.core.utils import JobStatus

        if job_return.status != JobStatus.COMPLETED:
            return Outcome(None, self._run_id(job_num), f"{type(job_return._return_value).__name__}: "
                                                        f"{job_return._return_value}")
        if isinstance(job_return.return_value, dict):
            return Outcome(dict(job_return.return_value), self._run_id(job_num))
        skipped = Path(str(job_return.hydra_cfg.hydra.runtime.output_dir)) / "skipped.json"
        if skipped.is_file():
            same_as = json.loads(skipped.read_text())["same_as"]
            return Outcome(dict(self.tracker.client.get_run(same_as).data.metrics), same_as, reused=True)
        run = self.job_run(job_num)
        error = run.data.tags.get("error.message", "the job failed") if run is not None else "the job failed"
        return Outcome(None, run.info.run_id if run is not None else None, error)

    def _run_id(self, job_num: int) -> str | None:
        run = self.job_run(job_num)
        return run.info.run_id if run is not None else None

    def fail_stale(self, job_num: int, message: str) -> None:
        """Record a job that an interruption left running as failed, so the sweep's table says so."""
        run = self.job_run(job_num)
        if run is not None and run.info.status == "RUNNING":
            self.tag(run.info.run_id, {"error.kind": "interrupted", "error.message": message})
            self.tracker.client.set_terminated(run.info.run_id, status="FAILED")

    def tag(self, run_id: str, tags: dict[str, str]) -> None:
        for key, value in tags.items():
            self.tracker.client.set_tag(run_id, key, value)

    def fail_parent(self, kind: str, message: str) -> None:
        if self.parent_run_id is not None:
            self.tracker.run_id = self.parent_run_id
            self.tracker.fail(kind, message)

    def log_to_parent(self, path: Path, tags: dict[str, str], metrics: dict[str, float]) -> None:
        """A search's result on the sweep's parent run (the sweep callback finishes that run)."""
        if self.parent_run_id is None:
            return
        self.tracker.run_id = self.parent_run_id
        self.tracker.log_artifact(path)
        self.tracker.set_tags(tags)
        self.tracker.log_metrics(metrics)


def parent_of(sweep_dir: Path) -> str | None:
    from sustain.tracking.sweep import PARENT_FILE

    path = sweep_dir / PARENT_FILE
    return path.read_text().strip() if path.is_file() else None
