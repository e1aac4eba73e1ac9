"""mart_ev_charging_daily: one row per charging station (per operator unit) per day."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


def build(inputs: dict[str, DataFrame], dates: list[dt.date]) -> DataFrame:
    from pyspark.sql import functions as F

    s = inputs["silver.ev_charging_sessions"].where(F.col("event_date").isin(dates))
    minutes = (F.unix_timestamp("end_time") - F.unix_timestamp("start_time")) / 60.0
    return s.groupBy(
        F.col("event_date").alias("date"), F.col("_unit").alias("operator_unit"), "station_id"
    ).agg(
        F.max("district_code").alias("district_code"),
        F.count(F.lit(1)).alias("sessions"),
        F.sum("energy_kwh").alias("energy_kwh"),
        F.coalesce(F.sum("fee_yuan"), F.lit(0.0)).alias("revenue_yuan"),
        F.avg(F.when(F.col("end_time") >= F.col("start_time"), minutes)).alias("avg_session_minutes"),
        F.countDistinct("plate_no_hash").alias("distinct_vehicles"),
    )
