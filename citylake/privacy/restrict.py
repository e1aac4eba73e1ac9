"""Restriction of processing (PIPL Art. 47(2)): the subjects leave silver, gold and published
marts, and their rows are kept only in the restricted store.

``restrict`` records the subjects in the suppression list (mode ``restrict``), so no later run
lets their records into silver again, then moves their current silver rows into
``lake.table("restricted", contract)`` and deletes them from silver with a MERGE whose source
is found by joining the subjects' *references* with silver's hash columns: no commit predicate,
userMetadata or statistic holds a value or a hash. Each changed silver table gets a progress row
naming the event days it lost, so the marts built on them owe those days (``rebuild_marts``
rebuilds them now; any later run would). Bronze keeps the records: restriction is not erasure.

The silver tables hold no deletion vectors (delta-rs creates them at reader version 1, and
nothing enables the feature), so the MERGE rewrites the files that held the rows; the replaced
files stay readable by time travel until they are vacuumed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

from citylake.config.layers import silver_columns
from citylake.config.registry import FeedContract, Registry
from citylake.engine import delta_io, delta_log, fence
from citylake.lake import Lake, progress, runlock, suppression
from citylake.lake.subjects import Subject, load_subjects, personal_contracts
from citylake.privacy import evidence, purge
from jobs.silver_suppress import ensure_restricted, restricted_path, txn_version

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from citylake.config.settings import Settings
    from jobs.gold_publish import GoldResult

LINEAGE = ("_unit", "_source_file", "_record_no", "_batch_id")  # a silver row's bronze record


def restrict(
    spark: SparkSession,
    lake: Lake,
    registry: Registry,
    subjects: list[Subject],
    key: bytes,
    request_id: str,
    wait_s: float = 0.0,
    lock: bool = True,
) -> dict[str, Any]:
    """Restrict ``subjects`` under ``request_id``; returns value-free counts: suppression rows
    added, rows moved per silver table, and ``days``, the (contract, event_date) pairs whose
    marts must be rebuilt (``rebuild_marts``). Holds the lake's lock (``lock=False``: the caller
    holds it). Repeating it changes nothing more."""
    run_id = f"restrict-{request_id}-{dt.datetime.now():%Y%m%dT%H%M%S}"
    held = runlock.hold(lake, run_id, dt.date.today(), wait_s, what="restrict") if lock else nullcontext()
    with held:
        entries = suppression.entries(subjects, key, suppression.RESTRICT, request_id)
        # listed first: from here on no promotion lets the subjects into silver
        added = suppression.add(lake, entries)
        refs = {suppression.RESTRICT: {e["ref"] for e in entries}}
        digest = hashlib.sha256("\n".join(sorted(refs[suppression.RESTRICT])).encode()).hexdigest()[:16]
        state = progress.load(lake)
        tables: dict[str, int] = {}
        days: set[tuple[str, dt.date]] = set()
        moved = []
        purged: list[dict[str, Any]] = []
        for name in sorted(personal_contracts(registry)):
            txn = f"restrict:{request_id}:{name}:{digest}"
            n, touched, version = move_rows(spark, lake, registry.contracts[name], key, refs, txn)
            tables[f"silver.{name}"] = n
            if n:  # the replaced files and older versions held them: silver's past goes too
                path = lake.table("silver", name)
                purged.append({"table": f"silver.{name}", "version_before": None, "version_after": version,
                               "rows_deleted": n, **purge.purge_table(lake, path, f"silver.{name}").json()})  # fmt: skip
                purge.forget(spark, path)
            if not n and unrecorded(state, name, request_id) and txn_version(lake, name, txn) is not None:
                # moved by an attempt that stopped before recording: the days come from the store
                touched = restricted_days(spark, lake, registry.contracts[name], key, refs)
            if touched:
                days |= {(name, d) for d in touched}
                # silver moved without consuming bronze: the marts built on it owe these days
                upto = state.consumed(f"silver.{name}", f"bronze.{name}")
                moved.append(progress.ProgressRow("silver", f"silver.{name}", f"bronze.{name}", upto, version,
                                                  tuple(sorted(touched)), run_id, dt.date.today()))  # fmt: skip
        progress.record(lake, moved, txn_app_id=f"progress-{run_id}")
    return {
        "request_id": request_id,
        "subjects": len(subjects),
        "suppression_rows_added": added,
        "rows_restricted": sum(tables.values()),
        "tables": tables,
        "days": sorted(days),
        "purged": purged,
    }


def unrecorded(state: progress.Progress, contract: str, request_id: str) -> bool:
    """Whether no progress row of this request names silver.<contract>."""
    mine = f"restrict-{request_id}-"
    return not any(r.target == f"silver.{contract}" and r.run_id.startswith(mine) for r in state.rows)


def restricted_days(
    spark: SparkSession, lake: Lake, contract: FeedContract, key: bytes, refs: dict[str, set[str]]
) -> set[dt.date]:
    """The event days of the referenced subjects' rows in the restricted store."""
    from pyspark.sql import functions as F

    found = suppression.mark_suppressed(delta_io.scan(spark, restricted_path(lake, contract.contract)),
                                        contract, key, refs)  # fmt: skip
    rows = found.where(F.col(suppression.SUPPRESSED).isNotNull()).select("event_date").distinct().collect()
    return {r[0] for r in rows}


def move_rows(
    spark: SparkSession,
    lake: Lake,
    contract: FeedContract,
    key: bytes,
    refs: dict[str, set[str]],
    txn_app_id: str,
) -> tuple[int, set[dt.date], int | None]:
    """Move silver.<contract>'s rows of the referenced subjects into the restricted store:
    (rows moved, their event days, silver's version afterwards)."""
    from delta.tables import DeltaTable
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    path = lake.table("silver", contract.contract)
    version = delta_log.latest_version(path)
    if version is None or not delta_log.has_files(path):
        return 0, set(), version
    cols = [n for n, _ in silver_columns(contract)]
    marked = suppression.mark_suppressed(delta_io.scan(spark, path), contract, key, refs)
    found = marked.where(F.col(suppression.SUPPRESSED).isNotNull()).select(*cols)
    found = found.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        n = found.count()
        if n == 0:
            return 0, set(), version
        touched = {r[0] for r in found.select("event_date").distinct().collect()}
        # kept first: a crash before the MERGE leaves them in both, and a repeat (same silver
        # version, same subjects) skips this append and finishes the MERGE
        delta_io.append(found.repartition(1), ensure_restricted(spark, lake, contract),
                        txn_app_id=txn_app_id, txn_version=version)  # fmt: skip
        on = [*LINEAGE, *suppression.subject_hash_columns(contract, cols), "event_date"]
        if contract.scd2:
            on.append("valid_from")
        cond = " AND ".join(f"t.`{c}` <=> s.`{c}`" for c in on)
        fence.check(f"restricting rows of {path}")
        (
            DeltaTable.forPath(spark, path).alias("t")
            .merge(found.select(*on).distinct().alias("s"), cond)
            .whenMatchedDelete()
            .execute()
        )  # fmt: skip
        return n, touched, delta_log.latest_version(path)
    finally:
        found.unpersist()


def affected_marts(registry: Registry, contracts: Iterable[str]) -> set[str]:
    """The marts built on these silver tables, and the marts built on those."""
    inputs = {f"silver.{c}" for c in contracts}
    out: set[str] = set()
    while True:
        more = {m for m, doc in registry.marts.items() if m not in out and inputs & set(doc.inputs)}
        if not more:
            return out
        out |= more
        inputs |= {f"gold.{m}" for m in more}


def rebuild_marts(
    spark: SparkSession,
    lake: Lake,
    registry: Registry,
    days: Iterable[tuple[str, dt.date]],
    settings: Settings | None = None,
    say: Callable[[str], None] | None = None,
    wait_s: float = 0.0,
) -> GoldResult | None:
    """Rebuild (validate, publish) the marts built on the contracts of ``days``: the progress rows
    ``restrict`` recorded make those days owed, so the marts come out without the subjects."""
    from citylake.config.settings import load_settings
    from citylake.runs.pipeline import run_marts

    marts = affected_marts(registry, {c for c, _ in days})
    if not marts:
        return None
    settings = dataclasses.replace(settings or load_settings(), lake_root=lake.root)
    return run_marts(dt.date.today(), sorted(marts), settings, spark, registry, say, wait_s)


def restrict_request(
    spark: SparkSession,
    settings: Settings,
    lake: Lake,
    registry: Registry,
    subjects: list[Subject],
    key: bytes,
    request_id: str,
    say: Callable[[str], None] | None = None,
    wait_s: float = 0.0,
    rebuild: bool = True,
) -> dict[str, Any]:
    """`citylake subject restrict`: ``restrict``, then the marts rebuilt. JSON-ready and value-free;
    ``summary`` holds the counts for the request ledger."""
    say = say or (lambda _m: None)
    result = restrict(spark, lake, registry, subjects, key, request_id, wait_s=wait_s)
    say(f"{result['rows_restricted']} row(s) moved to the restricted store, {len(result['days'])} day(s) to rebuild")
    evidence.write(lake, request_id, "restrict", {"request_id": request_id, "type": "restrict",
                                                  "tables": result["purged"], "files": []})  # fmt: skip
    gold = rebuild_marts(spark, lake, registry, result["days"], settings, say, wait_s) if rebuild else None
    marts = {p.dataset: p.status for p in gold.publications} if gold else {}
    summary = {
        "suppression_rows_added": result["suppression_rows_added"],
        "rows_restricted": result["rows_restricted"],
        "tables_changed": sum(1 for n in result["tables"].values() if n),
        "days_rebuilt": len(result["days"]),
        "marts_rebuilt": len(marts),
        "marts_failed": sum(1 for s in marts.values() if s == "failed"),
    }
    return {**result, "days": [[c, d.isoformat()] for c, d in result["days"]], "marts": marts, "summary": summary}


def restrict_file(
    settings: Settings, subjects_file: str | Path, request_id: str, spark: SparkSession | None = None
) -> dict[str, Any]:
    """``restrict_request`` from a subjects file, with the lake, registry and key of ``settings``."""
    from citylake.config.registry import load_registry

    if spark is None:
        from citylake.engine.spark import get_spark

        spark = get_spark("citylake-restrict", settings)
    registry = load_registry(settings.registry_dir)
    return restrict_request(spark, settings, Lake(settings.lake_root), registry, load_subjects(subjects_file),
                            settings.pii_key(), request_id, wait_s=settings.lock_wait_s)  # fmt: skip
