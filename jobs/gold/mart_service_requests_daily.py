"""mart_service_requests_daily: one row per district, category and channel per day."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


def build(inputs: dict[str, DataFrame], dates: list[dt.date]) -> DataFrame:
    from pyspark.sql import functions as F

    s = inputs["silver.service_requests"].where(F.col("event_date").isin(dates))
    return s.groupBy(
        F.col("event_date").alias("date"),
        F.coalesce("district_code", F.lit("unknown")).alias("district_code"),
        F.coalesce("category", F.lit("unknown")).alias("category"),
        "channel",
    ).agg(
        F.count(F.lit(1)).alias("requests"),
        F.sum(F.col("status").isin("resolved", "closed").cast("long")).alias("closed"),
        F.countDistinct("citizen_id_no_hash").alias("distinct_citizens"),
        F.avg("satisfaction").alias("avg_satisfaction"),
        F.sum((~F.col("citizen_id_no_valid")).cast("long")).alias("invalid_id_requests"),
    )
