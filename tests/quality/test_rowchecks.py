"""Row-level checks on real bronze output catch exactly the faults the generator injected."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from citylake.config.settings import REPO_ROOT
from citylake.generate import generate
from citylake.quality.rowchecks import DQ_FAILED, failure_counts, row_checks, split_dropped, tag_rows
from citylake.quality.suites import suite_path
from jobs import bronze_ingest
from jobs.context import JobRun

pytestmark = pytest.mark.spark
DAY = dt.date(2026, 11, 20)
UNITS = ["d310104_gov_service", "d310115_parking", "op_teld"]


@pytest.fixture(scope="module")
def bronze_day(spark, registry, module_lake):
    reports = generate(registry, DAY, 0.2, UNITS, module_lake)
    bronze_ingest.run(JobRun(spark, module_lake, registry, DAY, "run-dq-1"))
    return module_lake, reports


def _suite(contract: str) -> dict:
    return json.loads(suite_path(REPO_ROOT / "expectations", f"bronze/{contract}").read_text())


@pytest.mark.parametrize("contract", ["service_requests", "parking_occupancy", "ev_charging_sessions"])
def test_drop_checks_catch_exactly_the_injected_faults(spark, registry, bronze_day, contract):
    lake, reports = bronze_day
    checks = [c for c in row_checks(_suite(contract)) if c.severity == "drop"]
    bronze = spark.read.format("delta").load(lake.table("bronze", contract))
    counts = failure_counts(tag_rows(bronze, checks), checks, by=["_source_file"])
    by_file = {c["_source_file"].rsplit("/", 1)[-1]: c for c in counts}
    loaded = [
        r
        for r in reports
        if registry.feed(r.unit, r.feed).contract.contract == contract and r.kind != "resend"
    ]
    assert loaded
    for rep in loaded:
        got = by_file[rep.path.rsplit("/", 1)[-1]]
        nulls = sum(v for k, v in got["failures"].items() if ":expect_column_values_to_not_be_null:" in k)
        ranges = sum(v for k, v in got["failures"].items() if ":expect_column_values_to_be_between:" in k)
        assert nulls == rep.faults["null_required"], rep.path
        assert ranges == rep.faults["out_of_range"], rep.path
        # code lists and district codes in generated data are clean, so nothing else fails
        others = sum(
            v for k, v in got["failures"].items() if "not_be_null" not in k and "be_between" not in k
        )
        assert others == 0


def test_split_dropped_keeps_clean_rows_and_tags_the_rest(spark, bronze_day):
    lake, reports = bronze_day
    checks = row_checks(_suite("service_requests"))
    tagged = tag_rows(spark.read.format("delta").load(lake.table("bronze", "service_requests")), checks)
    kept, dropped = split_dropped(tagged, checks)
    faults = sum(r.faults["null_required"] + r.faults["out_of_range"] for r in reports
                 if r.feed == "service_requests" and r.kind != "resend")  # fmt: skip
    assert dropped.count() == faults
    assert kept.count() + dropped.count() == tagged.count()
    assert dropped.where(f"size({DQ_FAILED}) = 0").count() == 0
    assert kept.where("request_id IS NULL").count() == 0


def test_ingest_tags_rows_and_records_results_in_the_same_pass(spark, bronze_day):
    lake, reports = bronze_day
    ledger_rows = {
        r["file"].rsplit("/", 1)[-1]: r
        for r in spark.read.format("delta")
        .load(lake.table("_system", "run_ledger"))
        .where("run_id = 'run-dq-1'")
        .collect()
    }
    results = (
        spark.read.format("delta").load(lake.table("_system", "dq_results")).where("run_id = 'run-dq-1'")
    )
    expected_by_feed: dict[tuple[str, str], int] = {}
    for rep in reports:
        name = rep.path.rsplit("/", 1)[-1]
        if rep.kind == "resend":
            continue
        expected = rep.faults["null_required"] + rep.faults["out_of_range"]
        assert ledger_rows[name]["rows_dq_dropped"] == expected, name
        key = (rep.unit, rep.feed)
        expected_by_feed[key] = expected_by_feed.get(key, 0) + expected
    # one result row per run, unit, feed and expectation
    for (unit, feed), expected in expected_by_feed.items():
        mine = results.where(f"unit = '{unit}' AND feed = '{feed}'")
        assert mine.count() == mine.select("expectation_id").distinct().count()
        assert mine.where("severity = 'drop'").groupBy().sum("failures").first()[0] == expected
    contract = "service_requests"
    bronze = spark.read.format("delta").load(lake.table("bronze", contract))
    tagged = bronze.where(
        f"exists({DQ_FAILED}, x -> x LIKE '%not_be_null%' OR x LIKE '%be_between%')"
    ).count()
    assert tagged == sum(r.faults["null_required"] + r.faults["out_of_range"] for r in reports
                         if r.feed == contract and r.kind != "resend")  # fmt: skip
