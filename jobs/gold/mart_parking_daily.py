"""mart_parking_daily: one row per parking lot (per reporting unit) per day."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from jobs.gold.measures import parking_occupancy_rate

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


def build(inputs: dict[str, DataFrame], dates: list[dt.date]) -> DataFrame:
    from pyspark.sql import functions as F

    s = inputs["silver.parking_occupancy"].where(F.col("event_date").isin(dates))
    rate = parking_occupancy_rate()
    return s.groupBy(F.col("event_date").alias("date"), F.col("_unit").alias("reporting_unit"), "lot_id").agg(
        F.max("district_code").alias("district_code"),
        F.count(F.lit(1)).alias("snapshots"),
        F.max("total_spaces").alias("total_spaces"),
        F.avg(rate).alias("avg_occupancy_rate"),
        F.max(rate).alias("peak_occupancy_rate"),
    )
