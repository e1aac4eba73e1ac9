"""The daily pipeline: one Spark application runs every step for every unit of one date.

Steps: bronze ingestion (with the per unit/feed quality gate), silver promotion, gold marts and
publishing, each behind its GX suite. Each step is a job in jobs/; this module only sequences
them under the lake's run lock, records the run and its validations, and refreshes the Data
Docs. Each step works out what it owes from the lake (citylake.lake.progress), so a run
after a crash, a retry or a backfill finishes whatever an earlier run left undone.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from citylake.config.registry import Registry, RegistryError, load_registry
from citylake.config.settings import Settings, load_settings
from citylake.engine import fence, lineage
from citylake.engine.faults import StorageFailure, fault_evidence, storage_fault
from citylake.lake import DQ_RESULTS, RUNS, Lake, keyguard, ledger, progress, runlock
from citylake.lake.preflight import Scope
from jobs.context import JobRun

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from citylake.quality.gx_runner import SuiteOutcome
    from jobs.bronze_ingest import BronzeResult
    from jobs.gold_publish import GoldResult
    from jobs.silver_conform import SilverResult


def new_run_id(date: dt.date) -> str:
    return f"run-{date:%Y%m%d}-{uuid.uuid4().hex[:10]}"


@dataclass
class RunReport:
    run_id: str
    date: dt.date
    bronze: BronzeResult
    silver: SilverResult | None = None
    gold: GoldResult | None = None
    timings: dict[str, float] = field(default_factory=dict)
    docs: str | None = None
    health: str | None = None  # the run-health report's path
    lineage: str | None = None  # where its OpenLineage events went
    owed: list[progress.Owed] = field(default_factory=list)  # left undone when the run ended

    @property
    def publications(self) -> list[Any]:
        return [
            *(self.silver.publications if self.silver else []),
            *(self.gold.publications if self.gold else []),
        ]

    @property
    def suites(self) -> list[SuiteOutcome]:
        """The silver and gold suite results (bronze's are per unit/feed, in its own rows)."""
        return [*(self.silver.suites if self.silver else []), *(self.gold.suites if self.gold else [])]

    @property
    def held_feeds(self) -> list[Any]:
        return [v for v in self.bronze.feeds.values() if v.verdict == "failed"]

    @property
    def status(self) -> str:
        if self.bronze.status == "failed":
            return "failed"
        if (
            self.bronze.status == "partial"
            or self.held_feeds
            or any(p.status == "failed" for p in self.publications)
        ):
            return "partial"
        return "incomplete" if self.owed else "ok"

    @property
    def exit_code(self) -> int:
        return {"ok": 0, "partial": 3, "incomplete": 3, "failed": 1}[self.status]

    def json(self) -> dict[str, Any]:
        return {
            "date": self.date.isoformat(),
            "run_id": self.run_id,
            "status": self.status,
            "files": [f.json() for f in self.bronze.files],
            "held_feeds": [{"unit": v.unit, "feed": v.feed, "reason": v.reason()} for v in self.held_feeds],
            "publications": [p.json() for p in self.publications],
            "data_docs": self.docs,
            "report": self.health,
            "lineage": self.lineage,
            **({"owed": [o.json() for o in self.owed]} if self.owed else {}),
        }


def suite_result_rows(outcome: SuiteOutcome, run_id: str, date: dt.date) -> list[dict[str, Any]]:
    now = dt.datetime.now()
    return [
        {
            "run_id": run_id,
            "logical_date": date,
            "layer": outcome.dataset.split(".", 1)[0],
            "dataset": outcome.dataset,
            "suite": outcome.suite,
            "expectation_id": o.id,
            "expectation_type": o.type,
            "column": o.column,
            "severity": o.severity,
            "rows_checked": o.element_count,
            "failures": o.unexpected_count if o.unexpected_count is not None else int(not o.success),
            "success": o.success,
            "observed": o.observed,
            "verdict": outcome.verdict,
            "validation_id": outcome.validation_id,
            "recorded_at": now,
        }
        for o in outcome.outcomes
    ]


def _run_row(report: RunReport, started: dt.datetime, seconds: float) -> dict[str, Any]:
    files = report.bronze.files
    return {
        "run_id": report.run_id,
        "logical_date": report.date,
        "status": report.status,
        "started_at": started,
        "finished_at": dt.datetime.now(),
        "duration_s": seconds,
        "files": len(files),
        "rows_landed": sum(f.rows_landed for f in files),
        "rows_bronze": sum(f.rows_bronze for f in files),
        "rows_quarantined": sum(f.rows_quarantined for f in files),
        "failed_feeds": len({(f.unit, f.feed) for f in files if f.status in ledger.PROBLEM_STATUSES}
                            | {(v.unit, v.feed) for v in report.held_feeds}),
        "detail": json.dumps({"timings": {**report.bronze.timings, **report.timings},
                              "failed_datasets": [p.dataset for p in report.publications if p.status == "failed"],
                              "owed": [o.json() for o in report.owed]}),
    }  # fmt: skip


def run_daily(
    date: dt.date,
    settings: Settings | None = None,
    spark: SparkSession | None = None,
    registry: Registry | None = None,
    progress: Callable[[str], None] | None = None,
    scope: Scope | None = None,
    marts: bool = True,
    wait_s: float | None = None,
) -> RunReport:
    """Run ``date`` end to end; ``scope`` limits it to some units/contracts (the rest untouched).

    ``marts=False`` stops after silver: the Airflow ingest DAGs do that, and the mart DAGs,
    scheduled by the silver assets, run ``run_marts``. The run holds the lake's lock, waiting up
    to ``wait_s`` (default: CITYLAKE_LOCK_WAIT) for another run to finish.
    """
    from citylake.quality.suites import validate_suites

    say = progress or (lambda _msg: None)
    settings = settings or load_settings()
    registry = registry or load_registry(settings.registry_dir)  # a registry error stops us before Spark
    problems = validate_suites(registry, settings.expectations_dir)
    if problems:
        raise RegistryError(problems)
    key = settings.pii_key()  # no key, no silver: fail before any work
    lake = Lake(settings.lake_root)
    keyguard.check(lake, keyguard.hashed_contracts(registry), key)  # nor under another key
    run_id = new_run_id(date)
    with runlock.hold(lake, run_id, date, settings.lock_wait_s if wait_s is None else wait_s):
        if spark is None:
            from citylake.engine.spark import get_spark

            spark = get_spark("citylake-daily", settings)
        em = lineage.Emitter(settings, "daily", run_id, date)
        em.start()
        started = dt.datetime.now()
        try:
            report = _run_daily(spark, settings, registry, lake, key, date, run_id, say, scope, marts, em)
        except BaseException as exc:
            em.finish(exc)
            if isinstance(exc, Exception) and (failure := infrastructure_failure(lake, run_id, date, started, exc)):
                raise failure from exc
            raise
        em.finish()
        report.lineage = lineage.destination(settings)
        return report


INFRASTRUCTURE_FAILURE = "infrastructure_failure"  # the run's status in ops.runs when the storage failed


def infrastructure_failure(
    lake: Lake, run_id: str, date: dt.date, started: dt.datetime, exc: Exception
) -> StorageFailure | None:
    """A storage fault under the run, as a StorageFailure recorded in ops.runs; None for any other
    error. Nothing is recorded against the units: their files stay pending for the next run."""
    fault = storage_fault(exc)
    if fault is None:
        return None
    failure = exc if isinstance(exc, StorageFailure) else StorageFailure(
        f"storage failure: {fault}: {fault_evidence(exc)}")  # fmt: skip
    row = {"run_id": run_id, "logical_date": date, "status": INFRASTRUCTURE_FAILURE, "started_at": started,
           "finished_at": dt.datetime.now(), "detail": json.dumps({"error": str(failure)}, ensure_ascii=False)}  # fmt: skip
    # the storage may still be failing: the run's "running" row then stays its last word
    with contextlib.suppress(Exception):
        ledger.append_rows(lake, "_system", RUNS, [row], txn_app_id=f"runs:{run_id}")
    return failure


def _run_daily(
    spark: SparkSession,
    settings: Settings,
    registry: Registry,
    lake: Lake,
    key: bytes,
    date: dt.date,
    run_id: str,
    say: Callable[[str], None],
    scope: Scope | None,
    marts: bool,
    em: lineage.Emitter,
) -> RunReport:
    from citylake.quality.gx_runner import GxProject
    from citylake.quality.suites import load_row_checks
    from jobs import bronze_ingest, gold_publish, silver_conform

    gx = GxProject(lake, settings.expectations_dir, mode=settings.gx_mode)
    started = dt.datetime.now()
    t0 = time.perf_counter()
    # a run that dies leaves this row as its last word: `citylake status` shows it never finished
    ledger.append_rows(lake, "_system", RUNS, [{"run_id": run_id, "logical_date": date, "status": "running",
                                                       "started_at": started}])  # fmt: skip
    job = JobRun(spark, lake, registry, date, run_id)
    say("step: bronze")
    bronze = bronze_ingest.run(
        job,
        progress=say,
        expectations_dir=settings.expectations_dir,
        gx=gx,
        scope=scope,
        workers=settings.concurrency,
        settle_s=settings.landing_settle_s,
    )
    report = RunReport(run_id, date, bronze, timings={"bronze_s": time.perf_counter() - t0})
    lineage.emit_bronze(em, lake, bronze, started)
    t1, silver_started = time.perf_counter(), dt.datetime.now()
    say("step: silver")
    contracts = (scope or Scope()).contracts_of(registry)
    report.silver = silver_conform.run(
        job, key,
        load_row_checks(registry, settings.expectations_dir, [registry.contracts[c] for c in contracts]),
        settings.expectations_dir, gx, say, workers=settings.concurrency, contracts=contracts,
    )  # fmt: skip
    report.timings["silver_s"] = time.perf_counter() - t1
    lineage.emit_publications(em, lake, registry, report.silver.publications, silver_started)
    t2, gold_started = time.perf_counter(), dt.datetime.now()
    if marts:
        say("step: gold")
        report.gold = gold_publish.run(
            job, gx, say, settings.expectations_dir,
            workers=settings.concurrency,
        )  # fmt: skip
        lineage.emit_publications(em, lake, registry, report.gold.publications, gold_started)
    report.timings["gold_s"] = time.perf_counter() - t2
    _record_run(spark, lake, report, run_id, date)
    report.owed = progress.owed(lake, registry, contracts, None if marts else [])
    if waiting := [f for f in bronze.files if f.status == ledger.WAITING]:  # a later run of the day loads them
        report.owed.insert(0, progress.Owed("bronze", "bronze", f"{len(waiting)} landed file(s) still being "
                                            "delivered, left in landing", frozenset({date})))  # fmt: skip
    ledger.append_rows(
        lake,
        "_system",
        RUNS,
        [_run_row(report, started, time.perf_counter() - t0)],
        txn_app_id=f"runs:{run_id}",
    )
    t3 = time.perf_counter()
    say("step: docs")
    fence.check("the Data Docs")
    suites = [*bronze.suites, *report.silver.suites, *(report.gold.suites if report.gold else [])]
    report.docs = str(gx.build_docs([o.result_key for o in suites], missing=True))
    report.timings["docs_s"] = time.perf_counter() - t3
    report.timings["total_s"] = time.perf_counter() - t0
    report.health = write_health_report(lake, registry, date, say)
    return report


def write_health_report(
    lake: Lake, registry: Registry, date: dt.date, say: Callable[[str], None]
) -> str | None:
    """The run-health report of ``date``'s newest run; a failure to draw it never fails the run."""
    from citylake.pages import report_page
    from citylake.pages.report import gather

    try:
        return report_page.write(lake, gather(lake, registry, date))
    except Exception as exc:  # the report is a view of the run, not part of it
        say(f"run-health report not written: {ledger.short_error(exc)}")
        return None


def _record_run(
    spark: SparkSession, lake: Lake, report: RunReport | GoldResult, run_id: str, date: dt.date
) -> None:
    """The run's publication attempts and silver/gold suite results, in ops tables."""
    from citylake.lake import publish

    publish.record(spark, lake, report.publications, run_id, date)
    rows = [r for o in report.suites for r in suite_result_rows(o, run_id, date)]
    ledger.append_rows(lake, "_system", DQ_RESULTS, rows, txn_app_id=f"dq-datasets:{run_id}")


def delivered_days(spark: SparkSession, lake: Lake, contract: str, date: dt.date) -> set[dt.date]:
    """The event days that the delivery of logical ``date`` wrote into silver.<contract>."""
    from pyspark.sql import functions as F

    from citylake.engine import delta_io, delta_log

    path = lake.table("silver", contract)
    if delta_log.latest_version(path) is None:
        return set()
    rows = (
        delta_io.scan(spark, path).where(F.col("_logical_date") == F.lit(date))
        .select("event_date").distinct().collect()
    )  # fmt: skip
    return {r[0] for r in rows}


def run_marts(
    date: dt.date,
    marts: list[str] | None = None,
    settings: Settings | None = None,
    spark: SparkSession | None = None,
    registry: Registry | None = None,
    progress: Callable[[str], None] | None = None,
    wait_s: float | None = None,
) -> GoldResult:
    """Rebuild and publish ``marts`` (all if None): the days they owe, and the days the delivery
    of ``date`` touched (so a mart DAG run for a date rebuilds that date's days on request)."""
    from citylake.quality.gx_runner import GxProject
    from jobs import gold_publish

    settings = settings or load_settings()
    registry = registry or load_registry(settings.registry_dir)
    lake = Lake(settings.lake_root)
    run_id = new_run_id(date)
    with runlock.hold(lake, run_id, date, settings.lock_wait_s if wait_s is None else wait_s, what="marts"):
        if spark is None:
            from citylake.engine.spark import get_spark

            spark = get_spark("citylake-marts", settings)
        gx = GxProject(lake, settings.expectations_dir, mode=settings.gx_mode)
        wanted = set(marts or registry.marts)
        inputs = {
            i.split(".", 1)[1] for m in wanted for i in registry.marts[m].inputs if i.startswith("silver.")
        }
        delivered = {c: delivered_days(spark, lake, c, date) for c in sorted(inputs)}
        extra = {m: {d for i in registry.marts[m].inputs if i.startswith("silver.") for d in delivered[i[7:]]}
                 for m in wanted}  # fmt: skip
        em, started = lineage.Emitter(settings, "marts", run_id, date), dt.datetime.now()
        em.start()
        try:
            result = gold_publish.run(JobRun(spark, lake, registry, date, run_id), gx, progress, settings.expectations_dir,
                                      only=wanted, workers=settings.concurrency, extra_days=extra)  # fmt: skip
        except BaseException as exc:
            em.finish(exc)
            raise
        lineage.emit_publications(em, lake, registry, result.publications, started)
        em.finish()
        _record_run(spark, lake, result, run_id, date)
        gx.build_docs([o.result_key for o in result.suites], missing=True)
        return result
