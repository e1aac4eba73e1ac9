"""Column layouts of the silver layer, derived from the feed contracts (no Spark needed).

`citylake registry validate` checks silver suites against these names before any Spark runs;
jobs/silver_conform.py builds exactly these columns.
"""

from __future__ import annotations

from citylake.registry import FeedContract

# lineage every silver row keeps: which unit, file and record it came from, and which run wrote it
SILVER_META: tuple[tuple[str, str], ...] = (
    ("_unit", "string"),
    ("_feed", "string"),
    ("_source_file", "string"),
    ("_record_no", "long"),
    ("_batch_id", "string"),
    ("_logical_date", "date"),
    ("_run_id", "string"),
    ("_updated_at", "timestamp"),
)


def hash_column(name: str) -> str:
    return f"{name}_hash"


def valid_column(name: str) -> str:
    return f"{name}_valid"


def silver_columns(contract: FeedContract) -> list[tuple[str, str]]:
    """(name, type) of silver.<contract>: personal data only as keyed hashes, plus event_date."""
    out: list[tuple[str, str]] = []
    for c in contract.columns:
        if c.pii:
            out.append((hash_column(c.name), "string"))
            if c.pii == "resident_id":
                out.append((valid_column(c.name), "boolean"))
        else:
            out.append((c.name, c.type))
    out.append(("event_date", "date"))
    return out + list(SILVER_META)


def merge_keys(contract: FeedContract) -> list[str]:
    """Silver's identity of a record: business keys are unique per sending unit."""
    return ["_unit", *[hash_column(k) if _is_pii(contract, k) else k for k in contract.business_keys]]


def _is_pii(contract: FeedContract, name: str) -> bool:
    return any(c.name == name and c.pii for c in contract.columns)
