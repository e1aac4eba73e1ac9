"""`citylake subject certificate`: a request's certificate from what it recorded.

Built from the request's evidence (``_system/privacy/<request>/*.json``, written by erase,
restrict and verify), its ledger rows and the ledger's head, into citylake.pages.certificate
(HTML and JSON, no clear identifier: that module refuses anything that looks like one).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from citylake.lake import Lake, subject_ledger
from citylake.pages.certificate import CertificateData, FileChange, Location, TableChange, write_certificate
from citylake.privacy import evidence


def _locations(found: dict[str, Any], erased: bool) -> list[Location]:
    out: list[Location] = []
    for subject in found.get("subjects", []):
        for t in subject["tables"]:
            out.append({"place": t["table"], "kind": "table", "found": t["rows"], "removed": t["rows"] if erased else 0,
                        "outcome": "erased" if erased else "restricted", "unit": "rows"})  # fmt: skip
        for f in subject["files"]:
            n = f.get("records", f.get("occurrences", 0))
            out.append({"place": f["path"], "kind": "file" if f["kind"] == "raw" else "text", "found": n,
                        "removed": n if erased else 0, "outcome": "rewritten" if erased else "untouched",
                        "unit": "records"})  # fmt: skip
    return out


def build(lake: Lake, request_id: str) -> CertificateData:
    rows = subject_ledger.rows_of(lake, request_id)
    if not rows:
        raise ValueError(f"request {request_id}: not in the ledger")
    first, last = rows[0], rows[-1]
    erase = evidence.read(lake, request_id, "erase")
    restrict = evidence.read(lake, request_id, "restrict")
    verify = evidence.read(lake, request_id, "verify")
    step = erase or restrict or {}
    tables: list[TableChange] = [
        {"table": t["table"], "version_before": int(t["version_before"] or 0), "version_after": int(t["version_after"]),
         "rows_removed": int(t["rows_deleted"]), "files_purged": int(t.get("data_files_purged", 0))}  # fmt: skip
        for t in step.get("tables", [])
    ]
    files: list[FileChange] = [
        {"path": f["path"], "action": f.get("action", "rewritten"), "records_removed": int(f["removed"]),
         "sha256_before": f["sha256_before"], "sha256_after": f["sha256_after"]}  # fmt: skip
        for f in step.get("files", [])
    ]
    inventory = None
    if verify:
        inventory = {"objects": verify["objects"], "object_versions": verify["versions"],
                     "delta_versions": verify.get("delta_versions", 0), "bytes": verify["bytes"],
                     "findings": verify["findings_count"]}  # fmt: skip
    seq, digest = subject_ledger.head(lake)
    data: CertificateData = {
        "request_id": request_id,
        "type": first["type"],
        "legal_basis": first["legal_basis"],
        "received_on": first["received_on"],
        "due_on": first["due_on"],
        "subject_refs": list(first["subject_refs"] or []),
        "locations": _locations(step.get("found", {}), erased=erase is not None),
        "tables": tables,
        "files": files,
        "inventory": inventory,  # type: ignore[typeddict-item]
        "ledger": {"seq": seq, "digest": digest},
        "status": last["status"],
    }
    return data


def certificate(lake: Lake, request_id: str, out_dir: Path) -> tuple[Any, Any]:
    return write_certificate(out_dir, dict(build(lake, request_id)))
