"""mart_source_unit_health: one row per source unit, feed and logical date."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from citylake.lake.ledger import LOADED, PROBLEM_STATUSES

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


def newest_outcomes(ledger: DataFrame) -> DataFrame:
    """One ledger row per landed file: its newest outcome (as citylake.lake.status does for
    `citylake status`, without Spark)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    w = Window.partitionBy("file").orderBy(F.desc("finished_at"), F.desc("run_id"))
    final = ledger.where(F.col("status") != "skipped")
    return final.withColumn("_n", F.row_number().over(w)).where("_n = 1").drop("_n")


def build(inputs: dict[str, DataFrame], dates: list[dt.date]) -> DataFrame:
    from pyspark.sql import functions as F

    # a file's newest outcome: one that failed and loaded on a retry is one file, loaded
    led = newest_outcomes(inputs["_system.run_ledger"].where(F.col("logical_date").isin(dates)))
    dq = inputs["_system.dq_results"].where(F.col("logical_date").isin(dates) & (F.col("layer") == "bronze"))
    files = led.groupBy(F.col("logical_date").alias("date"), "unit", "feed").agg(
        F.count(F.lit(1)).alias("files"),
        F.sum("rows_landed").alias("rows_landed"),
        F.sum(F.when(F.col("status") == LOADED, F.col("rows_bronze")).otherwise(0)).alias("rows_bronze"),
        F.sum("rows_quarantined").alias("rows_quarantined"),
        F.sum(F.coalesce("rows_dq_dropped", F.lit(0))).alias("rows_dq_dropped"),
        F.sum(F.col("status").isin(*PROBLEM_STATUSES).cast("long")).alias("problem_files"),
    )
    gate = dq.groupBy(F.col("logical_date").alias("date"), "unit", "feed").agg(
        F.max(
            F.when(F.col("verdict") == "failed", 2).when(F.col("verdict") == "warned", 1).otherwise(0)
        ).alias("_v")
    )
    out = files.join(gate, ["date", "unit", "feed"], "left")
    verdict = (
        F.when((F.col("_v") == 2) | (F.col("problem_files") > 0), "failed")
        .when(F.col("_v") == 1, "warned")
        .otherwise("passed")
    )
    landed = F.col("rows_landed")
    return out.select(
        "date", "unit", "feed", "files", "rows_landed", "rows_bronze", "rows_quarantined", "rows_dq_dropped",
        F.when(landed > 0, (F.col("rows_quarantined") + F.col("rows_dq_dropped")) / landed).otherwise(0.0)
        .alias("quarantine_rate"),
        "problem_files",
        verdict.alias("dq"),
    )  # fmt: skip
