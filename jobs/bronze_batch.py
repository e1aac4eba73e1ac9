"""One contract's batch in one pass: read, number, tag and commit every parsed row; then the audit.

ADR 0004. The batch's files are read once (jobs/bronze_read.py: one split per task, record
numbers from the task's position and preflight's counts), the row checks tag
every row, and the rows that parsed are appended to bronze in one Spark job. The same job
observes which files held records that did not parse (and, JSON lines, keys the contract
lacks); only those files are read again, for quarantine (or for the drift note). Nothing is
counted before the write: the audit (jobs/bronze_audit.py) counts what was committed, decides
the gate's verdict and records it, and that record is the batch's "done" mark for silver.

Each commit names the files whose rows it holds (for bronze: every file it read), so a
replayed batch writes only what no earlier attempt committed (jobs/bronze_replay.py), and the
audit of a replay counts the same committed rows and reaches the same verdict.
jobs/bronze_retry.py decides when to replay and when to retry file by file.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from citylake.config.registry import FeedContract
from citylake.engine import delta_io, delta_log
from citylake.lake import BRONZE_RECORDS, Lake, ledger, preflight
from citylake.quality.gate import Expectation, evaluate, verdict
from citylake.quality.gx_runner import GxProject, SuiteOutcome
from citylake.quality.personal import personal_columns
from citylake.quality.rowchecks import RowCheck, tag_rows
from jobs import bronze_audit, bronze_replay
from jobs.bronze_read import CORRUPT, DRIFT, read_files
from jobs.bronze_record import FileOutcome
from jobs.bronze_transform import bronze_rows, drift_note, quarantine_rows

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)


@dataclass
class FeedCounts:
    """What the quality gate needs about one unit/feed in a batch: rows and failures per expectation."""

    contract: str
    batch_ids: list[str] = field(default_factory=list)
    rows: int = 0
    failures: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    error: str | None = None  # validation could not run: the batch is held, not guessed
    held: bool = False  # the gate's decision for this batch, recorded in its audit

    def add(self, other: FeedCounts) -> None:
        self.batch_ids += [b for b in other.batch_ids if b not in self.batch_ids]
        self.rows += other.rows
        self.error = self.error or other.error
        self.held = self.held or other.held
        for k, v in other.failures.items():
            self.failures[k] += v


@dataclass
class BatchResult:
    files: dict[str, FileOutcome]
    feeds: dict[tuple[str, str], FeedCounts]
    suites: list[SuiteOutcome]
    validation_s: float = 0.0

    def merge(self, other: BatchResult) -> None:
        self.files.update(other.files)
        self.suites += other.suites
        self.validation_s += other.validation_s
        for key, fc in other.feeds.items():
            if key in self.feeds:
                self.feeds[key].add(fc)
            else:
                self.feeds[key] = fc


def ingest_batch(
    spark: SparkSession,
    lake: Lake,
    contract: FeedContract,
    files: list[preflight.LandedFile],
    batch_id: str,
    run_id: str,
    date: dt.date,
    ingested_at: dt.datetime,
    checks: list[RowCheck],
    exps: list[Expectation] | None = None,
    gx: GxProject | None = None,
    replay_since_ms: int | None = None,
) -> BatchResult:
    """Write one contract's batch in one pass, then audit it (see the module doc).

    ``replay_since_ms``: the batch was begun by a run that stopped (its pending record's time);
    whatever of it that run committed is found by the batch id in the commits since, and not
    written again.
    """
    from pyspark.sql import Observation
    from pyspark.sql import functions as F

    bronze_path = lake.table("bronze", contract.contract)
    quarantine_path = lake.table("quarantine", BRONZE_RECORDS)
    held_q: dict[str, int] = {}  # files whose rows an earlier attempt committed, and where
    held_b: dict[str, int] = {}
    if replay_since_ms is not None:
        held_q = bronze_replay.committed(quarantine_path, batch_id, files, replay_since_ms)
        held_b = bronze_replay.committed(bronze_path, batch_id, files, replay_since_ms)
    started_ms = bronze_replay.since_now_ms()
    meta = {"batch_id": batch_id, "run_id": run_id, "date": date.isoformat()}
    # what an earlier attempt committed to bronze is not observed now: read again where it matters
    replayed = [lf for lf in files if lf.rel in held_b]
    bad = {lf.rel for lf in replayed}
    drifted = {lf.rel for lf in replayed if lf.feed_ref is not None and lf.feed_ref.spec.format == "jsonl"}
    version = max(held_b.values(), default=None)
    fresh = [lf for lf in files if lf.rel not in held_b]
    if fresh:
        seen = Observation()
        read = tag_rows(read_files(spark, fresh), checks).observe(
            seen,
            F.collect_set(F.when(F.col(CORRUPT).isNotNull(), F.col("_source_file"))).alias("bad"),
            F.collect_set(F.when(F.col(DRIFT).isNotNull(), F.col("_source_file"))).alias("drift"),
        )
        delta_io.append(bronze_rows(read, contract, run_id, batch_id, date, ingested_at), bronze_path,
                        partition_by=("_logical_date",), user_metadata={**meta, "files": bronze_replay.tokens(fresh)})  # fmt: skip
        bad |= set(seen.get["bad"])
        drifted |= set(seen.get["drift"])
        version = delta_log.find_commit(bronze_path, "batch_id", batch_id, started_ms)
    to_quarantine = [lf for lf in files if lf.rel in bad and lf.rel not in held_q]
    if to_quarantine:
        rows = quarantine_rows(read_files(spark, to_quarantine), contract, run_id, batch_id, date, ingested_at)
        # one file of the few bad rows: repartition, as coalesce(1) would read every file in one task
        delta_io.append(rows.repartition(1), quarantine_path,
                        user_metadata={**meta, "files": bronze_replay.tokens(to_quarantine)})  # fmt: skip
    drift = _drift(spark, [lf for lf in files if lf.rel in drifted])
    versions = sorted({*held_b.values(), *([version] if version is not None else [])})
    batch = _Batch(contract, files, batch_id, run_id, date, checks, exps or [], gx)
    return _audit(spark, lake, batch, versions, {lf.rel: held_b.get(lf.rel, version) for lf in files}, drift)


def _drift(spark: SparkSession, files: list[preflight.LandedFile]) -> dict[str, tuple[set[str], int | None]]:
    """Per JSON lines file, the keys its records carry that the contract lacks, and the first
    record with one: read again only for the files whose write saw such keys (rare)."""
    from pyspark.sql import functions as F

    if not files:
        return {}
    out: dict[str, tuple[set[str], int | None]] = {}
    rows = (
        read_files(spark, files)
        .where(F.col(DRIFT).isNotNull())
        .select("_source_file", "_record_no", F.explode(DRIFT).alias("key"))
        .groupBy("_source_file", "key")
        .agg(F.min("_record_no").alias("first"))
        .collect()
    )
    for row in rows:
        keys, first = out.get(row["_source_file"], (set(), None))
        keys.add(row["key"])
        out[row["_source_file"]] = (keys, row["first"] if first is None else min(first, row["first"]))
    return out


class _Batch(NamedTuple):
    """What the audit judges a batch by."""

    contract: FeedContract
    files: list[preflight.LandedFile]
    batch_id: str
    run_id: str
    date: dt.date
    checks: list[RowCheck]
    exps: list[Expectation]
    gx: GxProject | None


def _audit(
    spark: SparkSession,
    lake: Lake,
    batch: _Batch,
    versions: list[int],
    file_versions: dict[str, int | None],
    drift: dict[str, tuple[set[str], int | None]],
) -> BatchResult:
    """Count what the batch's commits hold, judge it, record the audit: the batch is done."""
    from pyspark.sql import functions as F

    contract, files, batch_id, run_id, date, checks, exps, gx = batch
    # the partitions the commits wrote: each commit's run's logical date
    bronze_path = lake.table("bronze", contract.contract)
    days = [date] + [dt.date.fromisoformat(str(delta_log.user_metadata(bronze_path, v).get("date", date)))
                     for v in versions]  # fmt: skip
    counts = bronze_audit.count_files(lake, contract, files, checks, days)
    feeds: dict[tuple[str, str], FeedCounts] = {}
    out: dict[str, FileOutcome] = {}
    faults: dict[tuple[str, str], str] = {}
    for lf in files:
        fc = counts[lf.rel]
        feed = feeds.setdefault((lf.unit, lf.feed), FeedCounts(contract.contract, [batch_id]))
        feed.rows += fc.bronze
        for k, v in fc.failures.items():
            feed.failures[k] += v
        reason = None
        if fc.bronze + fc.quarantined != lf.records:
            reason = f"count mismatch: preflight counted {lf.records} records, Spark parsed {fc.bronze + fc.quarantined}"
        elif (numbering := fc.numbering_error(lf.records)) is not None:
            reason = numbering
            faults[(lf.unit, lf.feed)] = f"{lf.rel}: {numbering}"
        out[lf.rel] = FileOutcome(
            lf.unit, lf.feed, lf.rel, ledger.LOADED, contract.contract, reason, lf.records, fc.bronze,
            fc.quarantined, lf.size, lf.sha256, batch_id, file_versions[lf.rel], rows_dq_dropped=fc.dropped,
            schema_drift=drift_note(contract, *drift.get(lf.rel, (set(), None))),
        )  # fmt: skip
    good_total = sum(f.rows for f in feeds.values())
    suites: list[SuiteOutcome] = []
    t = time.perf_counter()
    if good_total and exps:
        try:
            for key, by_id in bronze_audit.count_duplicates(lake, contract, files, exps, days).items():
                for k, v in by_id.items():
                    feeds[key].failures[k] += v
            if gx is not None:
                totals: dict[str, int] = {e.id: 0 for e in exps}
                for f in feeds.values():
                    for k, v in f.failures.items():
                        totals[k] += v
                counted = {k: (v, good_total) for k, v in totals.items()}
                rels = [lf.rel for lf in files]

                def committed() -> Any:  # only a suite with checks citylake does not count reads it
                    return delta_io.scan(spark, lake.table("bronze", contract.contract)).where(
                        F.col("_source_file").isin(rels))

                for suite in contract.suites_for("bronze"):
                    suites.append(gx.validate(committed, f"bronze.{contract.contract}", suite, run_id, counted,
                                              good_total, personal=personal_columns(contract)))  # fmt: skip
        except Exception as exc:  # an unvalidated batch is loaded to bronze but held from silver
            log.exception("validation of %s failed", batch_id)
            for f in feeds.values():
                f.error = f"validation failed: {ledger.short_error(exc)}"
    for key, fault in faults.items():
        feeds[key].error = feeds[key].error or fault
    rows: list[bronze_audit.AuditRow] = []
    quarantined: dict[tuple[str, str], int] = defaultdict(int)
    for lf in files:
        quarantined[(lf.unit, lf.feed)] += counts[lf.rel].quarantined
    for (unit, feed_name), counted_feed in sorted(feeds.items()):
        judged = verdict(evaluate(exps, counted_feed.rows, counted_feed.failures))
        counted_feed.held = bool(counted_feed.error) or judged == "failed"
        rows.append(bronze_audit.AuditRow(unit, feed_name, counted_feed.rows, quarantined[(unit, feed_name)],
                                          "failed" if counted_feed.held else judged, counted_feed.error))  # fmt: skip
    _record_audit(lake, contract.contract, batch_id, run_id, date, versions, rows)
    return BatchResult(out, feeds, suites, time.perf_counter() - t)


# the audit's record, by a name tests can replace to stop a run between a commit and its audit
_record_audit = bronze_audit.record
