"""The SQL endpoint for analysts: Spark's Thrift JDBC/ODBC server (the HiveServer2 protocol that
Superset, DBeaver, Tableau, Excel and beeline speak) over the lake's tables.

It runs from the pyspark installation (``spark-hive-thriftserver`` is in the wheel), binds to
loopback by default, and registers every table under its zone's database (``silver``, ``gold``,
``quarantine``, ``ops``). Bronze holds personal data in clear, so it is left out unless asked
for. Tables that appear while it runs are registered on the next refresh.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from citylake.lake import Lake, catalog
from citylake.config.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

DEFAULT_PORT = 10000
PUBLIC_ZONES = ("silver", "gold", "quarantine", "_system")


def start(settings: Settings, port: int, bind: str = "127.0.0.1", bronze: bool = False) -> SparkSession:
    """A Spark session serving the lake on ``bind:port``; returns once the server listens."""
    from pyspark.sql import SparkSession

    from citylake.engine.spark import session_conf

    conf = session_conf(settings, with_lineage=False)  # analysts' reads are not pipeline lineage
    # the server's handler threads load Delta's catalog from the JVM's class path, not from the
    # jars a session adds later
    conf["spark.driver.extraClassPath"] = conf["spark.jars"].replace(",", ":")
    conf["spark.hadoop.hive.server2.thrift.port"] = str(port)
    conf["spark.hadoop.hive.server2.thrift.bind.host"] = bind
    conf["spark.hadoop.hive.server2.authentication"] = "NONE"  # loopback; put a proxy in front for more
    builder = SparkSession.builder.master(settings.spark_master).appName("citylake-sql")
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    register(spark, Lake(settings.lake_root), bronze)
    jvm = spark._jvm
    assert jvm is not None
    jvm.org.apache.spark.sql.hive.thriftserver.HiveThriftServer2.startWithContext(
        spark._jsparkSession.sqlContext()
    )
    return spark


def register(spark: SparkSession, lake: Lake, bronze: bool = False) -> list[catalog.TableRef]:
    zones = (*PUBLIC_ZONES, "bronze") if bronze else PUBLIC_ZONES
    return catalog.register(spark, [t for t in catalog.lake_tables(lake) if t.zone in zones])


def serve(
    settings: Settings,
    port: int = DEFAULT_PORT,
    bind: str = "127.0.0.1",
    bronze: bool = False,
    refresh_s: float = 60.0,
    say: Callable[[str], None] = print,
) -> None:
    """Serve until SIGINT or SIGTERM, registering new tables every ``refresh_s`` seconds."""
    spark = start(settings, port, bind, bronze)
    lake = Lake(settings.lake_root)
    tables = register(spark, lake, bronze)
    dbs = sorted({catalog.DATABASE[t.zone] for t in tables})
    say(f"serving {len(tables)} tables ({', '.join(dbs)}) of {lake.root}")
    say(f"JDBC: jdbc:hive2://{bind}:{port}/default   (HiveServer2 protocol, no authentication, {bind} only)")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(refresh_s):
        register(spark, lake, bronze)
    spark.stop()
