"""Bronze -> silver: the batches that passed the gate, conformed, deduplicated and merged.

Pure transforms (``conform``, ``dedupe``, ``to_dq_rows``) and a thin ``run`` that, per
contract, reads every bronze batch silver has not promoted yet (citylake.progress: the bronze
version silver reached is its state, whichever run committed the batches), quarantines ``drop``
rows and surplus duplicates with the expectation they broke, and publishes through
write-audit-publish: the increment is staged, validated by the silver suite, and only then
merged into silver. Then it records the bronze version it reached.

A unit/feed whose bronze batch failed a ``fail`` expectation (the batch's bronze commit says
so) is not read at all: its rows stay in bronze for the engineer who repairs it. A silver suite
failure is a bug in this transform, so it holds the whole contract back, keeps the current
silver version, and leaves the batches owed.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from citylake import delta_io, delta_log, parallel, pii, progress
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
from citylake.progress import BronzeCommit, Progress, ProgressRow
from citylake.publish import Publication, stage
from citylake.quality.gate import UNIQUE, suite_expectations
from citylake.quality.gx_runner import GxProject, SuiteOutcome
from citylake.quality.rowchecks import DQ_FAILED, RowCheck, count_failures, is_dropped, row_checks
from citylake.quality.suites import load_suite
from citylake.registry import FeedContract, Registry
from citylake.storage import store_for

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession
    from pyspark.sql.types import StructType


def silver_schema(contract: FeedContract) -> StructType:
    from pyspark.sql import types as T

    from jobs.bronze_read import spark_type

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


def dedupe(df: DataFrame, contract: FeedContract, order: Column | None = None) -> tuple[DataFrame, DataFrame]:
    """(kept, surplus): one row per merge key; the last delivered copy wins.

    ``order`` ranks the bronze commits the rows came from (newest first), then file and record
    decide. A surplus copy is one of the same batch as the kept row; a copy from an older batch
    is superseded, as a MERGE of that batch followed by one of the newer would have replaced it.
    So promoting several batches at once gives what promoting them one by one gives.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    keys = merge_keys(contract) + (["event_date"] if contract.kind == "event" else [])
    rank = [order.desc()] if order is not None else []
    w = Window.partitionBy(*keys).orderBy(*rank, F.desc("_source_file"), F.desc("_record_no"))
    ranked = df.withColumn("_copy", F.row_number().over(w)).withColumn(
        "_winner_batch", F.first("_batch_id").over(w)
    )
    kept = ranked.where("_copy = 1")
    surplus = ranked.where((F.col("_copy") > 1) & (F.col("_batch_id") == F.col("_winner_batch")))
    return kept.drop("_copy", "_winner_batch"), surplus.drop("_copy", "_winner_batch")


def to_dq_rows(
    df: DataFrame,
    contract: FeedContract,
    run_id: str,
    date: dt.date,
    reason: Any,
    now: dt.datetime,
    mark: int = -1,
) -> DataFrame:
    """Quarantine rows: where they came from, what they broke, and the record (personal data hashed).

    ``mark``: the bronze version quarantine already holds rows through; older rows are left out.
    """
    from pyspark.sql import functions as F

    record_cols = [n for n, _ in silver_columns(contract) if not n.startswith("_") and n != "event_date"]
    if "_bronze_version" in df.columns:
        df = df.where(F.col("_bronze_version") > mark)
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
    progress: list[ProgressRow] = field(default_factory=list)  # what this step recorded


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

    if not delta_log.has_files(path, "event_date" if contract.kind == "event" else None, dates):
        # nothing in silver to match (a new day, a first load): the increment is all inserts
        delta_io.append(inc.select(*[n for n, _ in silver_columns(contract)]), path)
        return True
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


@dataclass(frozen=True)
class Owed:
    """The bronze commits of one contract that silver has not promoted: (after, upto]."""

    contract: FeedContract
    after: int
    upto: int
    commits: tuple[BronzeCommit, ...]

    @property
    def batch_ids(self) -> list[str]:
        return [b.batch_id for b in self.commits]


def owed(lake: Lake, contract: FeedContract, state: Progress) -> Owed | None:
    path = lake.table("bronze", contract.contract)
    store = store_for(path)
    upto = delta_log.latest_version(path, store)
    after = state.consumed(f"silver.{contract.contract}", f"bronze.{contract.contract}")
    if upto is None or upto <= after:
        return None
    return Owed(contract, after, upto, tuple(progress.bronze_commits(path, after, upto, store)))


def quarantine_marks(lake: Lake, todo: list[Owed]) -> dict[str, int]:
    """Per contract, the bronze version ``quarantine.dq_rows`` holds rows through, where that is
    past silver's own mark (a run that stopped after quarantining and before recording). Only
    commits since the oldest owed bronze commit can say so: a short look at the newest commits."""
    commits = [b for o in todo for b in o.commits]
    if not commits:
        return {}
    since = min(b.timestamp_ms for b in commits) - 60_000  # a minute of slack for clocks
    marks: dict[str, int] = {}
    for _, info in delta_log.commits_since(lake.table("quarantine", DQ_ROWS), since):
        meta = info.get("userMetadata")
        if isinstance(meta, dict) and "dqrows" in meta:
            marks[meta["dqrows"]] = max(marks.get(meta["dqrows"], -1), int(meta["upto"]))
    return marks


def promote_contract(
    spark: SparkSession,
    lake: Lake,
    todo: Owed,
    dq_mark: int,
    date: dt.date,
    run_id: str,
    key: bytes,
    checks: list[RowCheck],
    gx: GxProject | None,
    expectations_dir: Any,
    systems: dict[str, str] | None = None,
) -> tuple[Publication, SuiteOutcome | None, set[dt.date], ProgressRow | None]:
    """Promote the owed batches; the progress row is None when silver must try them again."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    contract = todo.contract
    now = dt.datetime.now()
    dataset = f"silver.{contract.contract}"
    path = lake.table("silver", contract.contract)
    previous = delta_log.latest_version(path)
    batch_ids = todo.batch_ids

    def moved(days: set[dt.date]) -> ProgressRow:
        return ProgressRow("silver", dataset, f"bronze.{contract.contract}", todo.upto,
                           delta_log.latest_version(path), tuple(sorted(days)), run_id, date)  # fmt: skip

    pub = Publication("silver", dataset, "empty", None, 0, previous, previous, None, path, batch_ids)
    if not todo.commits:  # only schema or maintenance commits since the last promotion
        return pub, None, set(), moved(set())
    held = [(b.batch_id, u, f) for b in todo.commits for u, f in sorted(b.held)]
    bronze = (
        spark.read.format("delta")
        .load(lake.table("bronze", contract.contract))
        .where(F.col("_logical_date").isin(sorted({b.date for b in todo.commits if b.date})))
        .where(F.col("_batch_id").isin(batch_ids))
    )
    if held:  # the gate held these unit/feeds of these batches: they stay in bronze
        bronze = bronze.where(~F.struct("_batch_id", "_unit", "_feed").isin(
            *[F.struct(F.lit(b), F.lit(u), F.lit(f)) for b, u, f in held]))  # fmt: skip
    # the bronze version of each row's batch: newer deliveries win, and the quarantine mark compares
    versions = F.create_map(*[F.lit(x) for b in todo.commits for x in (b.batch_id, b.version)])
    rows = conform(bronze, contract, key, run_id, now, systems).withColumn(
        "_bronze_version", F.element_at(versions, F.col("_batch_id"))
    )
    hit = is_dropped(checks)
    unique_ids = [
        e.id for e in suite_expectations(expectations_dir, contract.suites_for("bronze")) if e.type in UNIQUE
    ]
    kept, surplus = dedupe(rows.where(~hit), contract, F.col("_bronze_version"))
    inc = kept.drop(DQ_FAILED, "_bronze_version").persist(StorageLevel.MEMORY_AND_DISK)
    try:
        suite = contract.suites_for("silver")[0]
        silver_checks = row_checks(load_suite(expectations_dir, suite))
        # one aggregation: rows, failures per check and the days the increment touches
        n, failures, extra = count_failures(
            inc, silver_checks, prefix=f"{suite}#", extra={"dates": F.collect_set("event_date")}
        )
        pub.status, pub.rows = "published", n
        dates = sorted(extra["dates"] or [])
        outcome = None
        if n:
            counted = {k: (v, n) for k, v in failures.items()}
            outcome = gx.validate(inc, dataset, suite, run_id, counted, n) if gx else None
            if outcome is not None:
                pub.validation_id = outcome.validation_id
                if outcome.verdict == "failed":
                    stage(inc, lake, "silver", contract.contract)  # kept for whoever repairs it
                    pub.status, pub.reason = "failed", outcome.reason()
                    return pub, outcome, set(), None
        # Quarantine first, marked with the bronze version it reached, so a crash before the
        # MERGE neither loses these rows nor writes them twice.
        if todo.upto > dq_mark:
            dup_reason = F.lit(f"surplus copy of a business key in the same batch ({', '.join(unique_ids)}); "
                               "the last delivered copy was kept")  # fmt: skip
            drop_reason = F.concat(F.lit("broke drop expectation(s): "), F.array_join(F.col(DQ_FAILED), ", "))
            surplus_rows = surplus.withColumn(
                DQ_FAILED, F.array(*[F.lit(i) for i in unique_ids]).cast("array<string>")
            )
            quarantined = to_dq_rows(rows.where(hit), contract, run_id, date, drop_reason, now, mark=dq_mark)
            quarantined = quarantined.unionByName(
                to_dq_rows(surplus_rows, contract, run_id, date, dup_reason, now, mark=dq_mark)
            )
            delta_io.append(quarantined.coalesce(1), lake.table("quarantine", DQ_ROWS),
                            user_metadata={"dqrows": contract.contract, "upto": todo.upto, "run_id": run_id})  # fmt: skip
        if n == 0:
            pub.status = "empty"
            return pub, None, set(), moved(set())
        if not _merge(spark, path, inc, contract, dates):
            pub.status = "unchanged"  # a re-delivery of what silver holds: no new version
        pub.delta_version = delta_log.latest_version(path)
        return pub, outcome, set(dates), moved(set(dates))
    finally:
        inc.unpersist()


def run(
    spark: SparkSession,
    lake: Lake,
    registry: Registry,
    date: dt.date,
    run_id: str,
    key: bytes,
    checks: dict[str, list[RowCheck]],
    expectations_dir: Any,
    gx: GxProject | None = None,
    say: Any = None,
    workers: int = 1,
    contracts: list[str] | None = None,
    state: Progress | None = None,
) -> SilverResult:
    """Promote what each contract owes (``contracts``, default all in use), ``workers``
    contracts at a time; one contract's failure stops no other. Records its progress."""
    say = say or (lambda _msg: None)
    result = SilverResult()
    t0 = time.perf_counter()
    state = state if state is not None else progress.load(lake)
    names = contracts if contracts is not None else [c.contract for c in registry.contracts_in_use()]
    todo = [o for o in (owed(lake, registry.contracts[n], state) for n in sorted(names)) if o is not None]
    say(f"silver: {len(todo)} contract(s) owe bronze batches")
    marks = quarantine_marks(lake, todo)

    owing = {o.contract.contract for o in todo}

    def ensure(contract: FeedContract) -> None:
        delta_io.ensure_table(
            spark,
            lake.table("silver", contract.contract),
            silver_schema(contract),
            evolve=contract.contract in owing,
            partition_by=("event_date",) if contract.kind == "event" else (),
            comment=f"silver: {contract.title}; one row per {'record' if contract.kind == 'event' else 'object'} "
            f"per unit, keyed by {', '.join(merge_keys(contract))}",
        )

    parallel.each(registry.contracts_in_use(), ensure, workers)  # a listing each, once they exist

    def promote(item: Owed) -> tuple[str, Publication, SuiteOutcome | None, set[dt.date], ProgressRow | None]:
        name = item.contract.contract
        say(f"silver: {name} ({len(item.commits)} batch(es), bronze v{item.after + 1}..v{item.upto})")
        try:
            pub, outcome, dates, row = promote_contract(
                spark, lake, item, marks.get(name, -1), date, run_id, key, checks[name], gx,
                expectations_dir, coord_systems(registry, name),
            )  # fmt: skip
        except Exception as exc:  # one contract's failure must not stop the others
            pub = Publication.refused(spark, "silver", f"silver.{name}", lake.table("silver", name),
                                      f"promotion failed: {short_error(exc)}", item.batch_ids)  # fmt: skip
            outcome, dates, row = None, set(), None
        return name, pub, outcome, dates, row

    for name, pub, outcome, dates, row in parallel.each(todo, promote, workers):
        if pub.batch_ids or pub.status == "failed":
            result.publications.append(pub)
        if outcome:
            result.suites.append(outcome)
        if dates:
            result.dates[name] = dates
        if row is not None:
            result.progress.append(row)
    progress.record(lake, result.progress, txn_app_id=f"progress-silver:{run_id}")
    result.timings["silver_s"] = time.perf_counter() - t0
    return result
