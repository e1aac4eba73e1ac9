"""Personal information past bronze (PIPL): keyed hashes and validity flags, as Spark columns.

No clear resident ID, mobile number, name, address or licence plate leaves bronze. Silver keeps
HMAC-SHA256 of the normalised value, keyed by a secret from the environment (settings.pii_key),
so analysts can still join and count distinct people without seeing who they are.

The HMAC runs in the JVM as citylake's own function (jvm/src/org/citylake/pii/HmacHex.java),
registered per session under a name carrying the key's fingerprint. The key travels inside the
function object, never as a literal: built from Spark's sha2, the key's pads were binary
literals in every plan, printed by explain(), the UI and event logs, and XOR gave the key back.
Tables record the fingerprint (``KEY_PROPERTY``), never the key, so a run under another key is
stopped before it writes hashes that would no longer join (citylake.lake.keyguard).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING

from citylake.domain.ids import ID_CHECK, ID_WEIGHTS, ORG_WEIGHTS, USCC_CHARS, USCC_WEIGHTS

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

HASH_REGEX = r"^[0-9a-f]{64}$"
KEY_PROPERTY = "citylake.pii.keyFingerprint"  # the Delta table property naming the key that wrote it
FUNCTION_PREFIX = "citylake_pii_hmac_"


def normalise(col: Column) -> Column:
    """What two spellings of one value share: trimmed, upper case, no inner spaces."""
    from pyspark.sql import functions as F

    return F.regexp_replace(F.upper(F.trim(col)), r"\s+", "")


def fingerprint(key: bytes) -> str:
    """A name for the key that does not reveal it: 16 hex characters of an HMAC under the key."""
    return hmac.new(key, b"citylake pii key fingerprint", hashlib.sha256).hexdigest()[:16]


def register_hmac(spark: SparkSession, key: bytes) -> str:
    """Register the keyed HMAC in ``spark`` (idempotent); returns the SQL function's name."""
    name = FUNCTION_PREFIX + fingerprint(key)
    if spark.catalog.functionExists(name):
        return name
    jvm = spark._jvm
    assert jvm is not None, "the HMAC runs in the JVM: a classic (non-Connect) session is needed"
    function = jvm.org.citylake.pii.HmacHex(bytearray(key))
    spark._jsparkSession.udf().register(name, function, jvm.org.apache.spark.sql.types.DataTypes.StringType)
    return name


def hmac_hex(col: Column, key: bytes) -> Column:
    """HMAC-SHA256(key, normalise(col)) as 64 hex characters; null stays null."""
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    # a worker thread has no active session of its own: then the process's one
    spark = SparkSession.getActiveSession() or SparkSession.builder.getOrCreate()
    return F.call_function(register_hmac(spark, key), normalise(col))


def hmac_hex_py(value: str, key: bytes) -> str:
    """The same digest in Python, for tests and for looking one person up with the key."""
    norm = "".join(value.strip().upper().split())
    return hmac.new(key, norm.encode("utf-8"), hashlib.sha256).hexdigest()


def resident_id_check(
    col: Column, delivered: Column | None = None, area_known: Column | None = None
) -> Column:
    """GB 11643, as a reason: ``ok``, ``bad_check`` (not 17 digits and a check character, or
    the wrong one; not 15 digits for a legacy ID), ``bad_date`` (no such birth date, or after
    the delivery date ``delivered``) or ``bad_area`` (``area_known`` is false: no division ever
    had the area code; see ``with_known_area``). Legacy 15-digit IDs (born 19yymmdd) have no
    check character and get the date and area checks. Without ``delivered`` a birth date may
    not be after today; without ``area_known`` the area is not checked. Null stays null."""
    from pyspark.sql import functions as F

    delivered = F.current_date() if delivered is None else delivered

    s = F.upper(F.trim(col))
    is18, is15 = s.rlike(r"^[0-9]{17}[0-9X]$"), s.rlike(r"^[0-9]{15}$")
    total = sum((F.substring(s, i + 1, 1).cast("int") * w for i, w in enumerate(ID_WEIGHTS)), F.lit(0))
    check = F.element_at(F.array(*[F.lit(c) for c in ID_CHECK]), (total % 11 + 1).cast("int"))
    birth = F.to_date(F.when(is18, F.substring(s, 7, 8)).otherwise(F.concat(F.lit("19"), F.substring(s, 7, 6))),
                      "yyyyMMdd")  # fmt: skip
    return (
        F.when(col.isNull(), F.lit(None).cast("string"))
        .when(~(is15 | (is18 & (check == F.substring(s, 18, 1)))), F.lit("bad_check"))
        .when(birth.isNull() | (birth > delivered), F.lit("bad_date"))
        .when(~(F.lit(True) if area_known is None else area_known), F.lit("bad_area"))
        .otherwise(F.lit("ok"))
    )


def resident_id_valid(
    col: Column, delivered: Column | None = None, area_known: Column | None = None
) -> Column:
    """True when ``resident_id_check`` says ok; null stays null."""
    return resident_id_check(col, delivered, area_known) == "ok"


def with_known_area(df: DataFrame, column: str, start: int, codes: DataFrame, flag: str) -> DataFrame:
    """``df`` with a boolean ``flag``: whether the six characters of ``column`` from ``start``
    (an area code) are in ``codes`` (one ``code`` column, citylake.lake.reference). A broadcast
    join: the register is a few thousand rows, and a literal list that long would swell every
    plan that carries the check."""
    from pyspark.sql import functions as F

    area = F.substring(F.upper(F.trim(F.col(column))), start, 6)
    known = F.broadcast(codes.select(F.col("code").alias(flag)))
    return df.join(known, area == F.col(flag), "left").withColumn(flag, F.col(flag).isNotNull())


def uscc_check(col: Column, area_known: Column | None = None) -> Column:
    """GB 32100, as a reason: ``ok``, ``bad_check`` (not 18 characters of the code's alphabet,
    or the wrong check character), ``bad_org`` (the embedded organisation code, characters
    9-17, fails its GB 11714 check) or ``bad_area`` (``area_known`` is false: characters 3-8
    are no division code that ever existed; not checked without it). Null stays null."""
    from pyspark.sql import functions as F

    s = F.upper(F.trim(col))
    form = s.rlike(f"^[{USCC_CHARS}]{{18}}$")
    at = [F.instr(F.lit(USCC_CHARS), F.substring(s, i + 1, 1)) - 1 for i in range(17)]
    total = sum((v * w for v, w in zip(at, USCC_WEIGHTS, strict=True)), F.lit(0))
    check = F.substring(F.lit(USCC_CHARS), ((31 - total % 31) % 31 + 1).cast("int"), 1)
    # GB 11714 values: digits as themselves, letters A=10 .. Z=35
    org = sum((F.conv(F.substring(s, 9 + i, 1), 36, 10).cast("int") * w for i, w in enumerate(ORG_WEIGHTS)),
              F.lit(0))  # fmt: skip
    org_check = 11 - org % 11
    org_char = (
        F.when(org_check == 10, F.lit("X"))
        .when(org_check == 11, F.lit("0"))
        .otherwise(org_check.cast("string"))
    )
    return (
        F.when(col.isNull(), F.lit(None).cast("string"))
        .when(~form | (check != F.substring(s, 18, 1)), F.lit("bad_check"))
        .when(org_char != F.substring(s, 17, 1), F.lit("bad_org"))
        .when(~(F.lit(True) if area_known is None else area_known), F.lit("bad_area"))
        .otherwise(F.lit("ok"))
    )


def resident_id_derived(col: Column, field: str, valid: Column | None = None) -> Column:
    """Birth year, gender (M/F) or issuing region of a valid ID (``valid``: whether it is, by
    default ``resident_id_valid`` without the area check); null for an invalid one.

    18-digit: area(6) birth(8) sequence(3) check; legacy 15-digit: area(6) birth yymmdd(6)
    sequence(3), all born in the 1900s. An odd sequence digit means male.
    """
    from pyspark.sql import functions as F

    from citylake.domain.districts import remap_retired

    s = F.upper(F.trim(col))
    is18 = F.length(s) == 18
    valid = resident_id_valid(col) if valid is None else valid
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
