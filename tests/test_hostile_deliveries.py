"""A corpus of hostile deliveries, landed beside normal files, through one pipeline run of the CLI.

The run finishes (exit 0 or 3); every hostile file is loaded with its rows accounted for or
rejected with a reason; the other units' files load; and no reason, ledger or manifest row,
report or Data Docs page carries the personal values planted in them. tests/lake/test_preflight.py
has each rule on its own, without a JVM.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import re
import shutil
from pathlib import Path

import pytest
from conftest import cli
from deltalake import DeltaTable

from citylake.config.settings import REPO_ROOT
from citylake.lake import (
    BRONZE_RECORDS,
    DQ_RESULTS,
    DQ_ROWS,
    FILE_MANIFEST,
    REJECTED_FILES,
    RUN_LEDGER,
    Lake,
)

pytestmark = pytest.mark.slow

DAY = "2026-11-20"
# values no generated record holds: a Beijing resident ID, a rare name, a mobile
PLANTED = ("11010519491231002X", "司马无忌", "13800138000")
HOSTILE = ["d310106_health", "d310101_health", "d310104_health", "op_huashan", "mc_health"]
OTHERS = ["d310101_eco", "d310106_eco"]  # air quality, plain and gzip CSV
MV = "medical_visits"


def _base(landing: Path, unit: str) -> tuple[bytes, list[bytes]]:
    """The generated file of the unit's medical_visits, decompressed: (header, records)."""
    (path,) = (landing / unit / MV / DAY).iterdir()
    data = path.read_bytes()
    data = gzip.decompress(data) if path.suffix == ".gz" else data
    header, *rows = [x for x in data.split(b"\n") if x.strip()]
    return header, rows


def _cells(row: bytes, encoding: str) -> list[str]:
    return row.decode(encoding).split(",")


def _at(registry, header: bytes, encoding: str, *columns: str) -> list[int]:
    """Where the unit's header puts these contract columns (units order their columns their own way)."""
    names = [registry.contracts[MV].header_map[h] for h in _cells(header, encoding)]
    return [names.index(c) for c in columns]


def _land(landing: Path, unit: str, name: str, data: bytes) -> None:
    (landing / unit / MV / DAY / name).write_bytes(data)


def _corpus(landing: Path, registry) -> dict[str, tuple[str, str, int | str]]:
    """Land the hostile files; name -> (unit, "loaded", records) or (unit, "rejected", reason part)."""
    out: dict[str, tuple[str, str, int | str]] = {}
    # d310106_health: plain GB18030 CSV with Chinese headers
    u = "d310106_health"
    header, rows = _base(landing, u)
    n, lf = len(rows), b"\n"
    cells = _cells(rows[0], "gb18030")
    for i, v in zip(_at(registry, header, "gb18030", "patient_id_no", "patient_name", "patient_mobile"), PLANTED,
                    strict=True):  # fmt: skip
        cells[i] = v
    (dept,) = _at(registry, header, "gb18030", "department")
    headerless = [",".join(cells).encode("gb18030"), *rows[1:]]
    _land(landing, u, "no_header.csv", lf.join(headerless) + lf)
    out["no_header.csv"] = (u, "rejected", "is the header row missing?")
    _land(landing, u, "cr_only.csv", b"\r".join([header, *rows]) + b"\r")
    out["cr_only.csv"] = (u, "loaded", n)
    ends = (b"\r", b"\n", b"\r\n")
    _land(landing, u, "mixed_ends.csv", b"".join(x + ends[i % 3] for i, x in enumerate([header, *rows])))
    out["mixed_ends.csv"] = (u, "loaded", n)
    spaced = [header, rows[0], b"   ", b"\t", b"\x00\x00", b"", *rows[1:]]  # Spark skips what trim() empties
    _land(landing, u, "blank_lines.csv", lf.join(spaced) + lf)
    out["blank_lines.csv"] = (u, "loaded", n)
    _land(landing, u, "bom_gb18030.csv", b"\xef\xbb\xbf" + lf.join([header, *rows]) + lf)
    out["bom_gb18030.csv"] = (u, "loaded", n)
    big = _cells(rows[1], "gb18030")
    big[dept] = "科" * (768 << 10)  # 1.5 MiB as delivered
    _land(landing, u, "big_field.csv", lf.join([header, rows[0], ",".join(big).encode("gb18030")]) + lf)
    out["big_field.csv"] = (u, "rejected", f"line 3, field {dept + 1} (department): longer than max_field_bytes = "
                            "1 MiB (the default")  # fmt: skip
    _land(landing, u, "binary.csv", random.Random(34).randbytes(64 << 10))
    out["binary.csv"] = (u, "rejected", "not valid gb18030 at line ")
    _land(landing, u, "visits[1].csv", lf.join([header, *rows]) + lf)
    out["visits[1].csv"] = (u, "rejected", "the file name holds [ ]")
    _land(landing, u, "就诊 副本 (2) #1.csv", lf.join([header, *rows[1:]]) + lf)  # not a byte-identical copy
    out["就诊 副本 (2) #1.csv"] = (u, "loaded", n - 1)
    typed = _cells(rows[2], "gb18030")
    at, fee = _at(registry, header, "gb18030", "visit_at", "fee_yuan")
    typed[at], typed[fee] = PLANTED[2], PLANTED[1]  # values Spark cannot parse as a timestamp, a number
    _land(landing, u, "typed_values.csv", lf.join([header, rows[0], ",".join(typed).encode("gb18030")]) + lf)
    out["typed_values.csv"] = (u, "loaded", 2)

    # d310101_health: gzip GB18030 CSV
    u = "d310101_health"
    header, rows = _base(landing, u)
    text = lf.join([header, *rows]) + lf
    bomb = landing / u / MV / DAY / "bomb.csv.gz"
    with gzip.open(bomb, "wb", compresslevel=9) as fh:
        zeros = bytes(1 << 20)
        for _ in range(256):  # inflates to 256 MiB: one line of NULs
            fh.write(zeros)
    out["bomb.csv.gz"] = (u, "rejected", "line 1: longer than max_line_bytes = 8 MiB (the default")
    _land(landing, u, "two_members.csv.gz", gzip.compress(text) + gzip.compress(lf.join(rows) + lf))
    out["two_members.csv.gz"] = (u, "loaded", 2 * len(rows))
    _land(landing, u, "empty.csv.gz", gzip.compress(b""))
    out["empty.csv.gz"] = (u, "rejected", "empty file")
    _land(landing, u, "trailing.csv.gz", gzip.compress(text) + b"\x00junk")
    out["trailing.csv.gz"] = (u, "rejected", "bytes after the end of the gzip stream are not gzip")

    # d310104_health: GBK CSV declared multiline, with its own field limit (the registry copy)
    u = "d310104_health"
    header, rows = _base(landing, u)
    quoted, wide = _cells(rows[0], "gbk"), _cells(rows[1], "gbk")
    (dept,) = _at(registry, header, "gbk", "department")
    quoted[dept] = '"内科\n二病区"'  # a quoted LF inside a file whose lines end in CRLF
    wide[dept] = "科" * (768 << 10)  # 1.5 MiB: over the default, under this feed's 2 MiB
    body = [header, ",".join(quoted).encode("gbk"), ",".join(wide).encode("gbk"), *rows[2:]]
    _land(landing, u, "crlf_multiline.csv", b"\r\n".join(body) + b"\r\n")
    out["crlf_multiline.csv"] = (u, "loaded", len(rows))

    # op_huashan: JSON lines
    u = "op_huashan"
    _, rows = _base(landing, u)  # no header: the first record's keys are checked
    text = lf.join(rows) + lf
    deep = b'{"visit_id": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    _land(landing, u, "deep.jsonl", text + deep + lf)
    out["deep.jsonl"] = (
        u,
        "rejected",
        "objects and arrays nest deeper than max_json_depth = 64 (the default",
    )
    _land(landing, u, "bad_utf8.jsonl", text + b'{"visit_id": "\xff\xfe"}\n')
    out["bad_utf8.jsonl"] = (u, "rejected", f"not valid utf-8 at line {len(rows) + 1}")
    _land(landing, u, "zero.jsonl", b"")
    out["zero.jsonl"] = (u, "rejected", "empty file")
    rec = json.loads(rows[0])
    visit_at = next(k for k in rec if registry.contracts[MV].header_map[k] == "visit_at")
    drift = json.dumps(rec | {PLANTED[0]: PLANTED[1]}, ensure_ascii=False).encode()  # a value for a key
    bad = json.dumps(rec | {visit_at: PLANTED[2]}, ensure_ascii=False).encode()  # not a timestamp
    _land(landing, u, "drift.jsonl", lf.join([*rows, drift, bad]) + lf)
    out["drift.jsonl"] = (u, "loaded", len(rows) + 2)
    _land(landing, u, "cr_only.jsonl", b"\r".join(rows) + b"\r")
    out["cr_only.jsonl"] = (u, "loaded", len(rows))

    # mc_health: Parquet
    u = "mc_health"
    (path,) = (landing / u / MV / DAY).iterdir()
    data = path.read_bytes()
    size = int.from_bytes(data[-8:-4], "little")
    broken = data[: -8 - size] + bytes(b ^ 0x5A for b in data[-8 - size : -8]) + data[-8:]
    _land(landing, u, "footer.parquet", broken)
    out["footer.parquet"] = (u, "rejected", "not a readable Parquet file")
    return out


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, registry):
    base = tmp_path_factory.mktemp("hostile")
    root, schemas = base / "lake", base / "schemas"
    shutil.copytree(REPO_ROOT / "schemas", schemas)
    unit = schemas / "units" / "d310104_health.yaml"  # its one feed is the file's last lines
    unit.write_text(unit.read_text(encoding="utf-8") + "  multiline: true\n  limits:\n    max_field_bytes: 2 MiB\n",
                    encoding="utf-8")  # fmt: skip
    env = {"CITYLAKE_REGISTRY_DIR": str(schemas)}
    cli(root, "generate", "--date", DAY, "--scale", "0.02", "--no-faults", "--units", *HOSTILE, *OTHERS,
        env=env)  # fmt: skip
    landing = root / "landing"
    expected = _corpus(landing, registry)
    # bronze and silver, as the ingest DAG runs them: gold's marts take in no delivered value.
    # Files are rejected, so the run is partial and exits 3, while every other file loads.
    run = cli(root, "run", "--date", DAY, "--json", "--no-marts", "--units", ",".join(HOSTILE + OTHERS),
              check_codes=(3,), env=env)  # fmt: skip
    report = cli(root, "report", "--date", DAY, env=env)
    return root, landing, expected, json.loads(run.stdout), [run, report]


def _rows(root: Path, zone: str, name: str) -> list[dict]:
    return DeltaTable(Lake(str(root)).table(zone, name)).to_pyarrow_table().to_pylist()


def test_every_hostile_file_is_loaded_and_counted_or_rejected_with_a_reason(hostile):
    root, _, expected, out, _ = hostile
    assert out["status"] == "partial", out["status"]
    files = {f["file"].rsplit("/", 1)[-1]: f for f in out["files"] if f["feed"] == MV}
    ledger = {r["file"].rsplit("/", 1)[-1]: r for r in _rows(root, "_system", RUN_LEDGER) if r["feed"] == MV}
    manifest = {r["file"].rsplit("/", 1)[-1]: r for r in _rows(root, "_system", FILE_MANIFEST)
                if r["feed"] == MV and r["status"] != "pending"}  # fmt: skip
    rejected = {r["source_file"].rsplit("/", 1)[-1]: r for r in _rows(root, "quarantine", REJECTED_FILES)}
    for name, (unit, status, want) in expected.items():
        f = files[name]
        assert f["unit"] == unit and f["status"] == status, (name, f)
        assert f["rows_landed"] == f["rows_bronze"] + f["rows_quarantined"], (name, f)
        assert ledger[name]["status"] == manifest[name]["status"] == status, name
        if status == "loaded":
            assert f["rows_landed"] == want, (name, f)
            assert "count mismatch" not in (f.get("reason") or ""), (name, f)
        else:
            assert isinstance(want, str) and want in f["reason"], (name, f["reason"])
            assert (
                ledger[name]["reason"] == manifest[name]["reason"] == rejected[name]["reason"] == f["reason"]
            )
            assert f["rows_bronze"] == 0 and Path(rejected[name]["copy_path"]).is_file(), name
    # the records whose values Spark cannot parse are quarantined with the field's name
    quarantined = [
        r for r in _rows(root, "quarantine", BRONZE_RECORDS) if r["source_file"].endswith("/typed_values.csv")
    ]
    assert [r["record_no"] for r in quarantined] == [2]
    assert quarantined[0]["reason"].endswith(": cannot parse as timestamp"), quarantined[0]["reason"]
    assert "not plain names (not shown)" in (files["drift.jsonl"].get("schema_drift") or "")
    # a file without its header row: line 1 counts as the record it is
    assert files["no_header.csv"]["rows_landed"] == expected["cr_only.csv"][2]


def test_the_other_units_files_load(hostile):
    _, landing, expected, out, _ = hostile
    loaded = {f["file"]: f for f in out["files"]}
    normal = [p for u in HOSTILE + OTHERS for p in (landing / u).rglob("*") if p.is_file()
              and p.name not in expected]  # fmt: skip
    assert len(normal) >= len(HOSTILE) + len(OTHERS)
    for p in normal:
        f = loaded[str(p.relative_to(landing))]
        assert f["status"] == "loaded" and f["rows_bronze"] > 0, f
        assert f["rows_landed"] == f["rows_bronze"] + f["rows_quarantined"], f


def _texts(root: Path, out: dict, procs) -> dict[str, str]:
    """Every place a value must not reach, as text: reasons, ledger and manifest rows, pages."""
    texts = {f"stdout/stderr of `citylake {p.args[3]}`": p.stdout + p.stderr for p in procs}
    for zone, name in [("_system", RUN_LEDGER), ("_system", FILE_MANIFEST), ("quarantine", REJECTED_FILES),
                       ("_system", DQ_RESULTS)]:  # fmt: skip
        texts[f"{zone}.{name}"] = json.dumps(_rows(root, zone, name), default=str, ensure_ascii=False)
    for zone, name in [("quarantine", BRONZE_RECORDS), ("quarantine", DQ_ROWS)]:  # raw text is their point
        if os.path.isdir(Lake(str(root)).table(zone, name)):
            texts[f"{zone}.{name}.reason"] = " ".join(r["reason"] or "" for r in _rows(root, zone, name))
    shown = Path(re.findall(r"\S+\.html", procs[-1].stdout)[-1])  # `citylake report` prints where it wrote
    pages = [Path(out["report"]), shown, *Path(root / "_system" / "gx").rglob("*")]
    assert Path(out["report"]).is_file() and shown.is_file() and Path(out["data_docs"]).is_file()
    for page in pages:
        if page.is_file() and page.suffix in (".html", ".json", ".js"):
            texts[str(page)] = page.read_text(encoding="utf-8", errors="replace")
    return texts


def test_no_reason_ledger_row_report_or_data_docs_page_carries_a_planted_value(hostile):
    root, _, _, out, procs = hostile
    texts = _texts(root, out, procs)
    assert any("index.html" in k for k in texts) and any(
        "unexpected columns at position" in t for t in texts.values()
    )
    leaks = [(where, v) for where, text in texts.items() for v in PLANTED if v in text]
    assert not leaks, leaks
