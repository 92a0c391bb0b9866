"""Reading runs out of an MLflow store for the report: only the metrics, tags and params it shows.

`MlflowClient.search_runs` materialises every metric, param and tag of every run as objects: about
4 minutes for 10,000 runs of 90 metrics on a 2-core machine. For a SQLite store (sustain's default) the
report reads the few keys it needs straight from the tables MLflow created (`runs`, `latest_metrics`,
`tags`, `params`, unchanged since MLflow 1.x), read-only, through ADBC's SQLite driver into Arrow batches
that are scattered into one column per key (100,000 runs in about a second, memory flat); any other store,
or a SQLite file whose schema does not answer those queries, goes through `search_runs` as before. Both give
the same `Raw` frames.

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
FEW_RUNS = 500  # up to this many runs, their values are found by the run index rather than a scan of the table
BATCH_ROWS = 65_536  # rows per Arrow batch of a columnar read: a few MB each, whatever the store's size
REUSED_PREFIX = "sweep.reused."
PARENT_TAG = "mlflow.parentRunId"
PROGRESS_BAR = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"


KINDS = ("metric", "tag", "param")


@dataclass(frozen=True)
class Query:
    experiment: str
    parent_run_id: str | None
    tags: dict[str, str]
    metrics: tuple[str, ...]
    tag_keys: tuple[str, ...]
    prefixes: tuple[str, ...]  # tags and params whose key starts with one of these (inputs of a figure)
    require: str | None = None  # only runs that logged this metric (a section's own runs, found by the index)
    kinds: tuple[str, ...] = KINDS  # the kinds of value to read (the others left empty)
    only: frozenset[str] | None = None  # only these of the runs found (a reduction the caller made of an earlier read)


@dataclass(frozen=True)
class Raw:
    """One row per run (run_id, run_name, start_time) and, per kind, its values: run_id-indexed frames with one
    column per key (floats for metrics, objects for tags and params; NaN where a run has no such key)."""

    runs: pd.DataFrame
    metric: pd.DataFrame
    tag: pd.DataFrame
    param: pd.DataFrame

    def wide(self, kind: str, keys: tuple[str, ...] | None = None) -> pd.DataFrame:
        """Values of one kind (metric, tag, param), one column per key: `keys` in that order when given."""
        table = getattr(self, kind)
        return table.reindex(columns=list(keys)) if keys is not None else table


def empty() -> Raw:
    return _raw(pd.DataFrame(columns=["run_id", "run_name", "start_time"]), {})


def _raw(runs: pd.DataFrame, values: dict[str, pd.DataFrame]) -> Raw:
    index = pd.Index(runs["run_id"], name="run_id")
    return Raw(runs, *(values[kind].set_axis(index) if kind in values else pd.DataFrame(index=index)
                       for kind in KINDS))


def columnar(tracking_uri: str) -> bool:
    """Whether `read` reads only the values asked for (a SQLite store), not every value of every run."""
    return tracking_uri.startswith("sqlite:///")


def read(tracking_uri: str, query: Query) -> Raw:
    """FINISHED, active runs of `query.experiment` (children of a sweep, or tagged as asked). A store or
    experiment that does not exist yields no runs rather than an error (nor a new empty sqlite file)."""
    if columnar(tracking_uri):
        path = Path(tracking_uri.removeprefix("sqlite:///"))
        if not path.is_file():
            return empty()
        try:
            return _read_sqlite(path, query)
        except (sqlite3.OperationalError, Unreadable):
            pass  # not the schema this reader knows: MLflow's own client answers instead
        except sqlite3.DatabaseError as exc:
            raise SustainError(f"MLflow store {tracking_uri} cannot be read ({exc}): check --tracking-uri.") from None
    return _read_client(tracking_uri, query)


def _read_sqlite(path: Path, query: Query) -> Raw:
    con = sqlite3.connect(_uri(path), uri=True)
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
        if query.require:
            where.append("run_uuid IN (SELECT run_uuid FROM latest_metrics WHERE key = ? AND NOT is_nan)")
            args.append(query.require)
        runs = _select(path, f"SELECT run_uuid AS run_id, name AS run_name, start_time FROM runs "
                             f"WHERE {' AND '.join(where)}", args)
        if query.parent_run_id:
            runs = pd.concat([runs, _reused_sqlite(con, query, set(runs["run_id"]))], ignore_index=True)
        runs = _only(runs, query)
        if runs.empty:
            return empty()
        keys = {"metric": query.metrics,
                "tag": tuple(dict.fromkeys((*query.tag_keys, *_prefixed(con, "tags", query.prefixes)))),
                "param": _prefixed(con, "params", query.prefixes)}
        keys = {kind: keys[kind] if kind in query.kinds else () for kind in KINDS}
        parts = [part for kind in KINDS if keys[kind] for part in _parts(con, kind, runs["run_id"], keys[kind])]
    finally:
        con.close()
    return _raw(runs, _columns(path, runs["run_id"], keys, parts))


def _only(runs: pd.DataFrame, query: Query) -> pd.DataFrame:
    return runs if query.only is None else runs[runs["run_id"].isin(query.only)].reset_index(drop=True)


class Unreadable(Exception):
    """The columnar reader could not answer (another schema): MLflow's client reads the store instead."""


def _uri(path: Path) -> str:
    return path.resolve().as_uri() + "?mode=ro"


VALUE_SQL = {"metric": ("latest_metrics", "CASE WHEN is_nan THEN NULL ELSE CAST(value AS REAL) END"),
             "tag": ("tags", "CAST(value AS TEXT)"), "param": ("params", "CAST(value AS TEXT)")}


def _select(path: Path, sql: str, args: list) -> pd.DataFrame:
    """A query's rows through ADBC's Arrow batches: 100,000 runs without a Python object per cell."""
    import adbc_driver_manager
    from adbc_driver_sqlite import dbapi

    try:
        with dbapi.connect(_uri(path)) as con, con.cursor() as cur:
            cur.execute(sql, args)
            table = cur.fetch_arrow_table()
    except adbc_driver_manager.Error as exc:
        raise Unreadable(str(exc)) from None
    return table.to_pandas() if table.num_rows else pd.DataFrame(columns=table.column_names)


def _columns(path: Path, run_ids: pd.Series, keys: dict[str, tuple[str, ...]],
             parts: list[tuple[str, str, list]]) -> dict[str, pd.DataFrame]:
    """Each kind's wanted keys as one column per key, one row per run of `run_ids`, read through ADBC's SQLite
    driver into Arrow batches and scattered into arrays: no Python object per value, so 100,000 runs take
    seconds and memory that does not grow with the table (issue 22). Many runs are read by scans of stretches
    of each table side by side, one connection per thread (SQLite decodes rows without holding the GIL)."""
    from concurrent.futures import ThreadPoolExecutor

    import adbc_driver_manager
    import pyarrow as pa

    ids = pa.array(run_ids, pa.string())
    grids = {kind: _Grid(kind, ids, keys[kind]) for kind in KINDS}
    try:
        with ThreadPoolExecutor(max(1, min(len(parts), _threads()))) as pool:
            list(pool.map(lambda part: _scan(path, part, grids[part[0]]), parts))
    except adbc_driver_manager.Error as exc:
        raise Unreadable(str(exc)) from None
    return {kind: grids[kind].frame() for kind in KINDS}


def _threads() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _parts(con: sqlite3.Connection, kind: str, run_ids: pd.Series,
           keys: tuple[str, ...]) -> list[tuple[str, str, list]]:
    """The queries that read one kind: few runs through the table's run index; many by sequential scans
    (NOT INDEXED: about twice as fast as the (key, run) index, whose every hit is a random read of the table),
    one per stretch of rowids, so that the stretches can be read side by side. (The rowid bounds are two queries:
    SQLite finds min() or max() alone in the table's b-tree, both in one query by reading every row.)"""
    table, value = VALUE_SQL[kind]
    marks = ",".join("?" * len(keys))
    if len(run_ids) <= FEW_RUNS:
        return [(kind, f"SELECT run_uuid, key, {value} FROM {table} WHERE +key IN ({marks}) "
                       f"AND run_uuid IN ({','.join('?' * len(run_ids))})", [*keys, *run_ids])]
    (low,), (high,) = (con.execute(f"SELECT {end}(rowid) FROM {table}").fetchone() for end in ("min", "max"))
    if low is None:
        return []
    sql = f"SELECT run_uuid, key, {value} FROM {table} NOT INDEXED WHERE key IN ({marks}) AND rowid BETWEEN ? AND ?"
    stretches = _threads()
    bounds = [low + (high - low + 1) * i // stretches for i in range(stretches + 1)]
    return [(kind, sql, [*keys, start, end - 1]) for start, end in zip(bounds, bounds[1:]) if end > start]


class _Grid:
    """One kind's values, one row per run and one column per key, filled batch by batch from any thread."""

    def __init__(self, kind: str, ids, keys: tuple[str, ...]) -> None:
        import threading

        import numpy as np
        import pyarrow as pa

        self.numeric = kind == "metric"
        self.ids, self.keys, self.key_set = ids, keys, pa.array(keys, pa.string())
        self.values = np.full((len(ids), len(keys)), np.nan if self.numeric else -1,
                              dtype=float if self.numeric else np.int64)
        self.names: dict[str, int] = {}  # each distinct text value's code
        self._lock = threading.Lock()

    def add(self, batch) -> None:
        import pyarrow.compute as pc

        rows = pc.index_in(batch.column(0), value_set=self.ids)
        found = pc.is_valid(rows)
        rows, cols = rows.filter(found).to_numpy(), pc.index_in(batch.column(1), value_set=self.key_set).filter(found)
        values = batch.column(2).filter(found)
        if self.numeric:
            self.values[rows, cols.to_numpy()] = values.to_numpy(zero_copy_only=False)
            return
        encoded = pc.dictionary_encode(values)
        with self._lock:
            self.values[rows, cols.to_numpy()] = _codes(encoded, self.names)

    def frame(self) -> pd.DataFrame:
        import numpy as np

        if not self.keys:
            return pd.DataFrame(index=range(len(self.ids)))
        if self.numeric:
            return pd.DataFrame(self.values, columns=list(self.keys))
        lookup = np.array([*self.names, np.nan], dtype=object)  # code -1 (no value) is the last: NaN
        return pd.DataFrame({key: lookup[self.values[:, j]] for j, key in enumerate(self.keys)},
                            columns=list(self.keys))


def _scan(path: Path, part: tuple[str, str, list], grid: _Grid) -> None:
    from adbc_driver_sqlite import dbapi

    _, sql, args = part
    with dbapi.connect(_uri(path)) as con, con.cursor() as cur:
        cur.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(BATCH_ROWS)})
        cur.execute(sql, args)
        for batch in cur.fetch_record_batch():
            grid.add(batch)


def _codes(encoded, names: dict[str, int]):
    """Codes of one batch's dictionary-encoded text values in `names` (grown as new values appear); -1 for NULL."""
    import numpy as np

    mapping = np.array([names.setdefault(v, len(names)) for v in encoded.dictionary.to_pylist()] + [-1],
                       dtype=np.int64)
    return mapping[encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)]


def _prefixed(con: sqlite3.Connection, table: str, prefixes: tuple[str, ...]) -> tuple[str, ...]:
    """The keys of `table` that start with one of `prefixes`, found by hopping along the (key, run) index: one
    lookup per distinct key, however many runs hold it (a DISTINCT over the ranges reads every entry)."""
    keys: list[str] = []
    for prefix in prefixes:
        end, op, low = prefix[:-1] + chr(ord(prefix[-1]) + 1), ">=", prefix
        while (row := con.execute(f"SELECT key FROM {table} WHERE key {op} ? AND key < ? ORDER BY key LIMIT 1",
                                  (low, end)).fetchone()) is not None:
            keys.append(row[0])
            op, low = ">", row[0]
    return tuple(keys)


def _reused_sqlite(con: sqlite3.Connection, query: Query, seen: set[str]) -> pd.DataFrame:
    """Finished runs a sweep skipped re-running (same config); the sweep's parent tags them `sweep.reused.<id>`."""
    keys = con.execute("SELECT key FROM tags WHERE run_uuid = ? AND key >= ? AND key < ?",
                       (query.parent_run_id, REUSED_PREFIX, REUSED_PREFIX[:-1] + "/")).fetchall()
    ids = [k.removeprefix(REUSED_PREFIX) for (k,) in keys if k.removeprefix(REUSED_PREFIX) not in seen]
    if not ids:
        return pd.DataFrame(columns=["run_id", "run_name", "start_time"])
    marks = ",".join("?" * len(ids))
    required, args = "", list(ids)
    if query.require:
        required = " AND run_uuid IN (SELECT run_uuid FROM latest_metrics WHERE key = ? AND NOT is_nan)"
        args.append(query.require)
    return pd.read_sql_query(f"SELECT run_uuid AS run_id, name AS run_name, start_time FROM runs WHERE status = "
                             f"'FINISHED' AND run_uuid IN ({marks}){required}", con, params=args)


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
    def wanted(key: str, names: tuple[str, ...]) -> bool:
        return key in names or key.startswith(query.prefixes)

    if query.require:
        runs = [r for r in runs if not math.isnan(r.data.metrics.get(query.require, math.nan))]
    if query.only is not None:
        runs = [r for r in runs if r.info.run_id in query.only]
    heads = pd.DataFrame([(r.info.run_id, r.info.run_name, r.info.start_time) for r in runs],
                         columns=["run_id", "run_name", "start_time"])
    metrics = [{k: v for k, v in r.data.metrics.items() if k in query.metrics} if "metric" in query.kinds else {}
               for r in runs]
    tags = [{k: v for k, v in r.data.tags.items() if wanted(k, query.tag_keys)} if "tag" in query.kinds else {}
            for r in runs]
    params = [{k: v for k, v in r.data.params.items() if wanted(k, ())} if "param" in query.kinds else {} for r in runs]
    return _raw(heads, {"metric": pd.DataFrame.from_records(metrics, columns=_keys(metrics)).astype(float),
                        "tag": pd.DataFrame.from_records(tags, columns=_keys(tags)).astype(object),
                        "param": pd.DataFrame.from_records(params, columns=_keys(params)).astype(object)})


def _keys(records: list[dict]) -> list[str]:
    return sorted({k for record in records for k in record})


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
