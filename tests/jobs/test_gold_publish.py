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
