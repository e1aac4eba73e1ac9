"""Bronze ingestion on real Spark and Delta: counts, record numbers, quarantine, exactly-once."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
from pathlib import Path

import pytest

from citylake.engine.delta_io import latest_version
from citylake.generate import build_rows, generate, render
from citylake.lake import Lake, ledger
from jobs import bronze_ingest
from jobs.context import JobRun

pytestmark = pytest.mark.spark

DAY = dt.date(2026, 11, 20)
UNITS = ["d310115_parking", "op_teld", "d310104_gov_service", "op_nio_power", "op_cmcc_310115"]


def _ledger(spark, lake: Lake, run_id: str):
    return (
        spark.read.format("delta")
        .load(lake.table("_system", "run_ledger"))
        .where(f"run_id = '{run_id}'")
        .collect()
    )


def _bronze_versions(spark, lake: Lake, registry) -> dict[str, int | None]:
    return {
        c.contract: latest_version(spark, lake.table("bronze", c.contract))
        for c in registry.contracts_in_use()
    }


@pytest.fixture(scope="module")
def day(spark, registry, module_lake):
    reports = generate(registry, DAY, 0.05, UNITS, module_lake)
    result = bronze_ingest.run(JobRun(spark, module_lake, registry, DAY, "run-test-1"))
    return module_lake, reports, result


def test_every_file_accounted_and_invariant_holds(spark, day):
    lake, reports, result = day
    assert result.status == "ok"
    rows = _ledger(spark, lake, "run-test-1")
    assert len(rows) == len(reports)
    for r in rows:
        assert r["rows_landed"] == r["rows_bronze"] + r["rows_quarantined"], r
    by_file = {r["file"].rsplit("/", 1)[-1]: r for r in rows}
    for rep in reports:
        row = by_file[Path(rep.path).name]
        assert row["rows_landed"] == rep.records
        if rep.kind == "resend":
            assert row["status"] == ledger.DUPLICATE and row["rows_bronze"] == 0
        else:
            assert row["status"] == ledger.LOADED
            assert row["rows_quarantined"] == len(rep.malformed_records)


def test_quarantine_has_exact_records_raw_text_and_reason(spark, day):
    lake, reports, _ = day
    q = spark.read.format("delta").load(lake.table("quarantine", "bronze_records")).collect()
    got = {(r["source_file"].rsplit("/", 1)[-1], r["record_no"]) for r in q}
    want = {
        (Path(rep.path).name, n) for rep in reports if rep.kind != "resend" for n in rep.malformed_records
    }
    assert got == want and want
    for r in q:
        assert r["raw_text"] and r["reason"]
        assert r["reason"].startswith(("expected ", "field '", "invalid JSON")), r["reason"]


def test_bronze_matches_the_file_parsed_independently(spark, registry, day):
    """Compare one GBK/GB18030 CSV with Chinese headers, record by record, with Python's csv."""
    lake, reports, _ = day
    feed = registry.feed("d310115_parking", "parking_lots")
    rep = next(
        r for r in reports if r.unit == "d310115_parking" and r.feed == "parking_lots" and r.kind == "main"
    )
    raw = Path(rep.path).read_bytes()
    if feed.spec.compression == "gzip":
        raw = gzip.decompress(raw)
    reader = csv.reader(io.StringIO(raw.decode(feed.spec.encoding).lstrip("\ufeff")))
    header = [feed.contract.header_map[h] for h in next(reader)]
    expected = {}
    for n, cells in enumerate(reader, start=1):
        if n in rep.malformed_records:
            continue
        expected[n] = dict(zip(header, cells, strict=True))
    bronze = (
        spark.read.format("delta")
        .load(lake.table("bronze", "parking_lots"))
        .where(f"_source_file LIKE '%/{Path(rep.path).name}'")
        # render times in the session zone (Asia/Shanghai), not the Python process's zone
        .selectExpr("*", "date_format(updated_at, 'yyyy-MM-dd HH:mm:ss') AS updated_local")
        .collect()
    )
    assert len(bronze) == len(expected)
    for row in bronze:
        want = expected[row["_record_no"]]
        assert row["lot_id"] == (want["lot_id"] or None)
        assert row["lot_name"] == want["lot_name"]  # Chinese text decoded from the declared encoding
        assert row["_unit"] == "d310115_parking" and row["_feed"] == "parking_lots"
        if want["total_spaces"]:
            assert row["total_spaces"] == int(want["total_spaces"])
        if want["lon"]:
            assert row["lon"] == pytest.approx(float(want["lon"]))
        assert row["updated_local"] == want["updated_at"]
        assert row["_logical_date"] == DAY


def test_rerun_adds_no_rows_and_no_versions(spark, registry, day):
    lake, _, _ = day
    before = _bronze_versions(spark, lake, registry)
    counts = {c: spark.read.format("delta").load(lake.table("bronze", c)).count() for c in before}
    again = bronze_ingest.run(JobRun(spark, lake, registry, DAY, "run-test-2"))
    assert {f.status for f in again.files} == {ledger.SKIPPED}
    assert sum(f.rows_bronze for f in again.files) == 0
    assert _bronze_versions(spark, lake, registry) == before
    assert {c: spark.read.format("delta").load(lake.table("bronze", c)).count() for c in before} == counts


# --- bad input -----------------------------------------------------------------------------


def _feed_where(registry, **want):
    for f in registry.feeds():
        if all(getattr(f.spec, k) == v for k, v in want.items()):
            return f
    raise LookupError(want)


def _land(lake: Lake, feed, name: str, data: bytes) -> Path:
    p = Path(lake.landing_dir(feed.unit.unit, feed.spec.feed, DAY.isoformat())) / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return p


def _csv_text(feed, rows=5) -> str:
    data = render(feed, build_rows(feed, DAY, 0.01)[:rows], {})
    if feed.spec.compression == "gzip":
        data = gzip.decompress(data)
    return data.decode(feed.spec.encoding)


@pytest.fixture(scope="module")
def bad_day(spark, registry, tmp_path_factory):
    lake = Lake(str(tmp_path_factory.mktemp("bad")))
    gbk = _feed_where(registry, format="csv", encoding="gbk", compression="none")
    utf8 = _feed_where(registry, format="csv", encoding="utf-8", compression="none")
    gz = _feed_where(registry, format="csv", compression="gzip")
    pq_feed = _feed_where(registry, format="parquet")
    good = _land(lake, gbk, "good.csv", _csv_text(gbk).encode("gbk"))
    _land(lake, gbk, "zz_resent.csv", good.read_bytes())  # a byte-identical re-send of good.csv
    cases = {}
    # an unknown unit and an unknown feed of a known unit
    p = Path(lake.zone("landing")) / "op_nobody" / "parking_lots" / DAY.isoformat() / "x.csv"
    p.parent.mkdir(parents=True)
    p.write_text("a,b\n1,2\n")
    cases["unknown_unit"] = p
    cases["unknown_feed"] = _land(
        lake,
        type(gbk)(gbk.unit, gbk.spec.model_copy(update={"feed": "no_such_feed"}), gbk.contract),
        "y.csv",
        b"a\n1\n",
    )
    cases["empty"] = _land(lake, gbk, "empty.csv", b"")
    cases["header_only"] = _land(
        lake, gbk, "header_only.csv", _csv_text(gbk).splitlines()[0].encode("gbk") + b"\n"
    )
    # a unit declared UTF-8 sends GBK: the ASCII header decodes, the first Chinese record does not
    cases["wrong_encoding"] = _land(lake, utf8, "gbk_not_utf8.csv", _csv_text(utf8).encode("gbk"))
    full = render(gz, build_rows(gz, DAY, 0.05), {})
    cases["truncated_gzip"] = _land(lake, gz, "truncated.csv.gz", full[: len(full) // 2])
    lines = _csv_text(gbk).splitlines()
    cases["extra_column"] = _land(
        lake, gbk, "extra.csv", "\n".join([lines[0] + ",备注"] + [x + ",x" for x in lines[1:]]).encode("gbk")
    )
    cases["missing_column"] = _land(
        lake, gbk, "missing.csv", "\n".join(x.rsplit(",", 1)[0] for x in lines).encode("gbk")
    )
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols = {
        c.name: pa.array(["not-a-number"] if c.type != "string" else ["x"]) for c in pq_feed.contract.columns
    }
    buf = io.BytesIO()
    pq.write_table(pa.table(cols), buf)
    cases["parquet_wrong_types"] = _land(lake, pq_feed, "wrong_types.parquet", buf.getvalue())
    # one rule for empty deliveries, whatever the format: no records, set aside with a reason
    arrow = {"string": pa.string(), "int": pa.int32(), "long": pa.int64(), "double": pa.float64(),
             "boolean": pa.bool_(), "timestamp": pa.timestamp("us", tz="UTC"), "date": pa.date32()}  # fmt: skip
    empty = pa.schema([(c.name, arrow[c.type]) for c in pq_feed.contract.columns])
    buf = io.BytesIO()
    pq.write_table(empty.empty_table(), buf)
    cases["parquet_zero_rows"] = _land(lake, pq_feed, "zero_rows.parquet", buf.getvalue())
    jl_feed = _feed_where(registry, format="jsonl", compression="none")
    cases["jsonl_blank_lines"] = _land(lake, jl_feed, "blank.jsonl", b"\n  \n\n")
    result = bronze_ingest.run(JobRun(spark, lake, registry, DAY, "run-bad-1"))
    return lake, cases, good, result


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("unknown_unit", "unknown unit/feed op_nobody/parking_lots"),
        ("unknown_feed", "not in the registry"),
        ("empty", "empty file"),
        ("header_only", "header only"),
        ("wrong_encoding", "not valid utf-8 at line 2"),
        ("truncated_gzip", "gzip stream is truncated"),
        ("extra_column", "unexpected columns at position(s) 11 of 11 (their text is not shown)"),
        ("missing_column", "missing columns"),
        ("parquet_wrong_types", "wrong types: field '"),
        ("parquet_zero_rows", "no records"),
        ("jsonl_blank_lines", "empty file"),
    ],
)
def test_bad_input_is_rejected_with_a_reason(spark, bad_day, case, reason):
    lake, cases, _, result = bad_day
    name = cases[case].name
    outcome = next(f for f in result.files if f.file.endswith("/" + name))
    assert outcome.status == ledger.REJECTED
    assert reason in (outcome.reason or ""), outcome.reason
    row = next(r for r in _ledger(spark, lake, "run-bad-1") if r["file"].endswith("/" + name))
    assert row["status"] == ledger.REJECTED and reason in row["reason"]
    assert row["rows_landed"] == row["rows_bronze"] + row["rows_quarantined"]
    rejected = spark.read.format("delta").load(lake.table("quarantine", "rejected_files"))
    copy = rejected.where(rejected.source_file.endswith("/" + name)).first()
    assert copy is not None and Path(copy["copy_path"]).read_bytes() == cases[case].read_bytes()


def test_bad_files_do_not_stop_the_good_one(spark, bad_day):
    lake, _, good, result = bad_day
    assert result.status == "partial"
    outcome = next(f for f in result.files if f.file.endswith("/good.csv"))
    assert outcome.status == ledger.LOADED and outcome.rows_bronze == 5


def test_a_resent_duplicate_is_recorded_by_checksum_not_copied(bad_day):
    import hashlib

    lake, _, _, result = bad_day
    outcome = next(f for f in result.files if f.file.endswith("/zz_resent.csv"))
    resent = Path(lake.zone("landing")) / outcome.file
    assert outcome.status == ledger.DUPLICATE and outcome.rows_bronze == 0
    rows = ledger.read_rows(
        lake, "quarantine", "rejected_files", ["source_file", "status", "sha256", "copy_path"]
    )
    dup = [r for r in rows if r["source_file"].endswith("/zz_resent.csv")]
    assert [r["status"] for r in dup] == [ledger.DUPLICATE]
    assert dup[0]["sha256"] == hashlib.sha256(resent.read_bytes()).hexdigest()
    assert dup[0]["copy_path"] is None  # its bytes are good.csv's: no second copy to erase
    copies = [p.name for p in (Path(lake.zone("quarantine")) / "files").rglob("*") if p.is_file()]
    assert copies and "zz_resent.csv" not in copies  # the rejected files are copied, it is not


def test_truncated_gzip_counts_what_landed(bad_day):
    _, cases, _, result = bad_day
    outcome = next(f for f in result.files if f.file.endswith("/truncated.csv.gz"))
    assert outcome.rows_landed > 0 and outcome.rows_quarantined == outcome.rows_landed


def test_changed_resend_is_reported_not_loaded(spark, registry, bad_day):
    lake, _, good, _ = bad_day
    feed = _feed_where(registry, format="csv", encoding="gbk", compression="none")
    before = spark.read.format("delta").load(lake.table("bronze", feed.contract.contract)).count()
    lines = _csv_text(feed).splitlines()
    lines[-1] = lines[-1].replace("2026-11-20", "2026-11-21")  # a corrected record, same file name
    good.write_bytes("\n".join(lines).encode("gbk"))
    result = bronze_ingest.run(JobRun(spark, lake, registry, DAY, "run-bad-2"))
    outcome = next(f for f in result.files if f.file.endswith("/good.csv"))
    assert outcome.status == ledger.CONFLICT and "changed content" in (outcome.reason or "")
    assert spark.read.format("delta").load(lake.table("bronze", feed.contract.contract)).count() == before
    assert result.status == "partial"
    # the unit puts the loaded bytes back under the name: already loaded, not loaded twice
    good.write_bytes(_csv_text(feed).encode("gbk"))
    again = bronze_ingest.run(JobRun(spark, lake, registry, DAY, "run-bad-3"))
    outcome = next(f for f in again.files if f.file.endswith("/good.csv"))
    assert outcome.status == ledger.SKIPPED, outcome
    assert spark.read.format("delta").load(lake.table("bronze", feed.contract.contract)).count() == before
    # the changed bytes once more: reported as a conflict the first time, passed over since
    good.write_bytes("\n".join(lines).encode("gbk"))
    third = bronze_ingest.run(JobRun(spark, lake, registry, DAY, "run-bad-4"))
    assert next(f for f in third.files if f.file.endswith("/good.csv")).status == ledger.SKIPPED
    assert spark.read.format("delta").load(lake.table("bronze", feed.contract.contract)).count() == before


def test_crash_between_commit_and_manifest_does_not_duplicate(spark, registry, lake, monkeypatch):
    generate(registry, DAY, 0.02, ["op_teld"], lake)

    def crash(*args, **kwargs):
        raise RuntimeError("simulated crash after the Delta commit")

    monkeypatch.setattr(bronze_ingest, "_record", crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        bronze_ingest.run(JobRun(spark, lake, registry, DAY, "run-crash-1"))
    monkeypatch.undo()
    path = lake.table("bronze", "ev_charging_sessions")
    rows_after_crash = spark.read.format("delta").load(path).count()
    version_after_crash = latest_version(spark, path)
    assert rows_after_crash > 0  # the commit happened; the manifest never heard of it
    result = bronze_ingest.run(JobRun(spark, lake, registry, DAY, "run-crash-2"))
    assert spark.read.format("delta").load(path).count() == rows_after_crash
    assert latest_version(spark, path) == version_after_crash
    replayed = [f for f in result.files if f.contract == "ev_charging_sessions"]
    assert replayed and all(f.status == ledger.LOADED for f in replayed)
    assert all(f.bronze_version == version_after_crash for f in replayed)


def test_a_scoped_run_touches_only_its_units(spark, registry, lake):
    from citylake.lake.preflight import Scope

    day = dt.date(2026, 11, 22)
    generate(registry, day, 0.02, ["op_teld", "d310115_parking"], lake)
    first = bronze_ingest.run(
        JobRun(spark, lake, registry, day, "run-scoped-1"), scope=Scope(frozenset({"op_teld"}))
    )
    assert first.files and {f.unit for f in first.files} == {"op_teld"}
    ledger_rows = spark.read.format("delta").load(lake.table("_system", "run_ledger"))
    assert {r["unit"] for r in ledger_rows.select("unit").distinct().collect()} == {"op_teld"}
    ev_version = latest_version(spark, lake.table("bronze", "ev_charging_sessions"))
    # the parking unit's day is run on its own later; op_teld's tables do not move
    second = bronze_ingest.run(
        JobRun(spark, lake, registry, day, "run-scoped-2"),
        scope=Scope(contracts=frozenset({"parking_occupancy"})),
    )
    assert {(f.unit, f.feed) for f in second.files} == {("d310115_parking", "parking_occupancy")}
    assert {f.status for f in second.files} <= {"loaded", "duplicate"}
    assert latest_version(spark, lake.table("bronze", "ev_charging_sessions")) == ev_version
    parking = spark.read.format("delta").load(lake.table("bronze", "parking_lots"))
    assert parking.count() == 0  # parking_lots is outside both scopes: not loaded, not rejected
