"""Small, reused Delta operations: declare a table, append idempotently, scan it, read its version."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from citylake.engine import fence

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
    from citylake.engine import delta_log

    if delta_log.latest_version(path) is not None:
        if evolve:
            _add_missing_columns(spark, path, schema)
            set_properties(spark, path, properties or {})
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

    from citylake.engine.storage import delta_rs_location

    arrow = to_arrow_schema(schema)
    notes = {f.name: f.metadata.get("comment") for f in schema.fields}
    arrow = pa.schema(
        [f.with_metadata({"comment": notes[f.name]}) if notes.get(f.name) else f for f in arrow]
    )
    uri, options = delta_rs_location(path)
    fence.check(f"creating {path}")
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

    from citylake.engine.storage import store_for

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
    from citylake.engine import delta_log

    have = set(delta_log.field_names(path))
    missing = [f for f in schema.fields if f.name not in have]
    if missing:
        fence.check(f"adding columns to {path}")
        cols = ", ".join(f"`{f.name}` {f.dataType.simpleString()}" for f in missing)
        spark.sql(f"ALTER TABLE delta.`{path}` ADD COLUMNS ({cols})")


def set_properties(spark: SparkSession, path: str, properties: dict[str, str]) -> None:
    """Table properties a newer release declares (say, which columns get statistics)."""
    from deltalake import DeltaTable

    from citylake.engine.storage import delta_rs_location

    uri, options = delta_rs_location(path)
    have = DeltaTable(uri, storage_options=options).metadata().configuration
    changed = {k: v for k, v in properties.items() if have.get(k) != v}
    if changed:
        fence.check(f"setting properties of {path}")
        pairs = ", ".join(f"'{k}' = '{v}'" for k, v in sorted(changed.items()))
        spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES ({pairs})")


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
    fence.check(f"appending to {path}")
    writer.save(path)


def scan(
    spark: SparkSession,
    path: str,
    where: dict[str, list[Any]] | None = None,
    version: int | None = None,
    empty_schema: StructType | None = None,
) -> DataFrame:
    """The rows of a Delta table (its current version, or ``version``) as a Parquet scan of the
    files delta-rs lists. ``where`` ({column: values}) prunes files before Spark opens one where
    the column partitions the table, and filters rows where it does not.

    Spark's Delta reader replays the log of every table version it has not seen with Spark
    jobs before it reads a row: about a second a table on 2 cores, and the pipeline reads
    tables it has just written (silver after its MERGE, marts' inputs) several dozen times a
    day. delta-rs lists the same files in milliseconds. For a table without deletion vectors
    or column mapping (reader protocol 1: every table citylake creates) the Parquet files are
    exactly the table's rows; any other table is read through Delta. A missing table is an
    empty frame of ``empty_schema`` when one is given.
    """
    import urllib.parse

    import pyarrow as pa
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema

    from citylake.engine.storage import delta_rs_location

    uri, options = delta_rs_location(path)
    try:
        table = DeltaTable(uri, version=version, storage_options=options)
    except TableNotFoundError:
        if empty_schema is None:
            raise
        return spark.createDataFrame([], empty_schema)
    if table.protocol().min_reader_version > 1:  # deletion vectors or column mapping: Delta must read it
        reader = spark.read.format("delta")
        df = (reader.option("versionAsOf", version) if version is not None else reader).load(path)
        for column, values in (where or {}).items():
            df = df.where(F.col(column).isin(list(values)))
        return df
    schema = from_arrow_schema(pa.schema(table.schema().to_arrow()))
    adds = pa.table(table.get_add_actions(flatten=True))
    partitioned = set(table.metadata().partition_columns)
    keep = [True] * adds.num_rows
    for column, values in (where or {}).items():
        if column not in partitioned:
            continue
        allowed = set(values)
        keep = [
            k and v in allowed
            for k, v in zip(keep, adds.column(f"partition.{column}").to_pylist(), strict=True)
        ]
    root = path.rstrip("/")
    scheme = root.split("://", 1)[0] + "://" if "://" in root else ""
    files = [
        scheme + p.split("://", 1)[1] if "://" in p else f"{root}/{urllib.parse.unquote(p)}"
        for p, k in zip(adds.column("path").to_pylist(), keep, strict=True)
        if k
    ]
    if not files:
        return spark.createDataFrame([], schema)
    # partition columns come from the paths (basePath); select restores the table's column order
    df = spark.read.schema(schema).option("basePath", root).parquet(*files)
    for column, values in (where or {}).items():
        if column not in partitioned:
            df = df.where(F.col(column).isin(list(values)))
    return df.select(*[F.col(f"`{f.name}`") for f in schema.fields])
