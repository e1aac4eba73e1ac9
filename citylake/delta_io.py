"""Small, reused Delta operations: declare a table, append idempotently, read its version."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType


RECENT_COMMITS = 50


def ensure_table(
    spark: SparkSession,
    path: str,
    schema: StructType,
    partition_by: tuple[str, ...] = (),
    properties: dict[str, str] | None = None,
    comment: str | None = None,
) -> None:
    """Create the table from its declared schema if it does not exist; never infer."""
    from delta.tables import DeltaTable

    if DeltaTable.isDeltaTable(spark, path):
        _add_missing_columns(spark, path, schema)
        return
    builder = DeltaTable.createIfNotExists(spark).location(path).addColumns(schema)
    if partition_by:
        builder = builder.partitionedBy(*partition_by)
    for key, value in (properties or {}).items():
        builder = builder.property(key, value)
    if comment:
        builder = builder.comment(comment)
    builder.execute()


def _add_missing_columns(spark: SparkSession, path: str, schema: StructType) -> None:
    """Additive evolution: columns a newer release declares are added to an existing table."""
    have = {f.name for f in spark.read.format("delta").load(path).schema.fields}
    missing = [f for f in schema.fields if f.name not in have]
    if missing:
        cols = ", ".join(f"`{f.name}` {f.dataType.simpleString()}" for f in missing)
        spark.sql(f"ALTER TABLE delta.`{path}` ADD COLUMNS ({cols})")


def latest_version(spark: SparkSession, path: str) -> int | None:
    from delta.tables import DeltaTable

    if not DeltaTable.isDeltaTable(spark, path):
        return None
    row = DeltaTable.forPath(spark, path).history(1).select("version").first()
    return int(row[0]) if row else None


def append(
    df: DataFrame,
    path: str,
    txn_app_id: str | None = None,
    txn_version: int = 1,
    user_metadata: dict[str, Any] | None = None,
    partition_by: tuple[str, ...] = (),
) -> None:
    """Append ``df``; with a txn id, Delta skips a write it has already committed (exactly-once).

    Find the commit afterwards with ``version_with_metadata``: it also finds a commit an earlier,
    crashed run made, which is the one that counts when Delta skipped this write.
    """
    writer = df.write.format("delta").mode("append")
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    if txn_app_id:
        writer = writer.option("txnAppId", txn_app_id).option("txnVersion", txn_version)
    if user_metadata:
        writer = writer.option("userMetadata", json.dumps(user_metadata, sort_keys=True))
    writer.save(path)


def version_with_metadata(spark: SparkSession, path: str, key: str, value: str) -> int | None:
    """The newest commit whose userMetadata has ``key == value`` (recovering a crashed batch)."""
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    if not DeltaTable.isDeltaTable(spark, path):
        return None
    table = DeltaTable.forPath(spark, path)
    # The commit is nearly always among the newest few; the full history is the fallback.
    for hist in (table.history(RECENT_COMMITS), table.history()):
        rows = hist.where(F.col("userMetadata").isNotNull()).select("version", "userMetadata").collect()
        for row in sorted(rows, key=lambda r: -int(r["version"])):
            try:
                if json.loads(row["userMetadata"]).get(key) == value:
                    return int(row["version"])
            except (ValueError, AttributeError):
                continue
    return None
