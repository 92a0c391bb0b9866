"""Reading runs out of an MLflow store for the report: only the metrics, tags and params it shows.

`MlflowClient.search_runs` materialises every metric, param and tag of every run as objects: about
4 minutes for 10,000 runs of 90 metrics on a 2-core machine. For a SQLite store (sustain's default) the
report reads the few keys it needs straight from the tables MLflow created (`runs`, `latest_metrics`,
`tags`, `params`, unchanged since MLflow 1.x), read-only; any other store, or a SQLite file whose schema
does not answer those queries, goes through `search_runs` as before. Both give the same `Raw` frames.

A few runs' every param and their MLflow tables (`Tracker.log_table`) are read through MLflow's client, run
by run: the report asks for them only for the runs of a section that needs them (sessions runs).
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sustain.errors import SustainError

PAGE = 1000
REUSED_PREFIX = "sweep.reused."
PARENT_TAG = "mlflow.parentRunId"
PROGRESS_BAR = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"


@dataclass(frozen=True)
class Query:
    experiment: str
    parent_run_id: str | None
    tags: dict[str, str]
    metrics: tuple[str, ...]
    tag_keys: tuple[str, ...]
    prefixes: tuple[str, ...]  # tags and params whose key starts with one of these (inputs of a figure)


@dataclass(frozen=True)
class Raw:
    """One row per run (run_id, run_name, start_time) and its values in long form (run_id, kind, key, value)."""

    runs: pd.DataFrame
    values: pd.DataFrame

    def wide(self, kind: str, keys: tuple[str, ...] | None = None) -> pd.DataFrame:
        """Values of one kind (metric, tag, param) as a run_id-indexed frame, one column per key."""
        rows = self.values[self.values["kind"] == kind]
        table = rows.pivot_table(index="run_id", columns="key", values="value", aggfunc="first")
        table = table.reindex(self.runs["run_id"])
        return table.reindex(columns=list(keys)) if keys is not None else table


def empty() -> Raw:
    return Raw(pd.DataFrame(columns=["run_id", "run_name", "start_time"]),
               pd.DataFrame(columns=["run_id", "kind", "key", "value"]))


def read(tracking_uri: str, query: Query) -> Raw:
    """FINISHED, active runs of `query.experiment` (children of a sweep, or tagged as asked). A store or
    experiment that does not exist yields no runs rather than an error (nor a new empty sqlite file)."""
    if tracking_uri.startswith("sqlite:///"):
        path = Path(tracking_uri.removeprefix("sqlite:///"))
        if not path.is_file():
            return empty()
        try:
            return _read_sqlite(path, query)
        except sqlite3.OperationalError:
            pass  # not the schema this reader knows: MLflow's own client answers instead
        except sqlite3.DatabaseError as exc:
            raise SustainError(f"MLflow store {tracking_uri} cannot be read ({exc}): check --tracking-uri.") from None
    return _read_client(tracking_uri, query)


def _read_sqlite(path: Path, query: Query) -> Raw:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        found = con.execute("SELECT experiment_id FROM experiments WHERE name = ? AND lifecycle_stage = 'active'",
                            (query.experiment,)).fetchone()
        if found is None:
            return empty()
        where, args = ["experiment_id = ?", "status = 'FINISHED'", "lifecycle_stage = 'active'"], [found[0]]
        tags = dict(query.tags)
        if query.parent_run_id:
            tags[PARENT_TAG] = query.parent_run_id
        for key, value in tags.items():
            where.append("run_uuid IN (SELECT run_uuid FROM tags WHERE key = ? AND value = ?)")
            args += [key, value]
        runs = pd.read_sql_query(f"SELECT run_uuid AS run_id, name AS run_name, start_time FROM runs "
                                 f"WHERE {' AND '.join(where)}", con, params=args)
        if query.parent_run_id:
            runs = pd.concat([runs, _reused_sqlite(con, query.parent_run_id, set(runs["run_id"]))], ignore_index=True)
        values = _values_sqlite(con, query)
    finally:
        con.close()
    return Raw(runs, values[values["run_id"].isin(set(runs["run_id"]))].reset_index(drop=True))


def _reused_sqlite(con: sqlite3.Connection, parent: str, seen: set[str]) -> pd.DataFrame:
    """Finished runs a sweep skipped re-running (same config); the sweep's parent tags them `sweep.reused.<id>`."""
    keys = con.execute("SELECT key FROM tags WHERE run_uuid = ? AND key >= ? AND key < ?",
                       (parent, REUSED_PREFIX, REUSED_PREFIX[:-1] + "/")).fetchall()
    ids = [k.removeprefix(REUSED_PREFIX) for (k,) in keys if k.removeprefix(REUSED_PREFIX) not in seen]
    if not ids:
        return pd.DataFrame(columns=["run_id", "run_name", "start_time"])
    marks = ",".join("?" * len(ids))
    return pd.read_sql_query(f"SELECT run_uuid AS run_id, name AS run_name, start_time FROM runs WHERE status = "
                             f"'FINISHED' AND run_uuid IN ({marks})", con, params=ids)


def _values_sqlite(con: sqlite3.Connection, query: Query) -> pd.DataFrame:
    """Only the wanted keys. A sequential scan (NOT INDEXED) reads them about twice as fast as the (key, run)
    index, whose every hit is a random read of the table."""
    def keys_in(keys: tuple[str, ...]) -> str:
        return ",".join("?" * len(keys)) or "NULL"

    ranges = " OR ".join("(key >= ? AND key < ?)" for _ in query.prefixes) or "0"
    bounds = [b for p in query.prefixes for b in (p, p[:-1] + chr(ord(p[-1]) + 1))]
    metrics = pd.read_sql_query(
        f"SELECT run_uuid AS run_id, 'metric' AS kind, key, CASE WHEN is_nan THEN NULL ELSE value END AS value "
        f"FROM latest_metrics NOT INDEXED WHERE key IN ({keys_in(query.metrics)})", con, params=list(query.metrics))
    tags = pd.read_sql_query(
        f"SELECT run_uuid AS run_id, 'tag' AS kind, key, value FROM tags NOT INDEXED "
        f"WHERE key IN ({keys_in(query.tag_keys)}) OR {ranges}", con, params=[*query.tag_keys, *bounds])
    params = pd.read_sql_query(f"SELECT run_uuid AS run_id, 'param' AS kind, key, value FROM params WHERE {ranges}",
                               con, params=bounds)
    return pd.concat([metrics.astype({"value": object}), tags, params], ignore_index=True)


def _read_client(tracking_uri: str, query: Query) -> Raw:
    from mlflow.tracking import MlflowClient

    clauses = ["attributes.status = 'FINISHED'"]
    if query.parent_run_id:
        clauses.append(f"tags.`{PARENT_TAG}` = {quote(query.parent_run_id)}")
    clauses += [f"tags.`{k}` = {quote(v)}" for k, v in query.tags.items()]
    try:
        client = MlflowClient(tracking_uri=tracking_uri)
        found = client.get_experiment_by_name(query.experiment)
        if found is None:
            return empty()
        runs, token = [], None
        while True:
            page = client.search_runs([found.experiment_id], " and ".join(clauses), max_results=PAGE, page_token=token)
            runs.extend(page)
            token = page.token
            if not token:
                break
        if query.parent_run_id:
            runs.extend(_reused_client(client, query.parent_run_id, {r.info.run_id for r in runs}))
    except SustainError:
        raise
    except Exception as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise SustainError(f"MLflow store {tracking_uri} cannot be read ({first}): check --tracking-uri.") from None
    return _raw_from_runs(runs, query)


def _reused_client(client, parent_run_id: str, seen: set[str]) -> list:
    tags = client.get_run(parent_run_id).data.tags
    ids = [key.removeprefix(REUSED_PREFIX) for key in tags if key.startswith(REUSED_PREFIX)]
    return [run for run in (client.get_run(i) for i in ids if i not in seen) if run.info.status == "FINISHED"]


def _raw_from_runs(runs: list, query: Query) -> Raw:
    heads, values = [], []

    def wanted(key: str, names: tuple[str, ...]) -> bool:
        return key in names or key.startswith(query.prefixes)

    for run in runs:
        run_id = run.info.run_id
        heads.append((run_id, run.info.run_name, run.info.start_time))
        values += [(run_id, "metric", k, None if math.isnan(v) else v)
                   for k, v in run.data.metrics.items() if k in query.metrics]
        values += [(run_id, "tag", k, v) for k, v in run.data.tags.items() if wanted(k, query.tag_keys)]
        values += [(run_id, "param", k, v) for k, v in run.data.params.items() if wanted(k, ())]
    return Raw(pd.DataFrame(heads, columns=["run_id", "run_name", "start_time"]),
               pd.DataFrame(values, columns=["run_id", "kind", "key", "value"]))


def quote(value: str) -> str:
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    raise SustainError(f"filter value {value!r} holds both quote characters, which MLflow filters cannot express.")


def run_params(tracking_uri: str, run_ids: list[str]) -> dict[str, dict[str, str]]:
    """Every param of each run (its flattened config), for telling which runs differ in one setting only."""
    client = _client(tracking_uri)
    return {run_id: dict(_call(tracking_uri, lambda: client.get_run(run_id)).data.params) for run_id in run_ids}


def read_table(tracking_uri: str, run_id: str, name: str) -> pd.DataFrame | None:
    """A table the run logged with `Tracker.log_table` (MLflow's `{"columns", "data"}` JSON); None where the
    run has no such artifact (it ran before the table was logged)."""
    client = _client(tracking_uri)
    if name not in {a.path for a in _call(tracking_uri, lambda: client.list_artifacts(run_id))}:
        return None
    previous = os.environ.get(PROGRESS_BAR)
    os.environ[PROGRESS_BAR] = "false"  # one bar per run on stderr says nothing a report reader needs
    try:
        with tempfile.TemporaryDirectory() as folder:
            path = _call(tracking_uri, lambda: client.download_artifacts(run_id, name, folder))
            table = json.loads(Path(path).read_text(encoding="utf-8"))
    finally:
        if previous is None:
            os.environ.pop(PROGRESS_BAR, None)
        else:
            os.environ[PROGRESS_BAR] = previous
    return pd.DataFrame(table["data"], columns=table["columns"])


def _client(tracking_uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri)


def _call(tracking_uri: str, fetch):
    try:
        return fetch()
    except Exception as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise SustainError(f"MLflow store {tracking_uri} cannot be read ({first}): check --tracking-uri.") from None
