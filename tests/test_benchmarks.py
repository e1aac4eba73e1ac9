"""The benchmark harness's parts on small real data: the peers load what citylake loads, the
layout probe counts skipped files, the summary judges figures against targets, and tables are
worked on concurrently without losing order or failures."""

from __future__ import annotations

import datetime as dt
import shutil
import threading

import pytest

from benchmarks import layout, peers, report, rounds
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
    # issue 37's targets: ingest_vs_bare >= 0.55 (was 0.85), daily_vs_bare and slope_vs_bare <= 5.0 (were 3.0)
    assert s["ingest_vs_bare"] == {"value": 0.9, "target": ">= 0.55", "met": True, "at": "scale 2"}
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
    assert s["slope_vs_bare"] == {"value": 3.5, "target": "<= 5.0", "met": True, "at": "scales 8 to 16"}
    steeper = {**large, "daily_s": 120.0}  # 60 s more against 10 s more: 6.0, past the target
    assert report.slope_vs_bare(small, steeper) == 6.0 > report.TARGETS["slope_vs_bare"][1]
    assert s["scoped_vs_bare"]["value"] == 4.2 and s["scoped_vs_bare"]["met"] is True


def test_bench_pairs_sets_the_number_of_interleaved_rounds(monkeypatch):
    monkeypatch.delenv("BENCH_PAIRS", raising=False)
    assert rounds.pairs() == 3
    monkeypatch.setenv("BENCH_PAIRS", "1")  # a smoke run
    assert rounds.pairs() == 1
    for bad in ("0", "-2", "three"):
        monkeypatch.setenv("BENCH_PAIRS", bad)
        with pytest.raises(SystemExit, match=f"BENCH_PAIRS={bad}"):
            rounds.pairs()


def test_rounds_interleave_bare_same_outputs_and_citylake(monkeypatch, tmp_path):
    calls: list[str] = []

    def bare(spark, groups, out):
        calls.append(f"bare {out.rsplit('/', 1)[-1]}")
        return 1.0

    def same(spark, groups, out):
        calls.append(f"same {out.rsplit('/', 1)[-1]}")
        return 2.0, {"c": {"rows": 5, "bad": 1}}

    monkeypatch.setattr(peers, "bare_spark", bare)
    monkeypatch.setattr(peers, "same_outputs", same)
    done = rounds.interleave(2, None, {}, tmp_path / "peers", lambda i: calls.append(f"fresh {i}") or f"lake {i}",
                             lambda i, lake: calls.append(f"citylake on {lake}") or i)  # fmt: skip
    # each round: its fresh lake before any clock, then bare, same outputs, citylake; new outputs each round
    assert calls == ["fresh 0", "bare bare-1", "same same-outputs-1", "citylake on lake 0",
                     "fresh 1", "bare bare-2", "same same-outputs-2", "citylake on lake 1"]  # fmt: skip
    assert [(r.bare_s, r.same_outputs_s, r.citylake) for r in done] == [(1.0, 2.0, 0), (1.0, 2.0, 1)]
    assert rounds.observed_total(done[0].observed) == {"rows": 5, "bad": 1}
    assert rounds.worst_status(["ok", "held", "ok"]) == "held" and rounds.worst_status(["ok"]) == "ok"
    assert rounds.median_timings([{"bronze_s": 3.0, "silver_s": 1.0}, {"bronze_s": 5.0}, {"bronze_s": 4.0}]) == {
        "bronze_s": 4.0, "silver_s": 1.0}  # fmt: skip


def test_report_judges_the_medians_and_ingest_vs_same_outputs():
    # scale 2's figures as the median of 3 interleaved rounds, in the order run
    fig = rounds.figures(bare=[10.0, 11.0, 12.0], same_outputs=[14.0, 13.0, 15.0], bronze=[20.0, 19.0, 21.0],
                         daily=[50.0, 52.0, 48.0])  # fmt: skip
    assert fig == {
        "pairs": 3, "bare_spark_s": 11.0, "same_outputs_s": 14.0, "bronze_s": 20.0, "daily_s": 50.0,
        "bare_runs_s": [10.0, 11.0, 12.0], "same_outputs_runs_s": [14.0, 13.0, 15.0],
        "bronze_runs_s": [20.0, 19.0, 21.0], "daily_runs_s": [50.0, 52.0, 48.0],
        "ingest_vs_bare": 0.55, "ingest_vs_same_outputs": 0.7, "daily_vs_bare": 4.55,
    }  # fmt: skip
    timings = {"bronze_s": 20.0, "silver_s": 20.0, "gold_s": 8.0}
    common = {"files": 12, "units": 6, "polars_deltars_s": 4.0, "timings": timings, "gx_s": 2.0, "dq_overhead": 0.04,
              "dq_all_share": 0.1, "vs_polars_deltars": 5.0, "status": "ok"}  # fmt: skip
    small = {**common, **rounds.figures([8.0, 9.0, 8.5], [10.0, 10.5, 11.0], [16.0, 15.0, 17.0],
                                        [40.0, 41.0, 39.0])}  # fmt: skip
    flights = {"records": 9_000_000, "landed_mb": 317.4, "polars_deltars_s": 3.6, "timings": timings,
               "pairs": 3}  # fmt: skip
    results = {
        "profile": "volume", "date": "2026-11-21", "bench_wall_s": 600.0, "session_start_s": 5.0, "pairs": 3,
        "machine": {"cores_usable": 2, "cpu": "test cpu", "memory_gib": 8, "java": "OpenJDK 17", "python": "3.11",
                    "versions": {"spark": "3.5"}},
        "dag_parse": {"dags": 3, "units": 250, "dag_parse_s": 1.0, "runs_s": [1.1, 1.0, 0.9]},
        "per_feed": {"units": 250, "feeds": 313, "records": 900, "ingest_s": 57.0, "per_feed_overhead_s": 0.18,
                     "timings": {"bronze_s": 30.0}, "naive_submit_sample_s": {"u/f": 16.5}, "naive_per_feed_s": 16.5,
                     "naive_extrapolated_s": 5164.5},
        "scoped": {"unit": "d310101_eco", "files": 1, "records": 24, "bare_spark_s": 0.65, "scoped_s": 2.8,
                   "timings": {"bronze_s": 1.0}, "scoped_vs_bare": 4.31},
        "scales": [{**small, "scale": 1, "records": 1000, "landed_mb": 1.0},
                   {**common, **fig, "scale": 2, "records": 2000, "landed_mb": 2.0}],
        "files": [
            {**flights, "feed": "bench_flights_parquet/flights", "format": "parquet", "bare_spark_s": 2.6,
             "same_outputs_s": 4.0, "bronze_s": 5.0, "daily_s": 15.6, "ingest_vs_bare": 0.52,
             "ingest_vs_same_outputs": 0.8, "daily_vs_bare": 6.0, "bronze_runs_s": [5.0, 5.1, 4.9]},
            {**flights, "feed": "bench_flights_csv/flights", "format": "csv", "bare_spark_s": 9.0,
             "same_outputs_s": 11.2, "bronze_s": 12.5, "daily_s": 37.8, "ingest_vs_bare": 0.72,
             "ingest_vs_same_outputs": 0.9, "daily_vs_bare": 4.2},
        ],
        "layout": {"marts": {"m": {"published": True, "rows": 10, "files": 1, "median_file_bytes": 100}},
                   "skip_fraction": 0.94},
    }  # fmt: skip
    s = report.summary(results)
    assert s["ingest_vs_same_outputs"] == {"value": 0.7, "target": ">= 0.85", "met": False, "at": "scale 2"}
    assert s["ingest_vs_bare"] == {"value": 0.55, "target": ">= 0.55", "met": True, "at": "scale 2"}
    assert s["daily_vs_bare"] == {"value": 4.55, "target": "<= 5.0", "met": True, "at": "scale 2"}
    # medians: (50 - 40) daily s more against (11 - 8.5) bare s more
    assert s["slope_vs_bare"] == {"value": 4.0, "target": "<= 5.0", "met": True, "at": "scales 1 to 2"}
    # each flights file against its format's targets; ingest_vs_same_outputs against the common one
    csv, parquet = s["files"]["bench_flights_csv/flights"], s["files"]["bench_flights_parquet/flights"]
    assert csv["ingest_vs_bare"] == {"value": 0.72, "target": ">= 0.7", "met": True}
    assert csv["daily_vs_bare"] == {"value": 4.2, "target": "<= 4.0", "met": False}
    assert csv["ingest_vs_same_outputs"] == {"value": 0.9, "target": ">= 0.85", "met": True}
    # below 0.55 and above 5.0, the scales' targets, yet met against Parquet's own
    assert parquet["ingest_vs_bare"] == {"value": 0.52, "target": ">= 0.5", "met": True}
    assert parquet["daily_vs_bare"] == {"value": 6.0, "target": "<= 6.5", "met": True}
    assert parquet["ingest_vs_same_outputs"]["met"] is False
    results["summary"] = s
    md = report.markdown(results)
    assert "| `ingest_vs_same_outputs` | 0.7 | >= 0.85 | **missed** | scale 2 |" in md
    assert "## The daily run at each scale, median of 3 interleaved rounds" in md
    assert "| bare Spark s | same outputs s |" in md and "| ingest_vs_bare | ingest_vs_same_outputs |" in md
    assert "| 2 | 2,000 | 12 | 2.0 | 11.0 | 14.0 | 4.0 | 20.0 | 50.0 |" in md
    assert ("- scale 2: bare Spark 10.0, 11.0, 12.0; same outputs 14.0, 13.0, 15.0; citylake bronze 20.0, 19.0, 21.0; "
            "daily 50.0, 52.0, 48.0 s") in md  # fmt: skip
    assert "| 0.52 (met) | 0.8 (**missed**) | 6.0 (met) |" in md
    assert "| 0.72 (met) | 0.9 (met) | 4.2 (**missed**) |" in md
    assert "csv: `ingest_vs_bare` >= 0.7, `ingest_vs_same_outputs` >= 0.85, `daily_vs_bare` <= 4.0" in md
    # a results file from before the rounds still renders, as one run each
    old = {**results, "scales": [{k: v for k, v in r.items() if k != "pairs"} for r in results["scales"]]}
    old["scales"][-1].pop("ingest_vs_same_outputs")
    old["summary"] = report.summary(old)
    assert old["summary"]["ingest_vs_same_outputs"]["value"] is None
    assert "## The daily run at each scale, one run each" in report.markdown(old)


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
