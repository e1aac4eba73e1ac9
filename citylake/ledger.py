"""The _system and quarantine tables that account for every landed record.

- ``_system/file_manifest``: append-only status events per landed file (pending, loaded, ...).
  The newest event per file is its state; pending events are the write-ahead intent that lets a
  crashed batch be replayed under the same Delta transaction id.
- ``_system/run_ledger``: one row per run, unit, feed and file, with landed/bronze/quarantined
  counts; the invariant is ``rows_landed = rows_bronze + rows_quarantined``.
- ``_system/runs``: one row per run.
- ``quarantine/bronze_records``: records that did not parse, with file, record number, raw text
  and reason. ``quarantine/rejected_files``: files set aside whole, with reason and a copy.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from citylake import delta_io
from citylake.lake import (
    BRONZE_RECORDS,
    DQ_RESULTS,
    DQ_ROWS,
    FILE_MANIFEST,
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
# statuses that make a run partial: someone has to look at them
PROBLEM_STATUSES = (REJECTED, CONFLICT, FAILED)


def _schema(ddl: str) -> StructType:
    from pyspark.sql.types import StructType

    schema = StructType.fromDDL(ddl)
    assert isinstance(schema, StructType)
    return schema


MANIFEST_DDL = (
    "file STRING NOT NULL, unit STRING, feed STRING, contract STRING, logical_date DATE, size LONG, "
    "sha256 STRING, status STRING NOT NULL, batch_id STRING, bronze_version LONG, records LONG, "
    "reason STRING, run_id STRING, recorded_at TIMESTAMP"
)
LEDGER_DDL = (
    "run_id STRING NOT NULL, logical_date DATE, unit STRING, feed STRING, contract STRING, file STRING, "
    "status STRING, reason STRING, rows_landed LONG, rows_bronze LONG, rows_quarantined LONG, "
    "rows_dq_dropped LONG, bytes LONG, sha256 STRING, batch_id STRING, bronze_version LONG, started_at TIMESTAMP, finished_at TIMESTAMP, "
    "duration_s DOUBLE"
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
    ("quarantine", DQ_ROWS): DQ_ROWS_DDL,
    ("quarantine", BRONZE_RECORDS): QUARANTINE_DDL,
    ("quarantine", REJECTED_FILES): REJECTED_DDL,
}


def short_error(exc: BaseException) -> str:
    """The first line of an error, for a ledger or publication reason."""
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:500]


def ensure_system_tables(spark: SparkSession, lake: Lake) -> None:
    for (zone, name), ddl in TABLES.items():
        delta_io.ensure_table(spark, lake.table(zone, name), _schema(ddl), properties=APPEND_ONLY)


def append_rows(
    spark: SparkSession,
    lake: Lake,
    zone: str,
    name: str,
    rows: Iterable[dict[str, Any]],
    txn_app_id: str | None = None,
) -> None:
    rows = list(rows)
    if not rows:
        return
    schema = _schema(TABLES[(zone, name)])
    df = spark.createDataFrame([tuple(r.get(f.name) for f in schema.fields) for r in rows], schema)
    delta_io.append(df.coalesce(1), lake.table(zone, name), txn_app_id=txn_app_id)


@dataclass(frozen=True)
class FileState:
    file: str
    sha256: str
    status: str
    batch_id: str | None
    bronze_version: int | None
    unit: str
    feed: str


def manifest_state(spark: SparkSession, lake: Lake, since: dt.date) -> dict[str, FileState]:
    """Newest manifest event per file, for files of logical dates from ``since`` on."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    df = (
        spark.read.format("delta")
        .load(lake.table("_system", FILE_MANIFEST))
        .where(F.col("logical_date") >= since)
    )
    w = Window.partitionBy("file").orderBy(F.desc("recorded_at"), F.desc("status_rank"))
    # On a timestamp tie the final state beats the pending intent.
    ranked = df.withColumn("status_rank", F.when(F.col("status") == PENDING, 0).otherwise(1))
    newest = ranked.withColumn("_n", F.row_number().over(w)).where("_n = 1")
    out = {}
    for r in newest.select(
        "file", "sha256", "status", "batch_id", "bronze_version", "unit", "feed"
    ).collect():
        out[r["file"]] = FileState(
            r["file"], r["sha256"], r["status"], r["batch_id"], r["bronze_version"], r["unit"], r["feed"]
        )
    return out
