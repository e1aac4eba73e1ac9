"""The one way citylake gets a SparkSession.

Delta's JVM jars are resolved from Maven Central once (``citylake setup`` / ``make``) into a
project-owned cache and then passed to Spark as plain files, so later sessions never touch
the network or Ivy.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from citylake.config.settings import LAKE_TIME_ZONE, ConfigError, Settings, load_settings
from citylake.config.variables import read
from citylake.engine import class_archive, jvm_ext, lineage

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

HADOOP_AWS_VERSION = "3.4.2"  # must equal the hadoop-client jars inside the pyspark wheel
LOCK_FILE = "jars.lock.json"
S3_ONLY_PREFIXES = ("org.apache.hadoop_hadoop-aws", "software.amazon", "org.wildfly", "com.amazonaws",
                    "io.delta_delta-storage-s3-dynamodb")  # fmt: skip
DYNAMODB_LOG_STORE_JAR = "io.delta_delta-storage-s3-dynamodb"
OPENLINEAGE_JAR = "io.openlineage_openlineage-spark"
LOG4J2 = Path(__file__).with_name("log4j2.properties")


def delta_coordinates(with_s3: bool = False, dynamodb: bool = False) -> list[str]:
    from importlib.metadata import version

    import pyspark

    spark_line = ".".join(pyspark.__version__.split(".")[:2])
    coords = [f"io.delta:delta-spark_{spark_line}_2.13:{version('delta-spark')}", lineage.SPARK_COORDINATE]
    if with_s3:
        coords.append(f"org.apache.hadoop:hadoop-aws:{HADOOP_AWS_VERSION}")
    if with_s3 and dynamodb:
        coords.append(f"io.delta:delta-storage-s3-dynamodb:{version('delta-spark')}")
    return coords


def resolve_jars(settings: Settings | None = None, with_s3: bool = True) -> list[Path]:
    """Resolve Delta (and hadoop-aws) with Spark's own Ivy once, then keep the jars as files."""
    settings = settings or load_settings()
    coords = delta_coordinates(with_s3, bool(settings.delta_dynamodb_table))
    jars_dir = settings.jars_dir
    lock = jars_dir / LOCK_FILE
    if lock.exists():
        recorded = json.loads(lock.read_text())
        jars = [jars_dir / name for name in recorded["jars"]]
        if recorded["coordinates"] == coords and all(j.exists() for j in jars):
            return jars
    from pyspark.sql import SparkSession

    ivy = jars_dir.parent / "ivy"
    builder = (
        SparkSession.builder.master("local[1]")
        .appName("citylake-resolve-jars")
        .config("spark.jars.packages", ",".join(coords))
        .config("spark.jars.ivy", str(ivy))
        .config("spark.ui.enabled", "false")
    )
    with output_to(settings.log_dir / "setup.log"):  # the resolver's chatter
        spark = builder.getOrCreate()
        spark.stop()
    jars_dir.mkdir(parents=True, exist_ok=True)
    provided = _bundled_artifacts()
    names = []
    for jar in sorted((ivy / "jars").glob("*.jar")):
        # Ivy also pulls jackson, parquet and hadoop that pyspark already ships; a second,
        # older copy on the classpath is a conflict waiting to happen.
        if _artifact_name(jar.name.split("_", 1)[-1]) in provided:
            continue
        shutil.copy2(jar, jars_dir / jar.name)
        names.append(jar.name)
    if not names:
        raise ConfigError(f"resolving {coords} produced no jars under {ivy}; is Maven Central reachable? "
                          f"(the resolver's log: {settings.log_dir / 'setup.log'})")
    lock.write_text(json.dumps({"coordinates": coords, "jars": names}, indent=2))
    return [jars_dir / n for n in names]


def _artifact_name(jar_name: str) -> str:
    return re.sub(r"-\d[\w.\-]*\.jar$", "", jar_name)


def _bundled_artifacts() -> set[str]:
    import pyspark

    return {_artifact_name(j.name) for j in (Path(pyspark.__file__).parent / "jars").glob("*.jar")}


def cached_jars(settings: Settings) -> list[Path]:
    lock = settings.jars_dir / LOCK_FILE
    if not lock.exists():
        raise ConfigError(
            f"Delta jars are not cached in {settings.jars_dir}; run `make setup` (or `citylake setup`) once"
        )
    names = json.loads(lock.read_text())["jars"]
    if settings.delta_dynamodb_table and not any(n.startswith(DYNAMODB_LOG_STORE_JAR) for n in names):
        raise ConfigError(
            "CITYLAKE_DELTA_DYNAMODB_TABLE is set but Delta's DynamoDB log store jar is not cached; "
            "run `citylake setup` with it set"
        )
    has_listener = any(n.startswith(OPENLINEAGE_JAR) for n in names)
    if settings.lineage and not has_listener:
        raise ConfigError(
            "the OpenLineage Spark listener is not cached; run `citylake setup` (or set CITYLAKE_LINEAGE=off)"
        )
    if not settings.lineage:
        names = [n for n in names if not n.startswith(OPENLINEAGE_JAR)]
    if not settings.is_s3:
        # The AWS SDK bundle is ~600 MB; loading it for a local lake costs seconds per session.
        names = [n for n in names if not n.startswith(S3_ONLY_PREFIXES)]
    return [settings.jars_dir / n for n in names]


def s3a_conf(dynamodb_table: str = "") -> dict[str, str]:
    """s3a settings from the environment; absent keys fall back to the instance profile."""
    conf = {
        "spark.hadoop.fs.s3a.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        # S3 has no atomic put-if-absent for Delta's log: one driver per table is safe with the
        # single-driver store; concurrent clusters need the DynamoDB-coordinated one
        "spark.delta.logStore.s3a.impl": "io.delta.storage.S3SingleDriverLogStore",
    }
    region = read("AWS_REGION") or read("AWS_DEFAULT_REGION")
    if dynamodb_table:
        conf["spark.delta.logStore.s3a.impl"] = "io.delta.storage.S3DynamoDBLogStore"
        conf["spark.io.delta.storage.S3DynamoDBLogStore.ddb.tableName"] = dynamodb_table
        if region:
            conf["spark.io.delta.storage.S3DynamoDBLogStore.ddb.region"] = region
    endpoint = read("AWS_ENDPOINT_URL_S3") or read("AWS_ENDPOINT_URL")
    if endpoint:
        conf["spark.hadoop.fs.s3a.endpoint"] = endpoint
        conf["spark.hadoop.fs.s3a.path.style.access"] = "true"
        conf["spark.hadoop.fs.s3a.connection.ssl.enabled"] = str(endpoint.startswith("https")).lower()
    if read("AWS_ACCESS_KEY_ID"):
        conf["spark.hadoop.fs.s3a.aws.credentials.provider"] = (
            "software.amazon.awssdk.auth.credentials.EnvironmentVariableCredentialsProvider"
        )
    if region:
        conf["spark.hadoop.fs.s3a.endpoint.region"] = region
    return conf


def session_conf(
    settings: Settings, app_name: str = "citylake", with_lineage: bool = True, with_archive: bool = True
) -> dict[str, str]:
    jars = [*cached_jars(settings), jvm_ext.ensure_jar(settings)]
    conf = {
        "spark.jars": ",".join(str(j) for j in jars),
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        # Municipal feeds carry local wall-clock times; Shanghai has no DST.
        "spark.sql.session.timeZone": LAKE_TIME_ZONE,
        "spark.sql.shuffle.partitions": str(settings.shuffle_partitions),
        # VACUUM diffs a table's listed files against its log in this many tasks (and a listing
        # of many paths fans out to as many): at Spark's default, 10000, a VACUUM FULL of a
        # one-file table ran 10000 tasks, 25-35 s here. A shuffle's parallelism suits both.
        "spark.sql.sources.parallelPartitionDiscovery.parallelism": str(settings.shuffle_partitions),
        "spark.sql.adaptive.enabled": "true",
        # Delta replays a table's log into this many tasks whenever Spark needs its file list
        # (default 50): at the lake's table sizes one task is fastest.
        "spark.databricks.delta.snapshotPartitions": str(settings.snapshot_partitions),
        # Delta 4.4 re-checks its incrementally kept checksum with a full state reconstruction
        # (two Spark jobs) after every commit when the JVM is not on UTC, which ours (Asia/
        # Shanghai) is not: about 1.1 s of a 1.5 s append here. The check guards timestamp
        # partition values; citylake partitions by dates only.
        "spark.databricks.delta.allFilesInCrc.verificationMode.forceOnNonUTC.enabled": "false",
        "spark.driver.memory": settings.driver_memory,
        "spark.ui.showConsoleProgress": "false",
        # Spark's UI listens on every interface without authentication and shows every plan and
        # setting: off in citylake's sessions (CITYLAKE_SPARK_CONF can turn it on for debugging)
        "spark.ui.enabled": "false",
        "spark.sql.ansi.enabled": "false",
        # Spark 4 accepts only UTF/ISO charsets in CSV unless told otherwise; units send GBK/GB18030.
        "spark.sql.legacy.javaCharsets": "true",
        "spark.databricks.delta.schema.autoMerge.enabled": "false",
        "spark.sql.sources.partitionOverwriteMode": "dynamic",
        # INT64 microseconds, not Spark's legacy INT96: what pyarrow, delta-rs and DuckDB read
        # natively, and dictionary-encoded as longs, not 12-byte binaries (cheaper to write)
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
        # a day's run generates a few hundred distinct classes (15 contracts' reads, checks and
        # writes, 7 marts); with the default 100 each task recompiles what was evicted
        "spark.sql.codegen.cache.maxEntries": "1000",
        # a partitioned write keeps a file open per partition value instead of sorting every row
        # by it first (bronze's one logical date, silver's few event days); past 128 values
        # in a task Spark falls back to sorting the rest
        "spark.sql.maxConcurrentOutputFileWriters": "128",
        # the JVM's own warnings (a full code cache, ...) go to stderr: a command's stdout may be
        # its --json output
        "spark.driver.extraJavaOptions": f"-Duser.timezone={LAKE_TIME_ZONE} -XX:+DisplayVMOutputToStderr",
        "spark.executor.extraJavaOptions": f"-Duser.timezone={LAKE_TIME_ZONE}",
        "spark.sql.warehouse.dir": tempfile.gettempdir() + "/citylake-warehouse",
    }
    if settings.is_s3:
        conf.update(s3a_conf(settings.delta_dynamodb_table))
    if with_lineage and settings.lineage:
        conf.update(lineage.spark_conf(settings, app_name))
        # the listener loads its extension interface into each class loader by reflection; without
        # this it logs a stack trace at every start (and connectors' lineage extensions go unseen)
        conf["spark.driver.extraJavaOptions"] += " --add-opens=java.base/java.security=ALL-UNNAMED"
    # Spark's log goes to a file (log_file), not the console people read progress on
    conf["spark.driver.extraJavaOptions"] += f" -Dlog4j2.configurationFile={LOG4J2} -Dcitylake.log.file={log_file(settings)}"
    if settings.jvm_options:
        for side in ("driver", "executor"):
            conf[f"spark.{side}.extraJavaOptions"] += f" {settings.jvm_options}"
    if with_archive:  # the driver maps its classes from setup's archive (class_archive)
        conf["spark.driver.extraJavaOptions"] += class_archive.java_options(settings)
    conf.update(settings.extra_spark_conf)
    return conf


def log_file(settings: Settings) -> Path:
    """Where the driver's log4j writes (citylake/engine/log4j2.properties)."""
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    return settings.log_dir / "spark.log"


@contextmanager
def output_to(log: Path) -> Iterator[None]:
    """Point this process's stdout and stderr at ``log`` meanwhile: a JVM started inside keeps
    them (Ivy's resolver prints dozens of lines, and warnings about proxies, to them)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log, "ab") as f:
        os.dup2(f.fileno(), 1)
        os.dup2(f.fileno(), 2)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])


def _no_fork_after_jvm() -> None:
    """Python worker pools started after the JVM come from a fresh forkserver, not a fork.

    A forked copy of a process with py4j and heartbeat threads can inherit a held lock and hang
    forever, and with it whatever waits for it: `airflow dags test` runs every task in one
    process, and the OpenLineage listener's DAG-run pool forks there. Python 3.14 made
    forkserver the default for this reason.
    """
    import multiprocessing

    if multiprocessing.get_start_method(allow_none=True) is None:
        multiprocessing.set_start_method("forkserver")


def get_spark(app_name: str = "citylake", settings: Settings | None = None) -> SparkSession:
    """One SparkSession per process; every job and every feed of a day share it."""
    settings = settings or load_settings()
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    _no_fork_after_jvm()
    builder = SparkSession.builder.master(settings.spark_master).appName(app_name)
    for key, value in session_conf(settings, app_name).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    _python_errors_to(log_file(settings))
    return spark


def _python_errors_to(log: Path) -> None:
    """PySpark logs every Spark error it converts (a SQL typo, a missing table citylake expects
    and handles) as a JSON record with the JVM's stack on stderr; the caller reports the error
    itself, in one line. The records go to the log file instead."""
    import logging

    from pyspark.logger import PySparkLogger

    for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
        logger = PySparkLogger.getLogger(name)
        formatter = next((h.formatter for h in logger.handlers if h.formatter), None)
        for h in list(logger.handlers):
            logger.removeHandler(h)
        handler = logging.FileHandler(log, encoding="utf-8")
        if formatter:
            handler.setFormatter(formatter)
        logger.addHandler(handler)
        logger.propagate = False


def stop_session(spark: SparkSession, timeout_s: float = 120.0) -> None:
    """Stop a session once its listeners have handled every queued event.

    Spark stops its scheduler before its listener bus, so a listener that starts a job for an
    event still queued (OpenLineage lists a Delta read's files with one) waits for that job
    forever, and ``stop`` with it: a set-up hung so for 9 minutes in class_archive.
    """
    try:
        spark.sparkContext._jsc.sc().listenerBus().waitUntilEmpty(int(timeout_s * 1000))
    except Exception as exc:  # not drained in time: stop anyway, as before
        import logging

        logging.getLogger(__name__).warning("listeners not drained before stop: %s", exc)
    spark.stop()


def submit_command(settings: Settings, app_args: list[str], app_name: str) -> list[str]:
    """`spark-submit` of the citylake CLI to ``settings.spark_master``, with the session's conf.

    Jars and Delta settings go on the command line: in a submitted driver the JVM exists before
    Python runs, so configuring them from the session builder would be too late.
    """
    import pyspark

    conf = session_conf(settings, app_name)
    jars = conf.pop("spark.jars")
    cmd = [str(Path(pyspark.__file__).parent / "bin" / "spark-submit"), "--master", settings.spark_master,
           "--name", app_name, "--jars", jars, "--driver-memory", conf.pop("spark.driver.memory")]  # fmt: skip
    for key, value in conf.items():
        cmd += ["--conf", f"{key}={value}"]
    return [*cmd, str(Path(__file__).parents[1] / "cli" / "__main__.py"), *app_args]
