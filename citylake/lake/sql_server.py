"""The SQL endpoint for analysts: Spark's Thrift JDBC/ODBC server (the HiveServer2 protocol that
Superset, DBeaver, Tableau, Excel and beeline speak) over the lake's tables.

It runs from the pyspark installation (``spark-hive-thriftserver`` is in the wheel), binds to
loopback by default, and registers the tables of the zones its role is served (``sql_auth``)
under their zone's database. Every client logs in (``sql_auth``), and every statement passes
citylake's read-only guard (``jvm/src/org/citylake/sql``, a Spark session extension) before it
runs. Tables that appear while it runs are registered on the next refresh.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from citylake.config.settings import ConfigError, Settings
from citylake.lake import Lake, catalog, sql_auth

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

DEFAULT_PORT = 10000
GUARD = "org.citylake.sql.ReadOnlyExtension"


def databases(role: str) -> list[str]:
    return sorted(catalog.DATABASE[z] for z in sql_auth.ROLE_ZONES[role])


def start(
    settings: Settings, port: int, bind: str, role: str, auth: dict[str, str]
) -> tuple[SparkSession, list[catalog.TableRef]]:
    """A Spark session serving ``role``'s tables on ``bind:port`` with the authentication
    settings ``auth`` (``sql_auth.spark_conf``), and those tables; returns once it listens."""
    from pyspark.sql import SparkSession

    from citylake.engine.spark import session_conf

    if auth.get(sql_auth.HS2 + "authentication") == "NONE" and not sql_auth.is_loopback(bind):
        raise ConfigError(f"refusing to serve {bind} without authentication: bind to 127.0.0.1, "
                          "or log clients in (the default, or a directory: CITYLAKE_SQL_LDAP_URL)")  # fmt: skip
    # the server needs no PII key: keep it out of the JVM's environment, where a query could look
    os.environ.pop("CITYLAKE_PII_KEY", None)
    conf = session_conf(settings, with_lineage=False)  # analysts' reads are not pipeline lineage
    # the server's handler threads load Delta's catalog (and the guard) from the JVM's class
    # path, not from the jars a session adds later
    conf["spark.driver.extraClassPath"] = conf["spark.jars"].replace(",", ":")
    conf["spark.sql.extensions"] = f"{conf['spark.sql.extensions']},{GUARD}"
    conf["spark.citylake.sql.role"] = role
    conf["spark.citylake.sql.databases"] = ",".join(databases(role))
    conf["spark.sql.runSQLOnFiles"] = "false"  # no `parquet.`/`text.`/`delta.` + a path
    conf["spark.hadoop.hive.server2.thrift.port"] = str(port)
    conf["spark.hadoop.hive.server2.thrift.bind.host"] = bind
    conf.update(auth)
    custom = auth.get(sql_auth.HS2 + "custom.authentication.class")
    if custom:  # HiveServer2 looks its provider up in a fresh HiveConf: system properties, not Spark's
        conf["spark.driver.extraJavaOptions"] += f" -Dhive.server2.custom.authentication.class={custom}"
    builder = SparkSession.builder.master(settings.spark_master).appName("citylake-sql")
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    jvm = spark._jvm
    assert jvm is not None
    # this session registers the tables (CREATE TABLE ... LOCATION), which the guard refuses
    # to clients; they each get a session of their own
    jvm.org.citylake.sql.ReadOnlyExtension.trust(spark._jsparkSession)
    tables = register(spark, Lake(settings.lake_root), role)
    jvm.org.apache.spark.sql.hive.thriftserver.HiveThriftServer2.startWithContext(
        spark._jsparkSession.sqlContext()
    )
    return spark, tables


def register(spark: SparkSession, lake: Lake, role: str) -> list[catalog.TableRef]:
    zones = sql_auth.ROLE_ZONES[role]
    return catalog.register(spark, [t for t in catalog.lake_tables(lake) if t.zone in zones])


def serve(
    settings: Settings,
    port: int = DEFAULT_PORT,
    bind: str = "127.0.0.1",
    role: str = "analyst",
    auth_mode: str = "",
    refresh_s: float = 60.0,
    say: Callable[[str], None] = print,
) -> None:
    """Serve until SIGINT or SIGTERM, registering new tables every ``refresh_s`` seconds.

    ``auth_mode``: ``ldap`` when CITYLAKE_SQL_LDAP_URL is set, else ``password`` (the embedded
    account) unless given."""
    ldap = sql_auth.Ldap.from_env(role)
    mode = auth_mode or ("ldap" if ldap else "password")
    if mode == "ldap" and ldap is None:
        raise ConfigError("--auth ldap needs CITYLAKE_SQL_LDAP_URL and CITYLAKE_SQL_LDAP_BASE_DN")
    account = sql_auth.ensure_account(role) if mode == "password" else None
    spark, tables = start(settings, port, bind, role, sql_auth.spark_conf(mode, account, ldap))
    lake = Lake(settings.lake_root)
    dbs = sorted({catalog.DATABASE[t.zone] for t in tables})
    say(f"serving {len(tables)} tables ({', '.join(dbs)}) of {lake.root} to the {role} role, read-only")
    where = f"{bind} only" if sql_auth.is_loopback(bind) else f"{bind}: passwords cross it in clear without TLS"
    say(f"JDBC: jdbc:hive2://{bind}:{port}/default   (HiveServer2 protocol, {mode} login, {where})")
    if account is not None:
        secret = account.password_file or "$CITYLAKE_SQL_PASSWORD"
        say(f"user: {account.user}  password file: {secret}")
    elif ldap is not None:
        say(f"users: {ldap.url}, members of {ldap.group}")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(refresh_s):
        register(spark, lake, role)
    spark.stop()
