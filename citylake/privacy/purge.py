"""Purge, not just delete: after an erasure, an erased table keeps no byte of its past.

A Delta DELETE only writes a new version; the old files stay readable by time travel, and the
log keeps their statistics (32-character prefixes of strings). For each table an erasure
touched, and only those (no session-wide zero retention, so other tables' time travel is
untouched):

1. the erasure's last commit marks the table (``ERASED_BY``, ``ERASED_FROM``) and shortens
   its log retention;
2. a checkpoint is written at that version (delta-rs), so the log can start there;
3. every data file the current version does not reference goes: the files the erasure
   replaced, older versions' files, change-data files and deletion vectors; on S3 every
   version of each;
4. every log entry before the checkpoint goes (commits, checksums, older checkpoints).

Time travel to a version before the erasure then fails; `citylake query` names the request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from citylake.engine.storage import delta_rs_location
from citylake.lake import Lake
from citylake.privacy import objects

ERASED_BY = "citylake.erasure.request"
ERASED_FROM = "citylake.erasure.fromVersion"
# how long an erased table's log keeps old entries from now on (Delta's default is 30 days)
SHORT_LOG_RETENTION = "interval 7 days"  # Delta allows no less than the file retention
_LOG_ENTRY = re.compile(r"^(\d{20})\.(json|crc|checkpoint(\.\d+\.\d+)?\.parquet|checkpoint\.[0-9a-f-]+\.(json|parquet))$")


@dataclass
class Purged:
    table: str
    version: int
    data_files: list[str] = field(default_factory=list)
    log_entries: list[str] = field(default_factory=list)
    object_versions: int = 0

    def json(self) -> dict[str, Any]:
        return {"table": self.table, "checkpoint_version": self.version, "data_files_purged": len(self.data_files),
                "log_entries_purged": len(self.log_entries), "object_versions_deleted": self.object_versions}  # fmt: skip


def _referenced(path: str) -> tuple[int, set[str]]:
    """The newest version and the files it references (relative to the table)."""
    import pyarrow as pa
    from deltalake import DeltaTable

    uri, options = delta_rs_location(path)
    table = DeltaTable(uri, storage_options=options)
    adds = pa.table(table.get_add_actions(flatten=True))
    files = {unquote(p) for p in adds.column("path").to_pylist()} if adds.num_rows else set()
    return table.version(), files


def checkpoint(path: str) -> int:
    from deltalake import DeltaTable

    uri, options = delta_rs_location(path)
    table = DeltaTable(uri, storage_options=options)
    table.create_checkpoint()
    return table.version()


def forget(spark: Any, path: str) -> None:
    """Drop Spark's cached log of ``path``: it lists the commits just purged."""
    jvm = spark._jvm
    jvm.org.apache.spark.sql.delta.DeltaLog.invalidateCache(spark._jsparkSession, jvm.org.apache.hadoop.fs.Path(path))


def time_travel_refused(tables: list[Any]) -> list[str]:
    """For a failed time travel: which of ``tables`` (TableRef) an erasure purged, and by which
    request, in words; empty when none was."""
    from citylake.engine import delta_log

    out = []
    for t in tables:
        conf = delta_log.configuration(t.path)
        if ERASED_BY in conf:
            out.append(f"{t.qualified}: versions before {conf.get(ERASED_FROM)} were purged by subject erasure "
                       f"request {conf[ERASED_BY]} (PIPL Art. 47); time travel reaches v{conf.get(ERASED_FROM)} "
                       "and later")  # fmt: skip
    return out


def keep_commit_info(lake: Lake, path: str, before: int) -> None:
    """Keep the commitInfo of every commit before ``before`` (what the pipeline reads from it:
    operation, userMetadata, metrics, time), beside the log, before those entries go. It names
    batches, runs and columns, never a value (a MERGE's predicate names columns only)."""
    import json

    from citylake.engine import delta_log

    kept = {str(v): i for v, i in delta_log.kept_commit_info(path).items()}
    for v in range(before):
        if str(v) in kept:
            continue
        info = delta_log.commit_info(path, v)
        if info is not None:
            kept[str(v)] = {k: info[k] for k in ("timestamp", "operation", "userMetadata", "operationMetrics") if k in info}
    objects.replace(lake, f"{path.rstrip('/')}/{delta_log.KEPT_COMMITS}",
                    json.dumps(kept, sort_keys=True).encode())  # fmt: skip


def purge_table(lake: Lake, path: str, qualified: str) -> Purged:
    """Steps 2-4 of the module doc for the table at ``path`` (step 1 is the caller's commit)."""
    from citylake.engine import fence

    fence.check(f"purging {qualified}")
    version = checkpoint(path)
    latest, referenced = _referenced(path)
    if latest != version:  # the lock should make this impossible: stop rather than purge a moving table
        raise RuntimeError(f"{qualified}: a commit arrived during the purge (v{version} -> v{latest})")
    out = Purged(qualified, version)
    keep_commit_info(lake, path, version)
    prefix = path.rstrip("/") + "/"
    for o in objects.walk_prefix(lake, prefix):
        rel = o[len(prefix):]
        if rel.startswith("_delta_log/"):
            name = rel[len("_delta_log/"):]
            # a local filesystem keeps Hadoop's checksum beside each entry: ".<entry>.crc"
            m = _LOG_ENTRY.match(name[1:-4] if name.startswith(".") and name.endswith(".crc") else name)
            if m and int(m.group(1)) < version:
                out.object_versions += objects.purge(lake, o)
                out.log_entries.append(rel)
            elif name == "_last_checkpoint":
                out.object_versions += objects.drop_old_versions(lake, o)
            continue
        if rel not in referenced and not rel.startswith("_citylake/"):
            out.object_versions += objects.purge(lake, o)
            out.data_files.append(rel)
    return out
