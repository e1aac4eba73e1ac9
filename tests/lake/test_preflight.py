"""Preflight on its own (no JVM): each limit with its default and a feed's own value, reasons
that never carry a value, counts the way Spark's line readers count, and no file that makes
``check`` raise. tests/test_hostile_deliveries.py runs such files through a whole pipeline run."""

from __future__ import annotations

import datetime as dt
import errno
import gzip
import hashlib
import io
import json
import shutil
from pathlib import Path

import pytest

from citylake.config.registry import Feed, FeedLimits, RegistryError, load_registry
from citylake.config.settings import REPO_ROOT
from citylake.engine.storage import LocalStore
from citylake.generate import build_rows, render
from citylake.lake import preflight
from citylake.lake.preflight import LandedFile

DATE = dt.date(2026, 11, 20)
DAY = DATE.isoformat()
PLANTED = ("11010519491231002X", "张三", "13800138000")  # a resident ID, a name, a mobile


def _feed(registry, unit: str, feed: str, **limits) -> Feed:
    f = registry.feed(unit, feed)
    assert f is not None
    if limits:
        f = Feed(f.unit, f.spec.model_copy(update={"limits": FeedLimits(**limits)}), f.contract)
    return f


def _check(tmp_path: Path, feed: Feed, name: str, data: bytes, store=None) -> LandedFile:
    p = tmp_path / feed.unit.unit / feed.spec.feed / DAY / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    lf = LandedFile(str(p), f"{feed.unit.unit}/{feed.spec.feed}/{DAY}/{name}", feed.unit.unit, feed.spec.feed,
                    DAY, len(data), feed_ref=feed)  # fmt: skip
    return preflight.check(lf, store or LocalStore())


def _text(feed: Feed, scale: float = 0.05) -> bytes:
    """The feed's content as its unit sends it, decompressed."""
    data = render(feed, build_rows(feed, DATE, scale), {})
    return gzip.decompress(data) if feed.spec.compression == "gzip" else data


@pytest.fixture(scope="module")
def mv(registry) -> Feed:
    """medical_visits as a plain GB18030 CSV: a feed with personal data."""
    return _feed(registry, "d310106_health", "medical_visits")


@pytest.fixture(scope="module")
def mv_gz(registry) -> Feed:
    return _feed(registry, "d310101_health", "medical_visits")


@pytest.fixture(scope="module")
def jsonl(registry) -> Feed:
    return next(f for f in registry.feeds() if f.spec.format == "jsonl" and f.spec.compression == "none")


@pytest.fixture(scope="module")
def parquet(registry) -> Feed:
    return next(f for f in registry.feeds() if f.spec.format == "parquet")


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")


# --- limits ---------------------------------------------------------------------------------


def test_a_line_over_max_line_bytes_is_rejected_by_name_and_value(tmp_path, mv, jsonl):
    header, *rows = _lines(_text(mv))
    lf = _check(tmp_path, mv, "nul_line.csv", header + b"\n" + rows[0] + b"\n" + b"\x00" * (9 << 20) + b"\n")
    assert not lf.ok
    assert lf.reason == ("line 3: longer than max_line_bytes = 8 MiB (the default; a feed's limits are set "
                         "under `limits:` in schemas/units/d310106_health.yaml)")  # fmt: skip
    # a JSON lines record of 9 MiB: rejected by default, loaded where the feed allows 16 MiB
    rec = json.loads(_lines(_text(jsonl))[0])
    key = next(k for k, v in rec.items() if isinstance(v, str))
    big = (json.dumps(rec | {key: "x" * (9 << 20)}) + "\n").encode()
    assert (
        "line 1: longer than max_line_bytes = 8 MiB (the default"
        in _check(tmp_path, jsonl, "a.jsonl", big).reason
    )
    raised = _feed_like(jsonl, max_line_bytes="16 MiB")
    lf = _check(tmp_path, raised, "b.jsonl", big)
    assert lf.ok and lf.records == 1, lf.reason


def _feed_like(feed: Feed, **limits) -> Feed:
    return Feed(feed.unit, feed.spec.model_copy(update={"limits": FeedLimits(**limits)}), feed.contract)


def test_a_field_over_max_field_bytes_is_rejected_naming_line_and_column(tmp_path, mv):
    header, *rows = _lines(_text(mv))
    cells = rows[1].split(b",")
    cells[2] = "科".encode("gb18030") * (600 << 10)  # department: 1.2 MiB as delivered (2 bytes a char)
    data = b"\n".join([header, rows[0], b",".join(cells), *rows[2:]])
    lf = _check(tmp_path, mv, "field.csv", data)
    assert lf.reason == ("line 3, field 3 (department): longer than max_field_bytes = 1 MiB (the default; a "
                         "feed's limits are set under `limits:` in schemas/units/d310106_health.yaml)")  # fmt: skip
    assert lf.records == len([r for r in rows if r.strip()])  # rejected whole: every record is counted
    lf = _check(tmp_path, _feed_like(mv, max_field_bytes="2 MiB"), "field2.csv", data)
    assert lf.ok and lf.records == len([r for r in rows if r.strip()])
    # a quoted field (with the delimiter inside) is measured as the csv parser reads it
    cells[2] = b'"' + b"a," * (600 << 10) + b'"'
    lf = _check(tmp_path, mv, "quoted_field.csv", b"\n".join([header, b",".join(cells), *rows[2:]]))
    assert "line 2, field 3 (department): longer than max_field_bytes = 1 MiB" in lf.reason


def test_json_nesting_over_max_json_depth_is_rejected_not_raised(tmp_path, jsonl):
    good = _text(jsonl)
    deep = b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n"  # json.loads: RecursionError
    lf = _check(tmp_path, jsonl, "deep.jsonl", deep + good)
    assert lf.reason == ("line 1: objects and arrays nest deeper than max_json_depth = 64 (the default; a "
                         f"feed's limits are set under `limits:` in schemas/units/{jsonl.unit.unit}.yaml)")  # fmt: skip
    assert lf.records == len([x for x in _lines(good) if x.strip()]) + 1
    at_65 = b'{"a": ' + b"[" * 64 + b'"[[[{{{"' + b"]" * 64 + b"}\n"  # brackets in strings do not nest
    assert "line 2: objects and arrays nest deeper than max_json_depth = 64" in _check(
        tmp_path, jsonl, "d65.jsonl", good.split(b"\n", 1)[0] + b"\n" + at_65).reason  # fmt: skip
    at_64 = b'{"a": ' + b"[" * 63 + b"]" * 63 + b"}\n"
    assert _check(tmp_path, jsonl, "d64.jsonl", good + at_64).ok
    lf = _check(tmp_path, _feed_like(jsonl, max_json_depth=200), "d65b.jsonl", good + at_65)
    assert lf.ok and lf.records == len([x for x in _lines(good) if x.strip()]) + 1


def test_content_over_max_decompressed_bytes_is_rejected(tmp_path, mv_gz, parquet):
    text = _text(mv_gz)
    header, body = text.split(b"\n", 1)
    content = header + b"\n" + body * ((3 << 20) // len(body))  # 3 MiB of real records
    feed = _feed_like(mv_gz, max_decompressed_bytes="2 MiB")
    lf = _check(tmp_path, feed, "big.csv.gz", gzip.compress(content))
    assert lf.reason.startswith(
        "content is larger than max_decompressed_bytes = 2 MiB (as set for this feed; a feed's limits are set "
        "under `limits:` in schemas/units/d310101_health.yaml): reading stopped at line "
    ), lf.reason
    assert 0 < lf.records < content.count(b"\n")  # what was read up to the limit
    assert _check(tmp_path, mv_gz, "big_default.csv.gz", gzip.compress(content)).ok
    # Parquet: its row groups' uncompressed size, read from the footer
    data = render(parquet, build_rows(parquet, DATE, 0.05), {})
    lf = _check(tmp_path, _feed_like(parquet, max_decompressed_bytes="1 KiB"), "x.parquet", data)
    assert "uncompressed, more than max_decompressed_bytes = 1 KiB (as set for this feed" in lf.reason


def test_a_unit_file_sets_limits_and_the_registry_checks_them(tmp_path):
    root = tmp_path / "schemas"
    shutil.copytree(REPO_ROOT / "schemas", root)
    unit = root / "units" / "d310106_health.yaml"
    text = unit.read_text(encoding="utf-8")
    unit.write_text(
        text + "  limits:\n    max_line_bytes: 16 MiB\n    max_json_depth: 100\n", encoding="utf-8"
    )
    limits = load_registry(root).feed("d310106_health", "medical_visits").spec.limits
    assert (limits.max_line_bytes, limits.max_json_depth) == (16 << 20, 100)
    assert limits.max_field_bytes == 1 << 20 and limits.max_decompressed_bytes == 4 << 30  # the defaults
    for bad, reason in [
        ("max_line_bytes: 9 TB", "size '9 TB' must be a number of bytes"),
        ("max_json_depth: 5000", "less than or equal to 500"),
        ("max_field_bytes: 9 MiB", "a field cannot be longer than max_line_bytes"),
        ("max_lines: 3", "unknown field"),
    ]:
        unit.write_text(text + f"  limits:\n    {bad}\n", encoding="utf-8")
        with pytest.raises(RegistryError) as err:
            load_registry(root)
        assert any("limits" in p.field and reason in p.reason for p in err.value.problems), err.value


# --- reasons carry no values ------------------------------------------------------------------


def test_a_headerless_file_is_rejected_by_positions_never_by_its_cells(tmp_path, mv):
    header, *rows = _lines(_text(mv))
    cells = rows[0].decode("gb18030").split(",")
    cells[5:8] = PLANTED  # patient_id_no, patient_name, patient_mobile
    data = "\n".join([",".join(cells), *(r.decode("gb18030") for r in rows[1:])]).encode("gb18030")
    lf = _check(tmp_path, mv, "no_header.csv", data)
    assert not lf.ok and lf.reason is not None
    assert (
        "line 1 (header): unexpected columns at position(s) 1-10 of 10 (their text is not shown)" in lf.reason
    )
    assert "missing columns ['visit_id', 'hospital_code'" in lf.reason
    assert "none of them names a column of the contract: is the header row missing?" in lf.reason
    assert not any(v in lf.reason for v in PLANTED) and cells[0] not in lf.reason
    # one unknown cell among known ones: its position, not its text
    extra = [header + ",备注".encode("gb18030"), *(r + b",x" for r in rows if r)]
    lf = _check(tmp_path, mv, "extra.csv", b"\n".join(extra))
    assert "unexpected columns at position(s) 11 of 11 (their text is not shown)" in lf.reason
    assert "备注" not in lf.reason


def test_json_keys_and_parquet_names_that_are_values_are_not_shown(tmp_path, jsonl, parquet):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rec = json.loads(_lines(_text(jsonl))[0])
    first = next(iter(rec))
    odd = {PLANTED[0]: PLANTED[1], **{k: v for k, v in rec.items() if k != first}}
    lf = _check(tmp_path, jsonl, "keys.jsonl", (json.dumps(odd, ensure_ascii=False) + "\n").encode())
    assert f"line 1: unexpected fields at position(s) 1 of {len(rec)} (their keys are not shown)" in lf.reason
    assert f"missing fields ['{jsonl.contract.header_map[first]}']" in lf.reason
    assert not any(v in lf.reason for v in PLANTED)
    table = pq.read_table(io.BytesIO(render(parquet, build_rows(parquet, DATE,
                                                                  0.05), {})))  # fmt: skip
    buf = io.BytesIO()
    pq.write_table(table.append_column(PLANTED[2], pa.array([PLANTED[1]] * table.num_rows)), buf)
    lf = _check(tmp_path, parquet, "names.parquet", buf.getvalue())
    assert f"unexpected fields at position(s) {table.num_columns + 1} of {table.num_columns + 1}" in lf.reason
    assert not any(v in lf.reason for v in PLANTED)


# --- nothing makes check raise ----------------------------------------------------------------


def test_an_unforeseen_error_is_the_files_rejection_naming_file_and_line(tmp_path, mv, monkeypatch):
    def broken(feed, lines, limits):
        next(lines.blocks())
        raise RuntimeError(f"boom on '{PLANTED[0]}'")  # an error text that quotes a value

    monkeypatch.setattr(preflight, "check_csv", broken)
    data = _text(mv)
    lf = _check(tmp_path, mv, "boom.csv", data)
    assert not lf.ok
    assert lf.reason is not None and lf.reason.startswith(
        f"preflight could not check d310106_health/medical_visits/{DAY}/boom.csv (RuntimeError at line "
    )
    assert "checked again by the next run" in lf.reason and PLANTED[0] not in lf.reason
    assert lf.sha256 == hashlib.sha256(data).hexdigest()  # still the whole file's checksum


def test_a_failed_read_is_reported_as_such_not_as_bad_data(tmp_path, mv):
    class Failing:
        def __init__(self, fh):
            self.fh, self.reads = fh, 0

        def read(self, n=-1):
            self.reads += 1
            if self.reads > 1:
                raise OSError(errno.EIO, "Input/output error")
            return self.fh.read(n)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

    class Store(LocalStore):
        def open(self, path):
            return Failing(super().open(path))

    header, body = _text(mv).split(b"\n", 1)
    lf = _check(tmp_path, mv, "eio.csv", header + b"\n" + body * 60, store=Store())
    assert not lf.ok and lf.reason == "cannot read file: [Errno 5] Input/output error"


# --- counting as Spark counts -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "transform"),
    [
        ("cr_only", lambda t: t.replace(b"\n", b"\r")),
        ("crlf", lambda t: t.replace(b"\n", b"\r\n")),
        (
            "mixed",
            lambda t: b"".join(x + (b"\r", b"\n", b"\r\n")[i % 3] for i, x in enumerate(t.split(b"\n"))),
        ),
        # Spark's CSV reader skips lines Java's trim() empties: spaces, tabs, NULs
        ("blank_lines", lambda t: t.replace(b"\n", b"\n \t\x00\n\n", 5)),
        ("utf8_bom", lambda t: b"\xef\xbb\xbf" + t),  # a UTF-8 BOM on a GB18030 file: tolerated
    ],
)
def test_csv_records_are_counted_as_sparks_line_reader_counts_them(tmp_path, mv, case, transform):
    text = _text(mv)
    records = len([x for x in _lines(text) if x.strip()]) - 1
    lf = _check(tmp_path, mv, f"{case}.csv", transform(text))
    assert lf.ok, lf.reason
    assert lf.records == records
    assert [c for _, c in lf.source_columns] == [c.name for c in mv.contract.columns]


def test_jsonl_counts_lines_of_spaces_as_blank_but_a_tab_as_a_record(tmp_path, jsonl):
    text = _text(jsonl)
    records = len([x for x in _lines(text) if x.strip()])
    lf = _check(tmp_path, jsonl, "cr.jsonl", text.replace(b"\n", b"\r") + b"   \r\t\r")
    assert lf.ok and lf.records == records + 1  # Spark keeps the tab line (trim() trims spaces)


def test_multiline_feeds_count_records_and_refuse_mixed_line_ends(tmp_path, mv):
    feed = Feed(mv.unit, mv.spec.model_copy(update={"multiline": True}), mv.contract)
    header, *rows = [x for x in _lines(_text(mv)) if x]
    cells = rows[1].split(b",")
    cells[2] = b'"first line\nsecond\r\nthird"'  # a quoted field may hold any line end
    body = [header, rows[0], b",".join(cells), b"", b" \t", *rows[2:]]
    lf = _check(tmp_path, feed, "ml.csv", b"\r\n".join(body) + b"\r\n")
    assert lf.ok and lf.records == len(rows) + 1, lf.reason  # the parser skips the empty line, not " \t"
    mixed = b"\r\n".join(body[:3]) + b"\n" + b"\r\n".join(body[3:])  # the quoted record ends with LF
    lf = _check(tmp_path, feed, "ml_mixed.csv", mixed)
    assert lf.reason is not None and lf.reason.startswith(
        "line 5: ends with LF, but the header ends with CRLF: a multiline feed's file is read with its first "
        "line's line end"
    ), lf.reason


def test_quoted_line_breaks_in_a_line_by_line_feed_are_found_in_a_large_file(tmp_path, mv):
    header, body = _text(mv).split(b"\n", 1)
    rows = [x for x in _lines(body) if x]
    cells = rows[0].split(b",")
    cells[2] = b'"first\nsecond"'
    data = header + b"\n" + body * 100 + b",".join(cells) + b"\n" + body  # past the first blocks
    lf = _check(tmp_path, mv, "late_newline.csv", data)
    at = 1 + body.count(b"\n") * 100 + 1
    assert lf.reason is not None and lf.reason.startswith(f"line {at}: a quoted field holds a line break"), (
        lf.reason
    )
    assert lf.records == data.count(b"\n") - 1  # every line Spark would read, as landed


# --- gzip, Parquet, names ---------------------------------------------------------------------


def test_gzip_members_truncation_corruption_and_trailing_bytes(tmp_path, mv_gz):
    text = _text(mv_gz)
    header, body = text.split(b"\n", 1)
    n = len([x for x in _lines(body) if x.strip()])
    lf = _check(tmp_path, mv_gz, "two.csv.gz", gzip.compress(text) + gzip.compress(body))
    assert lf.ok and lf.records == 2 * n  # Hadoop's codec reads concatenated members too
    lf = _check(tmp_path, mv_gz, "trailing.csv.gz", gzip.compress(text) + b"\x00garbage")
    assert lf.reason.startswith("bytes after the end of the gzip stream are not gzip"), lf.reason
    whole = gzip.compress(text * 40)
    lf = _check(tmp_path, mv_gz, "cut.csv.gz", whole[: len(whole) // 2])
    assert lf.reason.startswith("gzip stream is truncated") and lf.records > 0
    flipped = bytearray(whole)
    flipped[len(whole) // 2] ^= 0xFF
    assert "gzip data is corrupt" in _check(tmp_path, mv_gz, "flip.csv.gz", bytes(flipped)).reason
    assert _check(tmp_path, mv_gz, "empty.csv.gz", gzip.compress(b"")).reason == "empty file"
    assert _check(tmp_path, mv_gz, "zero.csv.gz", b"").reason == "empty file"


def test_a_gzip_feeds_file_without_gz_is_rejected_as_the_reader_would_not_inflate_it(tmp_path, mv_gz):
    """Spark inflates by the name alone: preflight judges gzip the same way, so a declared gzip
    file named without .gz is refused with the name it needs, not loaded as compressed bytes."""
    packed = gzip.compress(_text(mv_gz))
    lf = _check(tmp_path, mv_gz, "visits.csv", packed)
    assert not lf.ok and "does not end in .gz" in lf.reason and "visits.csv.gz" in lf.reason, lf.reason
    assert lf.records == 0  # compressed bytes hold no lines to count
    assert lf.sha256 == hashlib.sha256(packed).hexdigest()
    assert _check(tmp_path, mv_gz, "visits.csv.gz", packed).ok


def test_a_bomb_stops_at_the_line_limit_and_the_checksum_covers_the_file(tmp_path, mv_gz):
    bomb = gzip.compress(b"\x00" * (64 << 20), 9)  # 64 MiB of NULs, one line
    lf = _check(tmp_path, mv_gz, "bomb.csv.gz", bomb)
    assert lf.reason.startswith("line 1: longer than max_line_bytes = 8 MiB"), lf.reason
    assert lf.sha256 == hashlib.sha256(bomb).hexdigest() and lf.records == 0  # NULs: blank to Spark


def test_a_parquet_file_with_a_broken_footer_is_rejected(tmp_path, parquet):
    data = render(parquet, build_rows(parquet, DATE, 0.05), {})
    footer = int.from_bytes(data[-8:-4], "little")
    broken = data[: -8 - footer] + bytes(b ^ 0x5A for b in data[-8 - footer : -8]) + data[-8:]
    lf = _check(tmp_path, parquet, "footer.parquet", broken)
    assert lf.reason is not None and lf.reason.startswith("not a readable Parquet file: "), lf.reason
    assert _check(tmp_path, parquet, "empty.parquet", b"").reason == "empty file"
    assert _check(tmp_path, parquet, "good.parquet", data).ok


@pytest.mark.parametrize("name", ["a[1].csv", "b{x}.csv", "c:d.csv", "e*.csv", "f?.csv", "g\\h.csv"])
def test_names_spark_cannot_read_as_one_file_are_rejected(tmp_path, mv, name):
    lf = _check(tmp_path, mv, name, _text(mv))
    assert (
        lf.reason is not None and "which Spark's reader refuses in a path or takes for a pattern" in lf.reason
    )
    assert lf.records == len([x for x in _lines(_text(mv)) if x.strip()]) - 1


def test_odd_but_readable_names_load(tmp_path, mv):
    lf = _check(tmp_path, mv, "visits 2026 (副本) #1 & more.csv", _text(mv))
    assert lf.ok, lf.reason


def test_an_object_store_file_is_streamed_and_parquet_read_from_a_spooled_copy(parquet, mv_gz):
    """On S3 a file is a stream that cannot seek: Parquet's footer is read from a temporary copy."""
    files = {
        "s3a://lake/landing/p.parquet": render(parquet, build_rows(parquet, DATE, 0.05), {}),
        "s3a://lake/landing/v.csv.gz": render(mv_gz, build_rows(mv_gz, DATE, 0.05), {}),
    }

    class ObjectStore(LocalStore):
        def open(self, path):
            return io.BytesIO(files[path])

    for (path, data), feed in zip(files.items(), (parquet, mv_gz), strict=True):
        name = path.rsplit("/", 1)[-1]
        lf = LandedFile(path, f"{feed.unit.unit}/{feed.spec.feed}/{DAY}/{name}", feed.unit.unit, feed.spec.feed,
                        DAY, len(data), feed_ref=feed)  # fmt: skip
        preflight.check(lf, ObjectStore())
        assert lf.ok and lf.records > 0 and lf.sha256 == hashlib.sha256(data).hexdigest(), lf.reason
