"""The JVM's classes, archived once: a class-data-sharing (AppCDS) archive for Spark drivers.

Every citylake process starts its own JVM (each CLI run, each Airflow task), and a driver
loads about 34,000 classes (a small day's run, counted with ``-Xlog:class+load``): Spark's,
Delta's and the JDK's, parsed and verified again at every start; about 18,000 of them can be
archived. ``citylake setup`` runs a small Spark workload once under ``-XX:ArchiveClassesAtExit``
(JDK 13+), and every later driver maps the archive instead (``-XX:SharedArchiveFile``).

The archive belongs to one JDK, one pyspark and one set of cached jars: its name carries a
hash of them, so after an upgrade the old one is simply not used (and setup builds a new one).
A JVM that finds the archive unusable runs without it, as before; its CDS messages are turned
off because the JVM prints them on stdout, which ``--json`` output owns.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from citylake.config.settings import Settings, load_settings
from citylake.config.variables import read

ARCHIVE_SUFFIX = ".jsa"
RECORD = "archive.json"  # what setup did: the Makefile's stamp


def _java_home() -> Path | None:
    home = read("JAVA_HOME")
    if home:
        return Path(home)
    java = shutil.which("java")
    return Path(os.path.realpath(java)).parents[1] if java else None


def archive_path(settings: Settings) -> Path:
    """Where this JDK, pyspark and jar set's archive lives (it may not exist yet)."""
    import pyspark

    home = _java_home()
    release = home / "release" if home else None
    lock = settings.jars_dir / "jars.lock.json"
    parts = [
        str(home),
        release.read_text() if release and release.exists() else "",
        pyspark.__version__,
        lock.read_text() if lock.exists() else "",
    ]
    key = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
    return settings.jars_dir.parent / "jvm" / f"spark-{key}{ARCHIVE_SUFFIX}"


def java_options(settings: Settings) -> str:
    """The driver's options for the archive: none when it is not built (a missing archive file
    would turn off even the JDK's own class sharing)."""
    path = archive_path(settings)
    return f" -XX:SharedArchiveFile={path} -Xlog:cds*=off" if settings.class_archive and path.exists() else ""


def ensure(settings: Settings | None = None) -> dict[str, object]:
    """Build the archive unless it exists, and record what setup did in ``jvm/archive.json``.

    It is built in a process of its own: a Python process keeps its first JVM, whose options
    are fixed, and the archive is written only when that JVM exits."""
    settings = settings or load_settings()
    target = archive_path(settings)
    record = target.parent / RECORD
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        known: dict[str, object] = json.loads(record.read_text()) if record.exists() else {}
        if known.get("archive") != str(target):
            known = {"archive": str(target)}
            record.write_text(json.dumps(known, indent=2))
        return known
    for old in target.parent.glob(f"spark-*{ARCHIVE_SUFFIX}"):
        old.unlink()  # another JDK's, pyspark's or jar set's: never used again
    partial = target.with_suffix(".partial")
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "citylake.engine.class_archive", str(partial)],
                          capture_output=True, text=True, timeout=900)  # fmt: skip
    if proc.returncode != 0 or not partial.exists():
        partial.unlink(missing_ok=True)
        done: dict[str, object] = {"archive": None, "reason": proc.stderr[-1500:]}
    else:
        # replaced, never rewritten: a driver starting meanwhile sees no archive or a whole one,
        # and one running keeps its mapping (a mapped archive rewritten in place kills it: SIGBUS)
        partial.rename(target)
        done = {"archive": str(target), "build_s": round(time.monotonic() - started, 1),
                "bytes": target.stat().st_size}  # fmt: skip
    record.write_text(json.dumps(done, indent=2))
    return done


def _exercise(spark: object, work: Path) -> None:
    """What a run's driver does, in miniature: read each landing format with a declared
    schema, aggregate, rank, join, write and merge Delta, read it back through Arrow."""
    from delta.tables import DeltaTable
    from pyspark.sql import SparkSession, Window
    from pyspark.sql import functions as F

    assert isinstance(spark, SparkSession)
    (work / "in.csv").write_text("id,name,at\n1,a,2026-11-20 08:00:00\n2,b,2026-11-20 09:30:00\n")
    (work / "in.jsonl").write_text('{"id": 1, "name": "a", "at": "2026-11-20 08:00:00"}\n')
    schema = "id INT, name STRING, at TIMESTAMP"
    csv = spark.read.schema(schema).option("header", True).csv(str(work / "in.csv"))
    jsonl = spark.read.schema(schema).json(str(work / "in.jsonl"))
    rows = csv.withColumn("_file", F.col("_metadata.file_path")).unionByName(
        jsonl.withColumn("_file", F.col("_metadata.file_path"))
    )
    rows = rows.withColumn("day", F.to_date("at")).withColumn("key", F.xxhash64("id", "name"))
    rows.groupBy("day").agg(F.count(F.lit(1)), F.sum(F.col("id").isNull().cast("long"))).collect()
    ranked = rows.withColumn("n", F.row_number().over(Window.partitionBy("id").orderBy(F.col("at").desc())))
    ranked.join(F.broadcast(rows.select("id").distinct()), "id").collect()
    path = str(work / "delta")
    ranked.write.format("delta").partitionBy("day").save(path)
    ranked.write.format("delta").mode("append").option("userMetadata", "{}").save(path)
    target = DeltaTable.forPath(spark, path)
    target.alias("t").merge(ranked.where("n = 1").alias("s"), "t.id = s.id AND t.day = s.day").whenMatchedUpdateAll()\
        .whenNotMatchedInsertAll().execute()  # fmt: skip
    spark.read.format("delta").load(path).toPandas()
    spark.read.parquet(*[str(p) for p in (work / "delta").rglob("*.parquet")]).count()


def main(argv: list[str]) -> int:
    """Start a driver that archives its classes at exit into ``argv[0]``, exercise it, stop it."""
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    from citylake.engine.spark import session_conf, stop_session

    settings = load_settings()
    conf = session_conf(settings, "citylake-class-archive", with_archive=False)
    conf["spark.driver.extraJavaOptions"] += f" -XX:ArchiveClassesAtExit={argv[0]} -Xlog:cds*=off"
    builder = SparkSession.builder.master(settings.spark_master).appName("citylake-class-archive")
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    jvm = SparkContext._gateway.proc  # type: ignore[union-attr]
    with tempfile.TemporaryDirectory() as work:
        _exercise(spark, Path(work))
        stop_session(spark)  # before the tables go: the lineage listener may still list them
    jvm.stdin.close()  # the gateway exits when its stdin closes; the archive is written then
    started = time.monotonic()
    code = jvm.wait(timeout=600)
    print(f"the driver exited ({code}) after writing {argv[0]} in {time.monotonic() - started:.1f} s")
    return code


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
