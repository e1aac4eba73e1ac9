"""dt_object_state_hourly: one row per city object per hour, the digital twin's live layer.

Hourly state from the event feeds that report on objects: parking occupancy per lot, charging
sessions per station, 5G load per site and sensor readings per node. Object ids match
dt_city_objects; an object no entity feed has reported yet keeps its state, with
``object_known`` false, so the twin can see what its registry is missing.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from jobs.gold.dt_city_objects import object_id
from jobs.gold.measures import parking_occupancy_rate

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

MEASURES = ("observations", "occupancy_rate", "sessions", "energy_kwh", "prb_util_pct", "active_users",
            "battery_pct")  # fmt: skip


def _hour(col: str) -> Column:
    from pyspark.sql import functions as F

    return F.date_trunc("hour", F.col(col))


def build(inputs: dict[str, DataFrame], dates: list[dt.date]) -> DataFrame:
    from pyspark.sql import functions as F

    def days(ref: str) -> DataFrame:
        return inputs[ref].where(F.col("event_date").isin(dates))

    park = days("silver.parking_occupancy")
    rate = parking_occupancy_rate()
    parts = [
        park.groupBy(object_id("parking_lot", F.col("lot_id")).alias("object_id"), _hour("observed_at").alias("hour_start"))
        .agg(F.count(F.lit(1)).alias("observations"), F.avg(rate).alias("occupancy_rate"))
        .withColumn("object_type", F.lit("parking_lot")),
        days("silver.ev_charging_sessions")
        .groupBy(object_id("ev_charging_station", F.col("station_id")).alias("object_id"),
                 _hour("start_time").alias("hour_start"))
        .agg(F.count(F.lit(1)).alias("observations"), F.count(F.lit(1)).alias("sessions"),
             F.sum("energy_kwh").alias("energy_kwh"))
        .withColumn("object_type", F.lit("ev_charging_station")),
        days("silver.cell_5g_load")
        .groupBy(object_id("cell_5g_site", F.col("site_id")).alias("object_id"), _hour("measured_at").alias("hour_start"))
        .agg(F.count(F.lit(1)).alias("observations"), F.avg("prb_util_pct").alias("prb_util_pct"),
             F.sum("active_users").alias("active_users"))
        .withColumn("object_type", F.lit("cell_5g_site")),
        days("silver.iot_sensor_readings")
        .groupBy(object_id("sensor_node", F.col("node_id")).alias("object_id"), _hour("read_at").alias("hour_start"))
        .agg(F.count(F.lit(1)).alias("observations"), F.avg("battery_pct").alias("battery_pct"))
        .withColumn("object_type", F.lit("sensor_node")),
    ]  # fmt: skip
    state = parts[0]
    for p in parts[1:]:
        state = state.unionByName(p, allowMissingColumns=True)
    objects = (
        inputs["gold.dt_city_objects"]
        .where("is_current")
        .select("object_id", "district_code", "street_code", F.lit(True).alias("object_known"))
    )
    return (
        state.join(objects, "object_id", "left")
        .withColumn("object_known", F.coalesce("object_known", F.lit(False)))
        .withColumn("date", F.to_date("hour_start"))
    )
