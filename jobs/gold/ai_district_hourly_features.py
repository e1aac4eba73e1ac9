"""ai_district_hourly_features: one row per district per hour, a dense grid for model training.

Every current district of the division register (silver.admin_divisions; the shipped NBS
2023 seed before its first snapshot) has all 24 hours of every rebuilt day, so models see an explicit
zero (counts) or null (averages: no measurement) rather than a missing row. 5G load carries
no district of its own; a cell's district is that of its site in silver.cell_5g_sites.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from citylake.domain.districts import districts
from citylake.engine.frames import local_frame
from jobs.gold.measures import parking_occupancy_rate

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

COUNTS = ("charging_sessions", "service_requests", "traffic_vehicles")


def _hour(col: str) -> Column:
    from pyspark.sql import functions as F

    return F.date_trunc("hour", F.col(col)).alias("hour_start")


def build(inputs: dict[str, DataFrame], dates: list[dt.date]) -> DataFrame:
    from pyspark.sql import functions as F

    def days(ref: str) -> DataFrame:
        return inputs[ref].where(F.col("event_date").isin(dates) & F.col("district_code").isNotNull())

    spark = inputs["silver.ev_charging_sessions"].sparkSession
    # hours built in Spark, so they are Asia/Shanghai wall-clock hours like the data
    register = inputs["silver.admin_divisions"].where("is_current AND level = 'district'")
    codes = sorted({r.code for r in register.select("code").collect()}) or sorted(districts())
    grid = local_frame(spark, [(d, day) for day in dates for d in codes], "district_code string, day date")
    grid = grid.select("district_code", F.explode(F.sequence(F.lit(0), F.lit(23))).alias("h"), "day").select(
        "district_code",
        F.to_timestamp(F.format_string("%s %02d:00:00", F.col("day").cast("string"), F.col("h"))).alias(
            "hour_start"
        ),
    )
    charging = (
        days("silver.ev_charging_sessions")
        .groupBy("district_code", _hour("start_time"))
        .agg(F.count(F.lit(1)).alias("charging_sessions"), F.sum("energy_kwh").alias("charging_energy_kwh"))
    )
    occupancy = parking_occupancy_rate()
    parking = (
        days("silver.parking_occupancy")
        .groupBy("district_code", _hour("observed_at"))
        .agg(F.avg(occupancy).alias("parking_occupancy_rate"))
    )
    air = (
        days("silver.air_quality")
        .groupBy("district_code", _hour("measured_at"))
        .agg(F.avg("aqi").alias("aqi"), F.avg("pm25").alias("pm25"))
    )
    traffic = (
        days("silver.traffic_flow")
        .groupBy("district_code", _hour("interval_start"))
        .agg(
            F.sum("vehicle_count").alias("traffic_vehicles"),
            F.avg("avg_speed_kmh").alias("traffic_avg_speed_kmh"),
        )
    )
    sites = inputs["silver.cell_5g_sites"].where("is_current").select("site_id", "district_code").distinct()
    sites = sites.groupBy("site_id").agg(F.min("district_code").alias("district_code"))
    load = (
        inputs["silver.cell_5g_load"]
        .where(F.col("event_date").isin(dates))
        .join(sites, "site_id")
        .groupBy("district_code", _hour("measured_at"))
        .agg(
            F.avg("prb_util_pct").alias("cell_prb_util_pct"), F.sum("active_users").alias("cell_active_users")
        )
    )
    requests = (
        days("silver.service_requests")
        .groupBy("district_code", _hour("received_at"))
        .agg(F.count(F.lit(1)).alias("service_requests"))
    )
    out = grid
    for part in (charging, parking, air, traffic, load, requests):
        out = out.join(part, ["district_code", "hour_start"], "left")
    return out.fillna(0, subset=list(COUNTS)).withColumn("date", F.to_date("hour_start"))
