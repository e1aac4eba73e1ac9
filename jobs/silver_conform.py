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

from citylake import delta_io, parallel, pii
from citylake.districts import conform_code
from citylake.geo import with_wgs84
from citylake.lake import DQ_ROWS, Lake
from citylake.layers import (
    as_sent_column,
    hash_column,
    merge_keys,
    scd2_measures,
    scd2_tracked,
    silver_columns,
    status_column,
    valid_column,
)
from citylake.ledger import short_error
from citylake.publish import Publication, stage
from citylake.quality.gate import UNIQUE, suite_expectations
from citylake.quality.gx_runner import GxProject, SuiteOutcome
from citylake.quality.rowchecks import DQ_FAILED, RowCheck, count_failures, is_dropped, row_checks
from citylake.quality.suites import load_suite
from citylake.registry import FeedContract, Registry

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession
    from pyspark.sql.types import StructType


def silver_schema(contract: FeedContract) -> StructType:
    from pyspark.sql import types as T

    from jobs.bronze_ingest import spark_type

    return T.StructType([T.StructField(n, spark_type(t), True) for n, t in silver_columns(contract)])


def conform(
    bronze: DataFrame,
    contract: FeedContract,
    key: bytes,
    run_id: str,
    now: dt.datetime,
    systems: dict[str, str] | None = None,
) -> DataFrame:
    """Bronze rows in silver's layout (citylake.layers.silver_columns), all as Spark columns.

    Personal data hashed (derived fields first), IDs checked, district and street codes
    normalised, coordinates converted to WGS-84 from the system each unit's feed declares
    (``systems``: "unit/feed" -> wgs84|gcj02|bd09), event_date derived.
    """
    from pyspark.sql import functions as F

    cols: list[Column] = []
    for c in contract.columns:
        if c.pii:
            cols.append(pii.hmac_hex(F.col(c.name), key).alias(hash_column(c.name)))
            if c.pii == "resident_id":
                cols.append(pii.resident_id_valid(F.col(c.name)).alias(valid_column(c.name)))
            cols += [pii.resident_id_derived(F.col(c.name), d).alias(f"{c.name}_{d}") for d in c.derive]
        elif c.role in ("district_code", "street_code"):
            code, status = conform_code(F.col(c.name), c.role.split("_")[0])
            cols += [code.alias(c.name), F.col(c.name).alias(as_sent_column(c.name)),
                     status.alias(status_column(c.name))]  # fmt: skip
        elif c.role in ("lon", "lat") and contract.coordinates:
            cols.append(F.col(c.name).alias(as_sent_column(c.name)))
        else:
            cols.append(F.col(c.name))
    event_date = F.to_date(F.col(contract.event_time)) if contract.kind == "event" else F.col("_logical_date")
    extra = [F.coalesce(event_date, F.col("_logical_date")).alias("event_date")]
    if contract.kind == "entity":
        # a version is valid from the source's own update time (else the delivery date)
        start = F.coalesce(F.col(contract.event_time), F.col("_logical_date").cast("timestamp"))
        extra += [start.alias("valid_from"), F.lit(None).cast("timestamp").alias("valid_to"),
                  F.lit(True).alias("is_current")]  # fmt: skip
    meta: list[Column | str] = [
        "_unit",
        "_feed",
        "_source_file",
        "_record_no",
        "_batch_id",
        "_logical_date",
        F.lit(run_id).alias("_run_id"),
        F.lit(now).cast("timestamp").alias("_updated_at"),
        DQ_FAILED,
    ]
    if not contract.coordinates:
        return bronze.select(*cols, *extra, *meta)
    lon, lat = contract.coordinates.lon, contract.coordinates.lat
    pairs = sorted((systems or {}).items())
    lookup = F.create_map(*[F.lit(x) for kv in pairs for x in kv]) if pairs else None
    system = F.coalesce(
        F.element_at(lookup, F.concat_ws("/", "_unit", "_feed")) if lookup is not None else F.lit(None),
        F.lit("wgs84"),
    )
    df = bronze.select(*cols, system.alias("coord_system"), *extra, *meta)
    df = with_wgs84(
        df, as_sent_column(lon), as_sent_column(lat), F.col("coord_system"), lon, lat, "coord_status"
    )
    return df.select(*[n for n, _ in silver_columns(contract)], DQ_FAILED)


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


def coord_systems(registry: Registry, contract: str) -> dict[str, str]:
    """ "unit/feed" -> the coordinate system that unit's feed declares."""
    return {f"{f.unit.unit}/{f.spec.feed}": f.spec.coord_system for f in registry.feeds()
            if f.contract.contract == contract and f.spec.coord_system}  # fmt: skip


@dataclass
class SilverResult:
    publications: list[Publication] = field(default_factory=list)
    suites: list[SuiteOutcome] = field(default_factory=list)
    dates: dict[str, set[dt.date]] = field(default_factory=dict)  # contract -> event dates merged
    timings: dict[str, float] = field(default_factory=dict)


def _merge(
    spark: SparkSession, path: str, inc: DataFrame, contract: FeedContract, dates: list[dt.date]
) -> bool:
    """Upsert the increment; False (and no commit) when it would change nothing.

    Events: late and corrected records update in place, by business key, scanning only the
    touched days. Entities: SCD type 2 (``_merge_scd2``). Delta commits a new version even for
    a MERGE that matches no clause, so the rows that would act are found first, and a re-run
    of the same data leaves the table version alone.
    """
    from delta.tables import DeltaTable
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    if contract.kind == "entity":
        return _merge_scd2(spark, path, inc, contract)
    keys = merge_keys(contract)
    data_cols = [n for n, _ in silver_columns(contract) if n not in ("_run_id", "_updated_at", *keys)]
    current = spark.read.format("delta").load(path).where(F.col("event_date").isin(dates))
    same = F.lit(True)
    for c in keys + data_cols:
        same = same & F.col(f"s.`{c}`").eqNullSafe(F.col(f"t.`{c}`"))
    acting = inc.alias("s").join(current.alias("t"), same, "left_anti").persist(StorageLevel.MEMORY_AND_DISK)
    try:
        if acting.isEmpty():
            return False
        cond = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in keys)
        # Partition predicate: MERGE only scans the days this increment touches.
        days = ", ".join(f"DATE'{d.isoformat()}'" for d in sorted(dates))
        cond += f" AND t.event_date = s.event_date AND t.event_date IN ({days})"
        (
            DeltaTable.forPath(spark, path)
            .alias("t")
            .merge(acting.alias("s"), cond)
            .whenMatchedUpdateAll()
            .whenNotMatchedInsertAll()
            .execute()
        )
        return True
    finally:
        acting.unpersist()


def _merge_scd2(spark: SparkSession, path: str, inc: DataFrame, contract: FeedContract) -> bool:
    """SCD type 2: a changed entity closes its current version and opens a new one.

    Rows that act are new entities, newer snapshots whose tracked attributes changed, and
    corrections (same ``valid_from`` as the current version, fixed in place); an older
    snapshot arriving late does not rewrite history. The acting rows are staged twice (the
    usual Delta pattern): keyed, to close or correct the current version, and with a null key
    for new versions, so closing and opening happen in one atomic MERGE.
    """
    from delta.tables import DeltaTable
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    keys = merge_keys(contract)
    tracked = scd2_tracked(contract)
    table = DeltaTable.forPath(spark, path)
    current = table.toDF().where("is_current").alias("t")
    on = F.lit(True)
    for k in keys:
        on = on & (F.col(f"s.`{k}`") == F.col(f"t.`{k}`"))

    def differ(cols: list[str]) -> Column:
        out = F.lit(False)
        for c in cols:
            out = out | ~F.col(f"s.`{c}`").eqNullSafe(F.col(f"t.`{c}`"))
        return out

    known = F.col(f"t.`{keys[-1]}`").isNotNull()
    newer, same_or_newer = (
        F.col("s.valid_from") > F.col("t.valid_from"),
        F.col("s.valid_from") >= F.col("t.valid_from"),
    )
    new_version = known & differ(tracked) & newer
    # a correction (same valid_from) or a newer measure: the current version is updated in place
    in_place = known & ~new_version & same_or_newer & differ(tracked + scd2_measures(contract))
    acting = (
        inc.alias("s")
        .join(current, on, "left")
        .where(~known | new_version | in_place)
        .select("s.*", new_version.alias("__new_version"))
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    try:
        if acting.isEmpty():
            return False
        mk = [f"__mk_{i}" for i in range(len(keys))]
        staged = acting.select("*", *[F.col(k).alias(m) for k, m in zip(keys, mk, strict=True)]).unionByName(
            acting.where("__new_version").select("*", *[F.lit(None).cast("string").alias(m) for m in mk])
        )
        cond = " AND ".join(f"t.`{k}` = s.`{m}`" for k, m in zip(keys, mk, strict=True)) + " AND t.is_current"
        cols = [n for n, _ in silver_columns(contract)]
        (
            table.alias("t")
            .merge(staged.alias("s"), cond)
            .whenMatchedUpdate(
                condition="s.__new_version",
                set={
                    "is_current": "false",
                    "valid_to": "s.valid_from",
                    "_run_id": "s._run_id",
                    "_updated_at": "s._updated_at",
                },  # fmt: skip
            )
            .whenMatchedUpdate(
                set={c: f"s.`{c}`" for c in cols if c not in (*keys, "valid_from", "valid_to")}
            )
            .whenNotMatchedInsert(values={c: f"s.`{c}`" for c in cols})
            .execute()
        )
        return True
    finally:
        acting.unpersist()


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
    systems: dict[str, str] | None = None,
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
    rows = conform(bronze, contract, key, run_id, now, systems)
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
        if not _merge(spark, path, inc, contract, dates):
            pub.status = "unchanged"  # a re-delivery of what silver holds: no new version
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
    workers: int = 1,
) -> SilverResult:
    """Promote each contract's passing unit/feed batches, ``workers`` contracts at a time; one
    contract's failure stops no other."""
    say = progress or (lambda _msg: None)
    result = SilverResult()
    t0 = time.perf_counter()

    def ensure(contract: FeedContract) -> None:
        delta_io.ensure_table(
            spark,
            lake.table("silver", contract.contract),
            silver_schema(contract),
            partition_by=("event_date",) if contract.kind == "event" else (),
            comment=f"silver: {contract.title}; one row per {'record' if contract.kind == 'event' else 'object'} "
            f"per unit, keyed by {', '.join(merge_keys(contract))}",
        )

    parallel.each(registry.contracts_in_use(), ensure, workers)

    def promote(item: tuple[str, list[Any]]) -> tuple[str, Publication, SuiteOutcome | None, set[dt.date]]:
        name, verdicts = item
        contract = registry.contracts[name]
        feeds = sorted({(v.unit, v.feed) for v in verdicts})
        batch_ids = sorted({b for v in verdicts for b in v.batch_ids})
        say(f"silver: {name} ({len(feeds)} unit feeds)")
        try:
            pub, outcome, dates = promote_contract(
                spark, lake, contract, feeds, batch_ids, date, run_id, key, checks[name], gx, expectations_dir,
                coord_systems(registry, name),
            )  # fmt: skip
        except Exception as exc:  # one contract's failure must not stop the others
            pub = Publication.refused(spark, "silver", f"silver.{name}", lake.table("silver", name),
                                      f"promotion failed: {short_error(exc)}", batch_ids)  # fmt: skip
            outcome, dates = None, set()
        return name, pub, outcome, dates

    for name, pub, outcome, dates in parallel.each(sorted(promotable.items()), promote, workers):
        result.publications.append(pub)
        if outcome:
            result.suites.append(outcome)
        if dates:
            result.dates[name] = dates
    result.timings["silver_s"] = time.perf_counter() - t0
    return result
