"""Feeds as units really send them: JSON lines whose records grow keys, CSV fields with line breaks."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
from pathlib import Path

import pytest

from citylake.config.registry import Registry
from citylake.generate import build_rows, render
from citylake.lake import Lake, ledger
from jobs import bronze_ingest
from jobs.context import JobRun

pytestmark = pytest.mark.spark

DAY = dt.date(2026, 11, 23)


def _feed(registry, fmt: str, **spec):
    for f in registry.feeds():
        if f.spec.format == fmt and all(getattr(f.spec, k) == v for k, v in spec.items()):
            return f
    raise LookupError(fmt)


def _land(lake: Lake, feed, name: str, data: bytes) -> Path:
    p = Path(lake.landing_dir(feed.unit.unit, feed.spec.feed, DAY.isoformat())) / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return p


def _text(feed, rows: int) -> str:
    data = render(feed, build_rows(feed, DAY, 0.05)[:rows], {})
    if feed.spec.compression == "gzip":
        data = gzip.decompress(data)
    return data.decode(feed.spec.encoding)


def _ledger_row(spark, lake: Lake, run_id: str, name: str):
    rows = spark.read.format("delta").load(lake.table("_system", "run_ledger")).where(f"run_id = '{run_id}'")
    return next(r for r in rows.collect() if r["file"].endswith("/" + name))


def test_json_keys_the_contract_lacks_are_reported_per_file(spark, registry, lake):
    feed = _feed(registry, "jsonl", compression="none")
    records = [json.loads(line) for line in _text(feed, 6).splitlines() if line.strip()]
    records[2]["vendor_note"] = "x"  # record 3 grows a key; record 5 another
    records[4]["firmware"] = "2.1"
    _land(
        lake,
        feed,
        "drift.jsonl",
        ("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n").encode(),
    )
    result = bronze_ingest.run(JobRun(spark, lake, registry, DAY, "run-drift"))
    outcome = next(f for f in result.files if f.file.endswith("/drift.jsonl"))
    assert outcome.status == ledger.LOADED and outcome.rows_bronze + outcome.rows_quarantined == len(records)
    assert outcome.schema_drift is not None
    assert (
        "['firmware', 'vendor_note']" in outcome.schema_drift and "first in record 3" in outcome.schema_drift
    )
    row = _ledger_row(spark, lake, "run-drift", "drift.jsonl")
    assert row["schema_drift"] == outcome.schema_drift
    bronze = spark.read.format("delta").load(lake.table("bronze", feed.contract.contract))
    assert bronze.where("_source_file LIKE '%/drift.jsonl'").count() == outcome.rows_bronze


def test_json_drift_is_found_however_the_record_is_spaced_and_whatever_it_leaves_out(spark, registry, lake):
    """Keys are listed only for records that may hold one the contract lacks; that shortcut must
    not miss a new key that replaces an absent field, or one spaced or tabbed before its colon."""
    feed = _feed(registry, "jsonl", compression="none")
    records = [json.loads(line) for line in _text(feed, 5).splitlines() if line.strip()]
    last = list(records[1])[-1]
    records[1] = {k: v for k, v in records[1].items() if k != last} | {"sensor_rev": "b"}  # as many keys
    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    lines[3] = json.dumps(records[3] | {"site_note": "x"}, ensure_ascii=False, separators=(", ", " : "))
    lines[4] = json.dumps(records[4] | {"cabinet": 7}, ensure_ascii=False, separators=(",", "\t:"))
    _land(lake, feed, "spaced.jsonl", ("\n".join(lines) + "\n").encode())
    result = bronze_ingest.run(JobRun(spark, lake, registry, DAY, "run-spaced"))
    outcome = next(f for f in result.files if f.file.endswith("/spaced.jsonl"))
    assert outcome.rows_bronze + outcome.rows_quarantined == len(lines)
    assert outcome.schema_drift is not None
    assert "['cabinet', 'sensor_rev', 'site_note']" in outcome.schema_drift, outcome.schema_drift
    assert "first in record 2" in outcome.schema_drift


def _with_newline(feed) -> tuple[str, int]:
    """The feed's CSV with a line break inside one quoted field; (text, records)."""
    rows = list(csv.reader(io.StringIO(_text(feed, 5))))
    header, body = rows[0], rows[1:]
    names = [feed.contract.header_map[h] for h in header]
    text_col = next(i for i, n in enumerate(names) if feed.contract.by_name[n].type == "string"
                    and not feed.contract.by_name[n].role and not feed.contract.by_name[n].allowed)  # fmt: skip
    body[1][text_col] = "first line\nsecond line"
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([header, *body])
    return out.getvalue(), len(body)


def _multiline(registry: Registry, feed) -> Registry:
    unit = registry.units[feed.unit.unit]
    feeds = tuple(
        f.model_copy(update={"multiline": True}) if f.feed == feed.spec.feed else f for f in unit.feeds
    )
    units = {**registry.units, unit.unit: unit.model_copy(update={"feeds": feeds})}
    return Registry(registry.contracts, units, registry.root, registry.marts)


def test_quoted_newlines_are_rejected_by_name_unless_the_feed_reads_files_whole(spark, registry, lake):
    feed = _feed(registry, "csv", encoding="utf-8", compression="none")
    text, records = _with_newline(feed)
    _land(lake, feed, "notes.csv", text.encode("utf-8"))
    first = bronze_ingest.run(JobRun(spark, lake, registry, DAY, "run-newline-1"))
    outcome = next(f for f in first.files if f.file.endswith("/notes.csv"))
    assert outcome.status == ledger.REJECTED
    assert "line 3: a quoted field holds a line break" in (outcome.reason or "")
    assert (
        f"`multiline: true` for feed {feed.spec.feed} in schemas/units/{feed.unit.unit}.yaml"
        in outcome.reason
    )
    assert outcome.rows_landed == outcome.rows_quarantined > 0
    # the unit's file declares `multiline: true`: the same file, judged again, loads whole
    second = bronze_ingest.run(JobRun(spark, lake, _multiline(registry, feed), DAY, "run-newline-2"))
    outcome = next(f for f in second.files if f.file.endswith("/notes.csv"))
    assert outcome.status == ledger.LOADED and outcome.rows_landed == records
    assert outcome.rows_bronze + outcome.rows_quarantined == records
    bronze = spark.read.format("delta").load(lake.table("bronze", feed.contract.contract))
    mine = bronze.where("_source_file LIKE '%/notes.csv'").orderBy("_record_no").collect()
    assert [r["_record_no"] for r in mine] == list(range(1, records + 1))
    assert any(
        "first line\nsecond line" in [v for v in r.asDict().values() if isinstance(v, str)] for r in mine
    )


def test_parquet_read_again_for_each_use_keeps_its_record_numbers_across_splits(spark, registry, lake):
    """Parquet files are not cached (JSON lines and CSV are): the gate's counts and the write each
    read them again, and the per-split offsets of the first read must number the second. A file
    Spark reads in several splits, in one batch with a cached JSON lines file."""
    import pyarrow.parquet as pq

    pq_feed = next(
        f
        for f in registry.feeds()
        if f.spec.format == "parquet"
        and any(
            g.spec.format == "jsonl" and g.contract.contract == f.contract.contract for g in registry.feeds()
        )
    )
    js_feed = next(
        g
        for g in registry.feeds()
        if g.spec.format == "jsonl"
        and g.contract.contract == pq_feed.contract.contract
        and g.unit != pq_feed.unit
    )
    table = pq.read_table(io.BytesIO(render(pq_feed, build_rows(pq_feed, DAY, 2.0), {})))
    assert len(set(map(str, table.to_pylist()))) == table.num_rows  # every record tells which it is
    buf = io.BytesIO()
    pq.write_table(table, buf, row_group_size=table.num_rows // 8)  # splits fall between row groups
    data = buf.getvalue()
    path = _land(lake, pq_feed, "split" + pq_feed.spec.extension, data)
    _land(
        lake, js_feed, "beside" + js_feed.spec.extension, render(js_feed, build_rows(js_feed, DAY, 0.05), {})
    )
    key = "spark.sql.files.maxPartitionBytes"
    before = spark.conf.get(key)
    spark.conf.set(key, str(len(data) // 4))
    try:
        splits = spark.read.parquet(str(path)).select("_metadata.file_block_start").distinct().count()
        result = bronze_ingest.run(JobRun(spark, lake, registry, DAY, "run-parquet-splits"))
    finally:
        spark.conf.set(key, before)
    assert splits >= 3  # the file really is read in several splits
    outcome = next(f for f in result.files if f.file.endswith("/" + path.name))
    assert outcome.status == ledger.LOADED and outcome.rows_bronze == table.num_rows
    assert any(f.file.endswith("/beside" + js_feed.spec.extension) and f.rows_bronze for f in result.files)
    names = [c.name for c in pq_feed.contract.columns]
    bronze = (
        spark.read.format("delta")
        .load(lake.table("bronze", pq_feed.contract.contract))
        .where(f"_source_file LIKE '%/{path.name}'")
        .orderBy("_record_no")
        .collect()
    )
    assert [r["_record_no"] for r in bronze] == list(range(1, table.num_rows + 1))
    sent = table.select(names).to_pylist()
    strings = [c.name for c in pq_feed.contract.columns if c.type == "string"]
    assert strings
    for row, want in zip(bronze, sent, strict=True):
        assert [row[n] for n in strings] == [want[n] for n in strings], row["_record_no"]


def _lines_with_blanks(lines: list[str], every: int, blank: str) -> list[str]:
    out = []
    for n, line in enumerate(lines):
        out.append(line)
        if n and n % every == 0:
            out.append(blank)
    return out


def test_text_files_read_in_splits_are_numbered_in_one_pass(spark, registry, lake):
    """A CSV (GBK, CRLF, lines of blanks between records) and a JSON lines file (lines of spaces),
    each read by Spark in several splits: every record's number is its place in its file, though
    nothing counted the records before the write (preflight counted them at the splits' starts)."""
    from pyspark.sql import functions as F

    csv_feed = _feed(registry, "csv", encoding="gbk", compression="none", multiline=False)
    js_feed = _feed(registry, "jsonl", compression="none")
    # each record says which it is, in a free text column
    marked = {f: next(c.name for c in f.contract.columns if c.type == "string" and not c.allowed and not c.pii
                      and not c.role) for f in (csv_feed, js_feed)}  # fmt: skip
    rows = list(csv.reader(io.StringIO(_text(csv_feed, 3_000))))
    header, body = rows[0], rows[1:]
    at = [csv_feed.contract.header_map[h] for h in header].index(marked[csv_feed])
    for n, r in enumerate(body, start=1):
        r[at] = f"rec{n:06d}"
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(body)
    # blank and whitespace-only lines among the records: Spark's CSV reader skips them, and so
    # must the numbers (a record is numbered among records, as preflight counts them)
    csv_lines = [",".join(header), *_lines_with_blanks(out.getvalue().split("\r\n")[:-1], 97, " \t")]
    csv_path = _land(lake, csv_feed, "big.csv", ("\r\n".join(csv_lines) + "\r\n").encode("gbk"))
    docs = []
    for n, line in enumerate((x for x in _text(js_feed, 3_000).splitlines() if x.strip()), start=1):
        doc = json.loads(line)
        src = next(k for k in doc if js_feed.contract.header_map.get(k) == marked[js_feed])
        docs.append(json.dumps(doc | {src: f"rec{n:06d}"}, ensure_ascii=False))
    js_path = _land(lake, js_feed, "big.jsonl", ("\n".join(_lines_with_blanks(docs, 89, "   ")) + "\n").encode())
    key = "spark.sql.files.maxPartitionBytes"
    before = spark.conf.get(key)
    spark.conf.set(key, str(min(csv_path.stat().st_size, js_path.stat().st_size) // 5))
    try:
        splits = {
            p.name: spark.read.text(str(p)).select(F.input_file_block_start()).distinct().count()
            for p in (csv_path, js_path)
        }
        result = bronze_ingest.run(JobRun(spark, lake, registry, DAY, "run-text-splits"))
    finally:
        spark.conf.set(key, before)
    assert min(splits.values()) >= 5, splits  # each file really is read in several splits
    for feed, path, sent in ((csv_feed, csv_path, len(body)), (js_feed, js_path, len(docs))):
        outcome = next(f for f in result.files if f.file.endswith("/" + path.name))
        assert outcome.status == ledger.LOADED and outcome.reason is None, outcome
        assert outcome.rows_landed == sent == outcome.rows_bronze + outcome.rows_quarantined
        bronze = (
            spark.read.format("delta").load(lake.table("bronze", feed.contract.contract))
            .where(f"_source_file LIKE '%/{path.name}'").orderBy("_record_no").collect()
        )  # fmt: skip
        quarantined = (
            spark.read.format("delta").load(lake.table("quarantine", "bronze_records"))
            .where(f"source_file LIKE '%/{path.name}'").collect()
        )  # fmt: skip
        numbers = sorted([r["_record_no"] for r in bronze] + [r["record_no"] for r in quarantined])
        assert numbers == list(range(1, sent + 1)), path.name
        # and each number is that record's place: record n is the one sent n-th
        col = marked[feed]
        wrong = [r["_record_no"] for r in bronze if r[col] != f"rec{r['_record_no']:06d}"]
        assert not wrong, (path.name, col, wrong[:5])
