"""Where one single-file feed's time goes: a study script, not a gate.

    .venv/bin/python -m benchmarks.profile_feed [parquet|csv] [runs]

Runs the volume profile's flights feed (benchmarks/volume.py) scoped to its unit, ``runs``
times in one session (the first warms the JVM), each on a fresh lake beside a bare Spark load
of the same file. Each Spark action of bronze and silver is timed where the jobs call it (the
stats pass, the uniqueness count, the Delta writes, silver's cached pass and its insert).
Then it times the bronze write's parts on the same rows: a bare Delta write, bronze's lineage
columns as plain Parquet, as Delta with statistics on the first 32 columns, and as Delta with
statistics on two columns only.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import peers, volume
from citylake.config.settings import load_settings
from citylake.lake import Lake
from citylake.lake.preflight import Scope

DAY = dt.date(2026, 11, 20)
CALLS: list[tuple[str, float]] = []


def _timed(owner: Any, name: str, label: str) -> None:
    fn = getattr(owner, name)

    @functools.wraps(fn)
    def timed(*args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            CALLS.append((label, time.perf_counter() - t))

    setattr(owner, name, timed)


def _instrument() -> None:
    from pyspark.sql.classic.dataframe import DataFrame

    import jobs.bronze_audit as audit
    import jobs.bronze_batch as bronze
    import jobs.silver_conform as silver

    _timed(DataFrame, "collect", "collect (bronze's drift keys, silver's cached pass)")
    _timed(audit, "count_files", "bronze's audit: rows and failures per file (delta-rs)")
    _timed(audit, "count_duplicates", "bronze's audit: duplicates per unit/feed (delta-rs)")
    _timed(bronze.delta_io, "append", "Delta append (bronze, quarantine, dq_rows, silver insert)")
    _timed(silver, "merge", "  of which: silver insert or MERGE")


def best_of(fn: Callable[[int], Any], runs: int = 3) -> float:
    """The shortest of ``runs`` timed calls of ``fn`` (given the run's number)."""
    best = float("inf")
    for i in range(runs):
        t = time.perf_counter()
        fn(i)
        best = min(best, time.perf_counter() - t)
    return best


def write_parts(spark: Any, src: Path, tmp: Path) -> dict[str, float]:
    """The bronze write's parts on the flights rows (best of 3 each)."""
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    df = spark.read.parquet(str(src))
    lineage = df.select(
        "*", F.lit("bench_flights_parquet").alias("_unit"), F.lit("flights").alias("_feed"),
        F.lit(f"bench_flights_parquet/flights/{DAY}/flights.parquet").alias("_source_file"),
        (F.monotonically_increasing_id() + 1).alias("_record_no"), F.current_timestamp().alias("_ingested_at"),
        F.lit("run").alias("_run_id"), F.lit(f"bronze:flight_delays:{DAY}:0123456789abcdef0123").alias("_batch_id"),
        F.lit(DAY).alias("_logical_date"), F.lit(None).cast("array<string>").alias("_dq_failed"),
    )  # fmt: skip

    def delta_with(props: dict[str, str]) -> Callable[[int], None]:
        def write(i: int) -> None:
            path = str(tmp / f"parts-{len(props)}-{'-'.join(props.values())[:20]}-{i}")
            builder = DeltaTable.createIfNotExists(spark).location(path).addColumns(lineage.schema)
            for k, v in props.items():
                builder = builder.property(k, v)
            builder.execute()
            lineage.write.format("delta").mode("append").save(path)

        return write

    return {
        "bare Delta write (5 columns)": best_of(lambda i: df.write.format("delta").save(str(tmp / f"bare-{i}"))),
        "+ lineage columns, plain Parquet": best_of(lambda i: lineage.write.parquet(str(tmp / f"pq-{i}"))),
        "+ lineage columns, Delta, stats on 32 columns": best_of(delta_with({})),
        "+ lineage columns, Delta, stats on bronze's 6": best_of(delta_with(
            {"delta.dataSkippingStatsColumns": "_unit,_feed,_source_file,_record_no,_batch_id,date"})),
        "+ lineage columns, Delta, stats on 2 (_record_no, date)": best_of(delta_with(
            {"delta.dataSkippingStatsColumns": "_record_no,date"})),
    }  # fmt: skip


def main() -> None:
    from citylake.engine.spark import get_spark
    from citylake.runs.pipeline import run_daily

    fmt = sys.argv[1] if len(sys.argv) > 1 else "parquet"
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    settings = load_settings()
    spark = get_spark("citylake-profile", settings)
    _instrument()
    tmp = Path(tempfile.mkdtemp(prefix="citylake-profile-"))
    try:
        reg, schemas, expectations = volume.onboarded_copy(settings, tmp)
        unit = volume.UNITS[fmt]
        for i in range(runs):
            lake = Lake(str(tmp / f"lake-{i}"))
            volume.land(lake, fmt, DAY)
            scope = Scope(frozenset({unit}))
            bare_s = peers.bare_spark(
                spark, peers.accepted_groups(lake, reg, DAY, scope), str(tmp / f"bare-{i}")
            )
            conf = dataclasses.replace(settings, lake_root=lake.root, registry_dir=schemas,
                                       expectations_dir=expectations)  # fmt: skip
            CALLS.clear()
            t = time.perf_counter()
            run = run_daily(DAY, conf, spark, reg, scope=scope, marts=False)
            total = time.perf_counter() - t
            print(f"run {i + 1}: bare Spark {bare_s:.1f} s; citylake {total:.1f} s ({run.status}): "
                  f"bronze {run.timings['bronze_s']:.1f} s, silver {run.timings['silver_s']:.1f} s")  # fmt: skip
            for label, seconds in CALLS:
                if seconds >= 0.2:
                    print(f"  {seconds:6.2f} s  {label}")
        print("the bronze write's parts, best of 3:")
        for label, seconds in write_parts(spark, volume.flights_parquet(), tmp).items():
            print(f"  {seconds:6.2f} s  {label}")
    finally:
        spark.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
