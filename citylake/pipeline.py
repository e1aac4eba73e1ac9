"""The daily pipeline: one Spark application runs every step for every unit of one date.

Steps so far: bronze ingestion. Each step is a job in jobs/; this module only sequences them,
records the run, and refreshes the catalog.
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
from citylake.lake import RUNS, Lake
from citylake.registry import Registry, RegistryError, load_registry
from citylake.settings import Settings, load_settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from jobs.bronze_ingest import BronzeResult


def new_run_id(date: dt.date) -> str:
    return f"run-{date:%Y%m%d}-{uuid.uuid4().hex[:10]}"


@dataclass
class RunReport:
    run_id: str
    date: dt.date
    bronze: BronzeResult
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return self.bronze.status

    @property
    def exit_code(self) -> int:
        return {"ok": 0, "partial": 3, "failed": 1}[self.status]

    def json(self) -> dict[str, Any]:
        return {
            "date": self.date.isoformat(),
            "run_id": self.run_id,
            "status": self.status,
            "files": [f.json() for f in self.bronze.files],
        }


def run_daily(
    date: dt.date,
    settings: Settings | None = None,
    spark: SparkSession | None = None,
    registry: Registry | None = None,
    progress: Callable[[str], None] | None = None,
) -> RunReport:
    from jobs import bronze_ingest

    settings = settings or load_settings()
    registry = registry or load_registry(settings.registry_dir)  # a registry error stops us before Spark
    from citylake.quality.suites import validate_suites

    problems = validate_suites(registry, settings.expectations_dir)
    if problems:
        raise RegistryError(problems)
    if spark is None:
        from citylake.spark import get_spark

        spark = get_spark("citylake-daily", settings)
    lake = Lake(settings.lake_root)
    run_id = new_run_id(date)
    started = dt.datetime.now()
    t0 = time.perf_counter()
    bronze = bronze_ingest.run(spark, lake, registry, date, run_id, progress=progress)
    report = RunReport(run_id, date, bronze, {"bronze_s": time.perf_counter() - t0})
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
                "failed_feeds": len({(f.unit, f.feed) for f in files if f.status in ledger.PROBLEM_STATUSES}),
                "detail": json.dumps({"timings": bronze.timings}),
            }
        ],
        txn_app_id=f"runs:{run_id}",
    )
    catalog.register_all(spark, lake)
    report.timings["total_s"] = time.perf_counter() - t0
    return report
