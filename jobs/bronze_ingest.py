"""Landing -> bronze: every new landed file, read once with its contract's declared schema.

Pure transforms (``read_group`` builds a lazy DataFrame from a read plan; ``number_records``,
``to_bronze`` and ``to_quarantine`` are DataFrame in, DataFrame out) and a thin ``run`` that
discovers files, writes Delta and keeps the manifest and ledger.

Design notes:
- One Spark application ingests a whole day; files of one contract are read together, grouped
  only by reader options (format, encoding, header order), and committed as one Delta batch.
- Records that do not parse (wrong field count, unparseable values, broken JSON) are split off
  in the same pass and quarantined with their raw text and a reason.
- Record numbers come from ``monotonically_increasing_id`` and the file split's start: a split
  is read sequentially by one task, so (id - first id of the split + records before the split)
  is the record's position in its file, without a shuffle.
- Exactly-once: a batch id derived from its files' checksums is the Delta ``txnAppId``; the
  manifest records the batch as pending before the commit, so a crash between the Delta commit
  and the manifest update replays the same batch id and Delta skips the duplicate write.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import re
import time
import urllib.parse
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from citylake import delta_io, ledger, parallel, preflight
from citylake.lake import BRONZE_RECORDS, DQ_RESULTS, REJECTED_FILES, Lake
from citylake.quality.gate import Expectation, duplicate_counts, evaluate, suite_expectations, verdict
from citylake.quality.gx_runner import GxProject, SuiteOutcome
from citylake.quality.rowchecks import DQ_FAILED, RowCheck, failure_sums, is_dropped, tag_rows
from citylake.quality.suites import load_row_checks
from citylake.registry import FeedContract, Registry
from citylake.settings import load_settings
from citylake.storage import Store, store_for

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession
    from pyspark.sql.types import DataType, StructType

log = logging.getLogger(__name__)
CORRUPT = "_corrupt_record"
SPARK_CHARSETS = {
    "utf-8": "UTF-8",
    "utf8": "UTF-8",
    "utf-8-sig": "UTF-8",
    "gbk": "GBK",
    "gb18030": "GB18030",
    "gb2312": "GB2312",
}
RECOVERY_WINDOW_DAYS = 35


def spark_type(name: str) -> DataType:
    from pyspark.sql import types as T

    return {
        "string": T.StringType(),
        "int": T.IntegerType(),
        "long": T.LongType(),
        "double": T.DoubleType(),
        "boolean": T.BooleanType(),
        "timestamp": T.TimestampType(),
        "date": T.DateType(),
    }[name]


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


# --- read plan -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ReadGroup:
    """Files of one contract that one spark.read call can take together."""

    contract: FeedContract
    format: str
    encoding: str
    delimiter: str
    timestamp_format: str
    source_columns: tuple[tuple[str, str], ...]
    paths: tuple[str, ...]


def plan_reads(files: list[preflight.LandedFile]) -> list[ReadGroup]:
    groups: dict[ReadGroup, list[str]] = defaultdict(list)
    for lf in files:
        assert lf.feed_ref is not None
        f = lf.feed_ref
        key = ReadGroup(
            f.contract, f.spec.format, f.spec.encoding, f.spec.delimiter, f.timestamp_format,
            tuple(lf.source_columns), paths=(),
        )  # fmt: skip
        groups[key].append(lf.path)
    return [dataclasses.replace(k, paths=tuple(sorted(p))) for k, p in groups.items()]


def _csv_reason(group: ReadGroup) -> Column:
    from pyspark.sql import functions as F

    expected = len(group.source_columns)
    tokens = F.split(F.col(CORRUPT), re.escape(group.delimiter), -1)
    per_field = []
    for i, (source, canonical) in enumerate(group.source_columns):
        token = F.trim(F.element_at(tokens, i + 1))
        ctype = group.contract.by_name[canonical].type
        per_field.append(
            F.when(
                F.col(canonical).isNull() & (token != ""),
                F.concat(
                    F.lit(f"field '{source}' (column {i + 1}): cannot parse '"), token, F.lit(f"' as {ctype}")
                ),
            )
        )
    n = F.size(tokens)
    return F.when(
        n != expected, F.concat(F.lit(f"expected {expected} fields, found "), n.cast("string"))
    ).otherwise(F.coalesce(*per_field, F.lit("malformed CSV record")))


def _json_reason(group: ReadGroup) -> Column:
    from pyspark.sql import functions as F

    per_field = []
    for source, canonical in group.source_columns:
        raw = F.get_json_object(F.col(CORRUPT), f"$['{source}']")
        ctype = group.contract.by_name[canonical].type
        per_field.append(
            F.when(
                F.col(canonical).isNull() & raw.isNotNull(),
                F.concat(F.lit(f"field '{source}': cannot parse "), raw, F.lit(f" as {ctype}")),
            )
        )
    broken = F.get_json_object(F.col(CORRUPT), "$").isNull()
    return F.when(broken, F.lit("invalid JSON: broken or truncated record")).otherwise(
        F.coalesce(*per_field, F.lit("malformed JSON record"))
    )


def read_group(spark: SparkSession, group: ReadGroup) -> DataFrame:
    """A lazy DataFrame of a group's files: canonical columns, raw text and reason of bad records."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    contract = group.contract
    source_fields = [
        T.StructField(src, spark_type(contract.by_name[canon].type)) for src, canon in group.source_columns
    ]
    common = {"mode": "PERMISSIVE", "timestampFormat": group.timestamp_format, "dateFormat": "yyyy-MM-dd"}
    if group.format == "csv":
        # Spark's CSV reader is positional: the header order found by preflight names the fields.
        fields = [
            T.StructField(canon, f.dataType)
            for (src, canon), f in zip(group.source_columns, source_fields, strict=True)
        ]
        schema = T.StructType([*fields, T.StructField(CORRUPT, T.StringType())])
        df = (
            spark.read.format("csv")
            .schema(schema)
            .options(
                header="true",
                enforceSchema="true",
                sep=group.delimiter,
                multiLine="false",
                encoding=SPARK_CHARSETS.get(group.encoding, group.encoding),
                columnNameOfCorruptRecord=CORRUPT,
                **common,
            )
            .load(list(group.paths))
        )
        reason = _csv_reason(group)
    elif group.format == "jsonl":
        schema = T.StructType([*source_fields, T.StructField(CORRUPT, T.StringType())])
        df = (
            spark.read.format("json")
            .schema(schema)
            .options(columnNameOfCorruptRecord=CORRUPT, multiLine="false", encoding="UTF-8", **common)
            .load(list(group.paths))
        )
        df = df.select(
            *[F.col(f"`{src}`").alias(canon) for src, canon in group.source_columns], CORRUPT, "_metadata"
        )
        reason = _json_reason(group)
    else:
        df = spark.read.format("parquet").schema(T.StructType(source_fields)).load(list(group.paths))
        df = df.select(
            *[F.col(f"`{src}`").alias(canon) for src, canon in group.source_columns],
            F.lit(None).cast("string").alias(CORRUPT),
            "_metadata",
        )
        reason = F.lit(None).cast("string")
    return df.select(
        *[F.col(c.name) for c in contract.columns],
        F.col(CORRUPT),
        F.when(F.col(CORRUPT).isNotNull(), reason).alias("_reason"),
        F.col("_metadata.file_path").alias("_file_path"),
        F.col("_metadata.file_block_start").alias("_block_start"),
    )


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

    def json(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "feed": self.feed,
            "file": self.file,
            "status": self.status,
            "rows_landed": self.rows_landed,
            "rows_bronze": self.rows_bronze,
            "rows_quarantined": self.rows_quarantined,
            **({"reason": self.reason} if self.reason else {}),
        }


@dataclass
class FeedCounts:
    """What the quality gate needs about one unit/feed in a batch: rows and failures per expectation."""

    contract: str
    batch_ids: list[str] = field(default_factory=list)
    rows: int = 0
    failures: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    error: str | None = None  # validation could not run: the batch is held, not guessed

    def add(self, other: FeedCounts) -> None:
        self.batch_ids += [b for b in other.batch_ids if b not in self.batch_ids]
        self.rows += other.rows
        self.error = self.error or other.error
        for k, v in other.failures.items():
            self.failures[k] += v


@dataclass
class BatchResult:
    files: dict[str, FileOutcome]
    feeds: dict[tuple[str, str], FeedCounts]
    suites: list[SuiteOutcome]
    validation_s: float = 0.0


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
        """Per contract, the unit/feeds whose batches passed the gate."""
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
) -> BatchResult:
    """Read, split, number, validate and commit one contract's batch."""
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
                *failure_sums(checks, where=parsed_ok),
            )
            .collect()
        )
        owner = _match_files(stats, files)
        offsets: list[tuple[Any, ...]] = []
        counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        dq: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys((c.id for c in checks), 0))
        before: dict[str, int] = defaultdict(int)
        for row in sorted(stats, key=lambda r: (r["_file_path"], r["_block_start"])):
            lf = owner[row["_file_path"]]
            # record_no = mono - first + records in earlier splits of the file + 1
            offsets.append(
                (
                    row["_file_path"],
                    row["_block_start"],
                    before[lf.rel] + 1 - row["first"],
                    lf.rel,
                    lf.unit,
                    lf.feed,
                )
            )
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
        meta = {"batch_id": batch_id, "run_id": run_id}
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
        version = None
        if good_total:
            delta_io.append(
                bronze,
                bronze_path,
                txn_app_id=batch_id,
                user_metadata=meta,
                partition_by=("_logical_date",),
            )
            # This run's commit, or the one a crashed run made when Delta skipped this write.
            version = delta_io.version_with_metadata(spark, bronze_path, "batch_id", batch_id)
        if bad_total:
            delta_io.append(
                to_quarantine(numbered, contract, run_id, batch_id, date, ingested_at).coalesce(1),
                lake.table("quarantine", BRONZE_RECORDS),
                txn_app_id=batch_id,
                user_metadata=meta,
            )
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
        )
    return BatchResult(out, feeds, suites, validation_s)


def _classify(
    lf: preflight.LandedFile, state: dict[str, ledger.FileState], loaded_sha: dict[tuple[str, str, str], str]
) -> tuple[str, str | None]:
    """Decide what to do with a landed file given the manifest; returns (status, reason)."""
    prev = state.get(lf.rel)
    if prev is not None:
        if prev.sha256 == lf.sha256 and prev.status != ledger.FAILED:
            return (ledger.PENDING, None) if prev.status == ledger.PENDING else (ledger.SKIPPED, None)
        if prev.sha256 != lf.sha256 and prev.status in (ledger.LOADED, ledger.DUPLICATE, ledger.PENDING):
            return ledger.CONFLICT, (
                f"re-sent with changed content under the same name (was sha256 {prev.sha256[:12]}, now "
                f"{lf.sha256[:12]}); not loaded. Deliver corrections under a new file name."
            )
    if not lf.ok:
        return ledger.REJECTED, lf.reason
    twin = loaded_sha.get((lf.unit, lf.feed, lf.sha256))
    if twin and twin != lf.rel:
        return ledger.DUPLICATE, f"byte-identical copy of {twin}, which is already loaded"
    return "new", None


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
    to re-run any number of times.

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

    def ensure(contract: FeedContract) -> None:
        delta_io.ensure_table(
            spark,
            lake.table("bronze", contract.contract),
            bronze_schema(contract),
            partition_by=("_logical_date",),
            properties={**ledger.APPEND_ONLY, "delta.setTransactionRetentionDuration": "interval 60 days"},
            comment=f"bronze: {contract.title}; one row per landed record, as sent",
        )

    parallel.each(registry.contracts_in_use(), ensure, workers)
    state = ledger.manifest_state(spark, lake, date - dt.timedelta(days=RECOVERY_WINDOW_DAYS))
    result.timings["setup_s"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    landed = preflight.discover(lake, store, registry, date.isoformat(), scope)
    say(f"preflight: checking {len(landed)} landed files")
    for lf in landed:
        preflight.check(lf, store)
    result.timings["preflight_s"] = time.perf_counter() - t1

    loaded_sha = {(s.unit, s.feed, s.sha256): s.file for s in state.values() if s.status == ledger.LOADED}
    to_load: dict[str, list[preflight.LandedFile]] = defaultdict(list)  # batch id -> files
    recovering: dict[str, list[preflight.LandedFile]] = defaultdict(list)
    outcomes: list[FileOutcome] = []
    set_aside: list[FileOutcome] = []
    for lf in sorted(landed, key=lambda f: f.rel):
        status, reason = _classify(lf, state, loaded_sha)
        if status == "new":
            loaded_sha[(lf.unit, lf.feed, lf.sha256)] = lf.rel
            assert lf.contract is not None
            to_load[lf.contract].append(lf)
        elif status == ledger.PENDING:
            prev = state[lf.rel]
            assert prev.batch_id is not None
            recovering[prev.batch_id].append(lf)
        elif status == ledger.SKIPPED:
            outcomes.append(
                FileOutcome(
                    lf.unit,
                    lf.feed,
                    lf.rel,
                    ledger.SKIPPED,
                    lf.contract,
                    "already processed by an earlier run",
                    bytes=lf.size,
                    sha256=lf.sha256,
                )
            )
        else:
            set_aside.append(
                FileOutcome(
                    lf.unit,
                    lf.feed,
                    lf.rel,
                    status,
                    lf.contract,
                    reason,
                    lf.records,
                    0,
                    lf.records,
                    lf.size,
                    lf.sha256,
                )
            )
    batches: list[tuple[str, list[preflight.LandedFile]]] = list(recovering.items())
    batches += [(batch_id_for(c, date, fs), fs) for c, fs in sorted(to_load.items())]
    now = dt.datetime.now()
    pending = [
        {
            "file": lf.rel,
            "unit": lf.unit,
            "feed": lf.feed,
            "contract": lf.contract,
            "logical_date": date,
            "size": lf.size,
            "sha256": lf.sha256,
            "status": ledger.PENDING,
            "batch_id": bid,
            "records": lf.records,
            "run_id": run_id,
            "recorded_at": now,
        }
        for bid, fs in batches
        if bid not in recovering
        for lf in fs
    ]
    ledger.append_rows(spark, lake, "_system", "file_manifest", pending)

    t2 = time.perf_counter()
    feed_counts: dict[tuple[str, str], FeedCounts] = {}

    def ingest(numbered: tuple[int, tuple[str, list[preflight.LandedFile]]]) -> BatchResult:
        n, (bid, files) = numbered
        contract = registry.contracts[files[0].contract or ""]
        say(f"bronze {n}/{len(batches)}: {contract.contract} ({len(files)} files)")
        return _ingest_isolated(
            spark, lake, contract, files, bid, run_id, date, checks[contract.contract],
            exps[contract.contract], gx,
        )  # fmt: skip

    for batch in parallel.each(list(enumerate(batches, start=1)), ingest, workers):
        outcomes += batch.files.values()
        result.suites += batch.suites
        result.timings["validation_s"] = result.timings.get("validation_s", 0.0) + batch.validation_s
        for key, fc in batch.feeds.items():
            if key in feed_counts:
                feed_counts[key].add(fc)
            else:
                feed_counts[key] = fc
    result.timings["ingest_s"] = time.perf_counter() - t2
    result.timings["gx_s"] = sum(o.seconds for o in result.suites)
    for (unit, feed), fc in feed_counts.items():
        judged = evaluate(exps[fc.contract], fc.rows, fc.failures)
        result.feeds[(unit, feed)] = FeedVerdict(
            unit,
            feed,
            fc.contract,
            fc.batch_ids,
            fc.rows,
            "failed" if fc.error else verdict(judged),
            judged,
            fc.error,
        )

    t3 = time.perf_counter()
    failed = [o for o in outcomes if o.status == ledger.FAILED]
    _set_aside(spark, lake, store, set_aside + failed, run_id, date)
    outcomes += set_aside
    finished = dt.datetime.now()
    for o in outcomes:
        o.started_at, o.finished_at = started, finished
    _record(spark, lake, outcomes, run_id, date, result)
    result.files = sorted(outcomes, key=lambda o: o.file)
    result.timings["record_s"] = time.perf_counter() - t3
    result.timings["total_s"] = time.perf_counter() - t0
    return result


def _ingest_isolated(
    spark: SparkSession,
    lake: Lake,
    contract: FeedContract,
    files: list[preflight.LandedFile],
    batch_id: str,
    run_id: str,
    date: dt.date,
    checks: list[RowCheck],
    exps: list[Expectation],
    gx: GxProject | None,
) -> BatchResult:
    """Ingest a batch; if it fails, retry file by file so one bad delivery fails alone."""
    ingested_at = dt.datetime.now()
    try:
        return ingest_batch(
            spark, lake, contract, files, batch_id, run_id, date, ingested_at, checks, exps, gx
        )
    except Exception as exc:  # a Spark failure of any kind must not stop the other units
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
        one = _ingest_isolated(
            spark,
            lake,
            contract,
            [lf],
            batch_id_for(contract.contract, date, [lf]),
            run_id,
            date,
            checks,
            exps,
            gx,
        )
        merged.files.update(one.files)
        merged.suites += one.suites
        merged.validation_s += one.validation_s
        for key, fc in one.feeds.items():
            if key in merged.feeds:
                merged.feeds[key].add(fc)
            else:
                merged.feeds[key] = fc
    return merged


def _set_aside(
    spark: SparkSession, lake: Lake, store: Store, outcomes: list[FileOutcome], run_id: str, date: dt.date
) -> None:
    """Copy rejected, duplicate and conflicting files to quarantine/files and record why."""
    rows = []
    now = dt.datetime.now()
    for o in outcomes:
        unit, feed, day, name = o.file.split("/")
        copy = lake.rejected_file_copy(day, unit, feed, name)
        store.copy(f"{lake.zone('landing')}/{o.file}", copy)
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
    ledger.append_rows(spark, lake, "quarantine", REJECTED_FILES, rows, txn_app_id=f"rejected:{run_id}")


def _record(
    spark: SparkSession,
    lake: Lake,
    outcomes: list[FileOutcome],
    run_id: str,
    date: dt.date,
    result: BronzeResult,
) -> None:
    now = dt.datetime.now()
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
        for o in outcomes
        if o.status != ledger.SKIPPED
    ]
    ledger.append_rows(spark, lake, "_system", "file_manifest", manifest, txn_app_id=f"manifest:{run_id}")
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
        }
        for o in outcomes
    ]
    ledger.append_rows(spark, lake, "_system", "run_ledger", rows, txn_app_id=f"ledger:{run_id}")
    suite_ids = {(o.dataset, o.suite): o.validation_id for o in result.suites}
    dq = [
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
    ledger.append_rows(spark, lake, "_system", DQ_RESULTS, dq, txn_app_id=f"dq:{run_id}")
