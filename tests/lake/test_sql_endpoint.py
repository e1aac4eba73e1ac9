"""The SQL endpoint, as an analyst's BI tool and an attacker meet it: `citylake serve-sql` over the
demo lake, logging users in against a real directory server (slapd), queried by standard
HiveServer2 clients (PyHive, the driver Superset uses; beeline, the JDBC shell).

One analyst endpoint (the session's ``demo_sql``) takes every attack; one short steward endpoint
with the embedded account (what `make sql` makes) shows the other role and the other login.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import stat
import subprocess
from pathlib import Path

import pytest
from servers import hive_connect, hive_query, sql_endpoint

from citylake.config.settings import load_settings

pytestmark = pytest.mark.slow

MART = "gold.mart_parking_daily"
LOGIN_REFUSED = "Error validating the login"
NOT_FOUND = "TABLE_OR_VIEW_NOT_FOUND"
READ_ONLY = "the endpoint is read-only"


def _files(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}  # fmt: skip


@pytest.fixture(scope="module")
def lake_before(demo_sql):
    """Every file of the lake, hashed before the first attack."""
    root, _ = demo_sql
    return _files(Path(root))


def _refusal(port: int, sql: str, **login) -> str:
    with pytest.raises(Exception) as err:  # noqa: PT011 - PyHive raises OperationalError or thrift's errors
        hive_query(port, sql, **login)
    return str(err.value)


@pytest.mark.parametrize(
    ("login", "why"),
    [
        ({"user": "anonymous", "password": ""}, "no password"),
        ({"user": "analyst1", "password": "not-the-password"}, "a wrong password"),
        ({"user": "nobody", "password": "x"}, "a user the directory does not know"),
        ({"user": "steward1", "password": None}, "a steward, not in the analysts group"),
    ],
)
def test_a_login_without_the_analysts_credentials_is_refused(demo_sql, directory, login, why):
    _, port = demo_sql
    if login["password"] is None:
        login = {**login, "password": directory.passwords[login["user"]]}
    assert LOGIN_REFUSED in _refusal(port, "SELECT 1", **login), why


def test_a_jdbc_client_without_credentials_is_refused(demo_sql):
    import pyspark

    _, port = demo_sql
    beeline = Path(pyspark.__file__).parent / "bin" / "beeline"
    proc = subprocess.run([str(beeline), "-u", f"jdbc:hive2://127.0.0.1:{port}/default", "-e", "SELECT 1"],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert LOGIN_REFUSED in proc.stdout + proc.stderr


def _plain(v: object) -> object:
    return v.isoformat() if isinstance(v, dt.date) else v


def test_the_analyst_reads_a_gold_mart_whole(demo_sql):
    """Every row and column, as the Delta table holds them (read directly with delta-rs)."""
    from deltalake import DeltaTable

    from citylake.lake import Lake

    root, port = demo_sql
    direct = DeltaTable(Lake(str(root)).table("gold", MART.split(".")[1])).to_pyarrow_table().to_pylist()
    served = hive_query(port, f"SELECT * FROM {MART}")
    assert direct and len(served) == len(direct)
    as_served = sorted((tuple(sorted(r.items())) for r in served), key=repr)  # repr: None sorts too
    assert as_served == sorted(
        (tuple(sorted((k, _plain(v)) for k, v in r.items())) for r in direct), key=repr
    )


def test_zones_are_databases_and_only_the_analysts_zones_are_served(demo_sql):
    _, port = demo_sql
    assert {r["namespace"] for r in hive_query(port, "SHOW DATABASES")} == {
        "default",
        "gold",
        "ops",
        "silver",
    }
    tables = {r["tableName"] for r in hive_query(port, "SHOW TABLES IN gold")}
    assert MART.split(".")[1] in tables
    assert hive_query(port, f"DESCRIBE {MART}") and hive_query(port, f"SHOW COLUMNS IN {MART}")


def _attacks(root: Path) -> list[tuple[str, str, str]]:
    """(what, SQL, what the refusal says)"""
    lake, key = root, load_settings().pii_key_file
    return [
        ("raw quarantined records", "SELECT count(*) FROM quarantine.bronze_records", NOT_FOUND),
        ("bronze", "SELECT count(*) FROM bronze.medical_visits", NOT_FOUND),
        ("bronze by path", f"SELECT count(*) FROM parquet.`{lake}/bronze/medical_visits`", NOT_FOUND),
        ("bronze by Delta path", f"SELECT count(*) FROM delta.`{lake}/bronze/medical_visits`", NOT_FOUND),
        ("bronze's changes by path", f"SELECT * FROM table_changes_by_path('{lake}/bronze/medical_visits', 0)",
         "refused a read by path"),
        ("the PII key file", f"SELECT length(value) FROM text.`{key}`", NOT_FOUND),
        ("an OS command", "SELECT TRANSFORM(1) USING 'id' AS (x)", "TRANSFORM ... USING runs operating-system"),
        ("DELETE", f"DELETE FROM {MART} WHERE 1=0", f"refused DeleteCommand: {READ_ONLY}"),
        ("DELETE, run indirectly", f"EXECUTE IMMEDIATE 'DELETE FROM {MART} WHERE 1=0'", "refused DeleteCommand"),
        ("UPDATE", f"UPDATE {MART} SET snapshots = 0 WHERE 1=0", "refused UpdateCommand"),
        ("INSERT", f"INSERT INTO {MART} SELECT * FROM {MART} LIMIT 0", "refused AppendData"),
        ("DROP", f"DROP TABLE {MART}", "refused DropTable"),
        ("CREATE TABLE ... LOCATION", f"CREATE TABLE gold.raw USING delta LOCATION '{lake}/bronze/medical_visits'",
         "refused CreateTable"),
        ("VACUUM", f"VACUUM {MART} RETAIN 0 HOURS", "refused VacuumTableCommand"),
        ("SET", "SET spark.sql.runSQLOnFiles=true", "refused SetCommand"),
        ("reflect", "SELECT reflect('java.lang.System', 'exit', 0)", "refused function reflect"),
        ("java_method", "SELECT java_method('java.lang.System', 'getenv', 'CITYLAKE_PII_KEY')",
         "refused function java_method"),
        ("ADD JAR", "ADD JAR /tmp/citylake-attack.jar", "refused AddJarsCommand"),
        ("CREATE FUNCTION", "CREATE FUNCTION evil AS 'x.Evil' USING JAR '/tmp/citylake-attack.jar'",
         "refused CreateFunctionCommand"),
        ("CACHE", f"CACHE TABLE {MART}", "refused CacheTable"),
    ]  # fmt: skip


def test_every_attack_is_refused_and_says_why_without_echoing_the_statement(demo_sql, lake_before):
    root, port = demo_sql
    failures = []
    for what, sql, says in _attacks(Path(root)):
        try:
            rows = hive_query(port, sql)
        except Exception as exc:  # noqa: BLE001 - PyHive's OperationalError carries the server's message
            message = str(exc)
            if says not in message:
                failures.append(f"{what}: refused, but not saying {says!r}: {message[:300]}")
            guard = re.search(r"citylake SQL endpoint[^:]*refused[^']*", message)
            literals = re.findall(r"'([^']{3,})'", sql)
            if guard and any(lit in guard.group(0) for lit in literals):
                failures.append(f"{what}: the refusal echoes the statement: {guard.group(0)}")
            continue
        failures.append(f"{what}: ran, gave {rows[:3]}")
    assert not failures, "\n".join(failures)
    # reflect('java.lang.System', 'exit', 0) did not stop the server
    assert hive_query(port, f"SELECT count(*) AS n FROM {MART}")[0]["n"] > 0


def test_settings_sent_with_the_login_are_refused(demo_sql, lake_before):
    """JDBC URLs and ODBC drivers can send settings when a session opens, past SQL's SET."""
    root, port = demo_sql
    for conf in ({"set:hiveconf:spark.sql.runSQLOnFiles": "true"}, {"set:hivevar:spark.sql.catalog.x": "y"}):
        # PyHive's connect already runs `USE default`: the first statement of the session
        with pytest.raises(Exception, match="refused the session setting spark.sql"):  # noqa: PT011
            conn = hive_connect(port, configuration=conf)
            try:
                conn.cursor().execute(f"SELECT count(*) FROM parquet.`{root}/bronze/medical_visits`")
            finally:
                conn.close()


def test_every_file_of_the_lake_is_unchanged_by_the_attacks(demo_sql, lake_before):
    root, _ = demo_sql
    after = _files(Path(root))
    changed = sorted(k for k in lake_before.keys() | after.keys() if lake_before.get(k) != after.get(k))
    assert not changed, changed[:20]


@pytest.fixture(scope="module")
def steward_sql(demo_lake, tmp_path_factory):
    """The steward role with the embedded login (no directory): what `make sql --role steward`
    would run; sql_endpoint reads the account from the line the server prints."""
    root, _ = demo_lake
    work = tmp_path_factory.mktemp("steward")
    with sql_endpoint(root, work, args=("--role", "steward"), env={"CITYLAKE_SQL_LDAP_URL": ""}) as port:
        yield port, work


def test_the_embedded_account_is_printed_and_its_password_kept_private(steward_sql):
    port, work = steward_sql
    line = re.search(r"^user: (\S+)  password file: (\S+)$", (work / "serve-sql.log").read_text(), re.M)
    assert line and line.group(1) == "steward"
    password_file = Path(line.group(2))
    assert password_file.parent == work / "secrets"
    for secret in (password_file, work / "secrets" / "sql-steward-accounts"):
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    password = password_file.read_text().strip()
    assert len(password) >= 20 and password not in (work / "secrets" / "sql-steward-accounts").read_text()
    assert password not in (work / "serve-sql.log").read_text()
    assert LOGIN_REFUSED in _refusal(port, "SELECT 1", user="steward", password=password + "x")
    assert hive_query(port, "SELECT 1 AS one", user="steward", password=password) == [{"one": 1}]


def test_a_steward_reads_raw_records_but_still_cannot_write(steward_sql, demo_lake):
    port, _ = steward_sql
    root, _ = demo_lake
    assert hive_query(port, "SELECT count(*) AS n FROM quarantine.bronze_records")[0]["n"] > 0
    assert hive_query(port, "SELECT count(*) AS n FROM bronze.medical_visits")[0]["n"] > 0
    assert READ_ONLY in _refusal(port, "DELETE FROM quarantine.bronze_records WHERE 1=0")
    assert NOT_FOUND in _refusal(port, f"SELECT count(*) FROM parquet.`{root}/bronze/medical_visits`")
