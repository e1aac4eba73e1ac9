"""Bronze's pure transforms: the table's schema, and a read's records as bronze rows or quarantine rows.

DataFrame in, DataFrame out; nothing here reads or writes storage.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import TYPE_CHECKING

from citylake.config.layers import BRONZE_META
from citylake.config.registry import FeedContract
from citylake.lake import ledger, preflight
from citylake.quality.rowchecks import DQ_FAILED
from jobs.bronze_read import CORRUPT, spark_type

if TYPE_CHECKING:
    from pyspark.sql import DataFrame
    from pyspark.sql.types import StructType


def bronze_schema(contract: FeedContract) -> StructType:
    from pyspark.sql import types as T

    fields = [
        T.StructField(c.name, spark_type(c.type), True, {"comment": c.description} if c.description else {})
        for c in contract.columns
    ]
    fields += [T.StructField(name, spark_type(typ), False) for name, typ in BRONZE_META]
    # ids of the suite's row-level expectations this record breaks (see citylake.quality)
    fields.append(T.StructField(DQ_FAILED, T.ArrayType(T.StringType(), False), True))
    return T.StructType(fields)


def bronze_properties(contract: FeedContract) -> dict[str, str]:
    """Append-only, and data-skipping statistics only on the record number and the event time.

    Delta computes min/max of every statistics column for every row it writes. On the columns
    that are the same for a whole file or batch (unit, feed, file, run, batch) that costs about
    0.4 of bare Spark's whole write of the flights CSV, more than all of the contract's columns
    (``benchmarks/study_columns.py``, ADR 0004). Bronze is looked up by file or batch within a
    logical date, its partition, so those lookups prune by the partition instead."""
    stats = ["_record_no"] + ([contract.event_time] if contract.event_time else [])
    return {**ledger.APPEND_ONLY, "delta.setTransactionRetentionDuration": "interval 60 days",
            "delta.dataSkippingStatsColumns": ",".join(stats)}  # fmt: skip


def bronze_rows(
    read: DataFrame, contract: FeedContract, run_id: str, batch_id: str, date: dt.date, ingested_at: dt.datetime
) -> DataFrame:
    """The records that parsed, tagged, with their lineage columns: bronze's rows."""
    from pyspark.sql import functions as F

    return read.where(F.col(CORRUPT).isNull()).select(
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


def quarantine_rows(
    read: DataFrame, contract: FeedContract, run_id: str, batch_id: str, date: dt.date, ingested_at: dt.datetime
) -> DataFrame:
    """The records that did not parse, with their raw text and reason: quarantine's rows."""
    from pyspark.sql import functions as F

    return read.where(F.col(CORRUPT).isNotNull()).select(
        *ledger.quarantine_origin(run_id, date, contract.contract),
        F.col(CORRUPT).alias("raw_text"),
        F.col("_reason").alias("reason"),
        F.lit(batch_id).alias("batch_id"),
        F.lit(ingested_at).cast("timestamp").alias("quarantined_at"),
    )


def batch_id_for(contract: str, date: dt.date, files: list[preflight.LandedFile]) -> str:
    digest = hashlib.sha256("\n".join(sorted(f"{f.rel}:{f.sha256}" for f in files)).encode()).hexdigest()[:20]
    return f"bronze:{contract}:{date.isoformat()}:{digest}"


# a key shown in a drift note: a plain field name; any other key may be a value (a map keyed by
# resident ID, a name), so it is counted, never shown
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def drift_note(contract: FeedContract, keys: set[str], first: int | None) -> str | None:
    if not keys:
        return None
    shown = sorted(k for k in keys if _PLAIN_KEY.match(k))
    hidden = len(keys) - len(shown)
    other = f"{hidden} key(s) that are not plain names (not shown)"
    named = (f"new keys {shown}" + (f" and {other}" if hidden else "")) if shown else f"new {other}"
    return (f"{named} not in contract {contract.contract} v{contract.version}, first in "
            f"record {first}; their values were not loaded")  # fmt: skip
