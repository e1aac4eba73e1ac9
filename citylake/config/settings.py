"""Runtime settings, read from the environment once.

The variables, their defaults and meanings are declared in citylake/config/variables.py (the
configuration reference is generated from it); this module turns them into ``Settings``.
A profile (``embedded`` or ``cluster``) selects defaults; explicit variables win.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from citylake.config.variables import REPO_ROOT, is_set, read

# The lake's clock: feeds carry Shanghai wall-clock times, and people read times in it
LAKE_TIME_ZONE = "Asia/Shanghai"

PROFILES = ("embedded", "cluster")


class ConfigError(Exception):
    """A configuration problem the user must fix; the CLI exits 2 on it."""


@dataclass(frozen=True)
class Settings:
    profile: str = "embedded"
    lake_root: str = str(REPO_ROOT / "lake")
    registry_dir: Path = REPO_ROOT / "schemas"
    expectations_dir: Path = REPO_ROOT / "expectations"
    spark_master: str = "local[2]"
    jars_dir: Path = REPO_ROOT / ".cache" / "jars"
    shuffle_partitions: int = 4
    # tasks Delta replays a table's log into when Spark loads a snapshot: one is fastest for the
    # lake's tables (hundreds of files; each extra task cost ~0.1 s a read on 2 cores)
    snapshot_partitions: int = 1
    driver_memory: str = "4g"
    extra_spark_conf: dict[str, str] = field(default_factory=dict)
    jvm_options: str = ""  # appended to the driver's and executors' extraJavaOptions
    pii_key_file: Path = REPO_ROOT / ".cache" / "secrets" / "pii_key"
    # Spark's own log (the driver's log4j): a file here, not the console
    log_dir: Path = REPO_ROOT / ".cache" / "logs"
    gx_mode: str = "batched"
    # where Airflow tasks run Spark: in the task's own process (embedded), or as a spark-submit
    # to CITYLAKE_SPARK_MASTER (submit; a standalone cluster, YARN or k8s)
    execution: str = "embedded"
    # several clusters writing one Delta table on S3 need a commit coordinator: Delta's
    # DynamoDB log store; one driver per table (the Airflow layout) needs none
    delta_dynamodb_table: str = ""
    # tables a run works on at once in its one Spark application (contracts, then marts)
    concurrency: int = 4
    # seconds a run waits for another run holding the lake's lock before it gives up (0: at once)
    lock_wait_s: float = 0.0
    # a landed file of a feed with the "settled" completeness rule (the default) is loaded once it
    # has not changed for this long; a unit file may set its own (complete_when.settle_s)
    landing_settle_s: float = 120.0
    # OpenLineage events from Spark and from citylake's steps (CITYLAKE_LINEAGE=off: none); they
    # go to OPENLINEAGE_URL when it is set, else to files in lineage_dir
    lineage: bool = True
    lineage_dir: str = ""
    # drivers map their classes from the archive `citylake setup` builds (CITYLAKE_CLASS_ARCHIVE=off: not)
    class_archive: bool = True

    @property
    def lineage_path(self) -> str:
        """Where the file transport writes: CITYLAKE_LINEAGE_DIR, else the lake's _system/lineage
        (a local folder beside the repo for an S3 lake: the file transport writes local files)."""
        if self.lineage_dir:
            return self.lineage_dir
        if self.is_s3:
            return str(REPO_ROOT / ".cache" / "lineage")
        return f"{self.lake_root}/_system/lineage"

    def pii_key(self) -> bytes:
        """The HMAC key for personal data: CITYLAKE_PII_KEY, else the local key file `citylake setup` makes."""
        value = read("CITYLAKE_PII_KEY").strip()
        if value:
            return value.encode("utf-8")
        if self.pii_key_file.exists():
            return self.pii_key_file.read_bytes().strip()
        raise ConfigError(
            f"no PII key: set CITYLAKE_PII_KEY (from your secret store) or run `citylake setup` to create "
            f"a local one at {self.pii_key_file}"
        )

    @property
    def is_s3(self) -> bool:
        return self.lake_root.startswith(("s3a://", "s3://"))


def _env(name: str) -> str:
    """The variable's value, stripped; its declared default when unset or blank."""
    return read(name).strip()


def load_settings() -> Settings:
    profile = _env("CITYLAKE_PROFILE")
    if profile not in PROFILES:
        raise ConfigError(f"CITYLAKE_PROFILE={profile!r}: expected one of {', '.join(PROFILES)}")
    lake_root = _env("CITYLAKE_LAKE_ROOT").rstrip("/")
    if lake_root.startswith("s3://"):
        # Hadoop only ships the s3a connector; s3:// would fail deep inside Spark.
        lake_root = "s3a://" + lake_root[len("s3://") :]
    if "://" not in lake_root:
        lake_root = str(Path(lake_root).resolve())
    elif not lake_root.startswith(("s3a://", "file://")):
        raise ConfigError(
            f"CITYLAKE_LAKE_ROOT={lake_root!r}: only a local path, file:// or s3a:// is supported"
        )
    if lake_root.startswith("file://"):
        lake_root = lake_root[len("file://") :]
    partitions = _int("CITYLAKE_SHUFFLE_PARTITIONS")
    snapshot_partitions = _int("CITYLAKE_SNAPSHOT_PARTITIONS")
    if partitions < 1 or snapshot_partitions < 1:
        raise ConfigError("CITYLAKE_SHUFFLE_PARTITIONS and CITYLAKE_SNAPSHOT_PARTITIONS must be at least 1")
    concurrency = _int("CITYLAKE_CONCURRENCY", " (tables worked on at once)")
    if concurrency < 1:
        raise ConfigError(f"CITYLAKE_CONCURRENCY={concurrency}: must be at least 1")
    extra: dict[str, str] = {}
    for item in _env("CITYLAKE_SPARK_CONF").split(","):
        if item.strip():
            if "=" not in item:
                raise ConfigError(f"CITYLAKE_SPARK_CONF entry {item!r}: expected key=value")
            key, value = item.split("=", 1)
            extra[key.strip()] = value.strip()
    return Settings(
        profile=profile,
        lake_root=lake_root,
        registry_dir=Path(_env("CITYLAKE_REGISTRY_DIR")),
        expectations_dir=Path(_env("CITYLAKE_EXPECTATIONS_DIR")),
        spark_master=_env("CITYLAKE_SPARK_MASTER"),
        jars_dir=Path(_env("CITYLAKE_JARS_DIR")),
        shuffle_partitions=partitions,
        snapshot_partitions=snapshot_partitions,
        driver_memory=_env("CITYLAKE_DRIVER_MEMORY"),
        extra_spark_conf=extra,
        jvm_options=_env("CITYLAKE_JVM_OPTIONS").strip(),
        gx_mode=_gx_mode(),
        execution=_execution(profile),
        delta_dynamodb_table=_env("CITYLAKE_DELTA_DYNAMODB_TABLE"),
        concurrency=concurrency,
        lock_wait_s=float(_int("CITYLAKE_LOCK_WAIT", " (seconds to wait for another run)")),
        landing_settle_s=float(_int("CITYLAKE_LANDING_SETTLE_S", " (seconds a landed file must stand unchanged)")),
        pii_key_file=Path(_env("CITYLAKE_PII_KEY_FILE")),
        log_dir=Path(_env("CITYLAKE_LOG_DIR")),
        lineage=_choice("CITYLAKE_LINEAGE", ("on", "off")) == "on",
        lineage_dir=_env("CITYLAKE_LINEAGE_DIR"),
        class_archive=_choice("CITYLAKE_CLASS_ARCHIVE", ("on", "off")) == "on",
    )


def _int(name: str, what: str = "") -> int:
    try:
        return int(_env(name))
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer{what}") from exc


def _choice(name: str, allowed: tuple[str, ...]) -> str:
    value = _env(name)
    if value not in allowed:
        raise ConfigError(f"{name}={value!r}: expected one of {', '.join(allowed)}")
    return value


def _execution(profile: str) -> str:
    """Where Airflow tasks run Spark. The cluster profile submits them to CITYLAKE_SPARK_MASTER
    unless CITYLAKE_EXECUTION says otherwise, and that master must be a cluster's."""
    if profile == "embedded" or is_set("CITYLAKE_EXECUTION"):
        return _choice("CITYLAKE_EXECUTION", ("embedded", "submit"))
    master = _env("CITYLAKE_SPARK_MASTER")
    if master.startswith("local"):
        raise ConfigError(
            f"CITYLAKE_PROFILE=cluster needs CITYLAKE_SPARK_MASTER to name a cluster (spark://host:7077, yarn, "
            f"k8s://...), not {master!r}"
        )
    return "submit"


def _gx_mode() -> str:
    mode = _env("CITYLAKE_GX_MODE")
    if mode not in ("batched", "native"):
        raise ConfigError(f"CITYLAKE_GX_MODE={mode!r}: expected batched or native")
    return mode


def ensure_local_pii_key(settings: Settings) -> Path | None:
    """Create a random local PII key (mode 600) unless one is configured; for laptops and CI only."""
    import secrets

    if read("CITYLAKE_PII_KEY").strip() or settings.pii_key_file.exists():
        return None
    settings.pii_key_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(settings.pii_key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(32) + "\n")
    return settings.pii_key_file
