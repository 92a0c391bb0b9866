"""One MLflow run per job, through MlflowClient so parallel jobs never share fluent global state.

This is the only module that talks to MLflow; the rest of sustain hands it plain values.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sustain.errors import SustainError
from sustain import names

MAX_PARAM_LEN = 6000
# MLflow 3's UI reads this experiment tag to choose between the GenAI views (traces) and the runs table.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
CLASSIC_KIND = "custom_model_development"
# The runs table's columns are a UI state the UI loads from this experiment tag when a link carries
# `viewStateShareKey=sustain` (what the UI's own "Share" button does); otherwise it shows no metric.
RUNS_VIEW_TAG = "mlflow.sharedViewState.sustain"
RUNS_VIEW_COLUMNS = ["attributes.`Dataset`", *(f"metrics.`{m}`" for m in (
    names.QUALITY, names.ENERGY_PER_REQUEST, names.DECODE_LATENCY, names.OM))]
# The runs table opens a parent run expanded when a child carries this run type.
PARENT_TAG = "mlflow.parentRunId"
RUN_TYPE_TAG = "mlflow.runType"
NESTED_RUN_TYPE = "evaluation"
# MLflow 3.17 picks its GenAI or model-training navigation from this query parameter (default GenAI).
UI_QUERY = "workflowType=machine_learning"
TIMELINE_METRICS = {"power_w": names.TIMELINE_POWER, "energy_j": names.TIMELINE_ENERGY}
BATCH = 1000  # MLflow's limit of metrics per log_batch call
CONFIG_HASH_TAG = "sustain.config_hash"


def flatten(tree: Any, prefix: str = "") -> dict[str, str]:
    """Nested config → `a.b.c` keys with string values, the shape MLflow params take."""
    out: dict[str, str] = {}
    if isinstance(tree, dict):
        for key, value in tree.items():
            out.update(flatten(value, f"{prefix}{key}."))
    elif isinstance(tree, (list, tuple)) and tree and all(isinstance(v, dict) for v in tree):
        for i, value in enumerate(tree):
            out.update(flatten(value, f"{prefix}{i}."))
    else:
        out[prefix.rstrip(".")] = str(tree)[:MAX_PARAM_LEN]
    return out


class Tracker:
    def __init__(self, uri: str, artifact_root: str, experiment: str) -> None:
        from mlflow.tracking import MlflowClient

        if uri.startswith("sqlite:///"):
            Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.uri = uri  # never mlflow.set_tracking_uri: it exports MLFLOW_TRACKING_URI to every later job
        self.client = MlflowClient(tracking_uri=uri)
        self.experiment_id = self._experiment(experiment, artifact_root)
        self.run_id: str | None = None

    def _experiment(self, name: str, artifact_root: str) -> str:
        from mlflow.exceptions import MlflowException

        try:
            found = self.client.get_experiment_by_name(name)
            if found is not None:
                for key, value in _experiment_tags().items():
                    if key not in found.tags:  # made by an older sustain, or by hand
                        self.client.set_experiment_tag(found.experiment_id, key, value)
                return found.experiment_id
            tags = _experiment_tags()
            if self.uri.startswith(("http://", "https://", "databricks")):
                return self.client.create_experiment(name, tags=tags)  # the server decides (proxied artifacts)
            location = Path(artifact_root).expanduser().resolve() / name
            return self.client.create_experiment(name, artifact_location=location.as_uri(), tags=tags)
        except MlflowException as exc:
            found = self.client.get_experiment_by_name(name)  # another job created it meanwhile
            if found is not None:
                return found.experiment_id
            raise SustainError(
                f"MLflow store {self.uri} refused experiment '{name}' ({exc.message.splitlines()[0]}): "
                f"check tracking.uri."
            ) from None
        except Exception as exc:
            raise SustainError(
                f"MLflow store {self.uri} cannot be reached ({type(exc).__name__}): start the tracking "
                f"server or fix tracking.uri."
            ) from None

    def ui_url(self, run_id: str | None = None, server: str | None = None) -> str:
        """The MLflow UI page of the experiment's runs table with sustain's columns (or of one run): under
        `server`, else the tracking server when the store is one, else `mlflow ui`'s default address."""
        web = self.uri if self.uri.startswith(("http://", "https://")) else "http://127.0.0.1:5000"
        base = (server or web).rstrip("/")
        page = f"#/experiments/{self.experiment_id}/runs"
        if run_id:
            return f"{base}/{page}/{run_id}?{UI_QUERY}"
        return f"{base}/{page}?viewStateShareKey={RUNS_VIEW_TAG.rsplit('.', 1)[-1]}&{UI_QUERY}"

    def finished_run_with_tag(self, key: str, value: str) -> str | None:
        runs = self.client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.`{key}` = '{value}' and attributes.status = 'FINISHED'",
            max_results=1,
        )
        return runs[0].info.run_id if runs else None

    def reference_from_run(self, run_id: str | None, tags: dict[str, str], quality_key: str) -> Any:
        """An earlier run as the Overall Metric's reference: by id, else the newest finished one with `tags`."""
        from sustain.metrics.reference import Reference

        if run_id:
            run = self.client.get_run(run_id)
        else:
            if not tags:
                raise SustainError("reference=mlflow_run needs reference.run_id or reference.tags to find the run.")
            where = " and ".join(f"tags.`{k}` = '{v}'" for k, v in tags.items())
            found = self.client.search_runs([self.experiment_id], filter_string=f"{where} and attributes.status = 'FINISHED'",
                                            order_by=["attributes.start_time DESC"], max_results=1)
            if not found:
                raise SustainError(f"No finished run in experiment {self.experiment_id} has tags {tags}: fix reference.tags.")
            run = found[0]
        m = run.data.metrics
        needed = (quality_key, "decode_latency_s_mean", "energy_per_request_j_mean")
        missing = [k for k in needed if k not in m]
        if missing:
            raise SustainError(f"Reference run {run.info.run_id} has no {', '.join(missing)}: pick a finished sustain run.")
        return Reference(
            name=f"run {run.info.run_name} ({run.info.run_id})", quality=m[quality_key],
            decode_latency_s=m["decode_latency_s_mean"], energy_j=m["energy_per_request_j_mean"],
            source=f"MLflow run {run.info.run_id}: {quality_key}, decode_latency_s_mean, energy_per_request_j_mean",
            quality_metric=quality_key,
        )

    def start(self, run_name: str, tags: dict[str, str], params: dict[str, str]) -> str:
        from mlflow.entities import Param

        if PARENT_TAG in tags:
            tags = {**tags, RUN_TYPE_TAG: NESTED_RUN_TYPE}
        run = self.client.create_run(self.experiment_id, run_name=run_name, tags=tags)
        self.run_id = run.info.run_id
        items = [Param(k, v) for k, v in sorted(params.items())]
        for i in range(0, len(items), 100):
            self.client.log_batch(self.run_id, params=items[i : i + 100])
        return self.run_id

    def log_metrics(self, metrics: dict[str, float]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self._log_metric_items([Metric(k, float(v), now, 0) for k, v in sorted(metrics.items()) if _finite(v)])

    def log_power_timeline(self, rows: list[dict[str, float]]) -> None:
        """The meter's samples (`t_s`, `power_w`, `energy_j`) as step metrics, so the run's own chart draws
        power over time: step = sample number, timestamp = the sample's time, the first at the run's start."""
        from mlflow.entities import Metric

        if not rows:
            return
        start_ms = self.client.get_run(self.run_id).info.start_time
        t0 = rows[0]["t_s"]
        items = [
            Metric(name, float(row[key]), start_ms + int((row["t_s"] - t0) * 1000), step)
            for step, row in enumerate(rows)
            for key, name in TIMELINE_METRICS.items()
            if _finite(row.get(key))
        ]
        self._log_metric_items(items)

    def log_dataset(self, name: str, path: str | Path, rows: int) -> None:
        """The task's data as the run's MLflow dataset input: the UI's Dataset column and the run's
        Datasets section show its name, digest (of the file's bytes), source path and row count."""
        import hashlib
        import json

        from mlflow.entities import Dataset, DatasetInput, InputTag

        source = Path(path).expanduser().resolve()
        digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16] if source.is_file() else "unknown"
        dataset = Dataset(
            name=name, digest=digest, source_type="local", source=json.dumps({"uri": source.as_uri()}),
            profile=json.dumps({"num_rows": rows}),
        )
        context = InputTag(key="mlflow.data.context", value="evaluation")
        self.client.log_inputs(self.run_id, datasets=[DatasetInput(dataset, tags=[context])])

    def log_table(self, rows: list[dict[str, Any]], name: str = "requests.json") -> None:
        """Per-request results as an MLflow table (the run's Artifacts and the Evaluation view show it)."""
        import pandas as pd

        self.client.log_table(self.run_id, data=pd.DataFrame(rows), artifact_file=name)

    def _log_metric_items(self, items: list[Any]) -> None:
        for i in range(0, len(items), BATCH):
            self.client.log_batch(self.run_id, metrics=items[i : i + BATCH])

    def set_tags(self, tags: dict[str, str]) -> None:
        from mlflow.entities import RunTag

        self.client.log_batch(self.run_id, tags=[RunTag(k, str(v)[:5000]) for k, v in tags.items()])

    def log_artifact(self, path: Path, folder: str | None = None) -> None:
        self.client.log_artifact(self.run_id, str(path), artifact_path=folder)

    def finish(self, status: str = "FINISHED") -> None:
        self.client.set_terminated(self.run_id, status=status)

    def fail(self, kind: str, message: str) -> None:
        self.set_tags({"error.kind": kind, "error.message": message})
        self.finish("FAILED")

    def skip_if_done(self, config_hash: str, run_name: str, parent_run_id: str | None) -> str | None:
        """The finished run with this config hash, if any; a sweep's parent notes that its job was reused."""
        done = self.finished_run_with_tag(CONFIG_HASH_TAG, config_hash)
        if done is not None and parent_run_id:
            self.client.set_tag(parent_run_id, f"sweep.reused.{done}", run_name)
        return done

    @contextlib.contextmanager
    def recording(self, out_dir: Path) -> Iterator[None]:
        """The run's end as MLflow should show it: FINISHED with its files, or FAILED with the error's kind
        and message (the files so far logged), or KILLED when a scheduler preempts the job."""
        from sustain.tracking.artifacts import log_files

        try:
            yield
        except SustainError as exc:
            self.fail(exc.kind, str(exc))
            log_files(self, out_dir)
            raise
        except KeyboardInterrupt:
            self.fail("interrupted", "stopped by the user")
            log_files(self, out_dir)
            raise
        except SystemExit:  # a scheduler's preemption or time limit (submitit requeues the job)
            self.set_tags({"error.kind": "preempted", "error.message": "stopped by the scheduler; requeued"})
            self.finish("KILLED")
            raise
        except Exception as exc:
            self.fail("internal", f"{type(exc).__name__}: {exc}")
            log_files(self, out_dir)
            raise
        log_files(self, out_dir)
        self.finish()


def _experiment_tags() -> dict[str, str]:
    import json

    view = {"selectedColumns": RUNS_VIEW_COLUMNS, "orderByKey": "attributes.start_time", "orderByAsc": False}
    return {EXPERIMENT_KIND_TAG: CLASSIC_KIND, RUNS_VIEW_TAG: json.dumps(view)}


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False
