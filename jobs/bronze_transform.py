"""Bronze's pure transforms: the table's schema, record numbering, the split into bronze and quarantine rows.

DataFrame in, DataFrame out; nothing here reads or writes storage.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import urllib.parse
from typing import TYPE_CHECKING, Any

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
    """Append-only, and data-skipping statistics only on the columns bronze is looked up by (a
    file, a record, a batch, a unit's events): Delta otherwise computes min/max/null counts of
    the first 32 columns for every row it writes, about 6% of the ingest's CPU."""
    stats = ["_unit", "_feed", "_source_file", "_record_no", "_batch_id"] + (
        [contract.event_time] if contract.event_time else []
    )
    return {**ledger.APPEND_ONLY, "delta.setTransactionRetentionDuration": "interval 60 days",
            "delta.dataSkippingStatsColumns": ",".join(stats)}  # fmt: skip


def number_records(parsed: DataFrame, offsets: DataFrame) -> DataFrame:
    """Attach file identity and record numbers from the per-split offsets (a broadcast join)."""
    from pyspark.sql import functions as F

    joined = parsed.join(F.broadcast(offsets), ["_file_path", "_block_start"])
    return joined.withColumn("_record_no", F.col("_mono") + F.col("_offset")).drop("_offset")


def split_batch(
    numbered: DataFrame,
    contract: FeedContract,
    run_id: str,
    batch_id: str,
    date: dt.date,
    ingested_at: dt.datetime,
) -> tuple[DataFrame, DataFrame]:
    """(bronze rows, quarantine rows) of a numbered batch: records that parsed, with their lineage
    columns, and those that did not, with their raw text and reason."""
    from pyspark.sql import functions as F

    bronze = numbered.where(F.col(CORRUPT).isNull()).select(
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
    quarantine = numbered.where(F.col(CORRUPT).isNotNull()).select(
        *ledger.quarantine_origin(run_id, date, contract.contract),
        F.col(CORRUPT).alias("raw_text"),
        F.col("_reason").alias("reason"),
        F.lit(batch_id).alias("batch_id"),
        F.lit(ingested_at).cast("timestamp").alias("quarantined_at"),
    )
    return bronze, quarantine


def batch_id_for(contract: str, date: dt.date, files: list[preflight.LandedFile]) -> str:
    digest = hashlib.sha256("\n".join(sorted(f"{f.rel}:{f.sha256}" for f in files)).encode()).hexdigest()[:20]
    return f"bronze:{contract}:{date.isoformat()}:{digest}"


def match_files(stats: list[Any], files: list[preflight.LandedFile]) -> dict[str, preflight.LandedFile]:
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
