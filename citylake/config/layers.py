"""Column layouts of the bronze and silver layers, derived from the feed contracts (no Spark needed).

`citylake registry validate` checks silver suites against these names before any Spark runs;
jobs/silver_conform.py builds exactly these columns, jobs/bronze_transform.py bronze's.
"""

from __future__ import annotations

from citylake.config.registry import FeedContract

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


# what every bronze row carries after its contract's columns (never null); bronze adds the ids of the
# row-level expectations a record breaks last (citylake.quality.rowchecks.DQ_FAILED)
BRONZE_META: tuple[tuple[str, str], ...] = (
    ("_unit", "string"),
    ("_feed", "string"),
    ("_source_file", "string"),
    ("_record_no", "long"),
    ("_ingested_at", "timestamp"),
    ("_run_id", "string"),
    ("_batch_id", "string"),
    ("_logical_date", "date"),
)


# SCD type 2 validity of an entity version; valid_to is null while the version is current
SCD2_COLUMNS: tuple[tuple[str, str], ...] = (
    ("valid_from", "timestamp"),
    ("valid_to", "timestamp"),
    ("is_current", "boolean"),
)
DERIVED_TYPES = {"birth_year": "int", "gender": "string", "region": "string"}


def hash_column(name: str) -> str:
    return f"{name}_hash"


def valid_column(name: str) -> str:
    return f"{name}_valid"


def check_column(name: str) -> str:
    """Why an identifier is valid or not: ok, or the first rule it breaks."""
    return f"{name}_check"


def as_sent_column(name: str) -> str:
    """The value exactly as the unit sent it, kept beside its normalised twin."""
    return f"{name}_as_sent"


def status_column(name: str) -> str:
    return f"{name}_status"


def bronze_columns(contract: FeedContract) -> list[tuple[str, str]]:
    """(name, type) of bronze.<contract> but its DQ column: the contract's columns as declared
    (values as sent, personal data in clear), then ``BRONZE_META``."""
    return [(c.name, c.type) for c in contract.columns] + list(BRONZE_META)


def silver_columns(contract: FeedContract) -> list[tuple[str, str]]:
    """(name, type) of silver.<contract>.

    Personal data only as keyed hashes (plus derived birth year, gender, region where the
    contract asks); district and street codes normalised, with the code as sent and a status;
    coordinates in WGS-84, with the values as sent, their declared system and a status.
    """
    out: list[tuple[str, str]] = []
    for c in contract.columns:
        if c.pii:
            out.append((hash_column(c.name), "string"))
            if c.pii == "resident_id":
                out += [(valid_column(c.name), "boolean"), (check_column(c.name), "string")]
            out += [(f"{c.name}_{d}", DERIVED_TYPES[d]) for d in c.derive]
        elif c.role == "uscc":
            out += [(c.name, c.type), (valid_column(c.name), "boolean"), (check_column(c.name), "string")]
        elif c.role in ("district_code", "street_code"):
            out += [(c.name, c.type), (as_sent_column(c.name), c.type), (status_column(c.name), "string")]
        elif c.role in ("lon", "lat") and contract.coordinates:
            out += [(c.name, c.type), (as_sent_column(c.name), c.type)]
        else:
            out.append((c.name, c.type))
    if contract.coordinates:
        out += [("coord_system", "string"), ("coord_status", "string")]
    out.append(("event_date", "date"))
    if contract.scd2:
        out += list(SCD2_COLUMNS)
    return out + list(SILVER_META)


def scd2_tracked(contract: FeedContract) -> list[str]:
    """Attributes whose change opens a new version: not the source's own update time, not
    how the unit spelled a code, not lineage."""
    skip = {contract.event_time, "event_date", *(n for n, _ in SCD2_COLUMNS), *merge_keys(contract)}
    skip |= {status_column(c.name) for c in contract.columns if c.role in ("district_code", "street_code")}
    skip |= set(scd2_measures(contract))
    # verdicts on an identifier follow the identifier (tracked itself, or its hash)
    skip |= {f(c.name) for c in contract.columns if c.pii == "resident_id" or c.role == "uscc"
             for f in (valid_column, check_column)}  # fmt: skip
    return [
        n for n, _ in silver_columns(contract)
        if n not in skip and not n.startswith("_") and not n.endswith("_as_sent")
    ]  # fmt: skip


def scd2_measures(contract: FeedContract) -> list[str]:
    """Measures an entity snapshot carries: updated in the current version, not versioned."""
    return [c.name for c in contract.columns if not c.track]


def merge_keys(contract: FeedContract) -> list[str]:
    """Silver's identity of a record: business keys are unique per sending unit."""
    return ["_unit", *[hash_column(k) if _is_pii(contract, k) else k for k in contract.business_keys]]


def _is_pii(contract: FeedContract, name: str) -> bool:
    return any(c.name == name and c.pii for c in contract.columns)
