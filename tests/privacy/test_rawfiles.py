"""Raw deliveries without Spark: records numbered as bronze numbers them, a subject's records
found on normalised text, and files rewritten without them, every other byte as delivered."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
import struct

import pytest

from citylake.config.registry import Feed
from citylake.generate import build_rows, render
from citylake.lake.subjects import normalise
from citylake.privacy import rawcodec, rawfiles
from citylake.privacy.rawfiles import Layout

DAY = dt.date(2026, 11, 20)
ROWS = 40
# (format, encoding, compression) of the deliveries units make, each with personal data
DELIVERIES = [("csv", "gbk", "none"), ("csv", "gb18030", "gzip"), ("csv", "utf-8-sig", "none"),
              ("jsonl", "utf-8", "gzip"), ("jsonl", "utf-8", "none"), ("parquet", "utf-8", "none")]  # fmt: skip


def _feed(registry, fmt: str, encoding: str, compression: str) -> Feed:
    return next(
        f for f in registry.feeds()
        if (f.spec.format, f.spec.encoding, f.spec.compression) == (fmt, encoding, compression)
        and any(c.pii in ("resident_id", "name", "mobile") for c in f.contract.columns)
    )  # fmt: skip


def _identifiers(feed: Feed, row: list) -> list[str]:
    return [str(v) for c, v in zip(feed.contract.columns, row, strict=True)
            if c.pii in ("resident_id", "name", "mobile") and v]  # fmt: skip


def _content(data: bytes, feed: Feed) -> bytes:
    return gzip.decompress(data) if feed.spec.compression == "gzip" else data


def _brute_force(feed: Feed, rows: list[list], needles: dict[int, list[str]]) -> dict[int, set[int]]:
    """Record number -> subjects, cell by cell, independently of rawfiles."""
    out: dict[int, set[int]] = {}
    for i, row in enumerate(rows):
        cells = [normalise(str(v)) for v in row if v is not None]
        got = {s for s, vals in needles.items() for v in vals for c in cells if v in c}
        if got:
            out[i + 1] = got
    return out


@pytest.fixture(params=DELIVERIES, ids=lambda d: "-".join(d))
def delivery(request, registry):
    feed = _feed(registry, *request.param)
    rows = build_rows(feed, DAY, 0.05)[:ROWS]
    assert len(rows) == ROWS
    # two subjects: one by the identifiers of record 8, one by those of record 21, which also
    # appears, in lower case and spaced out, in record 30
    first, second = _identifiers(feed, rows[7]), _identifiers(feed, rows[20])
    assert first and second
    j = next(k for k, c in enumerate(feed.contract.columns) if c.pii in ("resident_id", "name", "mobile"))
    value = str(rows[20][j])
    rows[29][j] = " ".join(value.lower()) if value.isascii() else value
    malformed = {} if feed.spec.format == "parquet" else {3: "bad_number"}
    return feed, rows, render(feed, rows, malformed), {1: first, 2: second}


def test_records_are_numbered_as_bronze_numbers_them(delivery):
    feed, rows, data, _ = delivery
    found = list(rawfiles.records(data, feed.spec, header=True))
    numbers = [r.number for r in found]
    header = [0] if feed.spec.format == "csv" else []
    assert numbers == header + list(range(1, ROWS + 1))  # 1-based, the header apart
    assert all(r.last == r.number for r in found)
    # the text is decoded: record 8's identifiers read as the generator wrote them
    text = next(r.text for r in found if r.number == 8)
    assert all(normalise(v) in normalise(text) for v in _identifiers(feed, rows[7]))


def test_a_subject_is_found_exactly_where_a_cell_by_cell_scan_finds_it(delivery):
    feed, rows, data, needles = delivery
    normalised = {s: [normalise(v) for v in vals] for s, vals in needles.items()}
    hits = rawfiles.find(data, feed.spec, normalised)
    assert hits == _brute_force(feed, rows, normalised)
    assert hits[8] >= {1} and hits[21] >= {2} and hits[30] >= {2}  # spaced, lower case: normalised


def test_rewriting_drops_exactly_those_records_and_keeps_every_other_byte(delivery):
    feed, rows, data, needles = delivery
    drop = set(rawfiles.find(data, feed.spec, {s: [normalise(v) for v in vs] for s, vs in needles.items()}))
    drop.add(4)  # the malformed record (csv, jsonl), as quarantine numbers it
    out = rawfiles.rewrite_without(data, feed.spec, drop)
    kept = [r for r in rawfiles.records(out, feed.spec)]
    assert len(kept) == ROWS - len(drop)
    if feed.spec.format == "parquet":
        import pyarrow.parquet as pq

        before, after = pq.ParquetFile(io.BytesIO(data)), pq.ParquetFile(io.BytesIO(out))
        assert after.schema_arrow.equals(before.schema_arrow, check_metadata=True)  # zones included
        assert "tz=" in str(after.schema_arrow)
        codecs = [
            before.metadata.row_group(0).column(j).compression for j in range(before.metadata.num_columns)
        ]
        assert [
            after.metadata.row_group(0).column(j).compression for j in range(after.metadata.num_columns)
        ] == codecs
        assert after.metadata.metadata.keys() == before.metadata.metadata.keys()
        want = [r for i, r in enumerate(before.read().to_pylist()) if i + 1 not in drop]
        assert after.read().to_pylist() == want
        return
    content, new = _content(data, feed), _content(out, feed)
    lines = content.splitlines(keepends=True)  # rendered with LF, no quoted line breaks
    header = lines[:1] if feed.spec.format == "csv" else []
    body = lines[len(header) :]
    assert new == b"".join(header + [x for n, x in enumerate(body, start=1) if n not in drop])
    if feed.spec.encoding == "utf-8-sig":
        assert new.startswith(rawfiles.BOM)
    text = new.decode(feed.spec.encoding)  # still the declared encoding, decodable
    assert all(normalise(v) not in normalise(text) for vs in needles.values() for v in vs)
    if feed.spec.compression == "gzip":
        assert out[:10] == data[:10]  # header: flags, mtime, XFL, OS
        assert out == gzip.compress(new, compresslevel=6, mtime=0)  # the generator's level, found


def test_nothing_to_drop_gives_the_same_bytes(delivery):
    feed, _, data, _ = delivery
    assert rawfiles.rewrite_without(data, feed.spec, set()) is data
    assert rawfiles.find(data, feed.spec, {1: ["NOBODY-AT-ALL"]}) == {}


def test_an_unknown_record_number_is_refused_naming_only_numbers(delivery):
    feed, _, data, _ = delivery
    with pytest.raises(rawfiles.RawFileError, match=rf"record\(s\) \[{ROWS + 1}\] not in the file"):
        rawfiles.rewrite_without(data, feed.spec, {ROWS + 1})


def _gzip_named(content: bytes, level: int) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(filename="visits 2026-11-20.csv", mode="wb", compresslevel=level, fileobj=buf,
                       mtime=1_764_000_000) as g:  # fmt: skip
        g.write(content)
    return buf.getvalue()


@pytest.mark.parametrize("level", [1, 6, 9])
def test_gzip_keeps_its_name_mtime_os_and_level(registry, level):
    feed = _feed(registry, "csv", "gb18030", "gzip")
    content = gzip.decompress(render(feed, build_rows(feed, DAY, 0.05)[:ROWS], {}))
    data = _gzip_named(content, level)
    out = rawfiles.rewrite_without(data, feed.spec, {2, 3})
    header = data[: data.index(b"\0", 10) + 1]
    assert out.startswith(header) and b"visits 2026-11-20.csv" in header
    assert struct.unpack("<I", out[4:8])[0] == 1_764_000_000
    lines = content.splitlines(keepends=True)
    new = b"".join(lines[:2] + lines[4:])
    assert gzip.decompress(out) == new
    assert out == _gzip_named(new, level)  # the same level, so the same deflate stream


def test_a_concatenated_gzip_is_read_whole_and_written_as_one_member(registry):
    feed = _feed(registry, "jsonl", "utf-8", "gzip")
    content = gzip.decompress(render(feed, build_rows(feed, DAY, 0.05)[:10], {}))
    lines = content.splitlines(keepends=True)
    data = gzip.compress(b"".join(lines[:5]), mtime=0) + gzip.compress(b"".join(lines[5:]), mtime=0)
    assert [r.number for r in rawfiles.records(data, feed.spec)] == list(range(1, 11))
    out = rawfiles.rewrite_without(data, feed.spec, {6})
    assert gzip.decompress(out) == b"".join(lines[:5] + lines[6:])


def _quoted_multiline_csv() -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(["visit_id", "patient_name", "note"])
    w.writerow(["V1", "王小明", "plain"])
    w.writerow(["V2", "李四", "first line\nsecond line, with a comma"])  # quoted, spans two lines
    w.writerow(["V3", "张三", 'says "hello"'])
    buf.write("\r\n")  # a blank line: Spark skips it, bronze does not number it
    w.writerow(["V4", "赵六", "last"])
    return buf.getvalue().encode("gbk")


def test_a_quoted_line_break_stays_inside_its_record_and_crlf_is_kept():
    data = _quoted_multiline_csv()
    multiline = Layout("csv", "gbk", multiline=True)
    found = list(rawfiles.records(data, multiline))
    assert [(r.number, r.last) for r in found] == [(1, 1), (2, 2), (3, 3), (4, 4)]
    assert "second line" in found[1].text and "李四" in found[1].text
    out = rawfiles.rewrite_without(data, multiline, {2})
    lines = data.split(b"\r\n")
    assert out == b"\r\n".join(lines[:2] + lines[3:])  # both physical lines of record 2 gone
    assert b"\r\n" in out and b"\n" not in out.replace(b"\r\n", b"")
    assert "李四" not in out.decode("gbk") and "王小明" in out.decode("gbk")
    # a feed read line by line numbers each line, as Spark does: the record covers two numbers
    by_line = list(rawfiles.records(data, Layout("csv", "gbk")))
    assert [(r.number, r.last) for r in by_line] == [(1, 1), (2, 3), (4, 4), (5, 5)]
    assert rawfiles.rewrite_without(data, Layout("csv", "gbk"), {3}) == out  # either number drops it


def test_a_stray_quote_in_a_line_read_feed_swallows_nothing():
    layout = Layout("csv", "gb18030")
    # the quote opens a field that never closes: not a record spanning lines (the field count
    # is not the header's), so each line is a record, as Spark reads them
    data = 'id,name,note\r\n1,"unclosed,x\r\n2,李四,y\r\n3,王五,z\r\n'.encode("gb18030")
    assert [r.number for r in rawfiles.records(data, layout)] == [1, 2, 3]
    assert rawfiles.find(data, layout, {1: ["李四"]}) == {2: {1}}
    assert rawfiles.rewrite_without(
        data, layout, {2}
    ) == 'id,name,note\r\n1,"unclosed,x\r\n3,王五,z\r\n'.encode("gb18030")


def test_json_lines_blank_lines_and_escaped_values():
    rec = {"name": "张三", "mobile": "13800001111"}
    data = (json.dumps(rec, ensure_ascii=True) + "\n  \n" + json.dumps({"name": "x"}) + "\r\n").encode()
    layout = Layout("jsonl")
    assert [r.number for r in rawfiles.records(data, layout)] == [1, 2]  # a line of spaces is blank
    assert rawfiles.find(data, layout, {7: ["张三"]}) == {1: {7}}  # found through the escapes
    assert (
        rawfiles.rewrite_without(data, layout, {1}) == b"  \n" + json.dumps({"name": "x"}).encode() + b"\r\n"
    )


def test_matching_is_on_normalised_text_and_never_across_parquet_cells():
    assert rawfiles.matches(
        "V1,zhang  san,13800001111", {1: ["ZHANGSAN"], 2: ["13800001111"], 3: ["X9"]}
    ) == {1, 2}
    assert rawfiles.matches(rawfiles.SEP.join(["ZHANG", "SAN"]), {1: ["ZHANGSAN"]}) == set()


# --- files of no known feed, or not what their feed declares ----------------------------------


def test_a_rejected_file_without_its_header_is_found_and_rewritten(registry):
    feed = _feed(registry, "csv", "gbk", "none")
    rows = build_rows(feed, DAY, 0.05)[:5]
    body = render(feed, rows, {}).split(b"\n", 1)[1]  # the header row missing: record 1 on line 1
    rel = "quarantine/files/2026-11-20/op_nobody/visits/no_header.csv"
    first = _identifiers(feed, rows[0])[0]
    layout = rawfiles.layout_for(rel, body, None)
    assert layout == Layout("csv", "gb18030")  # not UTF-8, no BOM
    needles = {1: [normalise(first)]}
    assert rawfiles.subject_records(body, rel, registry, needles) == {1: 1}
    done = rawfiles.scrub(body, rel, registry, needles)
    assert done.dropped == {0: {1}} and done.data == body.split(b"\n", 1)[1]


def test_a_file_in_another_encoding_than_declared_is_decoded_as_it_is(registry):
    feed = _feed(registry, "csv", "utf-8-sig", "none")
    rows = build_rows(feed, DAY, 0.05)[:5]
    data = render(feed, rows, {}).decode("utf-8-sig").encode("gbk")  # declared UTF-8, sent GBK
    name = next(v for c, v in zip(feed.contract.columns, rows[2], strict=True) if c.pii == "name")
    rel = f"quarantine/files/2026-11-20/{feed.unit.unit}/{feed.spec.feed}/wrong.csv"
    assert rawfiles.layout_for(rel, data, feed.spec).encoding == "gb18030"
    assert 3 in rawfiles.scrub(data, rel, registry, {1: [normalise(name)]}).dropped


def test_unknown_files_by_extension_and_bytes(registry):
    assert rawfiles.sniff("x.jsonl.gz", gzip.compress(b"{}\n")) == Layout("jsonl", "utf-8", True)
    assert rawfiles.sniff("x.csv", rawfiles.BOM + b"a,b\n") == Layout("csv", "utf-8-sig")
    assert rawfiles.sniff("x.parquet", b"not parquet") == Layout("lines", "utf-8")
    assert rawfiles.sniff("notes.txt", "张三".encode("gbk")) == Layout("lines", "gb18030")


def test_a_damaged_gzip_is_searched_and_goes_whole_when_it_holds_a_subject(registry):
    feed = _feed(registry, "csv", "gb18030", "gzip")
    rows = build_rows(feed, DAY, 0.05)[:ROWS]
    full = render(feed, rows, {})
    data = full[: len(full) * 3 // 4]  # truncated in transit: preflight rejected it
    rel = f"landing/{feed.unit.unit}/{feed.spec.feed}/2026-11-20/visits.csv.gz"
    with pytest.raises(rawcodec.RawFileError, match="truncated"):
        rawfiles.rewrite_without(data, feed.spec, {1})
    first = normalise(_identifiers(feed, rows[0])[0])
    assert rawfiles.subject_records(data, rel, registry, {1: [first]})[1] >= 1
    assert rawfiles.scrub(data, rel, registry, {1: [first]}).data is None  # purge it whole
    assert rawfiles.scrub(data, rel, registry, {1: ["NOBODY-AT-ALL"]}).data is data
