"""The _system and quarantine tables that account for every landed record.

- ``_system/file_manifest``: append-only status events per landed file (pending, loaded, ...).
  The newest event per file is its state; pending events are the write-ahead intent that lets a
  crashed batch be replayed under the same Delta transaction id.
- ``_system/run_ledger``: one row per run, unit, feed and file, with landed/bronze/quarantined
  counts; the invariant is ``rows_landed = rows_bronze + rows_quarantined``.
- ``_system/runs``: one row per run.
- ``quarantine/bronze_records``: records that did not parse, with file, record number, raw text
  and reason. ``quarantine/rejected_files``: files set aside whole, with reason and a copy (a
  duplicate: its sha256 and no copy, its bytes being its original's).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from citylake.engine import delta_io, fence
from citylake.lake import (
    BRONZE_AUDIT,
    BRONZE_RECORDS,
    DQ_RESULTS,
    DQ_ROWS,
    FILE_MANIFEST,
    PROGRESS,
    PUBLICATIONS,
    REJECTED_FILES,
    RUN_LEDGER,
    RUNS,
    Lake,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession
    from pyspark.sql.types import StructType

APPEND_ONLY = {"delta.appendOnly": "true"}

# status of a file in the manifest / ledger
LOADED, REJECTED, DUPLICATE, CONFLICT, FAILED, PENDING, SKIPPED = (
    "loaded",
    "rejected",
    "duplicate",
    "conflict",
    "failed",
    "pending",
    "skipped",
)
# a delivery not complete yet (citylake.lake.completeness): left in landing, in the ledger only
WAITING = "waiting"
# recorded in the run's ledger rows, never in the manifest: they decide nothing about the file
PER_RUN_STATUSES = (SKIPPED, WAITING)
# statuses that make a run partial: someone has to look at them
PROBLEM_STATUSES = (REJECTED, CONFLICT, FAILED)


def _schema(ddl: str) -> StructType:
    from pyspark.sql.types import StructType

    schema = StructType.fromDDL(ddl)
    assert isinstance(schema, StructType)
    return schema


_ARROW = {"STRING": "string", "LONG": "int64", "DOUBLE": "float64", "BOOLEAN": "bool", "DATE": "date32",
          "TIMESTAMP": "timestamp"}  # fmt: skip


def arrow_schema(ddl: str) -> Any:
    """The pyarrow schema of one of the DDL strings below (no JVM needed to parse them)."""
    import pyarrow as pa

    def typ(t: str) -> Any:
        if t.startswith("ARRAY<"):
            return pa.list_(typ(t[6:-1]))
        if t == "TIMESTAMP":
            return pa.timestamp("us", tz="UTC")  # Spark's TIMESTAMP: an instant, stored as UTC
        return pa.type_for_alias(_ARROW[t])

    fields = []
    for part in ddl.split(", "):
        name, t, *rest = part.split(" ")
        fields.append(pa.field(name, typ(t), nullable=rest != ["NOT", "NULL"]))
    return pa.schema(fields)


MANIFEST_DDL = (
    "file STRING NOT NULL, unit STRING, feed STRING, contract STRING, logical_date DATE, size LONG, "
    "sha256 STRING, status STRING NOT NULL, batch_id STRING, bronze_version LONG, records LONG, "
    "reason STRING, run_id STRING, recorded_at TIMESTAMP"
)
LEDGER_DDL = (
    "run_id STRING NOT NULL, logical_date DATE, unit STRING, feed STRING, contract STRING, file STRING, "
    "status STRING, reason STRING, rows_landed LONG, rows_bronze LONG, rows_quarantined LONG, "
    "rows_dq_dropped LONG, bytes LONG, sha256 STRING, batch_id STRING, bronze_version LONG, started_at TIMESTAMP, finished_at TIMESTAMP, "
    "duration_s DOUBLE, schema_drift STRING"
)
RUNS_DDL = (
    "run_id STRING NOT NULL, logical_date DATE, status STRING, started_at TIMESTAMP, finished_at TIMESTAMP, "
    "duration_s DOUBLE, files LONG, rows_landed LONG, rows_bronze LONG, rows_quarantined LONG, "
    "failed_feeds LONG, detail STRING"
)
DQ_RESULTS_DDL = (
    "run_id STRING NOT NULL, logical_date DATE, layer STRING, dataset STRING, unit STRING, feed STRING, "
    "contract STRING, suite STRING, expectation_id STRING, expectation_type STRING, column STRING, "
    "severity STRING, rows_checked LONG, failures LONG, success BOOLEAN, observed STRING, verdict STRING, "
    "validation_id STRING, recorded_at TIMESTAMP"
)
DQ_ROWS_DDL = (
    "run_id STRING, logical_date DATE, unit STRING, feed STRING, contract STRING, source_file STRING, "
    "record_no LONG, failed_expectations ARRAY<STRING>, reason STRING, record STRING, batch_id STRING, "
    "quarantined_at TIMESTAMP"
)
PUBLICATIONS_DDL = (
    "run_id STRING NOT NULL, logical_date DATE, layer STRING, dataset STRING, status STRING, reason STRING, "
    "rows LONG, delta_version LONG, previous_version LONG, validation_id STRING, published_path STRING, "
    "recorded_at TIMESTAMP"
)
PROGRESS_DDL = (
    "run_id STRING NOT NULL, logical_date DATE, step STRING, target STRING, source STRING, upto LONG, "
    "version LONG, days ARRAY<DATE>, recorded_at TIMESTAMP"
)
AUDIT_DDL = (
    "batch_id STRING NOT NULL, run_id STRING, logical_date DATE, contract STRING, unit STRING, feed STRING, "
    "bronze_versions ARRAY<LONG>, rows LONG, rows_quarantined LONG, verdict STRING, reason STRING, "
    "audited_at TIMESTAMP"
)
QUARANTINE_DDL = (
    "run_id STRING, logical_date DATE, unit STRING, feed STRING, contract STRING, source_file STRING, "
    "record_no LONG, raw_text STRING, reason STRING, batch_id STRING, quarantined_at TIMESTAMP"
)
REJECTED_DDL = (
    "run_id STRING, logical_date DATE, unit STRING, feed STRING, source_file STRING, status STRING, "
    "reason STRING, records LONG, size LONG, sha256 STRING, copy_path STRING, recorded_at TIMESTAMP"
)

TABLES: dict[tuple[str, str], str] = {
    ("_system", FILE_MANIFEST): MANIFEST_DDL,
    ("_system", RUN_LEDGER): LEDGER_DDL,
    ("_system", RUNS): RUNS_DDL,
    ("_system", DQ_RESULTS): DQ_RESULTS_DDL,
    ("_system", PUBLICATIONS): PUBLICATIONS_DDL,
    ("_system", PROGRESS): PROGRESS_DDL,
    ("_system", BRONZE_AUDIT): AUDIT_DDL,
    ("quarantine", DQ_ROWS): DQ_ROWS_DDL,
    ("quarantine", BRONZE_RECORDS): QUARANTINE_DDL,
    ("quarantine", REJECTED_FILES): REJECTED_DDL,
}


def record_of(obj: Any, fields: tuple[str, ...], optional: frozenset[str] = frozenset()) -> dict[str, Any]:
    """``obj``'s ``fields`` as a JSON record, in that order; an ``optional`` one only when set."""
    values = ((k, getattr(obj, k)) for k in fields)
    return {k: v for k, v in values if k not in optional or v not in (None, "")}


# A quoted literal in an error text is often a record's value (Spark's "The value '...' of the
# type ...", Python's "invalid literal for int(): '...'"); names Spark quotes with backticks.
_QUOTED = re.compile(r"(?<![A-Za-z0-9])'[^'\n]*'(?![A-Za-z0-9])")


def short_error(exc: BaseException) -> str:
    """The first line of an error, for a ledger or publication reason; quoted literals left out,
    as they may be values (reasons are shown where values must not be)."""
    text = str(exc).strip().splitlines()
    return _QUOTED.sub("'…'", text[0] if text else type(exc).__name__)[:500]


def quarantine_origin(run_id: str, date: dt.date, contract: str) -> list[Any]:
    """The leading columns of a quarantine row, bronze's or silver's: the run, and the unit, feed,
    file and record number the row came from (the frame carries ``_unit``, ``_feed``,
    ``_source_file`` and ``_record_no``)."""
    from pyspark.sql import functions as F

    return [
        F.lit(run_id).alias("run_id"),
        F.lit(date).cast("date").alias("logical_date"),
        F.col("_unit").alias("unit"),
        F.col("_feed").alias("feed"),
        F.lit(contract).alias("contract"),
        F.col("_source_file").alias("source_file"),
        F.col("_record_no").alias("record_no"),
    ]


# Written by Spark jobs (DataFrames of records); every other table here gets rows from the driver.
SPARK_WRITTEN = (("quarantine", BRONZE_RECORDS), ("quarantine", DQ_ROWS))


def ensure_system_tables(spark: SparkSession, lake: Lake) -> None:
    """Declare the tables Spark appends to; the driver's tables are created by their first append."""
    for zone, name in SPARK_WRITTEN:
        delta_io.ensure_table(
            spark, lake.table(zone, name), _schema(TABLES[(zone, name)]), properties=APPEND_ONLY
        )


def append_rows(
    lake: Lake,
    zone: str,
    name: str,
    rows: Iterable[dict[str, Any]],
    txn_app_id: str | None = None,
) -> None:
    """Append bookkeeping rows with delta-rs: a commit of a few rows costs no Spark job.

    With ``txn_app_id`` the commit records that id, and a second append under it is skipped
    (the idempotent-write contract Spark's ``txnAppId`` gives, checked here before writing).
    """
    import pyarrow as pa
    from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake
    from deltalake.exceptions import TableNotFoundError

    from citylake.engine.storage import delta_rs_location

    rows = list(rows)
    if not rows:
        return
    uri, options = delta_rs_location(lake.table(zone, name))
    if txn_app_id:
        try:
            if DeltaTable(uri, storage_options=options).transaction_version(txn_app_id) is not None:
                return
        except TableNotFoundError:
            pass
    schema = arrow_schema(TABLES[(zone, name)])
    # naive datetimes are the machine's local time, as Spark would read them
    data = pa.Table.from_pylist(
        [{f.name: _aware(r.get(f.name)) for f in schema} for r in rows], schema=schema
    )
    commit = CommitProperties(app_transactions=[Transaction(txn_app_id, 1)]) if txn_app_id else None
    fence.check(f"appending to {zone}.{name}")
    write_deltalake(uri, data, mode="append", schema_mode="merge", configuration=APPEND_ONLY,
                    storage_options=options, commit_properties=commit)  # fmt: skip


def _aware(value: Any) -> Any:
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.astimezone()
    return value


@dataclass(frozen=True)
class FileState:
    file: str
    sha256: str
    status: str
    batch_id: str | None
    bronze_version: int | None
    unit: str
    feed: str
    recorded_at: dt.datetime | None = None
    # its first pending event with this content: whatever any batch wrote of it is no older
    pending_at: dt.datetime | None = None
    # every content ever loaded under this name (in the window), whatever its newest event: a
    # name whose newest event is a conflict still holds what was loaded before it
    loaded: frozenset[str] = frozenset()


def read_rows(
    lake: Lake, zone: str, name: str, columns: list[str], where: list[tuple[str, str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Rows of a small bookkeeping table, read with delta-rs: no Spark job for a few thousand rows."""
    from citylake.engine import delta_log

    return delta_log.rows(lake.table(zone, name), columns, where)


def manifest_state(lake: Lake, since: dt.date) -> dict[str, FileState]:
    """Newest manifest event per file, for files of logical dates from ``since`` on."""
    cols = ["file", "sha256", "status", "batch_id", "bronze_version", "unit", "feed", "recorded_at"]
    newest: dict[str, tuple[Any, bool, dict[str, Any]]] = {}
    pending: dict[tuple[str, str], dt.datetime] = {}  # (file, sha256) -> its first pending event
    loaded: dict[str, set[str]] = {}
    for r in read_rows(lake, "_system", FILE_MANIFEST, cols, [("logical_date", ">=", since)]):
        if r["status"] == LOADED:
            loaded.setdefault(r["file"], set()).add(r["sha256"])
        # On a timestamp tie the final state beats the pending intent.
        rank = (r["recorded_at"], r["status"] != PENDING)
        if r["file"] not in newest or rank > newest[r["file"]][:2]:
            newest[r["file"]] = (*rank, r)
        if r["status"] == PENDING and r["recorded_at"]:
            key = (r["file"], r["sha256"])
            pending[key] = min(r["recorded_at"], pending.get(key, r["recorded_at"]))
    return {
        f: FileState(
            r["file"], r["sha256"], r["status"], r["batch_id"], r["bronze_version"], r["unit"], r["feed"],
            r["recorded_at"], pending.get((f, r["sha256"])), frozenset(loaded.get(f, ())),
        )
        for f, (_, _, r) in newest.items()
    }
