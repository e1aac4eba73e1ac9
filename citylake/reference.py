"""Reference data in the lake: the national register of division codes, past and present.

A resident ID's area code (GB 11643) and a USCC's embedded area code (GB 32100) name the
county-level division that issued them, which may have been retired since (Shanghai's Nanshi,
Luwan and Zhabei among them). Which codes ever existed, nationally, comes from python-stdnum's
``cn/loc`` table (GB/T 2260 codes with their years of validity), a well-kept library this
platform depends on rather than copies. The first run that needs it writes it to
``_system/division_codes`` (delta-rs, no JVM); a newer stdnum rewrites it.
"""

from __future__ import annotations

import re
from importlib import metadata, resources
from typing import Any

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
    province, prefix = "", ""
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
                         "source": stdnum_source()})  # fmt: skip
    return rows


def division_codes(lake: Lake) -> frozenset[str]:
    """Every division code that ever existed (and the national one), from the lake's table."""
    import pyarrow as pa
    from deltalake import DeltaTable, write_deltalake
    from deltalake.exceptions import TableNotFoundError

    from citylake.storage import delta_rs_location

    uri, options = delta_rs_location(lake.table("_system", DIVISION_CODES))
    try:
        table = DeltaTable(uri, storage_options=options).to_pyarrow_table(columns=["code", "source"])
    except TableNotFoundError:
        table = None
    if table is None or table.num_rows == 0 or table.column("source")[0].as_py() != stdnum_source():
        rows = stdnum_divisions()
        write_deltalake(uri, pa.Table.from_pylist(rows), mode="overwrite", schema_mode="overwrite",
                        storage_options=options)  # fmt: skip
        codes = {r["code"] for r in rows}
    else:
        codes = set(table.column("code").to_pylist())
    return frozenset(codes | {NATIONAL})
