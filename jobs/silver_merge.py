"""Writing an increment into silver: insert-only where silver holds nothing to match, else MERGE
(events by business key and day, entities as SCD type 2). A MERGE that would change nothing is
not run, so a replay leaves the table version alone.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from citylake.config.layers import (
    merge_keys,
    scd2_measures,
    scd2_tracked,
    silver_columns,
)
from citylake.config.registry import FeedContract
from citylake.engine import delta_io, delta_log, fence

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

SPREAD_DAYS = 8  # an increment over more event days than this is written a task per day


def merge(
    spark: SparkSession,
    path: str,
    inc: DataFrame,
    contract: FeedContract,
    dates: list[dt.date],
    delivered: DataFrame | None = None,
) -> bool:
    """Upsert the increment; False (and no commit) when it would change nothing.

    Events: late and corrected records update in place, by business key, scanning only the
    touched days. Entities and registers: SCD type 2 (``merge_scd2``; ``delivered``: a
    register's snapshot keys, see there). Delta commits a new version even for
    a MERGE that matches no clause, so the rows that would act are found first, and a re-run
    of the same data leaves the table version alone.
    """
    from delta.tables import DeltaTable
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    if not delta_log.has_files(path, "event_date" if contract.kind == "event" else None, dates):
        # nothing in silver to match (a new day, a first load): the increment is all inserts
        rows = inc.select(*[n for n, _ in silver_columns(contract)])
        if contract.kind == "event" and len(dates) > SPREAD_DAYS:
            # each task would write a file per day it holds: a year of flights made 4 x 182 small
            # files (10 s); one shuffle by day writes one file per day
            rows = rows.repartition("event_date")
        delta_io.append(rows, path)
        return True
    if contract.scd2:
        return merge_scd2(spark, path, inc, contract, delivered)
    keys = merge_keys(contract)
    data_cols = [n for n, _ in silver_columns(contract) if n not in ("_run_id", "_updated_at", *keys)]
    current = delta_io.scan(spark, path, where={"event_date": dates})
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
        fence.check(f"merging into {path}")
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


def merge_scd2(
    spark: SparkSession, path: str, inc: DataFrame, contract: FeedContract, delivered: DataFrame | None = None
) -> bool:
    """SCD type 2: a changed entity closes its current version and opens a new one.

    A register (``delivered``: the merge keys and ``_logical_date`` of every row of each unit's
    newest snapshot, kept or not) also closes, at its snapshot date, each current entry of a
    delivering unit that the snapshot no longer holds.

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
    cols = [n for n, _ in silver_columns(contract)]
    acting = (
        inc.alias("s")
        .join(current, on, "left")
        .where(~known | new_version | in_place)
        .select(
            *[F.col(f"s.`{c}`") for c in cols],
            new_version.alias("__new_version"),
            F.lit(False).alias("__gone"),
        )
    )
    if delivered is not None:
        # entries a snapshot no longer holds: closed at that snapshot's date, by this run
        stamp = inc.select("_run_id", "_updated_at").limit(1)
        snapshot = delivered.groupBy("_unit").agg(
            F.max("_logical_date").cast("timestamp").alias("valid_from")
        )
        gone = (
            table.toDF().where("is_current").withColumnRenamed("valid_from", "__was_from")
            .drop("_run_id", "_updated_at")
            .join(snapshot, "_unit")
            .where(F.col("valid_from") >= F.col("__was_from"))  # an older snapshot rewrites no history
            .join(delivered.select(*keys).distinct(), keys, "left_anti")
            .crossJoin(stamp)
            .select(*cols, F.lit(False).alias("__new_version"), F.lit(True).alias("__gone"))
        )  # fmt: skip
        acting = acting.unionByName(gone)
    acting = acting.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        if acting.isEmpty():
            return False
        mk = [f"__mk_{i}" for i in range(len(keys))]
        staged = acting.select("*", *[F.col(k).alias(m) for k, m in zip(keys, mk, strict=True)]).unionByName(
            acting.where("__new_version").select("*", *[F.lit(None).cast("string").alias(m) for m in mk])
        )
        cond = " AND ".join(f"t.`{k}` = s.`{m}`" for k, m in zip(keys, mk, strict=True)) + " AND t.is_current"
        fence.check(f"merging into {path}")
        (
            table.alias("t")
            .merge(staged.alias("s"), cond)
            .whenMatchedUpdate(
                condition="s.__new_version OR s.__gone",
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
