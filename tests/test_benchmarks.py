"""The benchmark harness's parts on small real data: the peers load what citylake loads, the
layout probe counts skipped files, the summary judges figures against targets, and tables are
worked on concurrently without losing order or failures."""

from __future__ import annotations

import datetime as dt
import shutil
import threading

import pytest

from benchmarks import layout, peers, report
from citylake.config.settings import ConfigError, load_settings
from citylake.engine import parallel
from citylake.generate import generate

DAY = dt.date(2026, 11, 20)


def test_each_keeps_order_and_runs_concurrently():
    barrier = threading.Barrier(3, timeout=10)  # only passes if 3 items run at the same time

    def work(i: int) -> int:
        barrier.wait()
        return i * i

    assert parallel.each([1, 2, 3], work, workers=3) == [1, 4, 9]
    assert parallel.each([3, 1, 2], lambda i: i + 1, workers=1) == [4, 2, 3]


def test_each_propagates_a_failure():
    def work(i: int) -> int:
        if i == 2:
            raise ValueError("item 2")
        return i

    with pytest.raises(ValueError, match="item 2"):
        parallel.each([1, 2, 3], work, workers=2)


def test_concurrency_setting_is_validated(monkeypatch):
    monkeypatch.setenv("CITYLAKE_CONCURRENCY", "2")
    assert load_settings().concurrency == 2
    monkeypatch.setenv("CITYLAKE_CONCURRENCY", "0")
    with pytest.raises(ConfigError, match="at least 1"):
        load_settings()
    monkeypatch.setenv("CITYLAKE_CONCURRENCY", "many")
    with pytest.raises(ConfigError, match="CITYLAKE_CONCURRENCY"):
        load_settings()


@pytest.mark.spark
def test_peers_load_every_record_of_the_accepted_files(spark, registry, lake, tmp_path):
    from deltalake import DeltaTable

    # CSV in UTF-8 with a BOM and in GBK, gzip JSON lines and Parquet among them
    reports = generate(registry, DAY, 0.01, ["op_teld", "d310115_parking", "op_cainiao"], lake, faults=False)
    groups = peers.accepted_groups(lake, registry, DAY)
    formats = {g.format for gs in groups.values() for g in gs}
    assert formats == {"csv", "jsonl", "parquet"}
    want: dict[str, int] = {}
    feeds = {(f.unit.unit, f.spec.feed): f.contract.contract for f in registry.feeds()}
    for r in reports:
        want[feeds[(r.unit, r.feed)]] = want.get(feeds[(r.unit, r.feed)], 0) + r.records
    assert peers.bare_spark(spark, groups, str(tmp_path / "bare")) > 0
    assert peers.polars_deltars(groups, str(tmp_path / "polars")) > 0
    seconds, observed = peers.same_outputs(spark, groups, str(tmp_path / "same"))
    assert seconds > 0
    for contract, n in want.items():
        bare = spark.read.format("delta").load(str(tmp_path / "bare" / contract))
        polars = DeltaTable(str(tmp_path / "polars" / contract)).to_pyarrow_table()
        assert bare.count() == n == polars.num_rows, contract
        # the same-outputs peer: every record once, with a file id and a record number, and its
        # one observation counted what it wrote (no fault planted: nothing unparsed)
        same = spark.read.format("delta").load(str(tmp_path / "same" / contract))
        assert same.count() == n == observed[contract]["rows"], contract
        assert observed[contract]["bad"] == 0 == same.where("_corrupt_record IS NOT NULL").count(), contract
        assert same.select("_file_id", "_record_no").distinct().count() == n, contract
        # typed, not strings: the event time is a timestamp in both
        contract_doc = registry.contracts[contract]
        ts = contract_doc.event_time
        assert dict(bare.dtypes)[ts] == "timestamp", contract
        assert str(polars.schema.field(ts).type).startswith("timestamp"), contract
        assert polars.column(ts).null_count == 0, contract


def test_skip_fraction_counts_the_files_a_district_month_reads(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    districts = [f"3101{n:02d}" for n in range(1, 17)]
    files = []
    for d in districts:  # one file per district, as the mart's layout writes it
        path = tmp_path / f"{d}.parquet"
        pq.write_table(pa.table({"district_code": [d] * 3, "date": [DAY, DAY, DAY.replace(day=1)]}), path)
        files.append(path)
    got = layout.skip_fraction(files, "310105", DAY)
    assert (got["files"], got["files_read"], got["rows"]) == (16, 1, 3)
    assert got["skip_fraction"] == pytest.approx(15 / 16, abs=1e-3)
    # a month with no data reads nothing
    assert layout.skip_fraction(files, "310105", dt.date(2026, 10, 5))["files_read"] == 0


def test_summary_judges_each_figure_against_its_target():
    results = {
        "scales": [
            {"scale": 1, "daily_s": 100.0, "ingest_vs_bare": 0.5, "dq_overhead": 0.1, "dq_all_share": 0.2,
             "daily_vs_bare": 4.0, "vs_polars_deltars": 3.0},
            {"scale": 2, "daily_s": 230.0, "ingest_vs_bare": 0.9, "dq_overhead": 0.12, "dq_all_share": 0.2,
             "daily_vs_bare": 2.5, "vs_polars_deltars": 2.0},
        ],
        "per_feed": {"per_feed_overhead_s": 0.4, "feeds": 313, "naive_per_feed_s": 20.0},
        "dag_parse": {"dag_parse_s": 2.0, "units": 250},
        "layout": {"skip_fraction": 0.938},
    }  # fmt: skip
    s = report.summary(results)
    assert s["ingest_vs_bare"] == {"value": 0.9, "target": ">= 0.85", "met": True, "at": "scale 2"}
    assert s["scaling_2x"]["value"] == 2.3 and s["scaling_2x"]["met"] is False
    assert s["dag_parse_s"]["met"] is False  # the target is strictly below 2 s
    assert s["daily_vs_bare"]["met"] is True and s["per_feed_overhead_s"]["met"] is True
    assert s["vs_polars_deltars"]["met"] is None  # reported, no target
    assert s["daily_s"] == {"1": 100.0, "2": 230.0}


def test_slope_compares_the_extra_cost_per_record_with_bare_sparks():
    small = {"scale": 8, "records": 1_000_000, "bare_spark_s": 20.0, "daily_s": 60.0}
    large = {"scale": 16, "records": 2_000_000, "bare_spark_s": 30.0, "daily_s": 95.0}
    # 35 s more for the daily run against 10 s more for bare Spark, for the same extra records
    assert report.slope_vs_bare(small, large) == 3.5
    assert report.slope_vs_bare(small, {**large, "bare_spark_s": 19.0}) is None  # bare did not grow
    s = report.summary({
        "scales": [{**small, "ingest_vs_bare": 0.9, "dq_overhead": 0.1, "dq_all_share": 0.2, "daily_vs_bare": 3.0,
                    "vs_polars_deltars": 2.0},
                   {**large, "ingest_vs_bare": 0.9, "dq_overhead": 0.1, "dq_all_share": 0.2, "daily_vs_bare": 3.2,
                    "vs_polars_deltars": 2.0}],
        "per_feed": {"per_feed_overhead_s": 0.4, "feeds": 313, "naive_per_feed_s": 20.0},
        "dag_parse": {"dag_parse_s": 1.0, "units": 250}, "layout": {"skip_fraction": 0.95},
        "scoped": {"scoped_vs_bare": 4.2, "unit": "d310101_eco", "records": 20},
    })  # fmt: skip
    assert s["slope_vs_bare"] == {"value": 3.5, "target": "<= 3.0", "met": False, "at": "scales 8 to 16"}
    assert s["scoped_vs_bare"]["value"] == 4.2 and s["scoped_vs_bare"]["met"] is True


def test_volume_profile_adds_scales_8_and_16_and_the_single_file_feeds(monkeypatch):
    from benchmarks import run

    monkeypatch.setenv("BENCH_PROFILE", "volume")
    p = run.chosen_profile()
    assert p.scales[-2:] == (8, 16) and p.single_files
    monkeypatch.setenv("BENCH_PROFILE", "")
    monkeypatch.setenv("BENCH_QUICK", "1")
    assert run.chosen_profile().name == "quick"
    monkeypatch.setenv("BENCH_PROFILE", "huge")
    with pytest.raises(SystemExit, match="BENCH_PROFILE=huge"):
        run.chosen_profile()


def test_flights_feeds_onboard_as_one_contract_and_two_units(tmp_path):
    from benchmarks import volume
    from citylake.config.settings import load_settings
    from citylake.quality.suites import validate_suites

    settings = load_settings()
    schemas, exps = tmp_path / "schemas", tmp_path / "expectations"
    shutil.copytree(settings.registry_dir, schemas)
    shutil.copytree(settings.expectations_dir, exps)
    reg = volume.onboard(schemas, exps)
    feeds = {(f.unit.unit, f.spec.format) for f in reg.feeds() if f.contract.contract == volume.CONTRACT}
    assert feeds == {("bench_flights_parquet", "parquet"), ("bench_flights_csv", "csv")}
    assert validate_suites(reg, exps) == []
