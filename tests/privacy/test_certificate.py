"""The certificate of a request: one offline page and its JSON, naming subjects by reference only,
and refused when anything in it looks like a clear identifier or a hash of one. One browser launch."""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import hashlib
import json
import re
from pathlib import Path

import pytest
from browser import dom

from citylake.lake import subject_ledger
from citylake.lake.subject_ledger import IDENTIFIER_PATTERNS
from citylake.lake.subjects import Subject
from citylake.pages.certificate import CertificateData, CertificateError, write_certificate

KEY = b"citylake-tests-only-not-a-secret"
ALICE = Subject(1, {"resident_id": "11010519491231002X", "mobile": "13800138000", "name": "李四"})
BOB = Subject(2, {"licence_plate": "沪B67890"})
LANDED = "bronze/_landed/hosp_renji/visits/2026-11-20/visits.csv.gz"


def _sample(lake) -> CertificateData:
    refs = [ALICE.ref(KEY), BOB.ref(KEY)]
    subject_ledger.record(lake, "DSR-2026-0042", "erase", refs, "received", received_on=dt.date(2026, 11, 2))
    done = subject_ledger.record(lake, "DSR-2026-0042", "erase", None, "done", outcome={"rows": 9})
    seq, digest = subject_ledger.head(lake)
    return {
        "request_id": "DSR-2026-0042", "type": "erase", "legal_basis": done["legal_basis"],
        "received_on": done["received_on"], "due_on": done["due_on"], "status": "done",
        "completed_on": dt.date(2026, 11, 20), "subject_refs": refs,
        "locations": [
            {"place": "silver.hospital_visits", "kind": "table", "found": 4, "removed": 4, "outcome": "erased"},
            {"place": "quarantine.bronze_records", "kind": "table", "found": 1, "removed": 1, "outcome": "erased"},
            {"place": LANDED, "kind": "file", "found": 2, "removed": 2, "outcome": "rewritten", "unit": "records"},
            {"place": "_system/gx/validations/hospital_visits.json", "kind": "text", "found": 1, "removed": 1,
             "outcome": "rewritten"},
        ],
        "tables": [
            {"table": "silver.hospital_visits", "version_before": 12, "version_after": 14, "rows_removed": 4,
             "files_purged": 3},
            {"table": "quarantine.bronze_records", "version_before": 5, "version_after": 6, "rows_removed": 1},
        ],
        "files": [
            {"path": LANDED, "action": "rewritten", "records_removed": 2,
             "sha256_before": hashlib.sha256(b"before").hexdigest(), "sha256_after": hashlib.sha256(b"after").hexdigest()},
            {"path": "quarantine/files/2026-11-20/hosp_renji/visits/dup.csv", "action": "purged",
             "records_removed": 3, "sha256_before": hashlib.sha256(b"dup").hexdigest(), "sha256_after": None},
        ],
        "inventory": {"objects": 1834, "object_versions": 1834, "delta_versions": 211, "bytes": 48_213_990,
                      "findings": 0},
        "ledger": {"seq": seq, "digest": digest},
    }  # fmt: skip


def _forbidden() -> tuple[str, ...]:
    """The subjects' values and hashes as text (the GB18030 forms are bytes only: the scan has them)."""
    out = []
    for needle in (n for s in (ALICE, BOB) for n in s.needles(KEY)):
        with contextlib.suppress(UnicodeDecodeError):
            out.append(needle.decode("utf-8"))
    return tuple(out)


def test_the_certificate_renders_offline_and_holds_no_identifier(lake, tmp_path):
    data = _sample(lake)
    html_path, json_path = write_certificate(tmp_path / "certs", data, forbidden=_forbidden())
    assert Path(html_path).name == "certificate-DSR-2026-0042.html" and Path(json_path).is_file()
    page = dom(Path(html_path))
    assert re.search(r'id="request-id">DSR-2026-0042<', page)
    assert re.search(r'id="request-type">erase<', page) and "PIPL Art. 47" in page
    assert re.search(r'id="findings">0 found<', page) and "48,213,990 bytes" in page
    assert re.search(rf'id="ledger-seq">2<.*id="ledger-digest">{data["ledger"]["digest"]}<', page, re.S)
    assert ALICE.ref(KEY) in page and BOB.ref(KEY) in page and LANDED in page
    assert len(re.findall(r"<tr>", page)) == 4 + 2 + 2 + 3  # rows of each table, and their heads
    assert not re.findall(r'(?:src|href)="https?://', page)
    body = json.loads(Path(json_path).read_text(encoding="utf-8"))
    assert body["request_id"] == "DSR-2026-0042" and body["inventory"]["findings"] == 0
    assert body["ledger"] == {"seq": 2, "digest": data["ledger"]["digest"]}
    # scanned as bytes: no value, normalised value or hash of a subject, and no identifier-shaped
    # text except the digests the certificate is meant to show
    digests = {data["ledger"]["digest"], *(f["sha256_before"] for f in data["files"]),
               *(f["sha256_after"] for f in data["files"] if f["sha256_after"])}  # fmt: skip
    for path in (html_path, json_path):
        raw = Path(path).read_bytes()
        assert not [n for s in (ALICE, BOB) for n in s.needles(KEY) if n in raw]
        text = raw.decode("utf-8")
        found = {m.group(0) for p in IDENTIFIER_PATTERNS.values() for m in p.finditer(text)}
        assert found <= digests


@pytest.mark.parametrize(
    ("where", "value", "message"),
    [
        (("locations", 2, "place"), f"bronze/_landed/x/{ALICE.values['resident_id']}.csv", "looks like a resident ID"),
        (("tables", 0, "table"), f"silver.t_{ALICE.values['mobile']}", "looks like a mobile number"),
        (("locations", 0, "outcome"), "erased " + "ab" * 32, "looks like a 64-hex hash"),
        (("files", 0, "sha256_after"), "not-a-digest", "not a sha256 digest"),
        (("files", 0, "sha256_after"), ALICE.hashes(KEY)["mobile"], "holds one of the subjects'"),
        (("inventory", "findings"), 1, "verifier found nothing"),
    ],
)  # fmt: skip
def test_the_guard_refuses_identifiers(lake, tmp_path, where, value, message):
    data = copy.deepcopy(_sample(lake))
    target: dict = data  # type: ignore[assignment]
    for step in where[:-1]:
        target = target[step]
    target[where[-1]] = value
    with pytest.raises(CertificateError, match=message) as refused:
        write_certificate(tmp_path / "certs", data, forbidden=_forbidden())
    assert str(value) not in str(refused.value) or isinstance(value, int)
    assert not (tmp_path / "certs").exists()  # nothing written


def test_an_incomplete_certificate_is_refused(lake, tmp_path):
    data = dict(_sample(lake))
    del data["ledger"]
    with pytest.raises(CertificateError, match="lacks ledger"):
        write_certificate(tmp_path, data)
