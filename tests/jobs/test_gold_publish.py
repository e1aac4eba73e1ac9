"""Gold's comparison of a rebuilt day with what gold holds."""

from __future__ import annotations

import datetime as dt

import pytest

pytestmark = pytest.mark.spark

SCHEMA = (
    "object_id STRING, street_code STRING, observations LONG, occupancy_rate DOUBLE, hour_start TIMESTAMP"
)
HOUR = dt.datetime(2026, 11, 20, 8)
ROWS = [
    ("P-1", "110101001", 4, 0.5, HOUR),
    ("P-2", None, 2, None, HOUR),
    ("P-3", "110101002", 0, 0.0, HOUR + dt.timedelta(hours=1)),
]
COLUMNS = ["object_id", "street_code", "observations", "occupancy_rate", "hour_start"]


def test_the_same_rows_in_another_order_and_partitioning_have_the_same_fingerprint(spark) -> None:
    from jobs.gold_publish import fingerprint

    ours = fingerprint(spark.createDataFrame(ROWS, SCHEMA), COLUMNS)
    theirs = fingerprint(spark.createDataFrame(list(reversed(ROWS)), SCHEMA).repartition(3), COLUMNS)
    assert ours == theirs and ours[0] == 3


@pytest.mark.parametrize(
    "changed",
    [
        # one measure changed
        [ROWS[0][:2] + (5,) + ROWS[0][3:], *ROWS[1:]],
        # a value moved to the null column beside it: Spark's hashes skip nulls, so without the
        # null flags the row would hash the same
        [ROWS[0], (None, "P-2", 2, None, HOUR), ROWS[2]],
        # a row sent twice instead of another
        [ROWS[0], ROWS[0], ROWS[2]],
    ],
    ids=["value", "null moved", "row repeated"],
)
def test_a_changed_row_changes_the_fingerprint(spark, changed) -> None:
    from jobs.gold_publish import fingerprint

    ours = fingerprint(spark.createDataFrame(ROWS, SCHEMA), COLUMNS)
    assert fingerprint(spark.createDataFrame(changed, SCHEMA), COLUMNS) != ours


def test_doubles_summed_in_another_order_have_the_same_fingerprint(spark) -> None:
    """A rebuilt day's averages differ from gold's in their last bits when Spark sums them in
    another order; that is not a change, so it makes no new version."""
    from jobs.gold_publish import fingerprint

    ours = 0.1 + 0.2 + 0.3
    theirs = 0.3 + 0.2 + 0.1
    assert ours != theirs  # 0.6000000000000001 against 0.6
    rows = [ROWS[0][:3] + (ours,) + ROWS[0][4:], *ROWS[1:]]
    rebuilt = [ROWS[0][:3] + (theirs,) + ROWS[0][4:], *ROWS[1:]]
    assert fingerprint(spark.createDataFrame(rows, SCHEMA), COLUMNS) == fingerprint(
        spark.createDataFrame(rebuilt, SCHEMA), COLUMNS
    )
    # a change in the ninth significant digit is a change
    moved = [ROWS[0][:3] + (0.600000001,) + ROWS[0][4:], *ROWS[1:]]
    assert fingerprint(spark.createDataFrame(moved, SCHEMA), COLUMNS) != fingerprint(
        spark.createDataFrame(rows, SCHEMA), COLUMNS
    )


def test_significant_rounds_finite_values_and_keeps_the_rest(spark) -> None:
    import math

    from pyspark.sql import functions as F

    from citylake.engine.frames import significant

    values = [123456789.123, 1.234567894e-5, -2.5, 0.6000000000000001, 0.0, None, math.inf, -math.inf,
              math.nan]  # fmt: skip
    df = spark.createDataFrame([(v,) for v in values], "x DOUBLE")
    got = [r[0] for r in df.select(significant(F.col("x"), 9)).collect()]
    assert got[:5] == [123456789.0, 1.23456789e-5, -2.5, 0.6, 0.0]
    assert got[5] is None and got[6] == math.inf and got[7] == -math.inf and math.isnan(got[8])
