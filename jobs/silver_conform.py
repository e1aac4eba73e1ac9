"""Bronze -> silver: the batches that passed the gate, conformed, deduplicated and merged.

Pure transforms (``conform``, ``split_dropped``, ``dedupe``, ``to_dq_rows``) and a thin ``run``
that, per contract, reads only this run's promotable bronze batches, quarantines ``drop`` rows
and surplus duplicates with the expectation they broke, and publishes through write-audit-publish:
the increment is staged, validated by the silver suite, and only then merged into silver.

A unit/feed whose bronze batch failed a ``fail`` expectation is not read at all: its rows stay
in bronze for the engineer who repairs it. A silver suite failure is a bug in this transform,
so it holds the whole contract back and keeps the current silver version.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from citylake import delta_io, pii
from citylake.lake import DQ_ROWS, Lake
from citylake.layers import hash_column, merge_keys, silver_columns, valid_column
from citylake.ledger import short_error
from citylake.publish import Publication, stage
from citylake.quality.gate import UNIQUE, suite_expectations
from citylake.quality.gx_runner import GxProject, SuiteOutcome
from citylake.quality.rowchecks import DQ_FAILED, RowCheck, count_failures, is_dropped, row_checks
from citylake.quality.suites import load_suite
from citylake.registry import FeedContract, Registry

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType


def silver_schema(contract: FeedContract) -> StructType:
    from pyspark.sql import types as T

    from jobs.bronze_ingest import spark_type

    return T.StructType([T.StructField(n, spark_type(t), True) for n, t in silver_columns(contract)])


def conform(
    bronze: DataFrame, contract: FeedContract, key: bytes, run_id: str, now: dt.datetime
) -> DataFrame:
    """Bronze rows in silver's layout: personal data hashed, IDs checked, event_date derived."""
    from pyspark.sql import functions as F

    cols = []
    for c in contract.columns:
        if c.pii:
            cols.append(pii.hmac_hex(F.col(c.name), key).alias(hash_column(c.name)))
            if c.pii == "resident_id":
                cols.append(pii.resident_id_valid(F.col(c.name)).alias(valid_column(c.name)))
        else:
            cols.append(F.col(c.name))
    event_date = F.to_date(F.col(contract.event_time)) if contract.kind == "event" else F.col("_logical_date")
    return bronze.select(
        *cols,
        F.coalesce(event_date, F.col("_logical_date")).alias("event_date"),
        "_unit",
        "_feed",
        "_source_file",
        "_record_no",
        "_batch_id",
        "_logical_date",
        F.lit(run_id).alias("_run_id"),
        F.lit(now).cast("timestamp").alias("_updated_at"),
        DQ_FAILED,
    )


def dedupe(df: DataFrame, contract: FeedContract) -> tuple[DataFrame, DataFrame]:
    """(kept, surplus): one row per merge key; the last delivered copy (file, record) wins."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    keys = merge_keys(contract) + (["event_date"] if contract.kind == "event" else [])
    w = Window.partitionBy(*keys).orderBy(F.desc("_source_file"), F.desc("_record_no"))
    ranked = df.withColumn("_copy", F.row_number().over(w))
    return ranked.where("_copy = 1").drop("_copy"), ranked.where("_copy > 1").drop("_copy")


def to_dq_rows(
    df: DataFrame, contract: FeedContract, run_id: str, date: dt.date, reason: Any, now: dt.datetime
) -> DataFrame:
    """Quarantine rows: where they came from, what they broke, and the record (personal data hashed)."""
    from pyspark.sql import functions as F

    record_cols = [n for n, _ in silver_columns(contract) if not n.startswith("_") and n != "event_date"]
    return df.select(
        F.lit(run_id).alias("run_id"),
        F.lit(date).cast("date").alias("logical_date"),
        F.col("_unit").alias("unit"),
        F.col("_feed").alias("feed"),
        F.lit(contract.contract).alias("contract"),
        F.col("_source_file").alias("source_file"),
        F.col("_record_no").alias("record_no"),
        F.col(DQ_FAILED).alias("failed_expectations"),
        reason.alias("reason"),
        F.to_json(F.struct(*record_cols)).alias("record"),
        F.col("_batch_id").alias("batch_id"),
        F.lit(now).cast("timestamp").alias("quarantined_at"),
    )


@dataclass
class SilverResult:
    publications: list[Publication] = field(default_factory=list)
    suites: list[SuiteOutcome] = field(default_factory=list)
    dates: dict[str, set[dt.date]] = field(default_factory=dict)  # contract -> event dates merged
    timings: dict[str, float] = field(default_factory=dict)


def _merge(
    spark: SparkSession, path: str, inc: DataFrame, contract: FeedContract, dates: list[dt.date]
) -> None:
    from delta.tables import DeltaTable

    keys = merge_keys(contract)
    cond = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in keys)
    if contract.kind == "event":
        # Partition predicate: MERGE only scans the days this increment touches.
        days = ", ".join(f"DATE'{d.isoformat()}'" for d in sorted(dates))
        cond += f" AND t.event_date = s.event_date AND t.event_date IN ({days})"
    data_cols = [n for n, _ in silver_columns(contract) if n not in ("_run_id", "_updated_at", *keys)]
    changed = " OR ".join(f"NOT (t.`{c}` <=> s.`{c}`)" for c in data_cols)
    (
        DeltaTable.forPath(spark, path)
        .alias("t")
        .merge(inc.alias("s"), cond)
        # late and corrected records update in place; an identical re-delivery changes nothing
        .whenMatchedUpdateAll(condition=changed)
        .whenNotMatchedInsertAll()
        .execute()
    )


def promote_contract(
    spark: SparkSession,
    lake: Lake,
    contract: FeedContract,
    feeds: list[tuple[str, str]],
    batch_ids: list[str],
    date: dt.date,
    run_id: str,
    key: bytes,
    checks: list[RowCheck],
    gx: GxProject | None,
    expectations_dir: Any,
) -> tuple[Publication, SuiteOutcome | None, set[dt.date]]:
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    now = dt.datetime.now()
    dataset = f"silver.{contract.contract}"
    path = lake.table("silver", contract.contract)
    previous = delta_io.latest_version(spark, path)
    bronze = (
        spark.read.format("delta")
        .load(lake.table("bronze", contract.contract))
        .where((F.col("_logical_date") == F.lit(date)) & F.col("_batch_id").isin(batch_ids))
        .where(F.struct("_unit", "_feed").isin(*[F.struct(F.lit(u), F.lit(f)) for u, f in feeds]))
    )
    rows = conform(bronze, contract, key, run_id, now)
    hit = is_dropped(checks)
    unique_ids = [
        e.id for e in suite_expectations(expectations_dir, contract.suites_for("bronze")) if e.type in UNIQUE
    ]
    kept, surplus = dedupe(rows.where(~hit), contract)
    inc = kept.drop(DQ_FAILED).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        suite = contract.suites_for("silver")[0]
        silver_checks = row_checks(load_suite(expectations_dir, suite))
        # one aggregation: rows, failures per check and the days the increment touches
        n, failures, extra = count_failures(
            inc, silver_checks, prefix=f"{suite}#", extra={"dates": F.collect_set("event_date")}
        )
        pub = Publication("silver", dataset, "published", None, n, previous, previous, None, path, batch_ids)
        if n == 0:
            pub.status = "empty"
            return pub, None, set()
        dates = sorted(extra["dates"])
        stage(inc, lake, "silver", contract.contract)
        counted = {k: (v, n) for k, v in failures.items()}
        outcome = gx.validate(inc, dataset, suite, run_id, counted, n) if gx else None
        if outcome is not None:
            pub.validation_id = outcome.validation_id
            if outcome.verdict == "failed":
                pub.status, pub.reason = "failed", outcome.reason()
                return pub, outcome, set()
        # Quarantine first, keyed by the batches, so a crash before the MERGE replays cleanly.
        dup_reason = F.lit(f"surplus copy of a business key in the same batch ({', '.join(unique_ids)}); "
                           "the last delivered copy was kept")  # fmt: skip
        drop_reason = F.concat(F.lit("broke drop expectation(s): "), F.array_join(F.col(DQ_FAILED), ", "))
        quarantined = to_dq_rows(rows.where(hit), contract, run_id, date, drop_reason, now).unionByName(
            to_dq_rows(
                surplus.withColumn(DQ_FAILED, F.array(*[F.lit(i) for i in unique_ids]).cast("array<string>")),
                contract,
                run_id,
                date,
                dup_reason,
                now,
            )  # fmt: skip
        )
        txn = "dqrows:" + hashlib.sha256("\n".join(sorted(batch_ids)).encode()).hexdigest()[:20]
        delta_io.append(quarantined.coalesce(1), lake.table("quarantine", DQ_ROWS), txn_app_id=txn)
        _merge(spark, path, inc, contract, dates)
        pub.delta_version = delta_io.latest_version(spark, path)
        return pub, outcome, set(dates)
    finally:
        inc.unpersist()


def run(
    spark: SparkSession,
    lake: Lake,
    registry: Registry,
    date: dt.date,
    run_id: str,
    promotable: dict[str, list[Any]],
    key: bytes,
    checks: dict[str, list[RowCheck]],
    expectations_dir: Any,
    gx: GxProject | None = None,
    progress: Any = None,
) -> SilverResult:
    """Promote each contract's passing unit/feed batches; one contract's failure stops no other."""
    say = progress or (lambda _msg: None)
    result = SilverResult()
    t0 = time.perf_counter()
    for contract in registry.contracts_in_use():
        delta_io.ensure_table(
            spark,
            lake.table("silver", contract.contract),
            silver_schema(contract),
            partition_by=("event_date",) if contract.kind == "event" else (),
            comment=f"silver: {contract.title}; one row per {'record' if contract.kind == 'event' else 'object'} "
            f"per unit, keyed by {', '.join(merge_keys(contract))}",
        )
    for name, verdicts in sorted(promotable.items()):
        contract = registry.contracts[name]
        feeds = sorted({(v.unit, v.feed) for v in verdicts})
        batch_ids = sorted({b for v in verdicts for b in v.batch_ids})
        say(f"silver: {name} ({len(feeds)} unit feeds)")
        try:
            pub, outcome, dates = promote_contract(
                spark, lake, contract, feeds, batch_ids, date, run_id, key, checks[name], gx, expectations_dir
            )
        except Exception as exc:  # one contract's failure must not stop the others
            pub = Publication.refused(spark, "silver", f"silver.{name}", lake.table("silver", name),
                                      f"promotion failed: {short_error(exc)}", batch_ids)  # fmt: skip
            outcome, dates = None, set()
        result.publications.append(pub)
        if outcome:
            result.suites.append(outcome)
        if dates:
            result.dates[name] = dates
    result.timings["silver_s"] = time.perf_counter() - t0
    return result
