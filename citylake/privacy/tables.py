"""A subject's rows in the lake's Delta tables: counted in one pass, deleted by a MERGE on a key table.

What marks a row as a subject's: any of its text cells, normalised the way silver normalises
before hashing (upper case, no spaces), contains one of the subject's normalised values or
silver hashes. One rule for every zone: bronze's clear columns, silver's hashes, quarantine's
``raw_text`` and ``record``, and the ops tables' free text. A two-character name can also occur
inside another person's text; `locate` shows what matched before anything is erased.

The values travel as rows of a small key DataFrame, never as literals: a DELETE whose predicate
is a literal ID would write that ID into ``_delta_log`` (the commit's ``predicate``), and into
every plan Spark logs. The MERGE's recorded predicate names columns only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import reduce
from typing import TYPE_CHECKING

from citylake.engine import delta_io, fence
from citylake.lake.catalog import TableRef
from citylake.lake.subjects import Subject

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession
    from pyspark.sql.types import StructType

WHITESPACE = " \t\n\r\f\u000b"  # what normalising removes: Java's \s, as pii.normalise's regex
SEPARATOR = "\u0001"  # between cells of a row's text: no needle holds it, so none spans two cells


def needle_rows(subjects: Iterable[Subject], key: bytes) -> list[tuple[int, str]]:
    """(subject number, needle): normalised values and upper-cased silver hashes."""
    out: set[tuple[int, str]] = set()
    for s in subjects:
        out |= {(s.number, v) for v in s.normalised().values()}
        out |= {(s.number, h.upper()) for h in s.hashes(key).values()}
    return sorted(out)


def keys_frame(spark: SparkSession, subjects: Iterable[Subject], key: bytes) -> DataFrame:
    return spark.createDataFrame(needle_rows(subjects, key), "subject INT, needle STRING")


def _text_columns(schema: StructType) -> list[tuple[str, bool]]:
    """(column, is_complex) of every column that can hold text."""
    from pyspark.sql.types import ArrayType, MapType, StringType, StructType

    out = []
    for f in schema.fields:
        if isinstance(f.dataType, StringType):
            out.append((f.name, False))
        elif isinstance(f.dataType, ArrayType | MapType | StructType):
            out.append((f.name, True))
    return out


def row_text(schema: StructType, alias: str | None = None) -> Column | None:
    """A row's text cells, normalised and joined; None when the table has no text column."""
    from pyspark.sql import functions as F

    cols = _text_columns(schema)
    if not cols:
        return None
    prefix = f"{alias}." if alias else ""
    cells = []
    for name, complex_ in cols:
        c = F.col(f"{prefix}`{name}`")
        cells.append(F.to_json(c) if complex_ else c)
    # normalised once per row, by a character map: a regex over every cell was most of the cost
    return F.translate(F.upper(F.concat_ws(SEPARATOR, *cells)), WHITESPACE, "")


@dataclass(frozen=True)
class TableHit:
    table: TableRef
    subject: int
    rows: int


def count_rows(spark: SparkSession, tables: list[TableRef], keys: DataFrame) -> list[TableHit]:
    """Per table and subject, the rows of the current version that hold the subject: one job
    over all tables together (each projected to its text), joined to the key table."""
    from pyspark.sql import functions as F

    parts = []
    for i, t in enumerate(tables):
        df = delta_io.scan(spark, t.path)  # the files delta-rs lists: no log replay per table
        text = row_text(df.schema)
        if text is None:
            continue
        parts.append(df.select(F.lit(i).alias("_table"), F.monotonically_increasing_id().alias("_rid"),
                               text.alias("_text")))  # fmt: skip
    if not parts:
        return []
    rows = reduce(lambda a, b: a.unionByName(b), parts)
    hits = (
        rows.join(F.broadcast(keys), F.instr(F.col("_text"), F.col("needle")) > 0)
        .groupBy("_table", "subject")
        .agg(F.countDistinct("_rid").alias("rows"))
        .collect()
    )
    return sorted(
        (TableHit(tables[h["_table"]], int(h["subject"]), int(h["rows"])) for h in hits),
        key=lambda h: (h.table.path, h.subject),
    )


@contextmanager
def user_metadata(spark: SparkSession, request_id: str) -> Iterator[None]:
    """Every commit in the block names the request (and nothing else) in its userMetadata."""
    spark.conf.set("spark.databricks.delta.commitInfo.userMetadata", json.dumps({"subject_request": request_id}))
    try:
        yield
    finally:
        spark.conf.unset("spark.databricks.delta.commitInfo.userMetadata")


def delete_rows(spark: SparkSession, path: str, keys: DataFrame) -> dict[str, int]:
    """Delete the rows holding any key from the table at ``path``, in one MERGE; returns its
    metrics (rows deleted, files removed and added). The caller sets the session's commit
    userMetadata (``user_metadata``): set per call, concurrent erasures would clear each other's."""
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    table = DeltaTable.forPath(spark, path)
    text = row_text(table.toDF().schema, alias="t")
    if text is None:
        return {"rows_deleted": 0, "files_removed": 0, "files_added": 0}
    fence.check(f"erasing rows of {path}")
    (
        table.alias("t")
        .merge(F.broadcast(keys.select("needle").distinct()).alias("k"), F.instr(text, F.col("k.needle")) > 0)
        .whenMatchedDelete()
        .execute()
    )
    last = table.history(1).select("operationMetrics").first()
    metrics = (last[0] if last else None) or {}
    return {
        "rows_deleted": int(metrics.get("numTargetRowsDeleted", 0)),
        "files_removed": int(metrics.get("numTargetFilesRemoved", 0)),
        "files_added": int(metrics.get("numTargetFilesAdded", 0)),
    }
