"""`citylake status`: one line per unit/feed, from the ledger and the DQ results.

A feed is fresh when its newest loaded date is within its declared cadence of the as-of date
(15-minute, hourly and daily feeds arrive as daily files, so they may be one day old; weekly
feeds seven). DQ is "failed" when a ``fail`` expectation failed (the batch was held back from silver) or the
newest delivery was rejected, failed or conflicted; "warned" when any expectation found bad
rows; else "passed". A feed that never delivered has ``last_date`` and ``dq`` null and is not
fresh. ``dataset_status`` does the same for silver and gold: the newest publication attempt of
each dataset, and the version readers currently get.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from citylake.lake import DQ_RESULTS, PUBLICATIONS, RUN_LEDGER, Lake
from citylake.ledger import LOADED, PROBLEM_STATUSES
from citylake.registry import Registry

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

CADENCE_DAYS = {"15min": 1, "hourly": 1, "daily": 1, "weekly": 7}


def feed_status(spark: SparkSession, lake: Lake, registry: Registry, as_of: dt.date) -> list[dict[str, Any]]:
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    ledger_path, dq_path = lake.table("_system", RUN_LEDGER), lake.table("_system", DQ_RESULTS)
    per_day: dict[tuple[str, str], dict[str, Any]] = {}
    if DeltaTable.isDeltaTable(spark, ledger_path):
        led = spark.read.format("delta").load(ledger_path).where(F.col("logical_date") <= as_of)
        rows = (
            led.where(F.col("status") != "skipped")
            .groupBy("unit", "feed", "logical_date")
            .agg(
                F.sum(F.when(F.col("status") == LOADED, F.col("rows_bronze")).otherwise(0)).alias("rows"),
                F.sum("rows_landed").alias("landed"),
                F.sum(F.col("rows_quarantined") + F.coalesce(F.col("rows_dq_dropped"), F.lit(0))).alias(
                    "quarantined"
                ),
                F.max(F.col("status").isin(*PROBLEM_STATUSES).cast("int")).alias("problem"),
                F.max((F.col("status") == LOADED).cast("int")).alias("loaded"),
            )
            .collect()
        )
        for r in rows:
            key = (r["unit"], r["feed"])
            if key not in per_day or r["logical_date"] > per_day[key]["logical_date"]:
                per_day[key] = r.asDict()
    dq: dict[tuple[str, str, dt.date], dict[str, int]] = {}
    if DeltaTable.isDeltaTable(spark, dq_path):
        agg = (
            spark.read.format("delta").load(dq_path)
            .where((F.col("logical_date") <= as_of) & (F.col("layer") == "bronze"))
            .groupBy("unit", "feed", "logical_date")
            .agg(
                F.sum(((F.col("severity") == "fail") & ~F.col("success")).cast("int")).alias("fail"),
                F.sum("failures").alias("failures"),
            )
            .collect()
        )  # fmt: skip
        for r in agg:
            dq[(r["unit"], r["feed"], r["logical_date"])] = {"fail": int(r["fail"] or 0),
                                                             "failures": int(r["failures"] or 0)}  # fmt: skip
    out: list[dict[str, Any]] = []
    for feed in registry.feeds():
        key = (feed.unit.unit, feed.spec.feed)
        day = per_day.get(key)
        if day is None:
            out.append({"unit": key[0], "feed": key[1], "last_date": None, "fresh": False, "rows": 0,
                        "quarantine_rate": None, "dq": None})  # fmt: skip
            continue
        last: dt.date = day["logical_date"]
        sev = dq.get((*key, last), {})
        if day["problem"] or sev.get("fail", 0):
            verdict = "failed"
        elif sev.get("failures", 0):
            verdict = "warned"
        else:
            verdict = "passed"
        landed = int(day["landed"] or 0)
        out.append({
            "unit": key[0],
            "feed": key[1],
            "last_date": last.isoformat(),
            "fresh": (as_of - last).days <= CADENCE_DAYS[feed.cadence],
            "rows": int(day["rows"] or 0),
            "quarantine_rate": round(int(day["quarantined"] or 0) / landed, 6) if landed else None,
            "dq": verdict,
        })  # fmt: skip
    return out


def dataset_status(spark: SparkSession, lake: Lake) -> list[dict[str, Any]]:
    """Per silver/gold dataset: the newest publication attempt and the version that is current."""
    from delta.tables import DeltaTable
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    path = lake.table("_system", PUBLICATIONS)
    if not DeltaTable.isDeltaTable(spark, path):
        return []
    pubs = spark.read.format("delta").load(path).where(~F.col("status").isin("empty", "unchanged"))
    newest = Window.partitionBy("dataset").orderBy(F.desc("recorded_at"))
    good = (
        pubs.where(F.col("status") == "published")
        .groupBy("dataset")
        .agg(F.max("recorded_at").alias("last_published_at"))
    )
    rows = (
        pubs.withColumn("_n", F.row_number().over(newest))
        .where("_n = 1")
        .join(good, "dataset", "left")
        .orderBy("layer", "dataset")
        .collect()
    )
    return [
        {
            "dataset": r["dataset"],
            "layer": r["layer"],
            "last_run": r["run_id"],
            "logical_date": r["logical_date"].isoformat() if r["logical_date"] else None,
            "status": r["status"],
            "current_version": r["delta_version"],
            "validation_id": r["validation_id"],
            "last_published_at": r["last_published_at"].isoformat(sep=" ", timespec="seconds")
            if r["last_published_at"]
            else None,
            "reason": r["reason"],
        }
        for r in rows
    ]
