"""One contract's batch: read, split, number, validate and commit.

Record numbers come from ``monotonically_increasing_id`` and the file split's start: a split
is read sequentially by one task, so (id - first id of the split + records before the split)
is the record's position in its file, without a shuffle. The same aggregation that finds the
splits counts row-level DQ failures and finds where JSON drift starts (its keys are listed
after, only where there is drift), so row-level validation adds no pass of its own.

Quarantine is committed before bronze: the bronze commit is the batch's "done" mark, and its
userMetadata (batch id, run, logical date, the unit/feeds the gate held) is all silver needs
to know what it owes. Each commit also names the files it holds rows of, so a replayed batch
writes only the files no earlier attempt committed (jobs/bronze_replay.py); jobs/bronze_retry.py
decides when to replay and when to retry file by file.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from citylake.config.registry import FeedContract
from citylake.engine import delta_io, delta_log
from citylake.engine.frames import local_frame
from citylake.lake import BRONZE_RECORDS, Lake, ledger, preflight
from citylake.quality.gate import Expectation, duplicate_counts, evaluate, verdict
from citylake.quality.gx_runner import GxProject, SuiteOutcome
from citylake.quality.personal import personal_columns
from citylake.quality.rowchecks import RowCheck, failure_sums, is_dropped, tag_rows
from jobs import bronze_replay
from jobs.bronze_read import CORRUPT, DRIFT, plan_reads, read_group
from jobs.bronze_record import FileOutcome
from jobs.bronze_transform import (
    drift_note,
    match_files,
    number_records,
    split_batch,
)

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
    held: bool = False  # the gate's decision for this batch, recorded in its bronze commit

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
    """Read, split, number, validate and commit one contract's batch.

    ``replay_since_ms``: the batch was begun by a run that stopped (its pending record's time);
    whatever of it that run committed is found by the batch id in the commits since, and not
    written again.
    """
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    groups = plan_reads(files)
    # Tagging before the cache evaluates every check once; counts and the write both reuse it.
    # Parquet decodes faster than Spark caches its rows, so each use reads those files again.
    frames = [tag_rows(read_group(spark, g), checks) for g in groups]
    cached = [
        f.persist(StorageLevel.MEMORY_AND_DISK)
        for f, g in zip(frames, groups, strict=True)
        if g.format != "parquet"
    ]
    frames = cached + [f for f, g in zip(frames, groups, strict=True) if g.format == "parquet"]
    # JSON lines only: where drift starts is counted in the stats pass; its keys, rare, after it
    json_lines = any(g.format == "jsonl" for g in groups)
    parsed = frames[0]
    for f in frames[1:]:
        parsed = parsed.unionByName(f)
    # a split's rows keep their order and partition, so these numbers are the same in every use
    parsed = parsed.withColumn("_mono", F.monotonically_increasing_id())
    try:
        # The same aggregation counts row-level DQ failures: validation adds no Spark job.
        parsed_ok = F.col(CORRUPT).isNull()
        stats = (
            parsed.groupBy("_file_path", "_block_start")
            .agg(
                F.min("_mono").alias("first"),
                F.count(F.lit(1)).alias("n"),
                F.count(CORRUPT).alias("bad"),
                F.sum((parsed_ok & is_dropped(checks)).cast("long")).alias("dropped"),
                *failure_sums(checks, where=parsed_ok),
                *(
                    [F.min(F.when(F.col(DRIFT).isNotNull(), F.col("_mono"))).alias("drift_first")]
                    if json_lines
                    else []
                ),
            )
            .collect()
        )
        owner = match_files(stats, files)
        offsets: list[tuple[Any, ...]] = []
        unit_feed_no: dict[tuple[str, str], int] = {}  # unit/feed -> a number the uniqueness count shuffles
        counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        dq: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys((c.id for c in checks), 0))
        drift: dict[str, tuple[set[str], int | None]] = {}
        before: dict[str, int] = defaultdict(int)
        for row in sorted(stats, key=lambda r: (r["_file_path"], r["_block_start"])):
            lf = owner[row["_file_path"]]
            # record_no = mono - first + records in earlier splits of the file + 1
            offset = before[lf.rel] + 1 - row["first"]
            group = unit_feed_no.setdefault((lf.unit, lf.feed), len(unit_feed_no))
            offsets.append((row["_file_path"], row["_block_start"], offset, lf.rel, lf.unit, lf.feed, group))
            if json_lines and row["drift_first"] is not None:
                keys, first = drift.get(lf.rel, (set(), None))
                at = row["drift_first"] + offset
                drift[lf.rel] = (keys, at if first is None else min(first, at))
            before[lf.rel] += row["n"]
            counts[lf.rel][0] += row["n"] - row["bad"]
            counts[lf.rel][1] += row["bad"]
            counts[lf.rel][2] += row["dropped"] or 0
            for n, c in enumerate(checks):
                dq[lf.rel][c.id] += row[f"_c{n}"] or 0
        if drift:  # a collect_set in the stats pass would make it an object aggregation, for every batch
            for row in (
                parsed.where(F.col(DRIFT).isNotNull())
                .select("_file_path", F.explode(DRIFT).alias("key"))
                .distinct()
                .collect()
            ):
                drift[owner[row["_file_path"]].rel][0].add(row["key"])
        offsets_schema = (
            "_file_path STRING, _block_start LONG, _offset LONG, _source_file STRING, _unit STRING, _feed STRING, "
            "_group INT"
        )
        numbered = number_records(parsed, local_frame(spark, offsets, offsets_schema))
        good_total = sum(c[0] for c in counts.values())
        bronze_path = lake.table("bronze", contract.contract)
        bronze, quarantined = split_batch(numbered, contract, run_id, batch_id, date, ingested_at)
        feeds: dict[tuple[str, str], FeedCounts] = {}
        for lf in files:
            fc = feeds.setdefault((lf.unit, lf.feed), FeedCounts(contract.contract, [batch_id]))
            fc.rows += counts.get(lf.rel, [0])[0]
            for k, v in dq.get(lf.rel, {}).items():
                fc.failures[k] += v
        suites: list[SuiteOutcome] = []

        def validate() -> float:
            """Gate counts and the GX suite, on the cached batch; returns the seconds spent."""
            t = time.perf_counter()
            # Table-level checks per unit/feed: one grouped count per uniqueness expectation. It
            # groups by the unit/feed's number: a shuffle of numbers, not names (1 s of 3 for 3M rows)
            good = numbered.where(F.col(CORRUPT).isNull())
            unit_feed = {n: key for key, n in unit_feed_no.items()}
            for (group,), by_id in duplicate_counts(
                good, exps or [], ["_group"], implied=("_unit", "_feed")
            ).items():
                for k, v in by_id.items():
                    feeds[unit_feed[group]].failures[k] += v
            if gx is not None:
                totals: dict[str, int] = {e.id: 0 for e in exps or []}
                for fc in feeds.values():
                    for k, v in fc.failures.items():
                        totals[k] += v
                counted = {k: (v, good_total) for k, v in totals.items()}
                personal = personal_columns(contract)
                for suite in contract.suites_for("bronze"):
                    suites.append(gx.validate(bronze, f"bronze.{contract.contract}", suite, run_id, counted,
                                              good_total, personal=personal))  # fmt: skip
            return time.perf_counter() - t

        # Validation runs before the write, on the cached batch: on two cores a concurrent
        # validation thread only queued behind the write's tasks (measured slower, not faster).
        validation_s = 0.0
        if good_total and exps:
            try:
                validation_s = validate()
            except Exception as exc:  # an unvalidated batch is loaded to bronze but held from silver
                log.exception("validation of %s failed", batch_id)
                for fc in feeds.values():
                    fc.error = f"validation failed: {ledger.short_error(exc)}"
        for fc in feeds.values():
            fc.held = bool(fc.error) or verdict(evaluate(exps or [], fc.rows, fc.failures)) == "failed"
        meta = {"batch_id": batch_id, "run_id": run_id, "date": date.isoformat(),
                "held": sorted([u, f] for (u, f), fc in feeds.items() if fc.held)}  # fmt: skip
        # Quarantine first: the bronze commit is the batch's "done" mark (silver reads its metadata).
        quarantine_path = lake.table("quarantine", BRONZE_RECORDS)
        held_q: dict[str, int] = {}  # files whose rows an earlier attempt committed, and where
        held_b: dict[str, int] = {}
        if replay_since_ms is not None:
            held_q = bronze_replay.committed(quarantine_path, batch_id, files, replay_since_ms)
            held_b = bronze_replay.committed(bronze_path, batch_id, files, replay_since_ms)
        started_ms = bronze_replay.since_now_ms()
        bad_left = [lf for lf in files if counts.get(lf.rel, [0, 0])[1] and lf.rel not in held_q]
        if bad_left:
            if held_q:
                quarantined = quarantined.where(~F.col("source_file").isin(list(held_q)))
            # one file of the few bad rows: repartition, as coalesce(1) would scan the whole batch in one task
            delta_io.append(quarantined.repartition(1), quarantine_path,
                            user_metadata={**meta, "files": bronze_replay.tokens(bad_left)})  # fmt: skip
        good_left = [lf for lf in files if counts.get(lf.rel, [0])[0] and lf.rel not in held_b]
        version = max(held_b.values(), default=None)
        if good_left:
            if held_b:
                bronze = bronze.where(~F.col("_source_file").isin(list(held_b)))
            delta_io.append(bronze, bronze_path, partition_by=("_logical_date",),
                            user_metadata={**meta, "files": bronze_replay.tokens(good_left)})  # fmt: skip
            version = delta_log.find_commit(bronze_path, "batch_id", batch_id, started_ms)
    finally:
        for f in cached:
            f.unpersist()
    out = {}
    for lf in files:
        good, bad, dropped = counts.get(lf.rel, (0, 0, 0))
        reason = None
        if good + bad != lf.records:
            reason = f"count mismatch: preflight counted {lf.records} records, Spark parsed {good + bad}"
        out[lf.rel] = FileOutcome(
            lf.unit,
            lf.feed,
            lf.rel,
            ledger.LOADED,
            contract.contract,
            reason,
            lf.records,
            good,
            bad,
            lf.size,
            lf.sha256,
            batch_id,
            held_b.get(lf.rel, version),
            rows_dq_dropped=dropped,
            schema_drift=drift_note(contract, *drift.get(lf.rel, (set(), None))),
        )
    return BatchResult(out, feeds, suites, validation_s)
