"""`citylake subject export` (PIPL Art. 45): one package per subject for the data-protection officer.

Each package is a JSON file and a CSV file (UTF-8; the CSV with a BOM so Excel opens it as
UTF-8) holding every record found: the clear values as the unit sent them (bronze), what
silver derived (validity, birth year, gender, region; silver's keyed hashes are left out:
they mean nothing to the person and would re-identify with the key), quarantined records
(``raw_text``, reasons) and restricted rows, each field with the data dictionary's description.

Packages go outside the lake (``--out``): they hold clear personal data, and the lake's own
verifier must find nothing after an erasure. Their sha256 go into the request ledger.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from citylake.config.registry import FeedContract, Registry
from citylake.engine import delta_io
from citylake.lake.subjects import Subject
from citylake.pages.dictionary import META_DOC, PII_DOC, column_docs
from citylake.privacy import tables
from citylake.privacy.locate import Found, qualified

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

META = {"_unit", "_feed", "_source_file", "_record_no"}


def _contracts(registry: Registry) -> dict[str, FeedContract]:
    return {f.contract.contract: f.contract for f in registry.feeds()}


BRONZE_META = {
    **META_DOC,
    "_ingested_at": "when bronze loaded the record",
    "_run_id": "run that loaded the record",
    "_dq_failed": "bronze checks the record failed, if any",
}
QUARANTINE_DOC = {
    "run_id": "run that set the record aside", "logical_date": "delivery (logical) date of that run",
    "unit": "source unit that sent it", "feed": "the unit's feed", "contract": "the feed's contract",
    "source_file": "landed file it came from", "record_no": "record number in that file (1-based)",
    "raw_text": "the record exactly as delivered (it could not be parsed)", "reason": "why it was set aside",
    "batch_id": "bronze batch of the record", "quarantined_at": "when it was set aside",
    "failed_expectations": "the checks it failed", "record": "the record's fields as loaded",
}  # fmt: skip


def field_docs(zone: str, table: str, registry: Registry) -> dict[str, str]:
    """The data dictionary's description of each field of ``zone``.``table``."""
    if zone == "quarantine":
        return QUARANTINE_DOC
    contract = _contracts(registry).get(table)
    if contract is None:
        return {}
    if zone == "bronze":
        own = {c.name: (c.description or c.name.replace("_", " ")) + (f" ({PII_DOC[c.pii]}, as sent)" if c.pii else "")
               for c in contract.columns}  # fmt: skip
        return {**BRONZE_META, **own}
    return column_docs(contract)


def _plain(v: Any) -> Any:
    if isinstance(v, dt.datetime | dt.date):
        return v.isoformat()
    if isinstance(v, list | dict):
        return json.loads(json.dumps(v, default=str))
    return v


def collect(
    spark: SparkSession, found: Found, subjects: list[Subject], key: bytes, registry: Registry
) -> dict[int, list[dict[str, Any]]]:
    """subject -> records: {table, zone, fields: {name: {value, description}}}."""
    from pyspark.sql import functions as F

    finder = tables.register_finder(spark, subjects, key)
    out: dict[int, list[dict[str, Any]]] = {s.number: [] for s in subjects}
    for ref in sorted({h.table for h in found.tables}, key=qualified):
        df = delta_io.scan(spark, ref.path)
        text = tables.row_text(df.schema)
        if text is None:
            continue
        keep = [c for c in df.columns if not c.endswith("_hash")]
        matched = (
            df.select(F.explode(tables.subjects_in(text, finder)).alias("subject"), *keep)
            .dropDuplicates()
            .collect()
        )
        docs = field_docs(ref.zone, ref.name, registry)
        for row in matched:
            d = row.asDict(recursive=True)
            subject = int(d.pop("subject"))
            fields = {k: {"value": _plain(v), "description": docs.get(k, "")} for k, v in d.items()}
            out[subject].append({"table": qualified(ref), "zone": ref.zone, "fields": fields})
    return out


def _write(path: Path, data: bytes) -> str:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # personal data: owner only
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return hashlib.sha256(data).hexdigest()


def write_packages(
    out_dir: Path, request_id: str, records: dict[int, list[dict[str, Any]]], refs: dict[int, str]
) -> list[dict[str, Any]]:
    """One JSON and one CSV per subject; returns [{subject, ref, files: [{name, sha256, bytes}]}]."""
    out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    made = []
    for subject, recs in sorted(records.items()):
        stem = f"{request_id}-subject-{subject}"
        package = {"request_id": request_id, "subject": subject, "subject_ref": refs[subject],
                   "generated_at": dt.datetime.now().isoformat(timespec="seconds"), "records": recs}  # fmt: skip
        body = json.dumps(package, ensure_ascii=False, indent=1, default=str).encode("utf-8")
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\r\n")
        w.writerow(["record", "table", "field", "value", "description"])
        for i, r in enumerate(recs, start=1):
            for name, f in r["fields"].items():
                value = f["value"]
                shown = json.dumps(value, ensure_ascii=False) if isinstance(value, list | dict) else value
                w.writerow([i, r["table"], name, "" if shown is None else shown, f["description"]])
        files = []
        for name, data in ((f"{stem}.json", body), (f"{stem}.csv", buf.getvalue().encode("utf-8-sig"))):
            files.append({"name": name, "sha256": _write(out_dir / name, data), "bytes": len(data)})
        made.append({"subject": subject, "subject_ref": refs[subject], "records": len(recs), "files": files})
    return made
