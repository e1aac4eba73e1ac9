"""Reference data in the lake: the national register of division codes, past and present.

A resident ID's area code (GB 11643) and a USCC's embedded area code (GB 32100) name the
county-level division that issued them, which may have been retired since (Shanghai's Nanshi,
Luwan and Zhabei among them). Which codes ever existed, nationally, comes from python-stdnum's
``cn/loc`` table (GB/T 2260 codes with their years of validity), a well-kept library this
platform depends on rather than copies. The first run that needs it writes it to
``_system/division_codes`` (delta-rs, no JVM); a newer stdnum rewrites it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from importlib import metadata, resources
from typing import Any

from citylake.domain import districts
from citylake.engine import delta_log, fence
from citylake.engine.frames import local_frame
from citylake.lake import Lake

DIVISION_CODES = "division_codes"
# central-level registrations carry 100000 (the People's Republic) as their area code
NATIONAL = "100000"
_ERA = re.compile(r"^\[(\d*)-(\d*)\](.*)$")


def stdnum_source() -> str:
    return f"python-stdnum {metadata.version('python-stdnum')} cn/loc.dat"


def stdnum_divisions() -> list[dict[str, Any]]:
    """One row per code and name it has had: code, name, province, first and last year (null:
    open-ended), from stdnum's file (two-digit province lines, four-digit county lines under them)."""
    text = resources.files("stdnum").joinpath("cn/loc.dat").read_text(encoding="utf-8")
    rows: list[dict[str, Any]] = []
    province, prefix, source = "", "", stdnum_source()  # once: a metadata lookup costs ~0.5 ms
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        code, _, props = line.strip().partition(" ")
        value = props.split("=", 1)[1].strip().strip('"') if "=" in props else ""
        if not line.startswith(" "):
            prefix, province = code, value
            continue
        for name in value.split(","):
            era = _ERA.match(name)
            first, last, name = (era.group(1), era.group(2), era.group(3)) if era else ("", "", name)
            rows.append({"code": prefix + code, "name": name, "province": province,
                         "first_year": int(first) if first else None, "last_year": int(last) if last else None,
                         "source": source})  # fmt: skip
    return rows


def division_codes(lake: Lake) -> frozenset[str]:
    """Every division code that ever existed (and the national one), from the lake's table."""
    import pyarrow as pa
    from deltalake import DeltaTable, write_deltalake
    from deltalake.exceptions import TableNotFoundError

    from citylake.engine.storage import delta_rs_location

    uri, options = delta_rs_location(lake.table("_system", DIVISION_CODES))
    try:
        table = DeltaTable(uri, storage_options=options).to_pyarrow_table(columns=["code", "source"])
    except TableNotFoundError:
        table = None
    if table is None or table.num_rows == 0 or table.column("source")[0].as_py() != stdnum_source():
        rows = stdnum_divisions()
        fence.check(f"writing {uri}")
        write_deltalake(uri, pa.Table.from_pylist(rows), mode="overwrite", schema_mode="overwrite",
                        storage_options=options)  # fmt: skip
        codes = {r["code"] for r in rows}
    else:
        codes = set(table.column("code").to_pylist())
    return frozenset(codes | {NATIONAL})


# --- the division register: silver.admin_divisions, and the crosswalk of retired codes ----------

REGISTER_CONTRACT = "admin_divisions"
CROSSWALK_TABLE = "division_crosswalk"


def register(lake: Lake) -> tuple[list[tuple[str, str]], str]:
    """(code, level) of every current entry of the division register, and where it came from:
    the current snapshot in silver.admin_divisions, or the shipped NBS 2023 seed before the
    civil-affairs unit's first snapshot is there."""
    entries = delta_log.rows(lake.table("silver", REGISTER_CONTRACT), ["code", "level", "is_current"])
    rows = [r for r in entries if r["is_current"] and r["code"]]
    if rows:
        return sorted(
            (r["code"], r["level"]) for r in rows
        ), f"silver.{REGISTER_CONTRACT} ({len(rows)} current codes)"
    seed = [(d.code, d.level) for d in districts.seed_register()]
    return (
        seed,
        f"the shipped seed register {districts.SEED_REGISTER.name} (silver.{REGISTER_CONTRACT} is empty)",
    )


def crosswalk(lake: Lake) -> dict[str, str]:
    """Retired code -> successor from ``_system/division_crosswalk``, written from the shipped
    file by the first run that needs it (and again when that file changes)."""
    import pyarrow as pa
    from deltalake import write_deltalake

    from citylake.engine.storage import delta_rs_location

    shipped = districts.CROSSWALK.read_bytes()
    digest = hashlib.sha256(shipped).hexdigest()
    stored = delta_log.rows(
        lake.table("_system", CROSSWALK_TABLE), ["retired_code", "successor_code", "source"]
    )
    if not stored or stored[0]["source"] != digest:
        rows = [{**r, "source": digest} for r in csv.DictReader(io.StringIO(shipped.decode("utf-8")))]
        uri, options = delta_rs_location(lake.table("_system", CROSSWALK_TABLE))
        fence.check(f"writing {uri}")
        write_deltalake(uri, pa.Table.from_pylist(rows), mode="overwrite", schema_mode="overwrite",
                        storage_options=options)  # fmt: skip
        return {r["retired_code"]: r["successor_code"] for r in rows}
    return {r["retired_code"]: r["successor_code"] for r in stored}


def division_lookup(spark: Any, lake: Lake) -> tuple[Any, str]:
    """The (sent, code, level, status) lookup silver conforms codes with, as one small Spark
    DataFrame per run, and a line saying which register it holds."""
    codes, source = register(lake)
    rows = districts.lookup_rows(codes, crosswalk(lake))
    return local_frame(spark, rows, "sent string, code string, level string, status string").cache(), source


def current_districts(lake: Lake) -> list[str]:
    return [code for code, level in register(lake)[0] if level == "district"]
