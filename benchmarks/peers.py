"""What a user would write instead of citylake: the same landed files into Delta, nothing more.

- ``bare_spark``: per contract, ``spark.read.<format>(declared schema)`` of its files and one
  ``write.format("delta")`` append. No metadata columns, no record numbers, no quarantine,
  manifest, ledger or validation: the engine's limit for the job citylake's bronze does.
- ``polars_deltars``: the single-node peer, Polars readers and delta-rs ``write_deltalake``.

Both read exactly the files citylake's preflight accepts, with the header order it found
(planned before the clock starts), so all three load the same bytes.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import time
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from citylake.config.registry import Registry
from citylake.engine.storage import store_for
from citylake.lake import Lake, preflight
from jobs.bronze_read import CORRUPT, SPARK_CHARSETS, ReadGroup, plan_reads, spark_type

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

TS_FORMAT = {"yyyy-MM-dd HH:mm:ss": "%Y-%m-%d %H:%M:%S"}


def accepted_groups(
    lake: Lake, registry: Registry, date: dt.date, scope: preflight.Scope | None = None
) -> dict[str, list[ReadGroup]]:
    """The read groups of the files preflight accepts for ``date`` (in ``scope``), by contract."""
    store = store_for(lake.root)
    landed = [
        preflight.check(lf, store)
        for lf in preflight.discover(lake, store, registry, date.isoformat(), scope)
    ]
    out: dict[str, list[ReadGroup]] = defaultdict(list)
    for g in plan_reads([lf for lf in landed if lf.ok]):
        out[g.contract.contract].append(g)
    return dict(out)


def bare_spark(spark: SparkSession, groups: dict[str, list[ReadGroup]], out_root: str) -> float:
    """Seconds for the bare Spark CSV/JSON/Parquet -> Delta load of every group."""
    from pyspark.sql import types as T

    t0 = time.perf_counter()
    for contract, gs in sorted(groups.items()):
        frames = []
        for g in gs:
            fields = [
                T.StructField(canon, spark_type(g.contract.by_name[canon].type))
                for _, canon in g.source_columns
            ]
            reader = spark.read.options(timestampFormat=g.timestamp_format, dateFormat="yyyy-MM-dd")
            if g.format == "csv":
                df = (
                    reader.format("csv")
                    .schema(T.StructType(fields))
                    .options(
                        header="true", sep=g.delimiter, encoding=SPARK_CHARSETS.get(g.encoding, g.encoding)
                    )
                    .load(list(g.paths))
                )
            else:
                source = T.StructType(
                    [
                        T.StructField(src, f.dataType)
                        for (src, _), f in zip(g.source_columns, fields, strict=True)
                    ]
                )
                df = (
                    reader.format("json" if g.format == "jsonl" else "parquet")
                    .schema(source)
                    .load(list(g.paths))
                )
                df = df.select(*[df[f"`{src}`"].alias(canon) for src, canon in g.source_columns])
            frames.append(df.select(*[c.name for c in g.contract.columns]))
        union = frames[0]
        for f in frames[1:]:
            union = union.unionByName(f)
        union.write.format("delta").mode("append").save(f"{out_root}/{contract}")
    return time.perf_counter() - t0


def same_outputs(
    spark: SparkSession, groups: dict[str, list[ReadGroup]], out_root: str
) -> tuple[float, dict[str, dict[str, int]]]:
    """Seconds for the least plain Spark that writes the table bronze writes, and what its one
    observation counted per contract (issue 37's ``ingest_vs_same_outputs`` baseline).

    Per file: the declared schema plus the corrupt-record column (raw text of a record that
    does not parse; Parquet has none), a file id (a literal per file read) and a record number
    (``monotonically_increasing_id``); per contract, one ``observe`` (rows, unparsed rows) and
    one idempotent Delta append (txnAppId/txnVersion). No quarantine, ledger, manifest, checks
    or validation: what citylake's orchestration costs is the rest.
    """
    from pyspark.sql import Observation
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    t0 = time.perf_counter()
    observed: dict[str, Observation] = {}
    for contract, gs in sorted(groups.items()):
        frames = []
        file_id = 0
        for g in gs:
            fields = [T.StructField(canon, spark_type(g.contract.by_name[canon].type)) for _, canon in g.source_columns]
            for path in g.paths:
                reader = spark.read.options(timestampFormat=g.timestamp_format, dateFormat="yyyy-MM-dd")
                if g.format == "parquet":
                    source = T.StructType([T.StructField(src, f.dataType)
                                           for (src, _), f in zip(g.source_columns, fields, strict=True)])  # fmt: skip
                    df = reader.format("parquet").schema(source).load(path)
                    df = df.select(*[df[f"`{src}`"].alias(canon) for src, canon in g.source_columns],
                                   F.lit(None).cast("string").alias(CORRUPT))  # fmt: skip
                else:
                    corrupt = T.StructField(CORRUPT, T.StringType())
                    if g.format == "csv":
                        reader = reader.format("csv").schema(T.StructType([*fields, corrupt])).options(
                            header="true", sep=g.delimiter, encoding=SPARK_CHARSETS.get(g.encoding, g.encoding))
                    else:
                        source = T.StructType([*(T.StructField(src, f.dataType) for (src, _), f in
                                                 zip(g.source_columns, fields, strict=True)), corrupt])  # fmt: skip
                        reader = reader.format("json").schema(source)
                    df = reader.options(mode="PERMISSIVE", columnNameOfCorruptRecord=CORRUPT).load(path)
                    if g.format == "jsonl":
                        df = df.select(*[df[f"`{src}`"].alias(canon) for src, canon in g.source_columns], CORRUPT)
                frames.append(df.select(*[c.name for c in g.contract.columns], CORRUPT,
                                        F.lit(file_id).alias("_file_id"),
                                        F.monotonically_increasing_id().alias("_record_no")))  # fmt: skip
                file_id += 1
        union = frames[0]
        for f in frames[1:]:
            union = union.unionByName(f)
        observed[contract] = Observation(f"same-outputs-{contract}")
        union = union.observe(observed[contract], F.count(F.lit(1)).alias("rows"), F.count(CORRUPT).alias("bad"))
        union.write.format("delta").mode("append").option("txnAppId", f"same-outputs-{contract}").option(
            "txnVersion", 1
        ).save(f"{out_root}/{contract}")
    seconds = time.perf_counter() - t0
    return seconds, {c: {k: int(v) for k, v in o.get.items()} for c, o in observed.items()}


def _polars_type(name: str) -> Any:
    import polars as pl

    return {
        "string": pl.Utf8,
        "int": pl.Int32,
        "long": pl.Int64,
        "double": pl.Float64,
        "boolean": pl.Boolean,
        "timestamp": pl.Utf8,
        "date": pl.Utf8,
    }[name]  # fmt: skip  (times parsed after the read)


def _read_polars(g: ReadGroup, path: str) -> Any:
    import polars as pl

    with open(path.removeprefix("file:"), "rb") as fh:
        data = fh.read()
    if path.endswith(".gz"):
        data = gzip.decompress(data)
    schema = {src: _polars_type(g.contract.by_name[canon].type) for src, canon in g.source_columns}
    if g.format == "csv":
        text = data.decode(g.encoding).removeprefix("\ufeff")
        df = pl.read_csv(io.StringIO(text), separator=g.delimiter, schema=schema, ignore_errors=True,
                         truncate_ragged_lines=True)  # fmt: skip
    elif g.format == "jsonl":
        try:
            df = pl.read_ndjson(io.BytesIO(data), schema=schema, ignore_errors=True)
        except pl.exceptions.ComputeError:  # a broken line fails the whole read: drop such lines
            df = pl.read_ndjson(io.BytesIO(_parseable_lines(data)), schema=schema, ignore_errors=True)
    else:
        df = pl.read_parquet(io.BytesIO(data), columns=list(schema))
    df = df.rename({src: canon for src, canon in g.source_columns})
    casts = []
    for c in g.contract.columns:
        if c.type in ("timestamp", "date") and df.schema[c.name].is_temporal():  # Parquet: typed already
            casts.append(pl.col(c.name).cast(pl.Datetime("us") if c.type == "timestamp" else pl.Date))
        elif c.type == "timestamp":
            casts.append(pl.col(c.name).str.to_datetime(TS_FORMAT[g.timestamp_format], strict=False))
        elif c.type == "date":
            casts.append(pl.col(c.name).str.to_date("%Y-%m-%d", strict=False))
        else:
            casts.append(pl.col(c.name).cast(_polars_type(c.type), strict=False))
    return df.select(casts)


def _parseable_lines(data: bytes) -> bytes:
    import json

    def ok(line: bytes) -> bool:
        try:
            return isinstance(json.loads(line), dict)
        except ValueError:
            return False

    return b"\n".join(line for line in data.splitlines() if line.strip() and ok(line))


def polars_deltars(groups: dict[str, list[ReadGroup]], out_root: str) -> float:
    """Seconds for the Polars + delta-rs load of every group, one Delta append per contract."""
    import polars as pl

    t0 = time.perf_counter()
    for contract, gs in sorted(groups.items()):
        frames = [_read_polars(g, p) for g in gs for p in g.paths]
        pl.concat(frames, how="vertical_relaxed").write_delta(f"{out_root}/{contract}", mode="append")
    return time.perf_counter() - t0
