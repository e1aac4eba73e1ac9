"""Landing -> bronze: every new landed file, read once with its contract's declared schema.

Pure transforms (``number_records``, ``to_bronze`` and ``to_quarantine`` are DataFrame in,
DataFrame out; reads are planned in jobs/bronze_read.py) and a thin ``run`` that discovers
files, writes Delta and keeps the books (jobs/bronze_record.py).

Design notes:
- One Spark application ingests a whole day; files of one contract are read together, grouped
  only by reader options (format, encoding, header order), and committed as one Delta batch.
- Records that do not parse (wrong field count, unparseable values, broken JSON) are split off
  in the same pass and quarantined with their raw text and a reason.
- Record numbers come from ``monotonically_increasing_id`` and the file split's start: a split
  is read sequentially by one task, so (id - first id of the split + records before the split)
  is the record's position in its file, without a shuffle.
- Exactly-once: a batch id derived from its files' checksums names both of the batch's
  commits (quarantine first, then bronze); the manifest records the batch as pending before
  them, so a run that dies anywhere after that replays the same batch id and writes only what
  it does not find among the commits made since.
- The bronze commit is the batch's record of itself: its userMetadata names the batch, its
  logical date and the unit/feeds the gate held, which is all silver needs to know what it
  owes (citylake.progress).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
import urllib.parse
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from citylake import delta_io, delta_log, ledger, parallel, preflight
from citylake.lake import BRONZE_RECORDS, Lake
from citylake.quality.gate import Expectation, duplicate_counts, evaluate, suite_expectations, verdict
from citylake.quality.gx_runner import GxProject, SuiteOutcome
from citylake.quality.rowchecks import DQ_FAILED, RowCheck, failure_sums, is_dropped, tag_rows
from citylake.quality.suites import load_row_checks
from citylake.registry import FeedContract, Registry
from citylake.settings import load_settings
from citylake.storage import Store, store_for
from jobs.bronze_read import CORRUPT, DRIFT, plan_reads, read_group, spark_type
from jobs.bronze_record import FileOutcome, record, set_aside

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

log = logging.getLogger(__name__)
RECOVERY_WINDOW_DAYS = 35
_record = record  # the bookkeeping step, by a name tests can replace to crash a run there


def bronze_schema(contract: FeedContract) -> StructType:
    from pyspark.sql import types as T

    fields = [
        T.StructField(c.name, spark_type(c.type), True, {"comment": c.description} if c.description else {})
        for c in contract.columns
    ]
    fields += [
        T.StructField("_unit", T.StringType(), False),
        T.StructField("_feed", T.StringType(), False),
        T.StructField("_source_file", T.StringType(), False),
        T.StructField("_record_no", T.LongType(), False),
        T.StructField("_ingested_at", T.TimestampType(), False),
        T.StructField("_run_id", T.StringType(), False),
        T.StructField("_batch_id", T.StringType(), False),
        T.StructField("_logical_date", T.DateType(), False),
        # ids of the suite's row-level expectations this record breaks (see citylake.quality)
        T.StructField(DQ_FAILED, T.ArrayType(T.StringType(), False), True),
    ]
    return T.StructType(fields)


# --- pure transforms -----------------------------------------------------------------------


def number_records(parsed: DataFrame, offsets: DataFrame) -> DataFrame:
    """Attach file identity and record numbers from the per-split offsets (a broadcast join)."""
    from pyspark.sql import functions as F

    joined = parsed.join(F.broadcast(offsets), ["_file_path", "_block_start"])
    return joined.withColumn("_record_no", F.col("_mono") + F.col("_offset")).drop("_offset")


def to_bronze(
    numbered: DataFrame,
    contract: FeedContract,
    run_id: str,
    batch_id: str,
    date: dt.date,
    ingested_at: dt.datetime,
) -> DataFrame:
    from pyspark.sql import functions as F

    good = numbered.where(F.col(CORRUPT).isNull())
    return good.select(
        *[F.col(c.name) for c in contract.columns],
        "_unit",
        "_feed",
        "_source_file",
        "_record_no",
        F.lit(ingested_at).cast("timestamp").alias("_ingested_at"),
        F.lit(run_id).alias("_run_id"),
        F.lit(batch_id).alias("_batch_id"),
        F.lit(date).cast("date").alias("_logical_date"),
        DQ_FAILED,
    )


def to_quarantine(
    numbered: DataFrame,
    contract: FeedContract,
    run_id: str,
    batch_id: str,
    date: dt.date,
    ingested_at: dt.datetime,
) -> DataFrame:
    from pyspark.sql import functions as F

    bad = numbered.where(F.col(CORRUPT).isNotNull())
    return bad.select(
        F.lit(run_id).alias("run_id"),
        F.lit(date).cast("date").alias("logical_date"),
        F.col("_unit").alias("unit"),
        F.col("_feed").alias("feed"),
        F.lit(contract.contract).alias("contract"),
        F.col("_source_file").alias("source_file"),
        F.col("_record_no").alias("record_no"),
        F.col(CORRUPT).alias("raw_text"),
        F.col("_reason").alias("reason"),
        F.lit(batch_id).alias("batch_id"),
        F.lit(ingested_at).cast("timestamp").alias("quarantined_at"),
    )


# --- the job -------------------------------------------------------------------------------


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


@dataclass
class FeedVerdict:
    """The gate's decision for one unit/feed of a run: ``failed`` feeds are not promoted."""

    unit: str
    feed: str
    contract: str
    batch_ids: list[str]
    rows: int
    verdict: str
    checks: list[Any]
    error: str | None = None

    def reason(self) -> str:
        bad = [c for c in self.checks if not c.success and c.expectation.severity == "fail"]
        parts = [f"{c.expectation.id}: {c.failures} of {c.rows_checked} rows" for c in bad]
        return "; ".join(([self.error] if self.error else []) + parts)


@dataclass
class BronzeResult:
    run_id: str
    date: dt.date
    files: list[FileOutcome] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    feeds: dict[tuple[str, str], FeedVerdict] = field(default_factory=dict)
    suites: list[SuiteOutcome] = field(default_factory=list)

    def promotable(self) -> dict[str, list[FeedVerdict]]:
        """Per contract, the unit/feeds of this run whose batches passed the gate."""
        out: dict[str, list[FeedVerdict]] = defaultdict(list)
        for v in self.feeds.values():
            if v.verdict != "failed":
                out[v.contract].append(v)
        return out

    @property
    def status(self) -> str:
        bad = [f for f in self.files if f.status in ledger.PROBLEM_STATUSES]
        if not bad:
            return "ok"
        return "failed" if len(bad) == len(self.files) else "partial"


def batch_id_for(contract: str, date: dt.date, files: list[preflight.LandedFile]) -> str:
    digest = hashlib.sha256("\n".join(sorted(f"{f.rel}:{f.sha256}" for f in files)).encode()).hexdigest()[:20]
    return f"bronze:{contract}:{date.isoformat()}:{digest}"


def _match_files(stats: list[Any], files: list[preflight.LandedFile]) -> dict[str, preflight.LandedFile]:
    """Spark reports file URIs; map each back to its landed file by the landing-relative path."""
    by_rel = {f.rel: f for f in files}
    out = {}
    for row in stats:
        uri = urllib.parse.unquote(row["_file_path"])
        rel = "/".join(uri.split("/")[-4:])
        if rel not in by_rel:
            raise RuntimeError(f"Spark read a file the batch did not plan: {uri}")
        out[row["_file_path"]] = by_rel[rel]
    return out


def _drift_note(contract: FeedContract, keys: set[str], first: int | None) -> str | None:
    if not keys:
        return None
    return (f"new keys {sorted(keys)} not in contract {contract.contract} v{contract.version}, first in "
            f"record {first}; their values were not loaded")  # fmt: skip


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
    from pyspark.sql import types as T

    frames = [read_group(spark, g) for g in plan_reads(files)]
    parsed = frames[0]
    for f in frames[1:]:
        parsed = parsed.unionByName(f)
    # Tagging before the cache evaluates every check once; counts and the write both reuse it.
    parsed = tag_rows(parsed.withColumn("_mono", F.monotonically_increasing_id()), checks)
    parsed = parsed.persist(StorageLevel.MEMORY_AND_DISK)
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
                F.min(F.when(F.col(DRIFT).isNotNull(), F.col("_mono"))).alias("drift_first"),
                F.array_distinct(F.flatten(F.collect_list(DRIFT))).alias("drift_keys"),
                *failure_sums(checks, where=parsed_ok),
            )
            .collect()
        )
        owner = _match_files(stats, files)
        offsets: list[tuple[Any, ...]] = []
        counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        dq: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys((c.id for c in checks), 0))
        drift: dict[str, tuple[set[str], int | None]] = {}
        before: dict[str, int] = defaultdict(int)
        for row in sorted(stats, key=lambda r: (r["_file_path"], r["_block_start"])):
            lf = owner[row["_file_path"]]
            # record_no = mono - first + records in earlier splits of the file + 1
            offset = before[lf.rel] + 1 - row["first"]
            offsets.append((row["_file_path"], row["_block_start"], offset, lf.rel, lf.unit, lf.feed))
            if row["drift_keys"]:
                keys, first = drift.get(lf.rel, (set(), None))
                at = row["drift_first"] + offset
                drift[lf.rel] = (keys | set(row["drift_keys"]), at if first is None else min(first, at))
            before[lf.rel] += row["n"]
            counts[lf.rel][0] += row["n"] - row["bad"]
            counts[lf.rel][1] += row["bad"]
            counts[lf.rel][2] += row["dropped"] or 0
            for n, c in enumerate(checks):
                dq[lf.rel][c.id] += row[f"_c{n}"] or 0
        offsets_schema = T.StructType.fromDDL(
            "_file_path STRING, _block_start LONG, _offset LONG, _source_file STRING, _unit STRING, _feed STRING"
        )
        assert isinstance(offsets_schema, T.StructType)
        numbered = number_records(parsed, spark.createDataFrame(offsets, offsets_schema))
        good_total = sum(c[0] for c in counts.values())
        bad_total = sum(c[1] for c in counts.values())
        bronze_path = lake.table("bronze", contract.contract)
        bronze = to_bronze(numbered, contract, run_id, batch_id, date, ingested_at)
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
            # Table-level checks per unit/feed: one grouped count per uniqueness expectation.
            for (unit, feed), by_id in duplicate_counts(bronze, exps or [], ["_unit", "_feed"]).items():
                for k, v in by_id.items():
                    feeds[(unit, feed)].failures[k] += v
            if gx is not None:
                totals: dict[str, int] = {e.id: 0 for e in exps or []}
                for fc in feeds.values():
                    for k, v in fc.failures.items():
                        totals[k] += v
                counted = {k: (v, good_total) for k, v in totals.items()}
                for suite in contract.suites_for("bronze"):
                    suites.append(
                        gx.validate(bronze, f"bronze.{contract.contract}", suite, run_id, counted, good_total)
                    )
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
        version = None
        if replay_since_ms is not None:  # what the stopped run already committed
            version = delta_log.find_commit(bronze_path, "batch_id", batch_id, replay_since_ms)
        started_ms = int(time.time() * 1000) - 60_000  # Delta stamps commits with the same clock
        if (
            bad_total
            and version is None
            and (
                replay_since_ms is None
                or delta_log.find_commit(quarantine_path, "batch_id", batch_id, replay_since_ms) is None
            )
        ):
            delta_io.append(to_quarantine(numbered, contract, run_id, batch_id, date, ingested_at).coalesce(1),
                            quarantine_path, user_metadata=meta)  # fmt: skip
        if good_total and version is None:
            delta_io.append(bronze, bronze_path, user_metadata=meta, partition_by=("_logical_date",))
            version = delta_log.find_commit(bronze_path, "batch_id", batch_id, started_ms)
    finally:
        parsed.unpersist()
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
            version,
            rows_dq_dropped=dropped,
            schema_drift=_drift_note(contract, *drift.get(lf.rel, (set(), None))),
        )
    return BatchResult(out, feeds, suites, validation_s)


def _classify(
    lf: preflight.LandedFile, state: dict[str, ledger.FileState], twins: dict[tuple[str, str, str], str]
) -> tuple[str, str | None]:
    """Decide what to do with a landed file given the manifest; returns (status, reason).

    ``twins`` maps (unit, feed, sha256) to the file that holds that content: loaded, pending
    (a batch a crashed run began) or new in this run, so a byte-identical re-send is a
    duplicate whatever state its original is in.
    """
    prev = state.get(lf.rel)
    if prev is not None:
        # A rejected file is judged again: after a registry fix (the unit onboarded, a feed
        # setting corrected) the same file loads.
        retry = prev.status == ledger.REJECTED and lf.ok
        if prev.sha256 == lf.sha256 and prev.status != ledger.FAILED and not retry:
            return (ledger.PENDING, None) if prev.status == ledger.PENDING else (ledger.SKIPPED, None)
        if prev.sha256 != lf.sha256 and prev.status in (ledger.LOADED, ledger.DUPLICATE, ledger.PENDING):
            return ledger.CONFLICT, (
                f"re-sent with changed content under the same name (was sha256 {prev.sha256[:12]}, now "
                f"{lf.sha256[:12]}); not loaded. Deliver corrections under a new file name."
            )
    if not lf.ok:
        return ledger.REJECTED, lf.reason
    twin = twins.get((lf.unit, lf.feed, lf.sha256))
    if twin and twin != lf.rel:
        return ledger.DUPLICATE, f"byte-identical copy of {twin}, which is already loaded"
    return "new", None


def contracts_touched(registry: Registry, files: list[preflight.LandedFile]) -> list[FeedContract]:
    names = {lf.contract for lf in files if lf.contract}
    return [registry.contracts[n] for n in sorted(names)]


def run(
    spark: SparkSession,
    lake: Lake,
    registry: Registry,
    date: dt.date,
    run_id: str,
    store: Store | None = None,
    progress: Callable[[str], None] | None = None,
    expectations_dir: Path | None = None,
    gx: GxProject | None = None,
    validate: bool = True,
    scope: preflight.Scope | None = None,
    workers: int = 1,
) -> BronzeResult:
    """Ingest every new file landed for ``date``, ``workers`` contracts' batches at a time; safe
    to re-run any number of times, and to kill at any moment.

    ``validate=False`` runs without any data-quality work (no row tags, gate counts or GX); only
    the benchmark uses it, to measure what validation adds to the job.
    """
    store = store or store_for(lake.root)
    expectations_dir = expectations_dir or load_settings().expectations_dir
    checks = load_row_checks(registry, expectations_dir)
    exps = {
        c.contract: suite_expectations(expectations_dir, c.suites_for("bronze"))
        for c in registry.contracts.values()
    }
    if validate and gx is None:
        gx = GxProject(lake, expectations_dir, mode=load_settings().gx_mode)
    if not validate:  # no row tags, no gate counts, no GX: the baseline the benchmark compares against
        checks, exps, gx = {c: [] for c in checks}, {c: [] for c in exps}, None
    if gx is not None:
        gx.warm_up()
    say = progress or (lambda _msg: None)
    result = BronzeResult(run_id, date)
    t0 = time.perf_counter()
    started = dt.datetime.now()
    ledger.ensure_system_tables(spark, lake)
    state = ledger.manifest_state(lake, date - dt.timedelta(days=RECOVERY_WINDOW_DAYS))
    result.timings["setup_s"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    landed = preflight.discover(lake, store, registry, date.isoformat(), scope)
    say(f"bronze: preflight of {len(landed)} landed files")
    for lf in landed:
        preflight.check(lf, store)
    result.timings["preflight_s"] = time.perf_counter() - t1

    twins = {(s.unit, s.feed, s.sha256): s.file for s in state.values()
             if s.status in (ledger.LOADED, ledger.PENDING)}  # fmt: skip
    to_load: dict[str, list[preflight.LandedFile]] = defaultdict(list)  # contract -> files
    recovering: dict[str, list[preflight.LandedFile]] = defaultdict(list)  # batch id -> files
    outcomes: list[FileOutcome] = []
    held_aside: list[FileOutcome] = []
    for lf in sorted(landed, key=lambda f: f.rel):
        status, reason = _classify(lf, state, twins)
        if status == "new":
            twins.setdefault((lf.unit, lf.feed, lf.sha256), lf.rel)
            assert lf.contract is not None
            to_load[lf.contract].append(lf)
        elif status == ledger.PENDING:
            prev = state[lf.rel]
            assert prev.batch_id is not None
            recovering[prev.batch_id].append(lf)
        elif status == ledger.SKIPPED:
            outcomes.append(FileOutcome(lf.unit, lf.feed, lf.rel, ledger.SKIPPED, lf.contract,
                                        "already processed by an earlier run", bytes=lf.size, sha256=lf.sha256))  # fmt: skip
        else:
            held_aside.append(FileOutcome(lf.unit, lf.feed, lf.rel, status, lf.contract, reason, lf.records, 0,
                                          lf.records, lf.size, lf.sha256))  # fmt: skip
    batches: list[tuple[str, list[preflight.LandedFile]]] = list(recovering.items())
    batches += [(batch_id_for(c, date, fs), fs) for c, fs in sorted(to_load.items())]
    now = dt.datetime.now()
    pending = [
        {"file": lf.rel, "unit": lf.unit, "feed": lf.feed, "contract": lf.contract, "logical_date": date,
         "size": lf.size, "sha256": lf.sha256, "status": ledger.PENDING, "batch_id": bid,
         "records": lf.records, "run_id": run_id, "recorded_at": now}
        for bid, fs in batches
        if bid not in recovering
        for lf in fs
    ]  # fmt: skip
    ledger.append_rows(lake, "_system", "file_manifest", pending)

    touched = {c.contract for c in contracts_touched(registry, [lf for _, fs in batches for lf in fs])}

    def ensure(contract: FeedContract) -> None:
        delta_io.ensure_table(
            spark,
            lake.table("bronze", contract.contract),
            bronze_schema(contract),
            partition_by=("_logical_date",),
            properties={**ledger.APPEND_ONLY, "delta.setTransactionRetentionDuration": "interval 60 days"},
            comment=f"bronze: {contract.title}; one row per landed record, as sent",
            evolve=contract.contract in touched,  # schema changes only for the tables this run writes
        )

    # every contract's table exists (readers and marts expect them); creating one is a one-off
    parallel.each(registry.contracts_in_use(), ensure, workers)

    t2 = time.perf_counter()
    merged = BatchResult({}, {}, [])

    def ingest(numbered: tuple[int, tuple[str, list[preflight.LandedFile]]]) -> BatchResult:
        n, (bid, files) = numbered
        contract = registry.contracts[files[0].contract or ""]
        say(f"bronze {n}/{len(batches)}: {contract.contract} ({len(files)} files)")
        return _ingest_isolated(
            spark, lake, store, contract, files, bid, run_id, date, checks[contract.contract],
            exps[contract.contract], gx, replays.get(bid),
        )  # fmt: skip

    # a batch a stopped run began: its writes, if any, are no older than its pending record
    replays = {bid: _epoch_ms(state[fs[0].rel].recorded_at) for bid, fs in recovering.items()}

    for batch in parallel.each(list(enumerate(batches, start=1)), ingest, workers):
        merged.merge(batch)
    outcomes += merged.files.values()
    result.suites = merged.suites
    result.timings["validation_s"] = merged.validation_s
    result.timings["ingest_s"] = time.perf_counter() - t2
    result.timings["gx_s"] = sum(o.seconds for o in result.suites)
    for (unit, feed), fc in merged.feeds.items():
        judged = evaluate(exps[fc.contract], fc.rows, fc.failures)
        held = fc.held or bool(fc.error) or verdict(judged) == "failed"
        result.feeds[(unit, feed)] = FeedVerdict(unit, feed, fc.contract, fc.batch_ids, fc.rows,
                                                 "failed" if held else verdict(judged), judged, fc.error)  # fmt: skip

    t3 = time.perf_counter()
    say("bronze: recording the ledger and the manifest")
    failed = [o for o in outcomes if o.status == ledger.FAILED]
    set_aside(spark, lake, store, held_aside + failed, run_id, date)
    outcomes += held_aside
    finished = dt.datetime.now()
    for o in outcomes:
        o.started_at, o.finished_at = started, finished
    _record(spark, lake, outcomes, run_id, date, _dq_rows(result, run_id, date))
    result.files = sorted(outcomes, key=lambda o: o.file)
    result.timings["record_s"] = time.perf_counter() - t3
    result.timings["total_s"] = time.perf_counter() - t0
    return result


def _epoch_ms(at: dt.datetime | None) -> int:
    if at is None:
        return 1  # unknown: look through every commit
    return int(at.timestamp() * 1000) - 60_000  # a minute of slack for clocks


def _storage_answers(lake: Lake, store: Store, files: list[preflight.LandedFile]) -> bool:
    """After a batch failed: is the lake's storage there? If not, no file is to blame."""
    try:
        store.list_names(lake.zone("landing"))
        return all(store.exists(lf.path) for lf in files[:1])
    except Exception:
        return False


def _ingest_isolated(
    spark: SparkSession,
    lake: Lake,
    store: Store,
    contract: FeedContract,
    files: list[preflight.LandedFile],
    batch_id: str,
    run_id: str,
    date: dt.date,
    checks: list[RowCheck],
    exps: list[Expectation],
    gx: GxProject | None,
    replay_since_ms: int | None = None,
) -> BatchResult:
    """Ingest a batch; if it fails, retry file by file so one bad delivery fails alone.

    A failure while the storage does not answer is an outage, not a bad file: it stops the run
    (the next run replays the pending batch) instead of setting files aside as failed.
    """
    ingested_at = dt.datetime.now()
    try:
        return ingest_batch(
            spark,
            lake,
            contract,
            files,
            batch_id,
            run_id,
            date,
            ingested_at,
            checks,
            exps,
            gx,
            replay_since_ms,
        )
    except Exception as exc:  # a Spark failure of any kind must not stop the other units
        if not _storage_answers(lake, store, files):
            raise
        log.warning(
            "batch %s failed (%s); retrying its %d files one by one",
            batch_id,
            ledger.short_error(exc),
            len(files),
        )
        if len(files) == 1:
            lf = files[0]
            failed = FileOutcome(
                lf.unit,
                lf.feed,
                lf.rel,
                ledger.FAILED,
                contract.contract,
                f"ingest failed: {ledger.short_error(exc)}",
                lf.records,
                0,
                # set aside whole (copied to quarantine/files); the next run retries it
                lf.records,
                lf.size,
                lf.sha256,
                batch_id,
            )
            return BatchResult({lf.rel: failed}, {}, [])
    merged = BatchResult({}, {}, [])
    for lf in files:
        merged.merge(_ingest_isolated(spark, lake, store, contract, [lf], batch_id_for(contract.contract, date, [lf]),
                                      run_id, date, checks, exps, gx, replay_since_ms))  # fmt: skip
    return merged


def _dq_rows(result: BronzeResult, run_id: str, date: dt.date) -> list[dict[str, Any]]:
    now = dt.datetime.now()
    suite_ids = {(o.dataset, o.suite): o.validation_id for o in result.suites}
    return [
        {
            "run_id": run_id,
            "logical_date": date,
            "layer": "bronze",
            "dataset": f"bronze.{v.contract}",
            "unit": v.unit,
            "feed": v.feed,
            "contract": v.contract,
            "suite": c.expectation.id.split("#", 1)[0],
            "expectation_id": c.expectation.id,
            "expectation_type": c.expectation.type,
            "column": ",".join(c.expectation.columns) or None,
            "severity": c.expectation.severity,
            "rows_checked": c.rows_checked,
            "failures": c.failures,
            "success": c.success,
            "observed": c.observed,
            "verdict": v.verdict,
            "validation_id": suite_ids.get((f"bronze.{v.contract}", c.expectation.id.split("#", 1)[0])),
            "recorded_at": now,
        }
        for v in result.feeds.values()
        for c in v.checks
    ]
