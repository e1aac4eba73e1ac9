"""Data-subject requests end to end, on one seeded lake shared by the module (issue 35): planted
subjects are located exactly where an independent brute-force scan finds them, exported,
restricted, erased for good (a byte-level scan finds none of their values or hashes, and every
other row and record is unchanged), and stay gone through a re-delivery, a re-run and a rebuild.

The tests run in order: each step builds on the lake the one before left.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
import hashlib
import io
import json
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable
from subject_scan import (
    _cell,
    _decoded,
    byte_needles,
    byte_scan,
    file_records,
    needles,
    norm,
    table_dirs,
    table_rows,
)

from citylake.cli import main
from citylake.config.settings import load_settings
from citylake.generate import generate
from citylake.generate.subjects import make_subjects
from citylake.lake import Lake
from citylake.lake.subjects import write_subjects

pytestmark = [pytest.mark.spark, pytest.mark.slow]

DAY = dt.date(2026, 11, 20)
UNITS = ["op_sgcc_ev", "op_anyo", "op_teld", "op_nio_power", "op_renji", "op_ruijin", "op_zhongshan",
         "op_huashan", "op_xinhua", "d310104_gov_service", "mc_gov_service"]  # fmt: skip
ERASE, RESTRICT, EXPORT = "DSR-2026-0003", "DSR-2026-0002", "DSR-2026-0001"
STATE: dict = {}


@pytest.fixture(scope="module")
def seeded(spark, registry, tmp_path_factory):
    from citylake.runs.pipeline import run_daily

    base = tmp_path_factory.mktemp("subjects")
    root = base / "lake"
    lake = Lake(str(root))
    mp = pytest.MonkeyPatch()
    mp.setenv("CITYLAKE_LAKE_ROOT", str(root))
    settings = dataclasses.replace(load_settings(), lake_root=str(root))
    generate(registry, DAY, 0.02, UNITS, lake, subjects=3)
    people = [s.values for s in make_subjects(3)]
    write_subjects(base / "subjects.jsonl", people)
    write_subjects(base / "first.jsonl", people[:1])
    report = run_daily(DAY, settings, spark, registry)
    assert report.status in ("ok", "partial"), report.status  # planted rejected files make it partial
    yield {"root": root, "lake": lake, "settings": settings, "file": base / "subjects.jsonl",
           "first": base / "first.jsonl", "people": people, "key": settings.pii_key(), "base": base}  # fmt: skip
    mp.undo()


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def _rel_tables(found: dict) -> dict[tuple[str, int], int]:
    out = {}
    for s in found["subjects"]:
        for t in s["tables"]:
            db, name = t["table"].split(".", 1)
            zone = {"ops": "_system"}.get(db, db)
            out[(f"{zone}/{name}", s["subject"])] = t["rows"]
    return out


def test_locate_agrees_with_a_brute_force_scan(seeded, capsys):
    code, out, _ = _run(capsys, "subject", "locate", "--subjects", str(seeded["file"]), "--json")
    assert code == 0
    found = json.loads(out)
    want_tables = table_rows(seeded["root"], seeded["people"], seeded["key"])
    assert _rel_tables(found) == want_tables
    raw = {(f["path"], s["subject"]): f["records"] for s in found["subjects"] for f in s["files"] if f["kind"] == "raw"}
    assert raw == file_records(seeded["root"], seeded["people"], seeded["key"])
    text = [f for s in found["subjects"] for f in s["files"] if f["kind"] != "raw"]
    assert text == [], "no page, result, report or lineage file holds a subject"
    for n in (1, 2, 3):  # every subject in each kind of place
        zones = {z for (z, s) in want_tables if s == n}
        assert {"bronze/medical_visits", "silver/medical_visits", "quarantine/bronze_records"} <= zones
        paths = [p for (p, s) in raw if s == n]
        assert any(p.startswith("quarantine/files/") for p in paths) and any(p.startswith("landing/") for p in paths)
    assert out.count("\n") and not any(v in out for p in seeded["people"] for v in p.values())


def test_export_writes_one_package_per_subject_with_checksums_in_the_ledger(seeded, capsys):
    from citylake.lake import subject_ledger

    out_dir = seeded["base"] / "exports"
    code, out, err = _run(capsys, "subject", "export", "--request", EXPORT, "--subjects", str(seeded["file"]),
                          "--out", str(out_dir), "--json")  # fmt: skip
    assert code == 0, err
    made = json.loads(out)["packages"]
    assert len(made) == 3
    for m, person in zip(made, seeded["people"], strict=True):
        package = json.loads((out_dir / m["files"][0]["name"]).read_text("utf-8"))
        zones = {r["zone"] for r in package["records"]}
        assert {"bronze", "silver", "quarantine"} <= zones
        values = {json.dumps(f["value"], ensure_ascii=False) for r in package["records"] for f in r["fields"].values()}
        assert json.dumps(person["resident_id"]) in values and json.dumps(person["name"], ensure_ascii=False) in values
        silver = [r for r in package["records"] if r["zone"] == "silver"]
        assert all(not k.endswith("_hash") for r in silver for k in r["fields"])
        undocumented = {(r["table"], k) for r in package["records"] for k, f in r["fields"].items() if not f["description"]}
        assert undocumented == set(), "every field carries the data dictionary's description"
        csv_text = (out_dir / m["files"][1]["name"]).read_bytes()
        assert csv_text.startswith(b"\xef\xbb\xbf") and person["mobile"].encode() in csv_text
        for f in m["files"]:
            assert hashlib.sha256((out_dir / f["name"]).read_bytes()).hexdigest() == f["sha256"]
    done = subject_ledger.rows_of(seeded["lake"], EXPORT)[-1]
    assert done["status"] == "done"
    recorded = {f["sha256"] for p in json.loads(done["outcome"])["packages"] for f in p["files"]}
    assert recorded == {f["sha256"] for m in made for f in m["files"]}
    assert not any(v in json.dumps(subject_ledger.all_rows(seeded["lake"]), default=str)
                   for p in seeded["people"] for v in p.values())  # fmt: skip


def _silver_rows(spark, lake, person, key) -> int:
    from citylake.domain.pii import hmac_hex_py

    h = hmac_hex_py(person["resident_id"], key)
    df = spark.read.format("delta").load(lake.table("silver", "medical_visits"))
    return df.where(f"patient_id_no_hash = '{h}'").count()


def _published_requests(root: Path, mart: str) -> int:
    """Requests in the mart's published snapshot: the files its manifest names."""
    manifest = json.loads((root / "published" / mart / "_manifest.json").read_text())
    files = [root / "published" / mart / f["path"] for f in manifest["files"]]
    return sum(sum(pq.read_table(f).column("requests").to_pylist()) for f in files)


def test_restrict_hides_a_subject_everywhere_but_bronze(seeded, spark, capsys, tmp_path):
    from servers import hive_query, sql_endpoint

    lake, key, first = seeded["lake"], seeded["key"], seeded["people"][0]
    before = _silver_rows(spark, lake, first, key)
    assert before > 0
    code, out, err = _run(capsys, "subject", "restrict", "--request", RESTRICT, "--subjects", str(seeded["first"]), "--json")
    assert code == 0, err
    assert _silver_rows(spark, lake, first, key) == 0
    assert spark.read.format("delta").load(lake.table("restricted", "medical_visits")).count() >= before
    bronze = spark.read.format("delta").load(lake.table("bronze", "medical_visits"))
    assert bronze.where(bronze.patient_id_no == first["resident_id"]).count() > 0, "bronze keeps the storage"
    # gold and published were rebuilt from what silver now holds
    silver_requests = spark.read.format("delta").load(lake.table("silver", "service_requests")).count()
    gold = spark.read.format("delta").load(lake.table("gold", "mart_service_requests_daily"))
    assert gold.agg({"requests": "sum"}).first()[0] == silver_requests
    assert _published_requests(seeded["root"], "mart_service_requests_daily") == silver_requests
    from citylake.domain.pii import hmac_hex_py

    h = hmac_hex_py(first["resident_id"], key)
    sql = f"SELECT count(*) AS n FROM silver.medical_visits WHERE patient_id_no_hash = '{h}'"
    code, out, err = _run(capsys, "query", sql, "--json")
    assert code == 0 and json.loads(out)[0]["n"] == 0
    with sql_endpoint(seeded["root"], tmp_path) as port:
        assert hive_query(port, sql)[0]["n"] == 0
        assert hive_query(port, "SELECT count(*) AS n FROM silver.medical_visits")[0]["n"] > 0


def _fingerprints(root: Path, people: list[dict], key: bytes) -> dict[str, Counter]:
    """Per table, the rows holding no subject (as text); per raw file, its records holding none."""
    ns = [v for vals in needles(people, key).values() for v in vals]
    out: dict[str, Counter] = {}
    for d in table_dirs(root):
        rows = DeltaTable(str(d)).to_pyarrow_table().to_pylist()
        texts = [json.dumps(r, sort_keys=True, default=str, ensure_ascii=False) for r in rows]
        out[d.relative_to(root).as_posix()] = Counter(t for t in texts if not any(n in norm(t) for n in ns))
    for zone in ("bronze/_landed", "quarantine/files"):
        for p in (root / zone).rglob("*"):
            if p.is_file() and not p.name.endswith(".parquet"):
                data = p.read_bytes()
                data = gzip.decompress(data) if p.name.endswith(".gz") else data
                lines = _decoded(data).splitlines()
                out[p.relative_to(root).as_posix()] = Counter(x for x in lines if not any(n in norm(x) for n in ns))
            elif p.is_file():
                rows = pq.read_table(io.BytesIO(p.read_bytes())).to_pylist()
                texts = ["|".join(_cell(v) for v in r.values()) for r in rows]
                out[p.relative_to(root).as_posix()] = Counter(t for t in texts if not any(n in norm(t) for n in ns))
    return out


def test_erase_leaves_no_byte_of_the_subjects_and_every_other_row_unchanged(seeded, capsys):
    root, people, key = seeded["root"], seeded["people"], seeded["key"]
    code, _, err = _run(capsys, "landing", "tidy", "--date", DAY.isoformat())
    assert code == 0, err
    before = _fingerprints(root, people, key)
    # an original delivery carrying subjects, kept aside to be sent again later
    loaded = sorted(p for p in (root / "bronze" / "_landed").rglob("*") if p.is_file()
                    and any(n in p.read_bytes() for n in byte_needles(people[1:], key)))  # fmt: skip
    STATE["resend"] = [(p.relative_to(root / "bronze" / "_landed"), p.read_bytes()) for p in loaded[:2]]
    assert STATE["resend"]
    code, out, err = _run(capsys, "subject", "erase", "--request", ERASE, "--subjects", str(seeded["file"]), "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["rows_deleted"] > 0 and result["files_rewritten"] > 0
    assert {"bronze.medical_visits", "silver.medical_visits", "quarantine.bronze_records",
            "restricted.medical_visits"} <= {t["table"] for t in result["tables"]}  # fmt: skip
    assert len({f["path"] for f in result["files"]}) == len(result["files"]), "each file rewritten once"
    code, out, err = _run(capsys, "subject", "verify", "--request", ERASE, "--subjects", str(seeded["file"]), "--json")
    assert code == 0, out + err
    inventory = json.loads(out)
    assert inventory["clean"] and inventory["objects"] > 100 and inventory["bytes"] > 0
    hits, files, size = byte_scan(root, people, key)
    assert hits == [] and files > 100 and size > 0
    after = _fingerprints(root, people, key)
    for where, rows in before.items():
        if where.startswith("_system/subject_"):
            continue  # the ledger and suppression list grow by this request
        assert after.get(where) == rows, f"{where}: rows of other people changed"


def test_time_travel_to_before_the_erasure_names_the_request(seeded, capsys):
    code, _, err = _run(capsys, "query", "SELECT count(*) FROM silver.medical_visits VERSION AS OF 0")
    assert code == 2
    assert ERASE in err and "silver.medical_visits" in err


def test_a_re_delivery_a_re_run_and_a_rebuild_leave_them_absent(seeded, spark, registry, capsys):
    from citylake.engine import delta_log
    from citylake.lake import progress
    from citylake.runs.pipeline import run_daily

    root, lake, people, key = seeded["root"], seeded["lake"], seeded["people"], seeded["key"]
    again = []
    for rel, data in STATE["resend"]:  # the original bytes, sent again under another name
        stem, dot, ext = rel.name.partition(".")
        resent = rel.parent / f"{stem}_again{dot}{ext}"
        (root / "landing" / resent).parent.mkdir(parents=True, exist_ok=True)
        (root / "landing" / resent).write_bytes(data)
        again.append(resent)
    bronze_before = {c: DeltaTable(str(root / "bronze" / c)).to_pyarrow_table().num_rows
                     for c in ("medical_visits", "service_requests", "ev_charging_sessions")}  # fmt: skip
    run_daily(DAY, seeded["settings"], spark, registry)  # the re-run of the day, with the re-delivery
    manifest = DeltaTable(str(root / "_system" / "file_manifest")).to_pyarrow_table().to_pylist()
    for rel in again:
        final = [r["status"] for r in manifest if r["file"] == rel.as_posix() and r["status"] != "pending"]
        assert final == ["duplicate"], (rel, final)
    assert {c: DeltaTable(str(root / "bronze" / c)).to_pyarrow_table().num_rows for c in bronze_before} == bronze_before
    code, out, err = _run(capsys, "landing", "tidy", "--date", DAY.isoformat(), "--json")
    assert code == 0, err
    for rel in again:  # not archived again, not copied to quarantine
        assert not (root / "landing" / rel).exists()
        assert not list(root.rglob(rel.name))
    assert byte_scan(root, people, key)[0] == []
    # a rebuild of silver (and so gold) from bronze
    for contract in ("medical_visits", "service_requests", "ev_charging_sessions"):
        path = lake.table("silver", contract)
        spark.sql(f"DELETE FROM delta.`{path}`")
        reset = progress.ProgressRow(progress.RESET, f"silver.{contract}", f"bronze.{contract}", None,
                                     delta_log.latest_version(path), run_id="rebuild")  # fmt: skip
        progress.record(lake, [reset], txn_app_id=f"progress-rebuild:{contract}")
    run_daily(DAY, seeded["settings"], spark, registry)
    assert spark.read.format("delta").load(lake.table("silver", "medical_visits")).count() > 0
    assert table_rows(root, people, key) == {}
    assert byte_scan(root, people, key)[0] == []


def test_certificate_and_ledger(seeded, capsys, tmp_path):

    code, out, err = _run(capsys, "subject", "certificate", "--request", ERASE, "--out", str(tmp_path), "--json")
    assert code == 0, err
    paths = json.loads(out)
    cert = json.loads(Path(paths["json"]).read_text())
    assert cert["inventory"]["findings"] == 0 and cert["tables"] and cert["files"]
    for p in paths.values():
        data = Path(p).read_bytes()
        assert not any(n in data for n in byte_needles(seeded["people"], seeded["key"]))
    assert _run(capsys, "subject", "verify-ledger")[0] == 0
    # someone edits one row in place: the chain no longer holds
    table = DeltaTable(str(seeded["root"] / "_system" / "subject_requests"))
    table.alter.set_table_properties({"delta.appendOnly": "false"})
    table.update(predicate=f"request_id = '{EXPORT}' AND seq = 1", updates={"reason": "'edited'"})
    code, out, _ = _run(capsys, "subject", "verify-ledger")
    assert code == 1 and "seq 1" in out
