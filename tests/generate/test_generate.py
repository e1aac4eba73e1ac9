from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path

from citylake.domain.ids import is_valid_resident_id
from citylake.generate import FAULT_RATES, generate
from citylake.lake import Lake

DAY = dt.date(2026, 11, 20)
UNITS = ["d310115_parking", "op_teld", "d310104_gov_service", "op_nio_power"]


def _bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_generation_is_deterministic(tmp_path, registry):
    a, b = Lake(str(tmp_path / "a")), Lake(str(tmp_path / "b"))
    generate(registry, DAY, 0.05, UNITS, a)
    generate(registry, DAY, 0.05, UNITS, b)
    assert _bytes(Path(a.zone("landing"))) == _bytes(Path(b.zone("landing")))


def test_layout_formats_and_encodings(tmp_path, registry):
    lake = Lake(str(tmp_path))
    reports = generate(registry, DAY, 0.05, UNITS, lake)
    mains = {(r.unit, r.feed): Path(r.path) for r in reports if r.kind == "main"}
    p = mains[("d310115_parking", "parking_lots")]
    assert p.parent == Path(lake.landing_dir("d310115_parking", "parking_lots", "2026-11-20"))
    feed = registry.feed("d310115_parking", "parking_lots")
    raw = p.read_bytes()
    if feed.spec.compression == "gzip":
        raw = gzip.decompress(raw)
    header = raw.decode(feed.spec.encoding).splitlines()[0]
    assert header.split(",")[0] == "停车场编号"  # Chinese headers in the declared encoding
    sessions = mains[("op_teld", "ev_charging_sessions")]
    assert sessions.name.endswith(registry.feed("op_teld", "ev_charging_sessions").spec.extension)
    assert mains[("op_nio_power", "ev_charging_stations")].suffix == ".parquet"


def test_fault_counts_follow_documented_rates(tmp_path, registry):
    reports = generate(registry, DAY, 0.2, ["d310104_gov_service"], Lake(str(tmp_path)))
    main = next(r for r in reports if r.kind == "main")
    n_clean = round(3000 * 0.2)
    for kind in ("null_required", "duplicate", "out_of_range", "invalid_resident_id", "late", "malformed"):
        assert main.faults[kind] == int(n_clean * FAULT_RATES[kind]), kind
    assert main.records == n_clean + main.faults["duplicate"]
    assert len(main.malformed_records) == main.faults["malformed"]
    summary = json.loads((tmp_path / "_system" / "generated" / "2026-11-20.json").read_text())
    assert summary["files"][0]["faults"] == main.faults


def test_clean_generation_has_valid_ids(tmp_path, registry):
    reports = generate(registry, DAY, 0.05, ["d310104_gov_service"], Lake(str(tmp_path)), faults=False)
    path = Path(reports[0].path)
    feed = registry.feed("d310104_gov_service", "service_requests")
    raw = path.read_bytes()
    if feed.spec.compression == "gzip":
        raw = gzip.decompress(raw)
    if feed.spec.format == "jsonl":
        ids = [json.loads(line)["citizen_id_no"] for line in raw.decode().splitlines()]
    else:
        lines = raw.decode(feed.spec.encoding).lstrip("\ufeff").splitlines()
        col = lines[0].split(",").index("身份证号")
        ids = [line.split(",")[col] for line in lines[1:]]
    assert ids and all(is_valid_resident_id(i) for i in ids)
