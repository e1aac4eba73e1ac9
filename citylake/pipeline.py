"""The daily pipeline: one Spark application runs every step for every unit of one date.

Steps: bronze ingestion (with the per unit/feed quality gate), silver promotion, gold marts and
publishing, each behind its GX suite. Each step is a job in jobs/; this module only sequences
them, records the run and its validations, refreshes the catalog and the Data Docs.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from citylake import catalog, ledger
from citylake.lake import DQ_RESULTS, RUNS, Lake
from citylake.preflight import Scope
from citylake.registry import Registry, RegistryError, load_registry
from citylake.settings import Settings, load_settings

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

    @property
    def publications(self) -> list[Any]:
        return [
            *(self.silver.publications if self.silver else []),
            *(self.gold.publications if self.gold else []),
        ]

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
        return "ok"

    @property
    def exit_code(self) -> int:
        return {"ok": 0, "partial": 3, "failed": 1}[self.status]

    def json(self) -> dict[str, Any]:
        return {
            "date": self.date.isoformat(),
            "run_id": self.run_id,
            "status": self.status,
            "files": [f.json() for f in self.bronze.files],
            "held_feeds": [{"unit": v.unit, "feed": v.feed, "reason": v.reason()} for v in self.held_feeds],
            "publications": [p.json() for p in self.publications],
            "data_docs": self.docs,
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


def run_daily(
    date: dt.date,
    settings: Settings | None = None,
    spark: SparkSession | None = None,
    registry: Registry | None = None,
    progress: Callable[[str], None] | None = None,
    scope: Scope | None = None,
    marts: bool = True,
) -> RunReport:
    """Run ``date`` end to end; ``scope`` limits it to some units/contracts (the rest untouched).

    ``marts=False`` stops after silver: the Airflow ingest DAGs do that, and the mart DAGs,
    scheduled by the silver assets, run ``run_marts``.
    """
    from citylake import publish
    from citylake.quality.gx_runner import GxProject
    from citylake.quality.suites import load_row_checks, validate_suites
    from jobs import bronze_ingest, gold_publish, silver_conform

    settings = settings or load_settings()
    registry = registry or load_registry(settings.registry_dir)  # a registry error stops us before Spark
    problems = validate_suites(registry, settings.expectations_dir)
    if problems:
        raise RegistryError(problems)
    key = settings.pii_key()  # no key, no silver: fail before any work
    if spark is None:
        from citylake.spark import get_spark

        spark = get_spark("citylake-daily", settings)
    lake = Lake(settings.lake_root)
    gx = GxProject(lake, settings.expectations_dir, mode=settings.gx_mode)
    run_id = new_run_id(date)
    started = dt.datetime.now()
    t0 = time.perf_counter()
    bronze = bronze_ingest.run(
        spark,
        lake,
        registry,
        date,
        run_id,
        progress=progress,
        expectations_dir=settings.expectations_dir,
        gx=gx,
        scope=scope,
        workers=settings.concurrency,
    )
    report = RunReport(run_id, date, bronze, timings={"bronze_s": time.perf_counter() - t0})
    t1 = time.perf_counter()
    checks = load_row_checks(registry, settings.expectations_dir)
    report.silver = silver_conform.run(
        spark,
        lake,
        registry,
        date,
        run_id,
        bronze.promotable(),
        key,
        checks,
        settings.expectations_dir,
        gx,
        progress,
        workers=settings.concurrency,
    )
    report.timings["silver_s"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    if marts:
        report.gold = gold_publish.run(
            spark,
            lake,
            registry,
            date,
            run_id,
            report.silver.dates,
            gx,
            progress,
            settings.expectations_dir,
            workers=settings.concurrency,
        )
    report.timings["gold_s"] = time.perf_counter() - t2
    publish.record(spark, lake, report.publications, run_id, date)
    suite_rows = [
        r
        for o in (*report.silver.suites, *(report.gold.suites if report.gold else []))
        for r in suite_result_rows(o, run_id, date)
    ]
    ledger.append_rows(spark, lake, "_system", DQ_RESULTS, suite_rows, txn_app_id=f"dq-datasets:{run_id}")
    files = bronze.files
    ledger.append_rows(
        spark,
        lake,
        "_system",
        RUNS,
        [
            {
                "run_id": run_id,
                "logical_date": date,
                "status": report.status,
                "started_at": started,
                "finished_at": dt.datetime.now(),
                "duration_s": time.perf_counter() - t0,
                "files": len(files),
                "rows_landed": sum(f.rows_landed for f in files),
                "rows_bronze": sum(f.rows_bronze for f in files),
                "rows_quarantined": sum(f.rows_quarantined for f in files),
                "failed_feeds": len({(f.unit, f.feed) for f in files if f.status in ledger.PROBLEM_STATUSES}
                                    | {(v.unit, v.feed) for v in report.held_feeds}),
                "detail": json.dumps({"timings": {**bronze.timings, **report.timings},
                                      "failed_datasets": [p.dataset for p in report.publications
                                                          if p.status == "failed"]}),
            }
        ],
        txn_app_id=f"runs:{run_id}",
    )  # fmt: skip
    catalog.register_all(spark, lake)
    t3 = time.perf_counter()
    suites = [*bronze.suites, *report.silver.suites, *(report.gold.suites if report.gold else [])]
    report.docs = str(gx.build_docs([o.result_key for o in suites]))
    report.timings["docs_s"] = time.perf_counter() - t3
    report.timings["total_s"] = time.perf_counter() - t0
    return report


def delivered_days(spark: SparkSession, lake: Lake, contract: str, date: dt.date) -> set[dt.date]:
    """The event days that the delivery of logical ``date`` wrote into silver.<contract>.

    A mart DAG runs in its own process, after the ingest DAGs, so it cannot be told which days
    changed: it reads them from silver's lineage (``_logical_date``), never from the clock.
    """
    from pyspark.sql import functions as F

    from citylake.delta_io import latest_version

    path = lake.table("silver", contract)
    if latest_version(spark, path) is None:
        return set()
    rows = (
        spark.read.format("delta").load(path).where(F.col("_logical_date") == F.lit(date))
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
) -> GoldResult:
    """Rebuild and publish ``marts`` (all if None) for the days the delivery of ``date`` touched."""
    from citylake import publish
    from citylake.quality.gx_runner import GxProject
    from jobs import gold_publish

    settings = settings or load_settings()
    registry = registry or load_registry(settings.registry_dir)
    if spark is None:
        from citylake.spark import get_spark

        spark = get_spark("citylake-marts", settings)
    lake = Lake(settings.lake_root)
    gx = GxProject(lake, settings.expectations_dir, mode=settings.gx_mode)
    wanted = set(marts or registry.marts)
    inputs = {i.split(".", 1)[1] for m in wanted for i in registry.marts[m].inputs if i.startswith("silver.")}
    silver_dates = {c: delivered_days(spark, lake, c, date) for c in sorted(inputs)}
    run_id = new_run_id(date)
    result = gold_publish.run(
        spark,
        lake,
        registry,
        date,
        run_id,
        silver_dates,
        gx,
        progress,
        settings.expectations_dir,
        only=wanted,
        workers=settings.concurrency,
    )
    publish.record(spark, lake, result.publications, run_id, date)
    rows = [r for o in result.suites for r in suite_result_rows(o, run_id, date)]
    ledger.append_rows(spark, lake, "_system", DQ_RESULTS, rows, txn_app_id=f"dq-datasets:{run_id}")
    catalog.register_all(spark, lake)
    gx.build_docs([o.result_key for o in result.suites])
    return result
