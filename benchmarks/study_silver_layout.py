"""Silver's insert by layout: a study script for issue 37, not a gate.

    .venv/bin/python -m benchmarks.study_silver_layout [runs]

The volume profile's flights (3M rows, a year of departures; benchmarks/volume.py) as silver
would insert them: the contract's columns plus an event day, appended to a fresh Delta table
laid out four ways, each timed ``runs`` times in one session (best kept; a warm-up first):
unpartitioned; clustered by the event day (Delta's liquid clustering, which lays data out at
OPTIMIZE, not at the insert); partitioned by month; and partitioned by day, as silver is today.
Each figure is also given as a ratio to the unpartitioned insert of the same run, and the files
each layout wrote are counted (what a reader later lists and opens).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks import volume
from benchmarks.profile_feed import best_of
from citylake.config.settings import load_settings


def silver_rows(spark: Any) -> Any:
    from pyspark.sql import functions as F

    df = spark.read.parquet(str(volume.flights_parquet()))
    return df.select(
        F.col("date").cast("timestamp").alias("departed_at"),
        F.col("delay").cast("long").alias("delay_min"),
        F.col("distance").cast("long").alias("distance_mi"),
        "origin",
        "destination",
    ).withColumn("_event_date", F.to_date("departed_at"))


def layouts(spark: Any, rows: Any, tmp: Path) -> dict[str, Any]:
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    def plain(i: int) -> None:
        rows.write.format("delta").save(str(tmp / f"plain-{i}"))

    def clustered(i: int) -> None:
        path = str(tmp / f"clustered-{i}")
        DeltaTable.create(spark).location(path).addColumns(rows.schema).clusterBy("_event_date").execute()
        rows.write.format("delta").mode("append").save(path)

    def by_month(i: int) -> None:
        rows.withColumn("_event_month", F.trunc("_event_date", "month")).write.format("delta").partitionBy(
            "_event_month"
        ).save(str(tmp / f"month-{i}"))

    def by_day(i: int) -> None:
        rows.write.format("delta").partitionBy("_event_date").save(str(tmp / f"day-{i}"))

    return {"unpartitioned": plain, "clustered by event day": clustered, "partitioned by month": by_month,
            "partitioned by event day (today)": by_day}  # fmt: skip


def main(argv: list[str]) -> int:
    from citylake.engine.spark import get_spark, stop_session

    runs = int(argv[0]) if argv else 3
    spark = get_spark("citylake-study-silver-layout", load_settings())
    tmp = Path(tempfile.mkdtemp(prefix="citylake-layout-"))
    try:
        rows = silver_rows(spark)
        print(f"flights: {rows.count()} rows, {rows.select('_event_date').distinct().count()} event days")
        figures = {}
        for label, write in layouts(spark, rows, tmp).items():
            figures[label] = best_of(write, runs)
            print(f"  ({figures[label]:.2f} s  {label})", flush=True)
        base = figures["unpartitioned"]
        for label, seconds in figures.items():
            print(f"  {seconds:6.2f} s  {seconds / base:5.2f}x  {label}")
        for d in sorted(p for p in tmp.iterdir() if p.name.endswith("-0")):
            print(f"  {d.name[:-2]:10s} {sum(1 for _ in d.rglob('*.parquet')):6d} data files")
    finally:
        stop_session(spark)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
