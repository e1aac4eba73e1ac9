"""`generate(..., subjects=N)` plants data subjects (issue 35), checked without Spark.

Landed files are decoded here on their own terms (gzip, the declared encoding, the csv module,
json, pyarrow), not with the generator's helpers; whole-file rejection is preflight's own check.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from citylake.domain.districts import districts
from citylake.domain.ids import is_valid_resident_id
from citylake.engine.storage import store_for
from citylake.generate import generate
from citylake.generate.values import GIVEN, PLATE_LETTERS, SURNAMES
from citylake.lake import Lake
from citylake.lake.preflight import LandedFile, check

DAY = dt.date(2026, 11, 20)
SCALE = 0.02
N = 3
# every delivery of personal data the issue names, in all three contracts, at a small size:
# EV sessions in GBK, GB18030+gzip, UTF-8-sig, UTF-8+gzip CSV, gzipped JSON lines and Parquet;
# medical visits in GBK, GB18030+gzip, UTF-8-sig CSV, JSON lines and Parquet; 12345 requests
# in GB18030 CSV and JSON lines
UNITS = [
    "op_shenergy_ev", "op_sgcc_ev", "op_anyo", "op_starcharge", "op_teld", "op_nio_power",
    "op_renji", "op_ruijin", "op_zhongshan", "op_huashan", "op_xinhua",
    "d310104_gov_service", "mc_gov_service",
]  # fmt: skip
PII = {"resident_id", "mobile", "name", "licence_plate"}
KINDS_OF_DELIVERY = {"gbk", "gb18030", "utf-8", "utf-8-sig", "gzip", "csv", "jsonl", "parquet"}


@dataclass
class Record:
    number: int  # 1-based, as the report's malformed_records count
    text: str  # the record as delivered (a Parquet row: its values joined)
    fields: dict[str, str | None] | None  # canonical column -> value; None: does not parse


def _kinds(feed) -> set[str]:
    s = feed.spec
    out = {s.format} | ({"gzip"} if s.compression == "gzip" else set())
    return out | ({s.encoding} if s.format != "parquet" else set())


def _numeric_ok(contract, name: str, value) -> bool:
    t = contract.by_name[name].type
    if value in (None, "") or t not in ("int", "long", "double"):
        return True
    if isinstance(value, str):
        try:
            int(value) if t != "double" else float(value)
        except ValueError:
            return False
        return True
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def decode(feed, raw: bytes) -> tuple[list[str], list[Record]]:
    """(canonical columns the file carries, its records), read independently of the generator."""
    contract = feed.contract
    if feed.spec.compression == "gzip":
        raw = gzip.decompress(raw)
    if feed.spec.format == "parquet":
        table = pq.read_table(io.BytesIO(raw))
        rows = table.to_pylist()
        out = [Record(i + 1, "\x1f".join(str(v) for v in r.values()),
                      {k: (None if v is None else str(v)) for k, v in r.items()}) for i, r in enumerate(rows)]  # fmt: skip
        return list(table.column_names), out
    text = raw.decode(feed.spec.encoding)  # utf-8-sig drops the BOM
    lines = text.splitlines()
    if feed.spec.format == "jsonl":
        out, columns = [], []
        for i, line in enumerate(lines):
            try:
                rec = json.loads(line)
            except ValueError:
                out.append(Record(i + 1, line, None))
                continue
            columns = columns or list(rec)
            ok = all(_numeric_ok(contract, k, v) for k, v in rec.items() if k in contract.by_name)
            out.append(Record(i + 1, line, {k: v for k, v in rec.items()} if ok else None))
        return columns, out
    header = [contract.header_map[h] for h in next(csv.reader([lines[0]], delimiter=feed.spec.delimiter))]
    out = []
    for i, line in enumerate(lines[1:]):
        cells = next(csv.reader([line], delimiter=feed.spec.delimiter))
        ok = len(cells) == len(header)
        ok = ok and all(_numeric_ok(contract, h, c) for h, c in zip(header, cells, strict=True))
        out.append(Record(i + 1, line, dict(zip(header, cells, strict=True)) if ok else None))
    return header, out


@pytest.fixture(scope="module")
def planted(tmp_path_factory, registry):
    root = tmp_path_factory.mktemp("planted")
    lake = Lake(str(root))
    notes: list[str] = []
    reports = generate(registry, DAY, SCALE, UNITS, lake, subjects=N, notes=notes)
    from citylake.generate.subjects import make_subjects

    return lake, reports, notes, make_subjects(N)


def _carrying(feed, rec: Record, subject) -> set[str]:
    """The identifier kinds of ``subject`` whose columns in ``rec`` hold its values."""
    cols = {c.pii: c.name for c in feed.contract.columns if c.pii in PII}
    assert rec.fields is not None
    return {k for k, col in cols.items() if k in subject.values and rec.fields.get(col) == subject.values[k]}


def test_subjects_are_valid_and_impossible_for_the_generator(planted):
    *_, subjects = planted
    for kind in PII:
        assert len({s.values[kind] for s in subjects}) == N, kind
    for s in subjects:
        rid = s.values["resident_id"]
        assert len(rid) == 18 and is_valid_resident_id(rid) and rid[:6] in districts()
        assert dt.date(int(rid[6:10]), int(rid[10:12]), int(rid[12:14])) < DAY
        assert len(s.values["mobile"]) == 11 and s.values["mobile"].isdigit() and s.values["mobile"][0] == "1"
        name = s.values["name"]
        assert len(name) == 3 and not set(name) & set("".join(SURNAMES + GIVEN))
        plate = s.values["licence_plate"]
        assert plate[0] == "沪" and plate[1] not in PLATE_LETTERS and plate[1].isalpha()


def test_every_subject_has_a_good_record_in_every_kind_of_delivery(planted, registry):
    lake, reports, notes, subjects = planted
    assert notes == []
    offered: set[tuple[str, str]] = set()  # (identifier kind, delivery kind) the selection offers
    contracts = set()
    for r in reports:
        feed = registry.feed(r.unit, r.feed)
        kinds = {c.pii for c in feed.contract.columns} & PII
        if kinds:
            offered |= {(k, d) for k in kinds for d in _kinds(feed)}
            contracts.add(feed.contract.contract)
    assert {d for _, d in offered} == KINDS_OF_DELIVERY  # the selection covers the list
    found: dict[int, set[tuple[str, str]]] = {s.number: set() for s in subjects}
    in_contract: dict[int, set[str]] = {s.number: set() for s in subjects}
    for r in reports:
        if r.kind != "main":
            continue
        feed = registry.feed(r.unit, r.feed)
        _, records = decode(feed, Path(r.path).read_bytes())
        for rec in records:
            if rec.fields is None or rec.number in r.malformed_records:
                continue
            for s in subjects:
                kinds = _carrying(feed, rec, s) if {c.pii for c in feed.contract.columns} & PII else set()
                if not kinds:
                    continue
                ids = [c.name for c in feed.contract.columns if c.pii == "resident_id"]
                assert all(is_valid_resident_id(rec.fields[c] or "") for c in ids)
                found[s.number] |= {(k, d) for k in kinds for d in _kinds(feed)}
                in_contract[s.number].add(feed.contract.contract)
    for s in subjects:
        assert found[s.number] == offered, s.number
        assert in_contract[s.number] == contracts


def test_every_subject_is_in_a_malformed_record(planted, registry):
    _, reports, _, subjects = planted
    found: dict[int, set[str]] = {s.number: set() for s in subjects}
    for r in reports:
        if r.kind != "main":
            continue
        feed = registry.feed(r.unit, r.feed)
        _, records = decode(feed, Path(r.path).read_bytes())
        for rec in records:
            for s in subjects:
                held = {k for k, v in s.values.items() if v in rec.text}
                if held and rec.fields is None:
                    assert rec.number in r.malformed_records  # counted as the faults count theirs
                    found[s.number] |= held | {feed.spec.format}
    for s in subjects:
        assert found[s.number] >= PII | {"csv", "jsonl"}, s.number


def test_every_subject_is_in_a_resent_duplicate(planted, registry):
    _, reports, _, subjects = planted
    found: dict[int, set[str]] = {s.number: set() for s in subjects}
    for r in reports:
        if r.kind != "resend":
            continue
        feed = registry.feed(r.unit, r.feed)
        resend = Path(r.path)
        original = resend.with_name(resend.name.replace("_resend", ""))
        assert resend.read_bytes() == original.read_bytes()
        _, records = decode(feed, resend.read_bytes())
        for rec in records:
            for s in subjects:
                if rec.fields is not None:
                    found[s.number] |= _carrying(feed, rec, s)
    for s in subjects:
        assert found[s.number] == PII, s.number


def test_every_subject_is_in_a_file_preflight_rejects(planted, registry):
    lake, reports, _, subjects = planted
    store = store_for(lake.root)
    found: dict[int, set[str]] = {s.number: set() for s in subjects}
    rejected = [r for r in reports if r.kind == "rejected"]
    assert rejected
    for r in rejected:
        feed = registry.feed(r.unit, r.feed)
        lf = LandedFile(r.path, f"{r.unit}/{r.feed}/{DAY}/{Path(r.path).name}", r.unit, r.feed, str(DAY),
                        os.path.getsize(r.path), feed_ref=feed)  # fmt: skip
        check(lf, store)
        assert not lf.ok and "missing" in (lf.reason or "")
        for s in subjects:  # the reason names columns and lines, never a value
            assert not any(v in lf.reason for v in s.values.values())
        columns, records = decode_rejected(feed, Path(r.path).read_bytes())
        assert feed.contract.business_keys[0] not in columns
        for s in subjects:
            for rec in records:
                found[s.number] |= {k for k, v in s.values.items() if v in rec}
    for s in subjects:
        assert found[s.number] == PII, s.number


def decode_rejected(feed, raw: bytes) -> tuple[list[str], list[str]]:
    """(the file's columns, its records as text): the header misses a column, so by hand."""
    if feed.spec.compression == "gzip":
        raw = gzip.decompress(raw)
    if feed.spec.format == "parquet":
        table = pq.read_table(io.BytesIO(raw))
        return table.column_names, ["\x1f".join(map(str, r.values())) for r in table.to_pylist()]
    lines = raw.decode(feed.spec.encoding).splitlines()
    if feed.spec.format == "jsonl":
        return list(json.loads(lines[0])), lines
    names = next(csv.reader([lines[0]], delimiter=feed.spec.delimiter))
    return [feed.contract.header_map[n] for n in names], lines[1:]


def test_reports_count_exactly_what_files_carry_and_hold_no_value(planted, registry):
    """A name or plate is found only where planted, as many times as the report says; the
    summary JSON and the reports name subjects by number only."""
    lake, reports, _, subjects = planted
    for r in reports:
        feed = registry.feed(r.unit, r.feed)
        raw = Path(r.path).read_bytes()
        if r.kind == "rejected":
            _, texts = decode_rejected(feed, raw)
        else:
            texts = [rec.text for rec in decode(feed, raw)[1]]
        for s in subjects:
            for kind in ("name", "licence_plate", "resident_id"):
                hits = sum(t.count(s.values[kind]) for t in texts)
                carried = r.subjects.get(str(s.number), 0)
                assert hits in ((carried,) if _has(feed, kind) else (0,)), (r.path, s.number, kind)
    summary = (Path(lake.zone("_system")) / "generated" / f"{DAY}.json").read_bytes()
    as_json = json.loads(summary)
    carrying = sum(1 for r in reports if r.subjects)
    assert as_json["subjects"] == {"requested": N, "files_carrying": carrying, "notes": []}
    assert any(f.get("subjects") for f in as_json["files"])
    for s in subjects:
        for v in s.values.values():
            for form in (v, json.dumps(v)[1:-1], json.dumps(v, ensure_ascii=False)[1:-1]):
                assert form.encode() not in summary
                assert all(form not in json.dumps(vars(r), ensure_ascii=False) for r in reports)


def _has(feed, kind: str) -> bool:
    return any(c.pii == kind for c in feed.contract.columns)


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_no_subjects_is_byte_identical_to_before(tmp_path, registry):
    units = ["op_teld", "op_renji", "mc_gov_service", "op_xinhua"]
    lake = Lake(str(tmp_path / "lake"))  # one root: the summary names files by their paths
    generate(registry, DAY, 0.01, units, lake)
    a = _tree(tmp_path / "lake")
    shutil.rmtree(tmp_path / "lake")
    generate(registry, DAY, 0.01, units, lake, subjects=0)
    b = _tree(tmp_path / "lake")
    assert a == b and a
    assert b'"subjects"' not in b[f"_system/generated/{DAY}.json"]


def test_planting_is_deterministic(tmp_path, registry):
    units = ["op_teld", "op_renji", "op_xinhua"]
    lake = Lake(str(tmp_path / "lake"))
    generate(registry, DAY, 0.01, units, lake, subjects=2)
    a = _tree(tmp_path / "lake")
    shutil.rmtree(tmp_path / "lake")
    generate(registry, DAY, 0.01, units, lake, subjects=2)
    assert a == _tree(tmp_path / "lake")


def test_a_selection_without_personal_data_plants_nothing_and_says_so(tmp_path, registry):
    notes: list[str] = []
    reports = generate(registry, DAY, 0.01, ["d310115_parking"], Lake(str(tmp_path)), subjects=2, notes=notes)
    assert reports and not any(r.subjects for r in reports)
    assert any("no subject planted" in n for n in notes)


def test_cli_writes_subjects_outside_the_lake_only(tmp_path, monkeypatch):
    from citylake.cli import main

    root = tmp_path / "lake"
    monkeypatch.setenv("CITYLAKE_LAKE_ROOT", str(root))
    monkeypatch.chdir(tmp_path)
    base = ["generate", "--date", str(DAY), "--scale", "0.01", "--units", "op_ykc", "--subjects", "2"]
    inside = root / "landing" / "subjects.jsonl"
    assert main([*base, "--subjects-out", str(inside)]) == 2
    assert not inside.exists() and not (root / "landing").exists()  # refused before generating
    assert main(base) == 0
    out = tmp_path / f"subjects-{DAY}.jsonl"
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 2 and set(lines[0]) == PII
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert main(["generate", "--date", str(DAY), "--units", "op_ykc", "--subjects-out", "x.jsonl"]) == 2
