"""A subject's rows in the lake's Delta tables: counted in one pass, deleted by a MERGE on the subjects.

What marks a row as a subject's: any of its text cells, normalised the way silver normalises
before hashing (upper case, no spaces), contains one of the subject's normalised values or
silver hashes. One rule for every zone: bronze's clear columns, silver's hashes, quarantine's
``raw_text`` and ``record``, and the ops tables' free text. A two-character name can also occur
inside another person's text; `locate` shows what matched before anything is erased.

The values live inside a registered JVM function (``register_finder``), never in a plan as
literals: a DELETE whose predicate is a literal ID would write that ID into ``_delta_log`` (the
commit's ``predicate``), and into every plan Spark logs. The MERGE joins a key table of subject
numbers to the function's answer, so its recorded predicate names the function and columns only.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import reduce
from typing import TYPE_CHECKING

from citylake.engine import delta_io, fence
from citylake.lake.catalog import TableRef
from citylake.lake.subjects import Subject

if TYPE_CHECKING:
    from pyspark.sql import Column, SparkSession
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


def register_finder(spark: SparkSession, subjects: Iterable[Subject], key: bytes) -> str:
    """Register a finder for these subjects in ``spark``; returns its SQL function's name. The
    function maps a row's text to the sorted numbers of the subjects it holds, in one pass
    whatever the number of needles (jvm/src/org/citylake/pii/SubjectFinder.java). The needles
    live inside the function object, so plans and commits name the function, never a value."""
    rows = needle_rows(subjects, key)
    jvm, gateway = spark._jvm, spark.sparkContext._gateway
    assert jvm is not None and gateway is not None, "the finder runs in the JVM: a classic session is needed"
    needles = gateway.new_array(jvm.java.lang.String, len(rows))
    numbers = gateway.new_array(jvm.int, len(rows))
    for i, (subject, needle) in enumerate(rows):
        needles[i], numbers[i] = needle, subject
    types = jvm.org.apache.spark.sql.types.DataTypes
    name = f"citylake_subjects_{uuid.uuid4().hex[:12]}"
    function = jvm.org.citylake.pii.SubjectFinder(needles, numbers)
    spark._jsparkSession.udf().register(name, function, types.createArrayType(types.IntegerType))
    return name


def subjects_in(text: Column, finder: str) -> Column:
    """The sorted numbers of the subjects ``text`` holds (empty when none)."""
    from pyspark.sql import functions as F

    return F.call_function(finder, text)


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


def count_rows(spark: SparkSession, tables: list[TableRef], finder: str) -> list[TableHit]:
    """Per table and subject, the rows of the current version that hold the subject: one job
    over all tables together, each projected to the subjects its rows' text holds."""
    from pyspark.sql import functions as F

    parts = []
    for i, t in enumerate(tables):
        df = delta_io.scan(spark, t.path)  # the files delta-rs lists: no log replay per table
        text = row_text(df.schema)
        if text is None:
            continue
        parts.append(
            df.select(F.lit(i).alias("_table"), F.explode(subjects_in(text, finder)).alias("subject"))
        )
    if not parts:
        return []
    rows = reduce(lambda a, b: a.unionByName(b), parts)
    # a row's subjects are distinct, so each (table, subject) count is a count of rows
    hits = rows.groupBy("_table", "subject").count().collect()
    return sorted(
        (TableHit(tables[h["_table"]], int(h["subject"]), int(h["count"])) for h in hits),
        key=lambda h: (h.table.path, h.subject),
    )


@contextmanager
def user_metadata(spark: SparkSession, request_id: str) -> Iterator[None]:
    """Every commit in the block names the request (and nothing else) in its userMetadata."""
    spark.conf.set(
        "spark.databricks.delta.commitInfo.userMetadata", json.dumps({"subject_request": request_id})
    )
    try:
        yield
    finally:
        spark.conf.unset("spark.databricks.delta.commitInfo.userMetadata")


def delete_rows(spark: SparkSession, path: str, finder: str, subjects: Iterable[int]) -> dict[str, int]:
    """Delete the rows holding any of the subjects from the table at ``path``, in one MERGE
    joining the subjects' numbers to the first subject each row holds (an equi-join: one finder
    pass per row); returns its metrics (rows deleted, files removed and added). The caller sets
    the session's commit userMetadata (``user_metadata``): set per call, concurrent erasures
    would clear each other's."""
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    table = DeltaTable.forPath(spark, path)
    text = row_text(table.toDF().schema, alias="t")
    if text is None:
        return {"rows_deleted": 0, "files_removed": 0, "files_added": 0}
    keys = spark.createDataFrame([(int(n),) for n in sorted(set(subjects))], "subject INT")
    fence.check(f"erasing rows of {path}")
    (
        table.alias("t")
        .merge(F.broadcast(keys).alias("k"), F.array_min(subjects_in(text, finder)) == F.col("k.subject"))
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
