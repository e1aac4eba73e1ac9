"""The data dictionary: every silver table and gold mart, generated from the registry and mart docs.

`citylake docs` writes it beside the Data Docs; `make dictionary` refreshes the committed copy
in docs/data_dictionary.md (a test fails when that copy is stale).
"""

from __future__ import annotations

from collections import Counter

from citylake.config import layers
from citylake.config.registry import FeedContract, MartDoc, Registry

META_DOC = {
    "_unit": "source unit that sent the record",
    "_feed": "the unit's feed",
    "_source_file": "landed file the record came from",
    "_record_no": "record number in that file (1-based)",
    "_batch_id": "bronze batch the record was promoted from",
    "_logical_date": "delivery (logical) date of the run",
    "_run_id": "run that last wrote the row",
    "_updated_at": "when that run wrote it",
}
SCD2_DOC = {
    "valid_from": "start of this version: the source's update time (Asia/Shanghai)",
    "valid_to": "end of this version; null while current",
    "is_current": "true for the entity's current version",
}
REFERENCE_DOC = {
    "valid_from": "start of this version: the delivery date of the first snapshot that held it",
    "valid_to": "end of this version: the delivery date of the snapshot that changed or no longer held it; "
    "null while current",
}
PII_DOC = {
    "resident_id": "resident ID number (GB 11643)",
    "mobile": "mobile number",
    "name": "person's name",
    "address": "exact address",
    "licence_plate": "licence plate",
}
DERIVED_DOC = {
    "birth_year": "birth year, from a valid resident ID",
    "gender": "M or F, from a valid resident ID",
    "region": "issuing area code of a valid resident ID (retired Shanghai codes remapped)",
}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def column_docs(contract: FeedContract) -> dict[str, str]:
    """What each silver column holds, from the contract's declarations."""
    docs: dict[str, str] = {}
    for c in contract.columns:
        base = c.description or c.name.replace("_", " ")
        aliases = f" (source headers: {', '.join(c.aliases)})" if c.aliases else ""
        if c.pii:
            docs[layers.hash_column(c.name)] = (
                f"HMAC-SHA256 of the normalised {PII_DOC[c.pii]}, keyed by CITYLAKE_PII_KEY; the clear value "
                f"stays in bronze{aliases}"
            )
            if c.pii == "resident_id":
                docs[layers.valid_column(c.name)] = f"true if {layers.check_column(c.name)} is ok"
                docs[layers.check_column(c.name)] = (
                    "GB 11643: ok; bad_check (wrong check character, or not 18 or legacy 15 digits); "
                    "bad_date (no such birth date, or after the delivery date); bad_area (no division "
                    "ever had the area code)"
                )
            for d in c.derive:
                docs[f"{c.name}_{d}"] = DERIVED_DOC[d]
        elif c.role == "uscc":
            docs[c.name] = f"{base} (unified social credit code, as sent){aliases}"
            docs[layers.valid_column(c.name)] = f"true if {layers.check_column(c.name)} is ok"
            docs[layers.check_column(c.name)] = (
                "GB 32100: ok; bad_check (not 18 characters of its alphabet, or a wrong check character); "
                "bad_org (the embedded organisation code fails GB 11714); bad_area (no division ever had "
                "the embedded area code)"
            )
        elif c.role in ("district_code", "street_code"):
            docs[c.name] = (
                f"{base}; current code by the division register (silver.admin_divisions), "
                f"retired codes remapped by the crosswalk, null if unknown{aliases}"
            )
            docs[layers.as_sent_column(c.name)] = "the code as the unit sent it"
            docs[layers.status_column(c.name)] = (
                "current (in the register), remapped (a retired code with a successor) or unknown (neither)"
            )
        elif c.role in ("lon", "lat") and contract.coordinates:
            docs[c.name] = f"{base}, WGS-84{aliases}"
            docs[layers.as_sent_column(c.name)] = "the value as sent, in the feed's declared system"
        else:
            limits = []
            if c.min is not None or c.max is not None:
                limits.append(
                    f"range {c.min if c.min is not None else ''}..{c.max if c.max is not None else ''}"
                )
            if c.allowed:
                limits.append(f"one of {', '.join(c.allowed)}")
            docs[c.name] = base + (f" ({'; '.join(limits)})" if limits else "") + aliases
    if contract.coordinates:
        docs["coord_system"] = "coordinate system the unit's feed declares (wgs84, gcj02, bd09)"
        docs["coord_status"] = (
            "wgs84, converted_from_gcj02, converted_from_bd09, or outside_china (left as sent)"
        )
    docs["event_date"] = (
        f"day of {contract.event_time} (Asia/Shanghai); partitions the table"
        if contract.kind == "event"
        else "delivery date of the snapshot"
    )
    if contract.kind == "reference":
        return {**docs, **SCD2_DOC, **REFERENCE_DOC, **META_DOC}
    return {**docs, **SCD2_DOC, **META_DOC}


def _markers(values: tuple[str, ...]) -> str:
    return ", ".join(f"`{v}`" if v else "the empty string" for v in values) or "none"


def _silver_section(contract: FeedContract, units: int, own_markers: dict[str, tuple[str, ...]]) -> list[str]:
    grain = {
        "event": "one row per record per sending unit",
        "entity": "one row per object version per sending unit (SCD type 2)",
        "reference": "one row per register entry version per sending unit (SCD type 2; an entry "
        "missing from a newer snapshot is closed, not deleted)",
    }[contract.kind]
    docs = column_docs(contract)
    lines = [
        f"### silver.{contract.contract}",
        "",
        f"{contract.title}. {contract.description}",
        "",
        f"- Grain: {grain}; key: {', '.join(layers.merge_keys(contract))}"
        + (", valid_from" if contract.scd2 else ", event_date"),
        f"- Owner: {contract.owner}",
        f"- Sent by {units} unit(s), {contract.cadence}; contract version {contract.version}",
    ]
    if contract.null_values or own_markers:
        own = "; ".join(f"{u}: {_markers(m)}" for u, m in sorted(own_markers.items()))
        lines.append(f"- Null markers (read as null from CSV and JSON lines): {_markers(contract.null_values)}"
                     + (f"; units with their own: {own}" if own else ""))  # fmt: skip
    lines += [
        "",
        "| column | type | meaning |",
        "| --- | --- | --- |",
    ]
    lines += [f"| `{n}` | {t} | {_cell(docs.get(n, ''))} |" for n, t in layers.silver_columns(contract)]
    return [*lines, ""]


def _mart_section(doc: MartDoc) -> list[str]:
    lines = [
        f"### gold.{doc.mart}",
        "",
        f"{doc.title}. {' '.join(doc.description.split())}",
        "",
        f"- Grain: {doc.grain}",
        f"- Owner: {doc.owner}; for: {', '.join(doc.audience)}",
        f"- Inputs: {', '.join(doc.inputs)}",
        f"- Checked by: {', '.join(doc.suites)}",
        f"- Rebuilt: {'by ' + doc.date_column if doc.date_column else 'whole, when an input changes'}",
        f"- Published: `published/{doc.mart}/_manifest.json` (Parquet snapshot of the current version)",
    ]
    if doc.layout.cluster_by or doc.layout.files_by:
        by = f"; one file group per {doc.layout.files_by}" if doc.layout.files_by else ""
        lines.append(f"- Layout: sorted on {', '.join(doc.layout.cluster_by)}{by}")
    lines += ["", "| column | type | meaning |", "| --- | --- | --- |"]
    lines += [f"| `{c.name}` | {c.type} | {_cell(c.description)} |" for c in doc.columns]
    return [*lines, ""]


def render(registry: Registry) -> str:
    units = Counter(f.contract.contract for f in registry.feeds())
    lines = [
        "# citylake data dictionary",
        "",
        "Generated by `citylake docs` from schemas/contracts, schemas/units and schemas/marts; do not edit.",
        "",
        f"{len(registry.units)} source units send {sum(units.values())} feeds under "
        f"{len(registry.contracts)} contracts. Bronze keeps records as sent (restricted: see docs/explanation/access.md).",
        "",
        "## Gold marts",
        "",
    ]
    for doc in registry.marts.values():
        lines += _mart_section(doc)
    lines += ["## Silver tables", ""]
    own_markers: dict[str, dict[str, tuple[str, ...]]] = {}
    for f in registry.feeds():
        if f.spec.null_values is not None:
            own_markers.setdefault(f.contract.contract, {})[f.key] = f.null_values
    for contract in registry.contracts.values():
        lines += _silver_section(
            contract, units.get(contract.contract, 0), own_markers.get(contract.contract, {})
        )
    lines += [
        "## Columns every silver table has",
        "",
        "| column | type | meaning |",
        "| --- | --- | --- |",
        *[f"| `{n}` | {t} | {META_DOC[n]} |" for n, t in layers.SILVER_META],
        "",
        f"Entity tables also have {', '.join(n for n, _ in layers.SCD2_COLUMNS)} (SCD type 2).",
        "",
    ]
    return "\n".join(lines)
