"""dt_city_objects: one row per physical city object per version (SCD type 2), for the digital twin.

The six entity feeds (charging stations, parking lots, 5G sites, sensor nodes, delivery
lockers, retail terminals) in one dimension, WGS-84 points and current district/street codes.
An object reported by several units (a carrier and the regulator both report 5G sites) is
taken from the most authoritative one: the operator that runs it, then a district bureau,
then a commission.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

# silver input -> object type, id column, and the columns that play name/operator/subtype/capacity
SOURCES: dict[str, tuple[str, str, str | None, str | None, str | None, str | None]] = {
    "silver.ev_charging_stations": ("ev_charging_station", "station_id", "station_name", "operator_name", None,
                                    "connector_count"),
    "silver.parking_lots": ("parking_lot", "lot_id", "lot_name", None, "lot_type", "total_spaces"),
    "silver.cell_5g_sites": ("cell_5g_site", "site_id", "site_name", "carrier", "band", "cell_count"),
    "silver.iot_sensor_nodes": ("sensor_node", "node_id", None, "vendor", "node_type", None),
    "silver.delivery_lockers": ("delivery_locker", "locker_id", None, "operator_name", None, "compartment_count"),
    "silver.retail_terminals": ("retail_terminal", "terminal_id", None, "operator_name", "terminal_type", None),
}  # fmt: skip
KIND_RANK = {"operator": 0, "district_bureau": 1, "commission": 2}


def object_id(object_type: str, source_id: Column) -> Column:
    from pyspark.sql import functions as F

    return F.concat_ws(":", F.lit(object_type), source_id)


def _one(df: DataFrame, spec: tuple[str, str, str | None, str | None, str | None, str | None]) -> DataFrame:
    from pyspark.sql import functions as F

    kind, key, name, operator, subtype, capacity = spec

    def pick(col: str | None, typ: str) -> Column:
        return (F.col(col) if col else F.lit(None)).cast(typ)

    return df.select(
        object_id(kind, F.col(key)).alias("object_id"),
        F.lit(kind).alias("object_type"),
        F.col(key).alias("source_id"),
        F.col("_unit").alias("source_unit"),
        pick(name, "string").alias("name"),
        pick(operator, "string").alias("operator"),
        pick(subtype, "string").alias("subtype"),
        pick(capacity, "int").alias("capacity"),
        "status",
        "lon",
        "lat",
        "coord_status",
        "district_code",
        "street_code",
        "valid_from",
        "valid_to",
        "is_current",
    )


def build(inputs: dict[str, DataFrame], dates: list[dt.date]) -> DataFrame:
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    rows = None
    for ref, spec in SOURCES.items():
        part = _one(inputs[ref], spec)
        rows = part if rows is None else rows.unionByName(part)
    assert rows is not None
    units = inputs["registry.units"]
    rank = F.coalesce(
        F.element_at(F.create_map(*[F.lit(x) for kv in KIND_RANK.items() for x in kv]), F.col("kind")),
        F.lit(9),
    )
    ranked = rows.join(
        units.select(F.col("unit").alias("source_unit"), rank.alias("_rank")), "source_unit", "left"
    )
    # every version of an object comes from its most authoritative reporting unit
    best = Window.partitionBy("object_id").orderBy("_rank", "source_unit")
    return (
        ranked.withColumn("_best", F.first("source_unit").over(best))
        .where(F.col("source_unit") == F.col("_best"))
        .drop("_rank", "_best")
    )
