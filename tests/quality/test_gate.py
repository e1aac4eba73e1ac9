"""The quality gate end to end on a seeded sample: every injected fault is caught, exactly.

One daily run (bronze -> silver -> gold) over generated feeds; the generator's report says how
many records of each fault kind every file holds, and the lake must account for each of them.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from citylake.config.settings import REPO_ROOT, Settings
from citylake.generate import generate
from citylake.quality.rowchecks import expectation_key
from citylake.runs.pipeline import run_daily
from jobs import silver_conform
from jobs.context import JobRun

pytestmark = pytest.mark.spark
DAY = dt.date(2026, 11, 20)
UNITS = ["d310104_gov_service", "d310115_parking", "op_teld"]
COORD_UNITS = ["d310104_eco"]  # hourly air quality with coordinates, at a scale where 1% is several rows


@pytest.fixture(scope="module")
def gated(spark, registry, module_lake):
    reports = generate(registry, DAY, 0.2, UNITS, module_lake)
    reports += generate(registry, DAY, 4.0, COORD_UNITS, module_lake)
    # the generator has just landed every file whole: none needs to settle
    settings = Settings(lake_root=module_lake.root, shuffle_partitions=2, landing_settle_s=0)
    with pytest.MonkeyPatch.context() as mp:
        # contracts without personal data take silver's uncached path, as a large increment
        # does; service_requests and the EV sessions (personal data) keep the cached one
        mp.setattr(silver_conform, "RECOMPUTE_ROWS", 0)
        report = run_daily(DAY, settings=settings, spark=spark, registry=registry)
    return module_lake, reports, report


def _table(spark, lake, zone, name):
    return spark.read.format("delta").load(lake.table(zone, name))


def _loaded(reports):
    return [r for r in reports if r.kind != "resend"]


def _name(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def test_run_promotes_every_layer(gated):
    _, _, report = gated
    assert report.status == "ok", report.json()
    statuses = {p.dataset: p.status for p in report.publications}
    assert statuses["silver.service_requests"] == "published"
    assert statuses["gold.mart_service_requests_daily"] == "published"
    assert statuses["gold.mart_source_unit_health"] == "published"


def test_malformed_records_are_quarantined_exactly(spark, gated):
    lake, reports, _ = gated
    q = _table(spark, lake, "quarantine", "bronze_records")
    got = {_name(r["source_file"]): r["count"] for r in q.groupBy("source_file").count().collect()}
    for rep in _loaded(reports):
        assert got.get(_name(rep.path), 0) == rep.faults.get("malformed", 0), rep.path


def test_drop_faults_are_quarantined_exactly_per_kind(spark, registry, gated):
    lake, reports, _ = gated
    rows = _table(spark, lake, "quarantine", "dq_rows").collect()
    for rep in _loaded(reports):
        contract = registry.feed(rep.unit, rep.feed).contract
        mine = [r for r in rows if _name(r["source_file"]) == _name(rep.path)]
        broke = [set(r["failed_expectations"]) for r in mine]
        nulls = sum(any(":expect_column_values_to_not_be_null:" in e for e in b) for b in broke)
        coords = {contract.coordinates.lon, contract.coordinates.lat} if contract.coordinates else set()
        ranges = sum(
            any(":expect_column_values_to_be_between:" in e and e.rsplit(":", 1)[1] not in coords for e in b)
            for b in broke
        )
        swapped = sum(
            any(e.endswith(f":{c}") and "be_between" in e for c in coords for e in b) for b in broke
        )
        dups = sum(r["reason"].startswith("surplus copy") for r in mine)
        assert nulls == rep.faults.get("null_required", 0), rep.path
        assert ranges == rep.faults.get("out_of_range", 0), rep.path
        # every other bad coordinate is swapped: latitude ~121 breaks the contract's -90..90
        assert swapped == rep.faults.get("bad_coordinates", 0) // 2, rep.path
        assert dups == rep.faults.get("duplicate", 0), rep.path
        assert all(r["reason"] and r["record"] for r in mine)


def test_bad_coordinates_are_all_caught_by_the_city_box(spark, registry, gated):
    lake, reports, _ = gated
    dq = _table(spark, lake, "_system", "dq_results").where("layer = 'bronze'")
    caught = 0
    for rep in _loaded(reports):
        contract = registry.feed(rep.unit, rep.feed).contract
        if not contract.coordinates or rep.kind != "main":
            continue
        lon_box = dq.where(
            f"unit = '{rep.unit}' AND feed = '{rep.feed}' AND severity = 'warn' "
            f"AND expectation_id LIKE '%be_between:{contract.coordinates.lon}'"
        ).collect()
        assert len(lon_box) == 1
        assert lon_box[0]["failures"] == rep.faults["bad_coordinates"], rep.path
        caught += lon_box[0]["failures"]
    assert caught > 0


def test_invalid_ids_and_late_records_are_flagged_in_silver(spark, gated):
    lake, reports, _ = gated
    silver = _table(spark, lake, "silver", "service_requests")
    main = [r for r in reports if r.feed == "service_requests" and r.kind == "main"]
    assert main
    for rep in main:
        mine = silver.where(silver._source_file.endswith("/" + _name(rep.path)))
        assert mine.where("citizen_id_no_valid = false").count() == rep.faults["invalid_resident_id"] > 0
        assert mine.where(f"event_date < DATE'{DAY}'").count() == rep.faults["late"] > 0


def test_silver_holds_no_clear_personal_data(spark, gated):
    lake, _, _ = gated
    silver = _table(spark, lake, "silver", "service_requests")
    assert not {"citizen_name", "citizen_id_no", "citizen_mobile", "address"} & set(silver.columns)
    assert silver.where("citizen_id_no_hash NOT RLIKE '^[0-9a-f]{64}$'").count() == 0
    dq_rows = _table(spark, lake, "quarantine", "dq_rows")
    # a mobile number standing alone (inside a hex digest, 11 digits in a row are chance)
    assert dq_rows.where(r"record RLIKE '(^|[^0-9a-zA-Z])1[3-9][0-9]{9}([^0-9a-zA-Z]|$)'").count() == 0
    assert dq_rows.count() > 0


def test_results_per_run_unit_feed_and_suite(spark, gated):
    lake, reports, report = gated
    dq = _table(spark, lake, "_system", "dq_results").where(f"run_id = '{report.run_id}'")
    feeds = {(r.unit, r.feed) for r in _loaded(reports)}
    got = {
        (r["unit"], r["feed"])
        for r in dq.where("layer = 'bronze'").select("unit", "feed").distinct().collect()
    }
    assert got == feeds
    assert dq.where("layer = 'bronze' AND validation_id IS NULL").count() == 0
    layers = {r["layer"] for r in dq.select("layer").distinct().collect()}
    assert layers == {"bronze", "silver", "gold"}


def test_our_counts_agree_with_gx_summary(spark, gated):
    """The one-pass row tags must count exactly what GX counts, expectation by expectation."""
    lake, _, report = gated
    bronze = _table(spark, lake, "bronze", "service_requests")
    import great_expectations as gxm

    suite = json.loads((REPO_ROOT / "expectations/bronze/service_requests.json").read_text())
    eph = gxm.get_context(mode="ephemeral")
    batch = (
        eph.data_sources.add_spark("s")
        .add_dataframe_asset("a")
        .add_batch_definition_whole_dataframe("b")
        .get_batch(batch_parameters={"dataframe": bronze})
    )
    from great_expectations.core.expectation_suite import ExpectationSuite

    exps = [{"type": e["type"], "kwargs": e["kwargs"], "meta": {"id": f"bronze/service_requests#{expectation_key(i, e)}"}}
            for i, e in enumerate(suite["expectations"])]  # fmt: skip
    summary = batch.validate(ExpectationSuite(name="x", expectations=exps), result_format="SUMMARY")
    dq = _table(spark, lake, "_system", "dq_results").where(
        f"run_id = '{report.run_id}' AND contract = 'service_requests' AND layer = 'bronze'"
    )
    ours = {
        r["expectation_id"]: r["sum(failures)"]
        for r in dq.groupBy("expectation_id").sum("failures").collect()
    }
    compared = 0
    for res in summary.results:
        if "unexpected_count" not in (res.result or {}):
            continue
        key = res.expectation_config.meta["id"]
        assert ours[key] == res.result["unexpected_count"], key
        compared += 1
    assert compared >= 10


def test_data_docs_site_is_built_under_the_lake(gated):
    lake, _, report = gated
    index = Path(report.docs)
    assert index.is_file() and str(index).startswith(lake.root)
    html = index.read_text()
    assert "bronze.service_requests" in html and "gold.mart_parking_daily" in html


def test_published_manifest_matches_its_files(spark, gated):
    import hashlib

    lake, _, report = gated
    pub = {p.dataset: p for p in report.publications}["gold.mart_service_requests_daily"]
    manifest = json.loads(Path(pub.published_path).read_text())
    base = Path(pub.published_path).parent
    assert manifest["delta_version"] == pub.delta_version
    assert manifest["validation_id"] == pub.validation_id is not None
    assert manifest["grain"].startswith("one row per")
    for f in manifest["files"]:
        assert hashlib.sha256((base / f["path"]).read_bytes()).hexdigest() == f["sha256"]
    import pyarrow.parquet as pq

    rows = sum(pq.read_metadata(base / f["path"]).num_rows for f in manifest["files"])
    gold = spark.read.format("delta").option("versionAsOf", pub.delta_version).load(pub.path).count()
    assert rows == manifest["row_count"] == gold > 0


def test_a_validation_error_holds_the_batch_without_reloading_it(spark, registry, lake, monkeypatch):
    """Bronze is committed beside validation; if validation breaks, nothing is loaded twice."""
    from citylake.quality import gx_runner
    from jobs import bronze_ingest

    def broken(*_args, **_kwargs):
        raise RuntimeError("GX is down")

    monkeypatch.setattr(gx_runner.GxProject, "validate", broken)
    reports = generate(registry, DAY, 0.02, ["op_teld"], lake)
    result = bronze_ingest.run(JobRun(spark, lake, registry, DAY, "run-gx-down"))
    assert {f.status for f in result.files} <= {"loaded", "duplicate"}
    held = result.feeds[("op_teld", "ev_charging_sessions")]
    assert held.verdict == "failed" and "validation failed: GX is down" in held.reason()
    assert result.promotable() == {}
    landed = sum(r.records - r.faults.get("malformed", 0) for r in reports
                 if r.feed == "ev_charging_sessions" and r.kind != "resend")  # fmt: skip
    assert _table(spark, lake, "bronze", "ev_charging_sessions").count() == landed
