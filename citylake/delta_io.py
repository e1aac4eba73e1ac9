"""Small, reused Delta operations: declare a table, append idempotently, read its version."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType


def ensure_table(
    spark: SparkSession,
    path: str,
    schema: StructType,
    partition_by: tuple[str, ...] = (),
    properties: dict[str, str] | None = None,
    comment: str | None = None,
    evolve: bool = True,
) -> None:
    """Create the table from its declared schema if it does not exist; never infer.

    An existing table is found by a listing of its log and its columns are read with delta-rs,
    so a run pays no Spark job for the tables that are already there. ``evolve``: add the
    columns a newer release declares.
    """
    from citylake import delta_log

    if delta_log.latest_version(path) is not None:
        if evolve:
            _add_missing_columns(spark, path, schema)
        return
    _create(path, schema, partition_by, properties, comment)


def _create(
    path: str,
    schema: StructType,
    partition_by: tuple[str, ...],
    properties: dict[str, str] | None,
    comment: str | None,
) -> None:
    """Create an empty table with delta-rs: milliseconds, where Spark's CREATE costs a job
    (every contract's tables exist from the first run on, most of them long before data)."""
    import pyarrow as pa
    from deltalake import DeltaTable
    from pyspark.sql.pandas.types import to_arrow_schema

    from citylake.storage import delta_rs_location

    arrow = to_arrow_schema(schema)
    notes = {f.name: f.metadata.get("comment") for f in schema.fields}
    arrow = pa.schema(
        [f.with_metadata({"comment": notes[f.name]}) if notes.get(f.name) else f for f in arrow]
    )
    uri, options = delta_rs_location(path)
    DeltaTable.create(uri, schema=arrow, partition_by=list(partition_by) or None, description=comment,
                      configuration=properties or None, storage_options=options, mode="ignore")  # fmt: skip
    _write_first_checksum(path)


def _write_first_checksum(path: str) -> None:
    """Give version 0 the checksum file Spark writes for its own tables.

    delta-rs writes none, and without it Spark's first read or write of the table rebuilds the
    snapshot's state with three Spark jobs (about a second); with it Spark takes protocol,
    metadata and the (empty) file list from the checksum, and keeps it up incrementally.
    """
    import uuid

    from citylake.storage import store_for

    store = store_for(path)
    log = f"{path.rstrip('/')}/_delta_log"
    actions = [
        json.loads(line) for line in store.read_bytes(f"{log}/{0:020d}.json").decode().splitlines() if line
    ]
    meta = next(a["metaData"] for a in actions if "metaData" in a)
    protocol = next(a["protocol"] for a in actions if "protocol" in a)
    checksum = {"txnId": str(uuid.uuid4()), "tableSizeBytes": 0, "numFiles": 0, "numMetadata": 1,
                "numProtocol": 1, "setTransactions": [], "domainMetadata": [], "metadata": meta,
                "protocol": protocol, "allFiles": []}  # fmt: skip
    store.write_bytes(f"{log}/{0:020d}.crc", json.dumps(checksum).encode())


def _add_missing_columns(spark: SparkSession, path: str, schema: StructType) -> None:
    """Additive evolution: columns a newer release declares are added to an existing table."""
    from citylake import delta_log

    have = set(delta_log.field_names(path))
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

    Find the commit afterwards with ``delta_log.find_commit``: it also finds a commit an
    earlier, crashed run made, which is the one that counts when Delta skipped this write.
    """
    writer = df.write.format("delta").mode("append")
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    if txn_app_id:
        writer = writer.option("txnAppId", txn_app_id).option("txnVersion", txn_version)
    if user_metadata:
        writer = writer.option("userMetadata", json.dumps(user_metadata, sort_keys=True))
    writer.save(path)
