"""What bronze's extra columns cost in its write: a study script (issue 37, ADR 0004).

    .venv/bin/python -m benchmarks.study_columns

Reads the flights CSV as bronze does (``jobs.bronze_read.read_group``) and writes it with and
without the five columns that are the same for a whole file or batch (unit, feed, file, run,
batch), with and without Delta's statistics, and as plain Parquet. Best of 2 after a warm-up,
each against bare Spark in the same session.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import peers, volume
from citylake.config.settings import load_settings
from citylake.engine.spark import get_spark, stop_session
from citylake.lake import Lake
from citylake.lake.preflight import Scope
from jobs.bronze_read import read_group

DAY = dt.date(2026, 11, 20)


def main() -> None:
    from pyspark.sql import functions as F

    settings = load_settings()
    spark = get_spark("citylake-study-columns", settings)
    tmp = Path(tempfile.mkdtemp(prefix="citylake-columns-"))
    try:
        reg, _, _ = volume.onboarded_copy(settings, tmp)
        landed = Lake(str(tmp / "landed"))
        volume.land(landed, "csv", DAY)
        (group,) = peers.accepted_groups(landed, reg, DAY, Scope(frozenset({volume.UNITS["csv"]})))[volume.CONTRACT]
        consts = [F.lit(v).alias(k) for k, v in (
            ("_unit", volume.UNITS["csv"]), ("_feed", "flights"),
            ("_source_file", f"{volume.UNITS['csv']}/flights/{DAY}/flights.csv"),
            ("_run_id", f"run-{DAY}T00:00:00-0123456789"), ("_batch_id", f"bronze:flights:{DAY}:0123456789abcdef0123"),
        )]  # fmt: skip
        runs = iter(range(1_000_000))

        def write(df: Any, how: str = "delta", stats_cols: str | None = None) -> float:
            path = str(tmp / f"out-{next(runs)}")
            if stats_cols is not None:  # the table exists first, with its statistics setting
                df.limit(0).write.format("delta").option("delta.dataSkippingNumIndexedCols", stats_cols).save(path)
            t = time.perf_counter()
            df.write.format(how).mode("append").save(path)
            return time.perf_counter() - t

        def base() -> Any:
            return read_group(spark, group)

        steps: dict[str, Callable[[], float]] = {
            "bare Spark: read with the declared schema, write Delta": lambda: peers.bare_spark(
                spark, {volume.CONTRACT: [group]}, str(tmp / f"bare-{next(runs)}")
            ),
            "bronze's read (corrupt column, reason, drift), written": lambda: write(base()),
            "+ the 5 file and batch constants": lambda: write(base().select("*", *consts)),
            "+ the 5 constants, no Delta statistics": lambda: write(base().select("*", *consts), stats_cols="0"),
            "+ the 5 constants, plain Parquet": lambda: write(base().select("*", *consts), how="parquet"),
            "bronze's read, plain Parquet": lambda: write(base(), how="parquet"),
        }
        for step in steps.values():  # warm-up
            step()
        figures = {label: min(step() for _ in range(2)) for label, step in steps.items()}
        bare = next(iter(figures.values()))
        for label, seconds in figures.items():
            print(f"  {seconds:6.2f} s  {seconds / bare:5.2f}x  {label}")
    finally:
        stop_session(spark)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
