"""Bronze bookkeeping after the batches: set-aside files, the ledger, DQ results and the manifest.

The order is what makes a crash anywhere safe. Everything is written before the manifest's
final event, and each write either carries the same content again on a replay or is skipped
because its rows are already there:
1. set-aside files: copied to quarantine/files, then one row each in quarantine.rejected_files
   (decided by content, so a re-run decides the same; rows already recorded are not repeated);
   a duplicate is recorded by its sha256 only, not copied: its bytes are its original's;
2. the ledger: one row per file outcome (an outcome already recorded by a crashed run is not
   repeated), plus this run's ``skipped`` and ``waiting`` rows (deliveries not complete yet,
   left in landing and kept out of the manifest: they decide nothing about the file);
3. per unit/feed DQ results;
4. a progress row for the ledger and DQ results, which the health mart is built from;
5. the manifest's final event per file: from here on a file is done.
A run killed before step 5 leaves its files ``pending`` (loaded batches) or undecided
(set-aside files); the next run replays the batches under the same Delta transaction ids and
redoes steps 1-5, adding nothing that is already there.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from citylake.engine import delta_log, fence
from citylake.engine.storage import Store
from citylake.lake import DQ_RESULTS, FILE_MANIFEST, REJECTED_FILES, RUN_LEDGER, Lake, ledger, progress

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@dataclass
class FileOutcome:
    unit: str
    feed: str
    file: str
    status: str
    contract: str | None = None
    reason: str | None = None
    rows_landed: int = 0
    rows_bronze: int = 0
    rows_quarantined: int = 0
    bytes: int = 0
    sha256: str = ""
    batch_id: str | None = None
    bronze_version: int | None = None
    rows_dq_dropped: int = 0
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    schema_drift: str | None = None  # keys a JSON lines file carries that its contract does not

    def json(self) -> dict[str, Any]:
        fields = ("unit", "feed", "file", "status", "contract", "bronze_version", "rows_landed", "rows_bronze",
                  "rows_quarantined", "reason", "schema_drift")  # fmt: skip
        return ledger.record_of(
            self, fields, frozenset({"contract", "bronze_version", "reason", "schema_drift"})
        )


def _already(
    lake: Lake, name: str, keys: tuple[str, ...], date: dt.date, zone: str = "_system"
) -> set[tuple[Any, ...]]:
    rows = ledger.read_rows(lake, zone, name, list(keys), [("logical_date", "=", date)])
    return {tuple(r[k] for k in keys) for r in rows}


def set_aside(
    spark: SparkSession, lake: Lake, store: Store, outcomes: list[FileOutcome], run_id: str, date: dt.date
) -> None:
    """Copy rejected, conflicting and failed files to quarantine/files and record why; a duplicate
    is recorded with its sha256 and no copy (a second copy of the original's bytes would be one
    more place an erasure must reach, and one it could miss)."""
    keys = ("source_file", "sha256", "status")
    done = _already(lake, REJECTED_FILES, keys, date, zone="quarantine") if outcomes else set()
    rows = []
    now = dt.datetime.now()
    for o in outcomes:
        unit, feed, day, name = o.file.split("/")
        copy: str | None = None
        if o.status != ledger.DUPLICATE:
            copy = lake.rejected_file_copy(day, unit, feed, name)
            fence.check(f"copying {o.file} to quarantine")
            store.copy(f"{lake.zone('landing')}/{o.file}", copy)
        if (o.file, o.sha256, o.status) in done:
            continue  # recorded by a run that died before it finished
        rows.append(
            {
                "run_id": run_id,
                "logical_date": date,
                "unit": unit,
                "feed": feed,
                "source_file": o.file,
                "status": o.status,
                "reason": o.reason,
                "records": o.rows_landed,
                "size": o.bytes,
                "sha256": o.sha256,
                "copy_path": copy,
                "recorded_at": now,
            }
        )
    ledger.append_rows(lake, "quarantine", REJECTED_FILES, rows, txn_app_id=f"rejected:{run_id}")


def record(
    spark: SparkSession,
    lake: Lake,
    outcomes: list[FileOutcome],
    run_id: str,
    date: dt.date,
    dq_rows: list[dict[str, Any]],
) -> None:
    """Steps 2-5 of the module doc: ledger, DQ results, progress, then the manifest."""
    now = dt.datetime.now()
    keys = ("file", "sha256", "status", "batch_id")
    final = [o for o in outcomes if o.status not in ledger.PER_RUN_STATUSES]
    done = _already(lake, RUN_LEDGER, keys, date) if final else set()
    rows = [
        {
            "run_id": run_id,
            "logical_date": date,
            "unit": o.unit,
            "feed": o.feed,
            "contract": o.contract,
            "file": o.file,
            "status": o.status,
            "reason": o.reason,
            "rows_landed": o.rows_landed,
            "rows_bronze": o.rows_bronze,
            "rows_quarantined": o.rows_quarantined,
            "rows_dq_dropped": o.rows_dq_dropped,
            "bytes": o.bytes,
            "sha256": o.sha256,
            "batch_id": o.batch_id,
            "bronze_version": o.bronze_version,
            "started_at": o.started_at,
            "finished_at": o.finished_at,
            "duration_s": (o.finished_at - o.started_at).total_seconds()
            if o.started_at and o.finished_at
            else None,
            "schema_drift": o.schema_drift,
        }
        for o in outcomes
        if o.status in ledger.PER_RUN_STATUSES or (o.file, o.sha256, o.status, o.batch_id) not in done
    ]
    ledger.append_rows(lake, "_system", RUN_LEDGER, rows, txn_app_id=f"ledger:{run_id}")
    ledger.append_rows(lake, "_system", DQ_RESULTS, dq_rows, txn_app_id=f"dq:{run_id}")
    if final:  # the health mart rebuilds this day from the ledger and the DQ results
        moved = [
            progress.ProgressRow("bronze", f"_system.{name}", "landing", None,
                                 delta_log.latest_version(lake.table("_system", name)), (date,), run_id, date)
            for name in (RUN_LEDGER, DQ_RESULTS)
        ]  # fmt: skip
        progress.record(lake, moved, txn_app_id=f"progress-bronze:{run_id}")
    manifest = [
        {
            "file": o.file,
            "unit": o.unit,
            "feed": o.feed,
            "contract": o.contract,
            "logical_date": date,
            "size": o.bytes,
            "sha256": o.sha256,
            "status": o.status,
            "batch_id": o.batch_id,
            "bronze_version": o.bronze_version,
            "records": o.rows_landed,
            "reason": o.reason,
            "run_id": run_id,
            "recorded_at": now,
        }
        for o in final
    ]
    ledger.append_rows(lake, "_system", FILE_MANIFEST, manifest, txn_app_id=f"manifest:{run_id}")
