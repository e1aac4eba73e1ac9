"""Silver's pure transforms: bronze rows conformed to silver's layout, deduplicated, and quarantine rows.

DataFrame in, DataFrame out; all Spark columns, no Python UDFs.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from citylake.config.layers import (
    as_sent_column,
    check_column,
    hash_column,
    merge_keys,
    silver_columns,
    status_column,
    valid_column,
)
from citylake.config.registry import FeedContract, Registry
from citylake.domain import pii
from citylake.domain.districts import with_conformed_code
from citylake.domain.geo import with_wgs84
from citylake.lake import ledger
from citylake.quality.rowchecks import DQ_FAILED

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame
    from pyspark.sql.types import StructType


def silver_schema(contract: FeedContract) -> StructType:
    from pyspark.sql import types as T

    from jobs.bronze_read import spark_type

    return T.StructType([T.StructField(n, spark_type(t), True) for n, t in silver_columns(contract)])


def silver_properties(contract: FeedContract) -> dict[str, str]:
    """Statistics only on what silver is filtered by (unit, keys, time, codes, versions): Delta
    otherwise computes min/max/null counts of the first 32 columns of every row it writes."""
    # not is_current: Delta keeps no statistics of booleans, and Spark refuses any later
    # ALTER of a table whose list names one
    have = {n for n, _ in silver_columns(contract)}
    wanted = [*merge_keys(contract), contract.event_time or "", "valid_from"]
    wanted += [c.name for c in contract.columns if c.role in ("district_code", "street_code")]
    stats = list(dict.fromkeys(n for n in wanted if n in have))
    return {"delta.dataSkippingStatsColumns": ",".join(stats)}


def conform(
    bronze: DataFrame,
    contract: FeedContract,
    key: bytes,
    run_id: str,
    now: dt.datetime,
    systems: dict[str, str] | None = None,
    division_codes: DataFrame | None = None,
    register: DataFrame | None = None,
) -> DataFrame:
    """Bronze rows in silver's layout (citylake.config.layers.silver_columns), all as Spark columns.

    Personal data hashed (derived fields first), resident IDs and credit codes checked (area
    codes against ``division_codes``, a one-column ``code`` frame of citylake.lake.reference; birth
    dates against the delivery date), district and street codes conformed against the
    division ``register`` (citylake.domain.districts.lookup_rows; needed when the contract has codes), coordinates converted to WGS-84 from the system each unit's feed declares
    (``systems``: "unit/feed" -> wgs84|gcj02|bd09), event_date derived.
    """
    from pyspark.sql import functions as F

    known: dict[str, Column] = {}  # identifier column -> its area code is in the register
    for c in contract.columns:
        if division_codes is not None and (c.pii == "resident_id" or c.role == "uscc"):
            flag = f"_area_known_{c.name}"
            bronze = pii.with_known_area(bronze, c.name, 1 if c.pii else 3, division_codes, flag)
            known[c.name] = F.col(flag)
    for c in contract.columns:
        if c.role in ("district_code", "street_code"):
            if register is None:
                raise ValueError(f"{contract.contract}: conforming {c.name} needs the division register")
            level = c.role.split("_")[0]
            bronze = with_conformed_code(
                bronze, c.name, level, register, f"_now_{c.name}", f"_status_{c.name}"
            )
    # Identifier checks in a projection of their own: used by several columns, and inside
    # CASE WHEN branches, which Spark's common-subexpression elimination does not reach, they
    # would be computed once per use (silver's conform of medical visits took 7.2 s, now 4.9).
    checks = {
        f"_check_{c.name}": pii.resident_id_check(F.col(c.name), F.col("_logical_date"), known.get(c.name))
        if c.pii == "resident_id"
        else pii.uscc_check(F.col(c.name), known.get(c.name))
        for c in contract.columns
        if c.pii == "resident_id" or (c.role == "uscc" and not c.pii)
    }
    if checks:
        bronze = bronze.withColumns(checks)
    cols: list[Column] = []
    for c in contract.columns:
        if c.pii:
            cols.append(pii.hmac_hex(F.col(c.name), key).alias(hash_column(c.name)))
            if c.pii == "resident_id":
                check = F.col(f"_check_{c.name}")
                cols += [(check == "ok").alias(valid_column(c.name)), check.alias(check_column(c.name))]
                cols += [pii.resident_id_derived(F.col(c.name), d, check == "ok").alias(f"{c.name}_{d}")
                         for d in c.derive]  # fmt: skip
        elif c.role == "uscc":
            check = F.col(f"_check_{c.name}")
            cols += [
                F.col(c.name),
                (check == "ok").alias(valid_column(c.name)),
                check.alias(check_column(c.name)),
            ]
        elif c.role in ("district_code", "street_code"):
            cols += [F.col(f"_now_{c.name}").alias(c.name), F.col(c.name).alias(as_sent_column(c.name)),
                     F.col(f"_status_{c.name}").alias(status_column(c.name))]  # fmt: skip
        elif c.role in ("lon", "lat") and contract.coordinates:
            cols.append(F.col(c.name).alias(as_sent_column(c.name)))
        else:
            cols.append(F.col(c.name))
    event_date = (
        F.to_date(F.col(contract.event_time))
        if contract.kind == "event" and contract.event_time
        else F.col("_logical_date")
    )
    extra = [F.coalesce(event_date, F.col("_logical_date")).alias("event_date")]
    if contract.scd2:
        # a version is valid from the source's own update time, else (and for a register,
        # always) from its delivery date
        start = F.col("_logical_date").cast("timestamp")
        start = F.coalesce(F.col(contract.event_time), start) if contract.event_time else start
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


def latest_snapshot(df: DataFrame) -> DataFrame:
    """A register's rows of each unit's newest delivery: each delivery is the whole register,
    so an older one owed beside it is superseded (it stays in bronze)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    newest = F.max("_logical_date").over(Window.partitionBy("_unit"))
    return df.withColumn("_newest", newest).where(F.col("_logical_date") == F.col("_newest")).drop("_newest")


def dedupe(df: DataFrame, contract: FeedContract, order: Column | None = None) -> tuple[DataFrame, DataFrame]:
    """(kept, surplus): one row per merge key; the last delivered copy wins.

    ``order`` ranks the bronze commits the rows came from (newest first), then file and record
    decide. A surplus copy is one of the same batch as the kept row; a copy from an older batch
    is superseded, as a MERGE of that batch followed by one of the newer would have replaced it.
    So promoting several batches at once gives what promoting them one by one gives.
    """
    ranked = rank_copies(df, contract, order)
    return kept_rows(ranked), surplus_rows(ranked)


def rank_copies(
    df: DataFrame, contract: FeedContract, order: Column | None = None, apart: str | None = None
) -> DataFrame:
    """``df`` with ``_copy`` (1 for the copy of a merge key that wins) and ``_winner_batch``;
    rows with different values of the boolean column ``apart`` are never copies of each other."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    keys = merge_keys(contract) + (["event_date"] if contract.kind == "event" else [])
    rank = [order.desc()] if order is not None else []
    w = Window.partitionBy(*([apart] if apart else []), *keys).orderBy(
        *rank, F.desc("_source_file"), F.desc("_record_no")
    )
    return df.withColumn("_copy", F.row_number().over(w)).withColumn(
        "_winner_batch", F.first("_batch_id").over(w)
    )


RANK_IDS = ("_batch_id", "_source_file", "_record_no")  # a bronze row's identity across owed batches


def beaten_copies(
    df: DataFrame, contract: FeedContract, order: Column | None = None, apart: str | None = None
) -> DataFrame:
    """The rows ``rank_copies`` would rank past 1, as (``RANK_IDS``, ``_copy``, ``_winner_batch``).

    Only keys that occur more than once are ranked: a count by a hash of the key finds them
    (a shuffle of one number per row), and the window sorts just their rows. Ranking every
    row sorted the whole increment for the few keys that have copies. A hash collision only
    ranks a few more rows: the window partitions by the key itself.
    """
    from pyspark.sql import functions as F

    keys = merge_keys(contract) + (["event_date"] if contract.kind == "event" else [])
    digest = F.xxhash64(*([apart] if apart else []), *keys).alias("_k")
    repeated = df.groupBy(digest).count().where(F.col("count") > 1).select("_k")
    candidates = df.withColumn("_k", digest).join(repeated, "_k", "left_semi").drop("_k")
    ranked = rank_copies(candidates, contract, order, apart)
    return ranked.where(F.col("_copy") > 1).select(*RANK_IDS, "_copy", "_winner_batch")


def with_ranks(df: DataFrame, beaten: DataFrame) -> DataFrame:
    """``df`` with ``rank_copies``' columns, from its ``beaten_copies``: any other row wins its key."""
    from pyspark.sql import functions as F

    return df.join(F.broadcast(beaten), list(RANK_IDS), "left").withColumns(
        {"_copy": F.coalesce("_copy", F.lit(1)), "_winner_batch": F.coalesce("_winner_batch", "_batch_id")}
    )


def kept_rows(ranked: DataFrame, where: Column | None = None) -> DataFrame:
    from pyspark.sql import functions as F

    kept = ranked.where(F.col("_copy") == 1)
    return (kept.where(where) if where is not None else kept).drop("_copy", "_winner_batch")


def surplus_copy() -> Column:
    """Over ``rank_copies``' columns: a copy beaten by a copy of the same batch (an older batch's
    copy is superseded, not surplus)."""
    from pyspark.sql import functions as F

    return (F.col("_copy") > 1) & (F.col("_batch_id") == F.col("_winner_batch"))


def surplus_rows(ranked: DataFrame, where: Column | None = None) -> DataFrame:
    """The ``surplus_copy`` rows."""
    surplus = ranked.where(surplus_copy())
    return (surplus.where(where) if where is not None else surplus).drop("_copy", "_winner_batch")


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
        *ledger.quarantine_origin(run_id, date, contract.contract),
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
