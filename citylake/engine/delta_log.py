"""Reading a Delta table's transaction log without Spark: versions and commit infos.

Progress across steps is decided from what the lake holds (citylake.lake.progress), and most of
those questions are about the newest few commits of a table: its version, the batch a commit
carried, the days it touched. Each is a listing or one small JSON file, where Spark would
replay the table's state (``DeltaTable.history`` starts a job, and so does a write with a
``txnAppId``). Schemas, file lists and small tables' rows are read with delta-rs.
"""

from __future__ import annotations

import contextlib
import json
import re
from typing import Any

from citylake.engine.storage import Store, delta_rs_location, store_for

COMMIT = re.compile(r"^(\d{20})\.json$")
LOG = "_delta_log"


def _log(path: str) -> str:
    return f"{path.rstrip('/')}/{LOG}"


def latest_version(path: str, store: Store | None = None) -> int | None:
    """The table's newest committed version, or None when ``path`` holds no Delta table."""
    store = store or store_for(path)
    log = _log(path)
    start = None
    try:
        checkpoint = json.loads(store.read_bytes(f"{log}/_last_checkpoint"))
        start = f"{int(checkpoint['version']):020d}"
    except (FileNotFoundError, ValueError, KeyError):
        pass  # no checkpoint yet: list the whole log
    versions = [int(m.group(1)) for n in store.list_names(log, start_after=start) if (m := COMMIT.match(n))]
    if versions:
        return max(versions)
    return int(start) if start is not None else None


# what an erasure keeps of the commits whose log entries it purged (citylake.privacy.purge): each
# one's commitInfo, so a batch's identity outlives its log entry and a rebuild still finds it
KEPT_COMMITS = "_citylake/commit_info.json"


def kept_commit_info(path: str, store: Store | None = None) -> dict[int, dict[str, Any]]:
    store = store or store_for(path)
    try:
        kept = json.loads(store.read_bytes(f"{path.rstrip('/')}/{KEPT_COMMITS}"))
    except FileNotFoundError:
        return {}
    return {int(v): info for v, info in kept.items()}


def commit_info(path: str, version: int, store: Store | None = None) -> dict[str, Any] | None:
    """The ``commitInfo`` action of one commit (operation, metrics, userMetadata parsed as JSON
    when it is JSON), or None if that commit's file is gone (log clean-up) or has none."""
    store = store or store_for(path)
    try:
        raw = store.read_bytes(f"{_log(path)}/{version:020d}.json")
    except FileNotFoundError:
        return kept_commit_info(path, store).get(version)
    for line in raw.decode("utf-8").splitlines():
        if '"commitInfo"' not in line:
            continue
        info: dict[str, Any] = json.loads(line)["commitInfo"]
        meta = info.get("userMetadata")
        if isinstance(meta, str):
            with contextlib.suppress(ValueError):  # not every writer puts JSON there
                info["userMetadata"] = json.loads(meta)
        return info
    return None


def user_metadata(path: str, version: int, store: Store | None = None) -> dict[str, Any]:
    info = commit_info(path, version, store)
    meta = (info or {}).get("userMetadata")
    return meta if isinstance(meta, dict) else {}


def commits_since(path: str, since_ms: int, store: Store | None = None) -> list[tuple[int, dict[str, Any]]]:
    """(version, commitInfo) of every commit made at or after ``since_ms`` (epoch ms), newest first."""
    store = store or store_for(path)
    latest = latest_version(path, store)
    out = []
    for v in range(latest if latest is not None else -1, -1, -1):
        info = commit_info(path, v, store)
        if info is None or int(info.get("timestamp", 0)) < since_ms:
            break
        out.append((v, info))
    return out


def find_commit(
    path: str, key: str, value: str, since_ms: int = 0, store: Store | None = None, depth: int = 200
) -> int | None:
    """The newest commit whose userMetadata has ``key == value``: among those made since
    ``since_ms`` when given (a crashed run's commits come after its write-ahead record), else
    among the last ``depth``.

    This is the idempotence check of a replayed write: one look at a few small JSON files,
    where a write's ``txnAppId`` makes Delta rebuild the table's state with Spark jobs.
    """
    store = store or store_for(path)
    if since_ms:
        found = [v for v, info in commits_since(path, since_ms, store) if _meta(info).get(key) == value]
        return found[0] if found else None
    latest = latest_version(path, store)
    if latest is None:
        return None
    for v in range(latest, max(-1, latest - depth), -1):
        if user_metadata(path, v, store).get(key) == value:
            return v
    return None


def _meta(info: dict[str, Any]) -> dict[str, Any]:
    meta = info.get("userMetadata")
    return meta if isinstance(meta, dict) else {}


def field_names(path: str) -> list[str]:
    """The table's column names, from its newest schema (delta-rs: no Spark job)."""
    from deltalake import DeltaTable

    uri, options = delta_rs_location(path)
    return [f.name for f in DeltaTable(uri, storage_options=options).schema().fields]


def configuration(path: str) -> dict[str, str]:
    """The table's properties (``TBLPROPERTIES``), from its newest metadata (delta-rs: no Spark job)."""
    from deltalake import DeltaTable

    uri, options = delta_rs_location(path)
    return dict(DeltaTable(uri, storage_options=options).metadata().configuration)


def sql_literal(value: Any) -> str:
    """A value as a SQL literal for delta-rs's engine (strings quoted, quotes doubled)."""
    import datetime as dt

    if isinstance(value, dt.datetime):
        return f"TIMESTAMP '{value.isoformat(sep=' ')}'"
    if isinstance(value, dt.date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def rows(
    path: str, columns: list[str], where: list[tuple[str, str, Any]] | None = None
) -> list[dict[str, Any]]:
    """A small table's rows (``where``: ``(column, op, value)`` conditions, all of them), read by
    delta-rs's own engine. No JVM, and no pyarrow dataset scan: a filtered one can leave a
    read-ahead behind that aborts the interpreter at exit (delta-rs reads through a Python
    filesystem there)."""
    import pyarrow as pa
    from deltalake import DeltaTable, QueryBuilder
    from deltalake.exceptions import TableNotFoundError

    uri, options = delta_rs_location(path)
    try:
        table = DeltaTable(uri, storage_options=options)
    except TableNotFoundError:
        return []
    cond = " AND ".join(f'"{c}" {op} {sql_literal(v)}' for c, op, v in where or [])
    sql = f"SELECT {', '.join(f'{chr(34)}{c}{chr(34)}' for c in columns)} FROM t" + (
        f" WHERE {cond}" if cond else ""
    )
    out: list[dict[str, Any]] = pa.table(
        QueryBuilder().register("t", table).execute(sql).read_all()
    ).to_pylist()
    return out


def file_count(path: str) -> int:
    """Data files in the table's current version (delta-rs: no DESCRIBE DETAIL job)."""
    from deltalake import DeltaTable

    uri, options = delta_rs_location(path)
    return len(DeltaTable(uri, storage_options=options).file_uris())


def has_files(path: str, partition: str | None = None, values: list[Any] | None = None) -> bool:
    """Whether the table has data files (in the partitions ``partition IN values``, if given)."""
    from deltalake import DeltaTable

    uri, options = delta_rs_location(path)
    table = DeltaTable(uri, storage_options=options)
    if partition is None:
        return bool(table.file_uris())
    wanted = [v.isoformat() if hasattr(v, "isoformat") else str(v) for v in values or []]
    return bool(wanted) and bool(table.file_uris(partition_filters=[(partition, "in", wanted)]))
