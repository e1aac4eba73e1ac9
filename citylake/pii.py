"""Personal information past bronze (PIPL): keyed hashes and validity flags, as Spark columns.

No clear resident ID, mobile number, name, address or licence plate leaves bronze. Silver keeps
HMAC-SHA256 of the normalised value, keyed by a secret from the environment (settings.pii_key),
so analysts can still join and count distinct people without seeing who they are. HMAC is built
from Spark's sha2 on binary (RFC 2104), so hashing stays in the JVM: no Python UDF.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING

from citylake.ids import ID_CHECK, ID_WEIGHTS

if TYPE_CHECKING:
    from pyspark.sql import Column

BLOCK = 64  # SHA-256 block size, bytes
HASH_REGEX = r"^[0-9a-f]{64}$"


def normalise(col: Column) -> Column:
    """What two spellings of one value share: trimmed, upper case, no inner spaces."""
    from pyspark.sql import functions as F

    return F.regexp_replace(F.upper(F.trim(col)), r"\s+", "")


def _pads(key: bytes) -> tuple[bytes, bytes]:
    if len(key) > BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(BLOCK, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def hmac_hex(col: Column, key: bytes) -> Column:
    """HMAC-SHA256(key, normalise(col)) as 64 hex characters; null stays null."""
    from pyspark.sql import functions as F

    ipad, opad = _pads(key)
    msg = F.encode(normalise(col), "UTF-8")
    inner = F.unhex(F.sha2(F.concat(F.lit(ipad), msg), 256))
    return F.when(col.isNull(), F.lit(None)).otherwise(F.sha2(F.concat(F.lit(opad), inner), 256))


def hmac_hex_py(value: str, key: bytes) -> str:
    """The same digest in Python, for tests and for looking one person up with the key."""
    norm = "".join(value.strip().upper().split())
    return hmac.new(key, norm.encode("utf-8"), hashlib.sha256).hexdigest()


def resident_id_valid(col: Column) -> Column:
    """GB 11643: 18 characters with the right check character, or a legacy 15-digit number."""
    from pyspark.sql import functions as F

    s = F.upper(F.trim(col))
    total = sum((F.substring(s, i + 1, 1).cast("int") * w for i, w in enumerate(ID_WEIGHTS)), F.lit(0))
    check = F.element_at(F.array(*[F.lit(c) for c in ID_CHECK]), (total % 11 + 1).cast("int"))
    valid18 = s.rlike(r"^[0-9]{17}[0-9X]$") & (check == F.substring(s, 18, 1))
    return F.when(col.isNull(), F.lit(None)).otherwise(valid18 | s.rlike(r"^[0-9]{15}$"))


def resident_id_derived(col: Column, field: str) -> Column:
    """Birth year, gender (M/F) or issuing region of a valid ID; null for an invalid one.

    18-digit: area(6) birth(8) sequence(3) check; legacy 15-digit: area(6) birth yymmdd(6)
    sequence(3), all born in the 1900s. An odd sequence digit means male.
    """
    from pyspark.sql import functions as F

    from citylake.districts import remap_retired

    s = F.upper(F.trim(col))
    is18 = F.length(s) == 18
    valid = resident_id_valid(col)
    if field == "birth_year":
        value = F.when(is18, F.substring(s, 7, 4)).otherwise(F.concat(F.lit("19"), F.substring(s, 7, 2)))
        value = value.cast("int")
    elif field == "gender":
        seq = F.when(is18, F.substring(s, 17, 1)).otherwise(F.substring(s, 15, 1)).cast("int")
        value = F.when(seq % 2 == 1, F.lit("M")).otherwise(F.lit("F"))
    elif field == "region":
        value = remap_retired(F.substring(s, 1, 6))
    else:
        raise ValueError(f"unknown derived field {field!r}")
    return F.when(valid, value)
