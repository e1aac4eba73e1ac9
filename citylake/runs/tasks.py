"""What the Airflow tasks run: thin, idempotent calls on their data interval.

Each function takes the logical date as a string (Airflow's ``ds``) and never reads the clock,
so a retry, a clear or a backfill of the same date does the same thing. Heavy imports happen
inside the functions: dags/ imports this module at parse time.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

# the pool that caps concurrent Spark work (created by `make airflow`)
SPARK_POOL = "citylake_spark"

AlertHook = Callable[[dict[str, Any]], None]


def submitted(app_args: list[str], app_name: str) -> dict[str, Any]:
    """Run a citylake CLI command through spark-submit and return its JSON (CITYLAKE_EXECUTION=submit)."""
    import os
    import subprocess
    import sys

    from citylake.config.settings import load_settings
    from citylake.engine.spark import submit_command

    cmd = submit_command(load_settings(), app_args, app_name)
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode not in (0, 3):  # 3: partial, reported in the JSON
        raise RuntimeError(
            f"spark-submit {' '.join(app_args)} exited {proc.returncode}: {proc.stderr[-3000:]}"
        )
    result: dict[str, Any] = json.loads(proc.stdout[proc.stdout.index("{") :])
    return result


def _embedded() -> bool:
    from citylake.config.settings import load_settings

    return load_settings().execution == "embedded"


def lineage_parent(ti: Any) -> tuple[str, str] | None:
    """The OpenLineage ids of an Airflow task run and its DAG run, as the provider's macros give them."""
    if ti is None:
        return None
    try:
        from airflow.providers.openlineage.plugins.macros import lineage_parent_id, lineage_root_parent_id
    except ImportError:  # the provider is not installed: events without a parent
        return None
    return lineage_parent_id(ti), lineage_root_parent_id(ti)


@contextmanager
def _child_of(parent: tuple[str, str] | None) -> Iterator[None]:
    """Spark's and citylake's events started inside name ``parent`` as their parent run."""
    if parent is None:
        yield
        return
    from citylake.engine.lineage import parent_run

    with parent_run(*parent):
        yield


def ingest(
    ds: str, units: Iterable[str] = (), contracts: Iterable[str] = (), parent: tuple[str, str] | None = None
) -> dict[str, Any]:
    """Bronze and silver for every unit on logical date ``ds`` (or only ``units``/``contracts``).

    One Spark application for the whole day: a JVM costs 10-20 s cold, so one per unit or per
    contract would be most of the day's work at 250 units (benchmarks/dag_overhead.py).
    """
    with _child_of(parent):
        return _ingest(ds, sorted(units), sorted(contracts))


def _ingest(ds: str, units: list[str], contracts: list[str]) -> dict[str, Any]:
    if _embedded():
        from citylake.lake.preflight import Scope
        from citylake.runs.pipeline import run_daily

        report = run_daily(
            dt.date.fromisoformat(ds), scope=Scope(frozenset(units), frozenset(contracts)), marts=False
        )
        out = report.json()
    else:
        args = ["run", "--date", ds, "--no-marts", "--json"]
        args += ["--units", ",".join(units)] if units else []
        args += ["--contracts", ",".join(contracts)] if contracts else []
        out = submitted(args, f"citylake-ingest-{ds}")
    return summarize(out)


def summarize(out: dict[str, Any]) -> dict[str, Any]:
    """What the DAG needs of a run report: status, held feeds, changed silver tables, per-unit rows."""
    from citylake.lake.ledger import PROBLEM_STATUSES

    per_unit: dict[str, dict[str, int]] = {}
    for f in out["files"]:
        u = per_unit.setdefault(
            f["unit"], {"files": 0, "rows_bronze": 0, "rows_quarantined": 0, "problems": 0}
        )
        u["files"] += 1
        u["rows_bronze"] += f["rows_bronze"]
        u["rows_quarantined"] += f["rows_quarantined"]
        u["problems"] += f["status"] in PROBLEM_STATUSES
    changed = [p["dataset"] for p in out["publications"]
               if p["dataset"].startswith("silver.") and p["status"] == "published"]  # fmt: skip
    bronze = {f"bronze.{f['contract']}" for f in out["files"] if f.get("bronze_version") is not None}
    # a held unit does not stop the others; the check task turns it red for the engineer
    return {"status": out["status"], "run_id": out["run_id"], "held_feeds": out["held_feeds"],
            "changed": sorted(changed), "bronze_changed": sorted(bronze), "units": per_unit}  # fmt: skip


def check(result: dict[str, Any]) -> None:
    """Fail (after the healthy units' data is in) when any unit/feed was held or failed."""
    if result["status"] != "ok":
        held = (
            ", ".join(f"{h['unit']}/{h['feed']}" for h in result.get("held_feeds", []))
            or "see the run ledger"
        )
        raise RuntimeError(f"run {result['run_id']}: {result['status']}: {held}")


def build_marts(marts: list[str], ds: str, parent: tuple[str, str] | None = None) -> dict[str, Any]:
    """Rebuild and publish marts for the days the delivery of ``ds`` touched."""
    with _child_of(parent):
        return _build_marts(marts, ds)


def _build_marts(marts: list[str], ds: str) -> dict[str, Any]:
    if _embedded():
        from citylake.runs.pipeline import run_marts

        pubs = [p.json() for p in run_marts(dt.date.fromisoformat(ds), marts).publications]
    else:
        pubs = submitted(["marts", "--date", ds, "--marts", ",".join(marts), "--json"], "citylake-marts")[
            "publications"
        ]
    failed = [p for p in pubs if p["status"] == "failed"]
    if failed:
        raise RuntimeError(f"marts refused by their gate: {json.dumps(failed, ensure_ascii=False)}")
    return {"publications": pubs}


def on_failure(context: dict[str, Any], alert: AlertHook | None = None) -> None:
    """Failure callback: a row in ops.task_failures, then the pluggable alert hook."""
    import importlib

    from citylake.config.variables import read

    ti = context.get("task_instance")
    event = {
        "dag_id": getattr(ti, "dag_id", None),
        "task_id": getattr(ti, "task_id", None),
        "logical_date": str(context.get("ds")),
        "try_number": getattr(ti, "try_number", None),
        "error": str(context.get("exception"))[:2000],
    }
    _record_failure(event)
    hook = read("CITYLAKE_ALERT_HOOK")
    if alert is None and hook:
        module, _, name = hook.partition(":")
        alert = getattr(importlib.import_module(module), name)
    if alert is not None:
        alert(event)


def log_alert(event: dict[str, Any]) -> None:
    """The simplest alert hook (CITYLAKE_ALERT_HOOK=citylake.runs.tasks:log_alert): one log line.

    A real deployment points CITYLAKE_ALERT_HOOK at its pager or chat webhook; the hook gets
    the same event dict that is appended to ops.task_failures.
    """
    import logging

    logging.getLogger("citylake.alerts").error("task failed: %s", json.dumps(event, ensure_ascii=False))


def _record_failure(event: dict[str, Any]) -> None:
    """Append to ``_system/task_failures`` (``ops.task_failures``) with delta-rs, no JVM.

    A failing task may have lost its Spark, and the callback runs in the Airflow worker.
    """
    import pyarrow as pa
    from deltalake import write_deltalake

    from citylake.config.settings import load_settings
    from citylake.engine.storage import delta_rs_location
    from citylake.lake import Lake

    row = {**event, "recorded_at": dt.datetime.now(dt.UTC)}
    schema = pa.schema([("dag_id", pa.string()), ("task_id", pa.string()), ("logical_date", pa.string()),
                        ("try_number", pa.int32()), ("error", pa.string()),
                        ("recorded_at", pa.timestamp("us", tz="UTC"))])  # fmt: skip
    uri, options = delta_rs_location(Lake(load_settings().lake_root).table("_system", "task_failures"))
    write_deltalake(uri, pa.Table.from_pylist([row], schema=schema), mode="append", storage_options=options)


SMALL_FILES = 32  # more files than this and OPTIMIZE is worth a Spark job
VACUUM_RETENTION_HOURS = 168  # a week of time travel: a re-run or a reader of an older manifest fits in it
# records as sent: no file of theirs, committed or orphaned, outlives the retention
FULL_VACUUM_ZONES = ("bronze", "quarantine")


def maintenance(ds: str) -> dict[str, Any]:
    """The maintenance DAG's task: ``maintain`` here, or through spark-submit."""
    if _embedded():
        return maintain(ds)
    return submitted(["maintain", "--date", ds, "--json"], "citylake-maintenance")


def maintain(ds: str) -> dict[str, Any]:
    """Compaction and VACUUM of every zone's tables (the maintenance DAG).

    OPTIMIZE bins small files (silver MERGEs, ledger appends and daily gold replaces add some
    on every run); bronze is append-only by day and left as landed;
    marts are compacted in their own layout (jobs/gold_publish.compact) so per-district files
    survive. VACUUM keeps VACUUM_RETENTION_HOURS of history. Bronze and quarantine, which hold
    records as sent, are vacuumed FULL: the table's directory is listed, so files no commit
    ever named (a killed write's orphans, personal data all the same) go too, not only the
    files the log removed (LITE). Ledger housekeeping: the ledger
    tables are compacted like the rest, and the staging tables, overwritten by every run, are
    vacuumed too; their current candidate (what an engineer inspects after a refusal) stays.
    """
    from citylake.config.registry import load_registry
    from citylake.config.settings import load_settings
    from citylake.engine.spark import get_spark
    from citylake.lake import Lake, runlock

    settings = load_settings()
    lake = Lake(settings.lake_root)
    with runlock.hold(
        lake, f"maintain-{ds}", dt.date.fromisoformat(ds), settings.lock_wait_s, what="maintain"
    ):
        return _maintain(
            get_spark("citylake-maintenance", settings), load_registry(settings.registry_dir), lake
        )


def _maintain(spark: Any, registry: Any, lake: Any) -> dict[str, Any]:
    from citylake.engine import fence
    from citylake.engine.storage import store_for
    from citylake.lake.catalog import lake_tables
    from jobs.gold_publish import compact

    done: dict[str, Any] = {"optimized": [], "vacuumed": [], "vacuumed_full": [], "staging_vacuumed": []}
    for t in lake_tables(lake):
        files = spark.sql(f"DESCRIBE DETAIL delta.`{t.path}`").select("numFiles").first()
        fragmented = files is not None and files[0] > SMALL_FILES
        # the ledger's many small appends included; a table with few files is left alone
        if t.zone in ("silver", "quarantine", "_system") and fragmented:
            fence.check(f"optimizing {t.qualified}")
            spark.sql(f"OPTIMIZE delta.`{t.path}`")
            done["optimized"].append(t.qualified)
        elif (
            t.zone == "gold"
            and t.name in registry.marts
            and compact(spark, t.path, registry.marts[t.name], 16)
        ):
            done["optimized"].append(t.qualified)
        if t.zone in FULL_VACUUM_ZONES:
            # FULL lists the directory: orphans of aborted writes go, at the same retention
            fence.check(f"vacuuming {t.qualified}")
            spark.sql(f"VACUUM delta.`{t.path}` FULL RETAIN {VACUUM_RETENTION_HOURS} HOURS")
            done["vacuumed"].append(t.qualified)
            done["vacuumed_full"].append(t.qualified)
        elif t.zone in ("silver", "gold", "_system"):
            # LITE: candidates come from the log, not from listing every file of the table
            fence.check(f"vacuuming {t.qualified}")
            spark.sql(f"VACUUM delta.`{t.path}` LITE RETAIN {VACUUM_RETENTION_HOURS} HOURS")
            done["vacuumed"].append(t.qualified)
    store, staging = store_for(lake.root), lake.table("_system", "staging")
    for layer in store.list_dirs(staging):
        for name in store.list_dirs(f"{staging}/{layer}"):
            fence.check(f"vacuuming staging {layer}.{name}")
            spark.sql(f"VACUUM delta.`{staging}/{layer}/{name}` LITE RETAIN {VACUUM_RETENTION_HOURS} HOURS")
            done["staging_vacuumed"].append(f"{layer}.{name}")
    return done
