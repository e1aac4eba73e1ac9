"""Every environment variable citylake reads, declared once, and the one function that reads them.

``VARIABLES`` says, per variable, its default, what it means and which module reads it; ``read``
is how every module reads one (it refuses a name not declared here). settings.py turns most of
them into ``Settings``; the rest are read where they are used (the SQL endpoint's account and
directory, the pages' npm cache, the alert hook). Standard variables of other tools (the AWS SDK,
the JDK, OpenLineage) that citylake reads too are declared here, marked ``standard``.

docs/reference/configuration.md is generated from this table (`make docs-reference`), and
tests/docs/test_reference_pages.py fails when a module names a CITYLAKE_ variable not declared
here, or reads one from ``os.environ`` itself.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

SETTINGS = "citylake.config.settings"
SQL_AUTH = "citylake.lake.sql_auth"
LINEAGE = "citylake.engine.lineage"
S3 = "citylake.engine.spark (s3a), citylake.engine.storage (delta-rs)"
JDK = "citylake.engine.jvm_ext, citylake.engine.class_archive"


@dataclass(frozen=True)
class Variable:
    name: str
    default: str  # what ``read`` gives when the variable is unset or blank
    meaning: str  # one line, for people
    reader: str  # the module(s) that read it
    standard: bool = False  # another tool's variable (AWS SDK, JDK, OpenLineage) citylake reads too
    shown: str = ""  # the default as the docs show it, when ``default`` alone would mislead

    @property
    def shown_default(self) -> str:
        """The default for people: ``shown``, else the value with the checkout's path as ``<repo>``."""
        if self.shown:
            return self.shown
        if not self.default:
            return "unset"
        root = str(REPO_ROOT)
        if self.default == root or self.default.startswith(root + os.sep):
            return "<repo>" + self.default[len(root) :]
        return self.default


def _repo(*parts: str) -> str:
    return str(REPO_ROOT.joinpath(*parts))


_DECLARED = (
    # --- Settings (citylake/config/settings.py) ---
    Variable("CITYLAKE_PROFILE", "embedded", "`embedded` (local Spark, local lake) or `cluster`: Airflow tasks "
             "spark-submit to CITYLAKE_SPARK_MASTER, which must name a cluster (CITYLAKE_EXECUTION defaults to "
             "`submit`)", SETTINGS),  # fmt: skip
    Variable("CITYLAKE_LAKE_ROOT", _repo("lake"), "lake root: a local path, `file://...` or `s3a://bucket/prefix` "
             "(`s3://` is read as `s3a://`); with `{zone}` in it, one bucket per zone", SETTINGS),  # fmt: skip
    Variable("CITYLAKE_REGISTRY_DIR", _repo("schemas"), "the registry root (contracts/, units/, marts/)", SETTINGS),
    Variable("CITYLAKE_EXPECTATIONS_DIR", _repo("expectations"), "the expectation suites (GX 1.x JSON)", SETTINGS),
    Variable("CITYLAKE_SPARK_MASTER", "local[2]", "Spark master URL, e.g. `spark://host:7077`", SETTINGS),
    Variable("CITYLAKE_JARS_DIR", _repo(".cache", "jars"), "where `citylake setup` caches the jars", SETTINGS),
    Variable("CITYLAKE_SHUFFLE_PARTITIONS", "4", "`spark.sql.shuffle.partitions` (at least 1)", SETTINGS),
    Variable("CITYLAKE_SNAPSHOT_PARTITIONS", "1", "tasks Delta replays a table's log into when Spark loads "
             "its file list (`spark.databricks.delta.snapshotPartitions`, at least 1)", SETTINGS),  # fmt: skip
    Variable("CITYLAKE_DRIVER_MEMORY", "4g", "`spark.driver.memory`", SETTINGS),
    Variable("CITYLAKE_SPARK_CONF", "", "extra Spark settings, `key=value,key=value`", SETTINGS, shown="empty"),
    Variable("CITYLAKE_JVM_OPTIONS", "", "extra options for the Spark driver's and executors' JVMs, added to "
             "citylake's own; e.g. `-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=240m` (the test suite's: a "
             "short-lived JVM on small data spends a third less CPU compiling)", SETTINGS, shown="empty"),  # fmt: skip
    Variable("CITYLAKE_GX_MODE", "batched", "`batched` (GX does not recount what the job counted) or `native` "
             "(GX recounts row-level checks)", SETTINGS),  # fmt: skip
    Variable("CITYLAKE_EXECUTION", "embedded", "where Airflow tasks run Spark: `embedded` (in the task's "
             "process) or `submit` (spark-submit to CITYLAKE_SPARK_MASTER)", SETTINGS),  # fmt: skip
    Variable("CITYLAKE_DELTA_DYNAMODB_TABLE", "", "use Delta's DynamoDB-coordinated S3 log store under this "
             "table (several clusters writing one Delta table)", SETTINGS),  # fmt: skip
    Variable("CITYLAKE_CONCURRENCY", "4", "tables a run works on at once in its one Spark application "
             "(at least 1)", SETTINGS),  # fmt: skip
    Variable("CITYLAKE_LOCK_WAIT", "0", "seconds a run waits for another run holding the lake's lock "
             "(0: stop at once, exit 4); `--wait` overrides it", SETTINGS),  # fmt: skip
    Variable("CITYLAKE_LANDING_SETTLE_S", "120", "seconds a landed file must stand unchanged before it is read "
             "(feeds with the `settled` completeness rule that set no `settle_s`)", SETTINGS),  # fmt: skip
    Variable("CITYLAKE_PII_KEY", "", "the HMAC key for personal data past bronze; production sets it from its "
             "secret store", SETTINGS, shown="unset: the key in CITYLAKE_PII_KEY_FILE"),  # fmt: skip
    Variable("CITYLAKE_PII_KEY_FILE", _repo(".cache", "secrets", "pii_key"), "the key file used when "
             "CITYLAKE_PII_KEY is unset; `citylake setup` creates a random one (mode 600)", SETTINGS),  # fmt: skip
    Variable("CITYLAKE_LOG_DIR", _repo(".cache", "logs"), "where the set-up and Spark driver logs go", SETTINGS),
    Variable("CITYLAKE_LINEAGE", "on", "`off`: no OpenLineage listener in Spark and no citylake step events",
             SETTINGS),  # fmt: skip
    Variable("CITYLAKE_LINEAGE_DIR", "", "where the OpenLineage file transport writes events", SETTINGS,
             shown="<lake>/_system/lineage (<repo>/.cache/lineage for an S3 lake)"),  # fmt: skip
    Variable("CITYLAKE_CLASS_ARCHIVE", "on", "`off`: Spark drivers load their classes from the jars instead "
             "of mapping the archive `citylake setup` builds", SETTINGS),  # fmt: skip
    # --- read where they are used ---
    Variable("CITYLAKE_SQL_PORT", "10000", "the SQL endpoint's port (`citylake serve-sql --port`)",
             "citylake.cli.observe"),  # fmt: skip
    Variable("CITYLAKE_SQL_SECRETS_DIR", _repo(".cache", "secrets"), "where the SQL endpoint's embedded "
             "account (password and hash files, mode 600) is kept", SQL_AUTH),  # fmt: skip
    Variable("CITYLAKE_SQL_USER", "", "the embedded account's user name", SQL_AUTH,
             shown="the role (`analyst` or `steward`)"),  # fmt: skip
    Variable("CITYLAKE_SQL_PASSWORD", "", "the embedded account's password (then written nowhere)", SQL_AUTH,
             shown="unset: a generated one, kept in CITYLAKE_SQL_SECRETS_DIR"),  # fmt: skip
    Variable("CITYLAKE_SQL_LDAP_URL", "", "log SQL clients in against this directory (`ldap://`, `ldaps://`)",
             SQL_AUTH),  # fmt: skip
    Variable("CITYLAKE_SQL_LDAP_BASE_DN", "", "the directory's base DN (Hive's `baseDN`); needed with "
             "CITYLAKE_SQL_LDAP_URL unless both DN patterns are set", SQL_AUTH),  # fmt: skip
    Variable("CITYLAKE_SQL_LDAP_USER_DN_PATTERN", "", "Hive's `userDNPattern`", SQL_AUTH,
             shown="uid=%s,<base DN>"),  # fmt: skip
    Variable("CITYLAKE_SQL_LDAP_GROUP_DN_PATTERN", "", "Hive's `groupDNPattern`", SQL_AUTH,
             shown="cn=%s,<base DN>"),  # fmt: skip
    Variable("CITYLAKE_SQL_LDAP_GROUP", "", "the directory group a login must be in (Hive's `groupFilter`)",
             SQL_AUTH, shown="the role's group: `analysts` or `stewards`"),  # fmt: skip
    Variable("CITYLAKE_WEB_DIR", _repo(".cache", "web"), "where `citylake setup` caches the pages' npm files",
             "citylake.engine.web_assets"),  # fmt: skip
    Variable("CITYLAKE_ALERT_HOOK", "", "`module:function` an Airflow task failure is passed to (e.g. "
             "`citylake.runs.tasks:log_alert`)", "citylake.runs.tasks"),  # fmt: skip
    # --- other tools' variables, which citylake reads too ---
    Variable("AWS_ENDPOINT_URL_S3", "", "S3-compatible endpoint for s3a and delta-rs (wins over "
             "AWS_ENDPOINT_URL)", S3, standard=True),  # fmt: skip
    Variable("AWS_ENDPOINT_URL", "", "S3-compatible endpoint for s3a, delta-rs and boto3", S3, standard=True),
    Variable("AWS_ACCESS_KEY_ID", "", "set (with AWS_SECRET_ACCESS_KEY): s3a takes its keys from the "
             "environment; unset: the instance profile", "citylake.engine.spark", standard=True),  # fmt: skip
    Variable("AWS_REGION", "", "region of the S3 endpoint and of the DynamoDB log store",
             "citylake.engine.spark", standard=True),  # fmt: skip
    Variable("AWS_DEFAULT_REGION", "", "the region when AWS_REGION is unset", "citylake.engine.spark",
             standard=True),  # fmt: skip
    Variable("JAVA_HOME", "", "the JDK whose `javac` compiles citylake's JVM classes and whose JVM maps the "
             "class archive", JDK, standard=True, shown="unset: `javac`/`java` on PATH"),  # fmt: skip
    Variable("OPENLINEAGE_URL", "", "post lineage events to this server (Marquez, DataHub) instead of files",
             LINEAGE, standard=True),  # fmt: skip
    Variable("OPENLINEAGE_ENDPOINT", "api/v1/lineage", "the server's lineage endpoint", LINEAGE, standard=True),
    Variable("OPENLINEAGE_API_KEY", "", "the server's API key", LINEAGE, standard=True),
    Variable("OPENLINEAGE_PARENT_ID", "", "the run that started this process (`<namespace>/<job>/<run id>`, "
             "set by Airflow's OpenLineage provider)", LINEAGE, standard=True),  # fmt: skip
    Variable("OPENLINEAGE_ROOT_PARENT_ID", "", "the root of that run (the DAG run)", LINEAGE, standard=True,
             shown="OPENLINEAGE_PARENT_ID"),  # fmt: skip
)
VARIABLES: dict[str, Variable] = {v.name: v for v in _DECLARED}


def read(name: str) -> str:
    """The value of ``name`` as set, or its declared default when it is unset or blank.

    A name not declared in ``VARIABLES`` is refused (KeyError): declare it first, so the
    configuration reference lists it."""
    try:
        var = VARIABLES[name]
    except KeyError:
        raise KeyError(f"{name} is not declared in citylake/config/variables.py") from None
    value = os.environ.get(name, "")
    return value if value.strip() else var.default


@contextmanager
def defaults() -> Iterator[None]:
    """Every declared variable unset inside the block, so what is built in it (a generated
    page's argument defaults) shows the declared defaults, not this shell's settings."""
    saved = {name: os.environ.pop(name) for name in VARIABLES if name in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


def is_set(name: str) -> bool:
    """Whether ``name`` is set to something other than blanks (a declared name only)."""
    read(name)
    return bool(os.environ.get(name, "").strip())
