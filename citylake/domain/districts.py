"""Shanghai's division codes as data: the register (NBS 2023) and the crosswalk of retired codes.

The register the lake conforms against is the current snapshot of ``silver.admin_divisions``,
which the Municipal Civil Affairs Bureau delivers (citylake.lake.reference reads it). Until the
first snapshot is in silver, the seed this repository ships (schemas/reference/, the same
NBS 2023 table) stands in. Retired codes map to their successors through the crosswalk, also
shipped as data. Silver conforms codes with a broadcast join on ``lookup_rows``; the
plain-Python ``current_code`` is its twin for the generator and tests.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

# shipped beside the registry; found from here, as the domain layer reads no settings
REFERENCE_DIR = Path(__file__).resolve().parents[2] / "schemas" / "reference"
SEED_REGISTER = REFERENCE_DIR / "admin_divisions_310000_nbs2023.csv"
CROSSWALK = REFERENCE_DIR / "division_crosswalk.csv"
LEVELS = ("district", "street", "community")
STATUSES = ("current", "remapped", "unknown")
# What a code may look like in a column of each role: a 6-digit district (12 digits with a zero
# tail accepted); a 9-digit street/town, or a 12-digit code (a street with a zero tail, or a
# community, whose street is its first 9 digits).
SHAPES = {"district": r"^[0-9]{6}(000000)?$", "street": r"^[0-9]{9}([0-9]{3})?$"}
LENGTHS = {"district": 6, "street": 9}


@dataclass(frozen=True)
class Division:
    code: str
    name: str
    level: str
    parent_code: str


@cache
def seed_register() -> tuple[Division, ...]:
    with SEED_REGISTER.open(encoding="utf-8") as f:
        return tuple(Division(**row) for row in csv.DictReader(f))


@cache
def crosswalk() -> dict[str, str]:
    """Retired code -> its successor (districts and streets)."""
    with CROSSWALK.open(encoding="utf-8") as f:
        return {r["retired_code"]: r["successor_code"] for r in csv.DictReader(f)}


@cache
def districts() -> dict[str, str]:
    """Current district code -> its name (黄浦区 ...), from the seed register."""
    return {d.code: d.name for d in seed_register() if d.level == "district"}


@cache
def streets_of(district: str) -> tuple[str, ...]:
    return tuple(d.code for d in seed_register() if d.level == "street" and d.parent_code == district)


def lookup_rows(register: list[tuple[str, str]], retired: dict[str, str]) -> list[tuple[str, str, str, str]]:
    """(sent, current code, level, status) for every code a unit may send: each register code
    (``register``: code, level) as itself, and each retired code whose successor is in it."""
    level_of = dict(register)
    rows = [(code, code, level, "current") for code, level in register]
    for old, new in sorted(retired.items()):
        if new in level_of and old not in level_of:
            rows.append((old, new, level_of[new], "remapped"))
    return rows


def _key(code: str, level: str) -> str | None:
    """The register code a sent value names, before lookup (None: not a code of that shape)."""
    code = code.strip()
    if not re.match(SHAPES[level], code):
        return None
    if level == "district" or code.endswith("000"):
        return code[: LENGTHS[level]]
    return code  # a community code in a street column


def current_code(code: str, level: str = "district") -> str | None:
    """The current code at ``level`` for a sent code, by the seed register; None if unknown."""
    hit = _seed_lookup(level).get(_key(code, level) or "")
    return hit[0][: LENGTHS[level]] if hit else None


def code_status(code: str, level: str = "district") -> str:
    hit = _seed_lookup(level).get(_key(code, level) or "")
    return hit[1] if hit else "unknown"


_ACCEPTED = {"district": ("district",), "street": ("street", "community")}


@cache
def _seed_lookup(level: str) -> dict[str, tuple[str, str]]:
    """sent -> (current code, status) for the codes a column of ``level`` accepts."""
    rows = lookup_rows([(d.code, d.level) for d in seed_register()], crosswalk())
    return {sent: (now, status) for sent, now, lvl, status in rows if lvl in _ACCEPTED[level]}


def remap_retired(code6: Column) -> Column:
    """A 6-digit code column with retired district codes replaced by their successors (a map
    of the crosswalk's few district rows)."""
    from pyspark.sql import functions as F

    pairs = sorted((k, v) for k, v in crosswalk().items() if len(k) == 6)
    retired = F.create_map(*[F.lit(x) for kv in pairs for x in kv])
    return F.coalesce(F.element_at(retired, code6), code6)


def with_conformed_code(
    df: DataFrame, column: str, level: str, lookup: DataFrame, code_out: str, status_out: str
) -> DataFrame:
    """``df`` with the current code (null if unknown) and its status for the code ``column``.

    ``lookup``: (sent, code, level, status) rows of ``lookup_rows``, small and broadcast. A null
    code stays null with a null status.
    """
    from pyspark.sql import functions as F

    s = F.trim(F.col(column))
    to_street = (F.length(s) == 12) & s.endswith("000") if level == "street" else F.lit(True)
    key = F.when(s.rlike(SHAPES[level]), F.when(to_street, F.substring(s, 1, LENGTHS[level])).otherwise(s))
    k, hit_code, hit_status = f"__{column}_key", f"__{column}_code", f"__{column}_status"
    table = lookup.where(F.col("level").isin(*_ACCEPTED[level])).select(
        F.col("sent").alias(k), F.col("code").alias(hit_code), F.col("status").alias(hit_status)
    )
    joined = df.withColumn(k, key).join(F.broadcast(table), k, "left")
    status = F.when(F.col(column).isNull(), F.lit(None)).otherwise(
        F.coalesce(F.col(hit_status), F.lit("unknown"))
    )
    return joined.withColumns(
        {code_out: F.substring(F.col(hit_code), 1, LENGTHS[level]), status_out: status}
    ).drop(k, hit_code, hit_status)
