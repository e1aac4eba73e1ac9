"""What bronze's guarantees cost on their own, against bare Spark: a study script, not a gate.

    .venv/bin/python -m benchmarks.bronze_floor [csv|parquet] [runs] [only]

On the volume profile's flights feed (benchmarks/volume.py), in one Spark session, each step
timed ``runs`` times (best kept; the first run also warms the JVM). Every step reads the same
accepted file and, where it writes, writes a fresh Delta table:

- bare Spark, as the benchmark defines it (benchmarks/peers.bare_spark);
- the same read with the corrupt-record column, so a record that does not parse keeps its
  raw text (the quarantine guarantee), written as is (CSV only);
- that read with each record's file and split from ``_metadata`` (CSV only);
- bronze's own read (jobs.bronze_read.read_group: the raw text, the reason, the file and split
  of each record), written as is;
- that read with the row checks' tags (the rows bronze validates and writes), written as is;
- the per-split count that record numbers need before the write (bronze's statistics pass,
  without the cache);
- the uniqueness count by unit/feed (citylake.quality.gate.duplicate_counts).

None of the written tables carries record numbers or the other lineage columns. The last
three steps are passes bronze cannot do without today, so their sum is a floor, not bronze.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import peers, volume
from benchmarks.profile_feed import best_of
from citylake.config.settings import load_settings
from citylake.engine.frames import local_frame
from citylake.lake import Lake
from citylake.lake.preflight import Scope
from citylake.quality.gate import duplicate_counts, suite_expectations
from citylake.quality.rowchecks import failure_sums, is_dropped, tag_rows
from citylake.quality.suites import load_row_checks
from jobs.bronze_read import CORRUPT, SPARK_CHARSETS, read_group, spark_type

DAY = dt.date(2026, 11, 20)  # any day: the flights land as that day's delivery
# the passes bronze cannot do without today: their sum is the floor
FLOOR = (
    "+ the row checks' tags, written",
    "per-split counts for record numbers (no write)",
    "uniqueness count by unit/feed (no write)",
)


def steps(
    spark: Any, group: Any, checks: list[Any], exps: list[Any], out: Path
) -> dict[str, Callable[[int], Any]]:
    """The steps, each a function of the run's number (for a fresh output path)."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    fields = [
        T.StructField(canon, spark_type(group.contract.by_name[canon].type))
        for _, canon in group.source_columns
    ]

    def corrupt_read_of(paths: str | list[str]) -> Any:
        return (
            spark.read.format("csv")
            .schema(T.StructType([*fields, T.StructField(CORRUPT, T.StringType())]))
            .options(header="true", sep=group.delimiter, mode="PERMISSIVE", columnNameOfCorruptRecord=CORRUPT,
                     encoding=SPARK_CHARSETS.get(group.encoding, group.encoding),
                     timestampFormat=group.timestamp_format, dateFormat="yyyy-MM-dd")
            .load(paths)
        )  # fmt: skip

    def corrupt_read() -> Any:
        return corrupt_read_of(list(group.paths))

    def with_corrupt(i: int) -> None:
        corrupt_read().write.format("delta").save(str(out / f"corrupt-{i}"))

    def located(i: int) -> None:
        corrupt_read().select(
            "*",
            F.col("_metadata.file_path").alias("_file_path"),
            F.col("_metadata.file_block_start").alias("_block_start"),
        ).write.format("delta").save(str(out / f"located-{i}"))

    # the former design's read: each row's file and split from _metadata
    lineage = (F.col("_metadata.file_path").alias("_file_path"), F.col("_metadata.file_block_start").alias("_block_start"))

    def read(i: int) -> None:
        read_group(spark, group, *lineage).write.format("delta").save(str(out / f"read-{i}"))

    def tagged(i: int) -> None:
        tag_rows(read_group(spark, group, *lineage), checks).write.format("delta").save(str(out / f"tagged-{i}"))

    def split_counts(i: int) -> None:
        parsed = tag_rows(read_group(spark, group, *lineage), checks).withColumn(
            "_mono", F.monotonically_increasing_id()
        )
        ok = F.col(CORRUPT).isNull()
        parsed.groupBy("_file_path", "_block_start").agg(
            F.min("_mono"),
            F.count(F.lit(1)),
            F.count(CORRUPT),
            F.sum((ok & is_dropped(checks)).cast("long")),
            *failure_sums(checks, where=ok),
        ).collect()

    def uniqueness(i: int) -> None:
        good = read_group(spark, group, *lineage).where(F.col(CORRUPT).isNull()).withColumn("_group", F.lit(0))
        duplicate_counts(good, exps, ["_group"], implied=("_unit", "_feed"))

    def path_written(i: int) -> None:
        corrupt_read().select("*", F.col("_metadata.file_path").alias("_file_path")).write.format("delta").save(
            str(out / f"path-{i}")
        )

    def path_read_not_written(i: int) -> None:
        # the path is read (to find the file's id) but only a small integer is written
        # Spark names a local file file:/x, pathlib file:///x: both sides keyed by the bare path
        plain = [(str(Path(p.removeprefix("file:")).resolve()), n) for n, p in enumerate(group.paths)]
        ids = local_frame(spark, plain, "_file_path STRING, _file_id INT")
        corrupt_read().select("*", F.regexp_replace("_metadata.file_path", "^file:/*", "/").alias("_file_path")).join(
            F.broadcast(ids), "_file_path"
        ).drop("_file_path").write.format("delta").save(str(out / f"fileid-join-{i}"))

    def file_id_literal(i: int) -> None:
        # one read per file, its id a literal: no _metadata column at all
        frames = [corrupt_read_of(p).withColumn("_file_id", F.lit(n)) for n, p in enumerate(group.paths)]
        df = frames[0]
        for f in frames[1:]:
            df = df.unionByName(f)
        df.write.format("delta").save(str(out / f"fileid-literal-{i}"))

    def path_literal(i: int) -> None:
        # one read per file, its path (as bronze's _source_file holds it) a literal
        frames = [corrupt_read_of(p).withColumn("_source_file", F.lit("/".join(p.split("/")[-4:])))
                  for p in group.paths]  # fmt: skip
        df = frames[0]
        for f in frames[1:]:
            df = df.unionByName(f)
        df.write.format("delta").save(str(out / f"path-literal-{i}"))

    def file_partition(i: int) -> None:
        frames = [corrupt_read_of(p).withColumn("_file_id", F.lit(n)) for n, p in enumerate(group.paths)]
        df = frames[0]
        for f in frames[1:]:
            df = df.unionByName(f)
        df.write.format("delta").partitionBy("_file_id").save(str(out / f"fileid-part-{i}"))

    def one_pass(i: int) -> None:
        _one_pass(i, F.col("_metadata.file_block_start"), "one-pass")

    def one_pass_block_function(i: int) -> None:
        _one_pass(i, F.input_file_block_start(), "one-pass-fn")

    def _one_pass(i: int, split: Any, name: str) -> None:
        """The one-pass prototype (issue 37): every parsed row written in one job, with its file
        id, split and position in the split, the row checks' tags, and the counts observed by
        the same job; then the audit, a narrow job over the new version's two integer columns
        (rows per split, from which record numbers follow), recorded in an audit table."""
        from pyspark.sql import Observation

        frames = [corrupt_read_of(p).withColumn("_file_id", F.lit(n)) for n, p in enumerate(group.paths)]
        df = frames[0]
        for f in frames[1:]:
            df = df.unionByName(f)
        # a split is read in order by one task: its position is the id's low bits
        df = df.select(
            "*",
            split.alias("_split"),
            (F.monotonically_increasing_id().bitwiseAND((1 << 33) - 1)).alias("_pos"),
        )
        tagged = tag_rows(df, checks)
        ok = F.col(CORRUPT).isNull()
        obs = Observation(f"bronze-{i}")
        observed = tagged.observe(
            obs, F.count(F.lit(1)).alias("rows"), F.count(CORRUPT).alias("bad"),
            F.sum((ok & is_dropped(checks)).cast("long")).alias("dropped"), *failure_sums(checks, where=ok),
        )  # fmt: skip
        table = str(out / f"{name}-{i}")
        observed.write.format("delta").mode("append").option("txnAppId", f"batch-{i}").option(
            "txnVersion", 1
        ).save(table)
        counts = obs.get
        splits = (
            spark.read.format("delta").load(table).groupBy("_file_id", "_split").count().collect()
        )
        audit = [(f"batch-{i}", counts["rows"], counts["bad"], json.dumps(sorted(map(tuple, splits))))]
        local_frame(spark, audit, "batch_id STRING, rows LONG, bad LONG, splits STRING").write.format(
            "delta"
        ).mode("append").save(str(out / f"{name}-audit-{i}"))

    out_steps: dict[str, Callable[[int], Any]] = {
        "bare Spark: read with the declared schema, write Delta": lambda i: peers.bare_spark(
            spark, {group.contract.contract: [group]}, str(out / f"bare-{i}")
        ),
    }
    if group.format == "csv":
        out_steps["+ the corrupt-record column (raw text of bad records)"] = with_corrupt
        out_steps["+ each record's file and split (_metadata)"] = located
        # the lineage column's cost, split (issue 37): the path read and written, read and
        # turned into an integer id, not read at all (an id per file read), the id as a partition
        out_steps["+ the file's path (_metadata.file_path), written"] = path_written
        out_steps["+ the path read, an integer file id written (broadcast join)"] = path_read_not_written
        out_steps["+ an integer file id, a literal per file read (no _metadata)"] = file_id_literal
        out_steps["+ the file's path, a literal per file read (no _metadata)"] = path_literal
        out_steps["+ the file id as a partition value"] = file_partition
        out_steps["one pass: tags, ids, split positions, observed counts; audit after the write"] = one_pass
        out_steps["one pass, the split from input_file_block_start() instead of _metadata"] = one_pass_block_function
    out_steps |= {
        "bronze's read (raw text, reasons, file and split), written": read,
        **dict(zip(FLOOR, (tagged, split_counts, uniqueness), strict=True)),
    }
    return out_steps


def main() -> None:
    from citylake.engine.spark import get_spark, stop_session

    fmt = sys.argv[1] if len(sys.argv) > 1 else "csv"
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    only = sys.argv[3] if len(sys.argv) > 3 else ""  # the steps whose label holds it (and bare Spark)
    settings = load_settings()
    spark = get_spark("citylake-bronze-floor", settings)
    tmp = Path(tempfile.mkdtemp(prefix="citylake-floor-"))
    try:
        reg, _, expectations = volume.onboarded_copy(settings, tmp)
        unit = volume.UNITS[fmt]
        lake = Lake(str(tmp / "lake"))
        src = volume.land(lake, fmt, DAY)
        (group,) = peers.accepted_groups(lake, reg, DAY, Scope(frozenset({unit})))[volume.CONTRACT]
        contract = reg.contracts[volume.CONTRACT]
        checks = load_row_checks(reg, expectations, [contract])[volume.CONTRACT]
        exps = suite_expectations(expectations, contract.suites_for("bronze"))
        print(f"{fmt}: {src.name}, {src.stat().st_size / 1e6:.0f} MB; best of {runs} runs each")
        if not checks:
            raise SystemExit("the flights contract has no row checks: the statistics pass would not parse")
        figures: dict[str, float] = {}
        for label, step in steps(spark, group, checks, exps, tmp).items():
            if only and only not in label and figures:
                continue
            figures[label] = best_of(step, runs)
            print(f"  ({figures[label]:.2f} s  {label})", flush=True)
        bare = next(iter(figures.values()))
        for label, seconds in figures.items():
            print(f"  {seconds:6.2f} s  {seconds / bare:5.2f}x  {label}")
        if all(label in figures for label in FLOOR):
            floor = sum(figures[label] for label in FLOOR)
            print(f"  floor of bronze's passes: {floor:.2f} s, an ingest_vs_bare of at most {bare / floor:.3f}")
        # a step that wrote fewer rows than the file holds measured nothing
        for d in sorted(p for p in tmp.iterdir() if p.name.endswith("-0") and (p / "_delta_log").is_dir()):
            print(f"  {d.name[:-2]}: {spark.read.format('delta').load(str(d)).count()} rows written")
    finally:
        stop_session(spark)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
