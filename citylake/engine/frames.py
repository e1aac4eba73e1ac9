"""Small DataFrames made from rows the driver holds (lookups, per-split offsets, grids)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession
    from pyspark.sql.types import StructType


def local_frame(spark: SparkSession, rows: Iterable[Sequence[Any]], schema: str | StructType) -> DataFrame:
    """``rows`` as a DataFrame of ``schema`` (a DDL string or a StructType), built through Arrow.

    ``createDataFrame`` on a list pickles the rows into an RDD that a Python worker unpickles on
    every action that reads it: 0.2 s per action here (2.8 s for the first, which starts the
    worker daemon), paid by each of bronze's writes. From an Arrow table the JVM takes the rows
    as they are.
    """
    import pyarrow as pa
    from pyspark.sql import types as T
    from pyspark.sql.pandas.types import to_arrow_schema

    struct = T.StructType.fromDDL(schema) if isinstance(schema, str) else schema
    assert isinstance(struct, T.StructType)
    names = struct.names
    table = pa.Table.from_pylist(
        [dict(zip(names, r, strict=True)) for r in rows], schema=to_arrow_schema(struct)
    )
    return spark.createDataFrame(table, struct)


def key_hashes(columns: Sequence[str | Column]) -> tuple[Column, Column]:
    """Two independent 64- and 32-bit hashes (xxhash64, murmur3) of the columns' typed values
    (names or Columns). Spark's hashes skip nulls, so a null flag per column joins the key:
    (a, null) and (null, a) hash apart. Used where a key or a row is compared by hash instead of
    by value."""
    from pyspark.sql import functions as F

    cols = [F.col(f"`{c}`") if isinstance(c, str) else c for c in columns]
    key = [*cols, *[c.isNull() for c in cols]]
    return F.xxhash64(*key), F.hash(*key)


def significant(col: Column, digits: int) -> Column:
    """A floating-point ``col`` rounded to ``digits`` significant digits; zero, null, NaN, the
    infinities and values beyond 1e+-300 as they are."""
    from pyspark.sql import functions as F

    size = F.abs(col)
    scale = F.pow(F.lit(10.0), F.lit(digits - 1) - F.floor(F.log10(size)))
    return F.when(size.between(1e-300, 1e300), F.rint(col * scale) / scale).otherwise(col)
