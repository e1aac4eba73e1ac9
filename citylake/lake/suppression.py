"""The suppression list: the subjects whose records must never enter silver again (erased), or
must stay out of sight (restricted, PIPL Art. 47(2)), kept as references only.

``ops.subject_suppression`` (``_system/subject_suppression``, append-only, written with
delta-rs) holds one row per identifier of a subject: its kind, its *reference*
(citylake.lake.subjects.reference: a keyed hash of silver's hash, so the list holds neither a
value nor a hash that finds the person in the data), the mode, the request and the fingerprint of
the PII key the reference was made under. Silver reads it once per run and, per contract,
``mark_suppressed`` tags each row whose identifier hash has a reference in the list: erased rows
are quarantined without their record (``ERASED_REASON``), restricted rows go to the restricted
store (``lake.table("restricted", contract)``, a zone no catalog registers).

References made under one PII key match no hash made under another: after a key rotation every
request must be recorded again under the new key (``stale_requests``), or the rebuild from
bronze would let its subjects back in.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from citylake.config.layers import hash_column
from citylake.config.registry import FeedContract
from citylake.domain import pii
from citylake.engine import delta_log, fence
from citylake.lake import Lake, ledger
from citylake.lake.subjects import KINDS, Subject, identifier_columns, reference_key

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

SUPPRESSION = "subject_suppression"
ERASE, RESTRICT = "erase", "restrict"
MODES = (ERASE, RESTRICT)
ERASED_REASON = "erased subject"
SUPPRESSED = "_suppressed"  # a marked row's mode; null for everyone else
SUPPRESSION_DDL = (
    "kind STRING NOT NULL, ref STRING NOT NULL, mode STRING NOT NULL, request_id STRING NOT NULL, "
    "key_fingerprint STRING, added_at TIMESTAMP"
)
_REF = re.compile(r"^[0-9a-f]{64}$")


class SuppressionError(ValueError):
    """A suppression row that must not be stored, or a list that no longer matches the key."""


def path(lake: Lake) -> str:
    return lake.table("_system", SUPPRESSION)


def entries(subjects: Iterable[Subject], key: bytes, mode: str, request_id: str) -> list[dict[str, Any]]:
    """The suppression rows of a request: one per identifier of each subject."""
    fp = pii.fingerprint(key)
    return [
        {"kind": kind, "ref": ref, "mode": mode, "request_id": request_id, "key_fingerprint": fp}
        for s in subjects
        for kind, ref in sorted(s.references(key).items())
    ]


def add_subjects(lake: Lake, subjects: Iterable[Subject], key: bytes, mode: str, request_id: str) -> int:
    """List every identifier of ``subjects`` in ``mode`` for ``request_id`` (``entries``, ``add``)."""
    return add(lake, entries(subjects, key, mode, request_id))


def add(lake: Lake, rows: Iterable[Mapping[str, Any]]) -> int:
    """Append suppression rows not already listed (same kind, ref, mode and request); returns how
    many were added. Anything but a 64-hex reference is refused: the list must never hold a value."""
    import pyarrow as pa
    from deltalake import write_deltalake

    from citylake.engine.storage import delta_rs_location

    wanted = []
    for r in rows:
        if r.get("kind") not in KINDS or r.get("mode") not in MODES or not r.get("request_id"):
            raise SuppressionError(f"suppression row needs kind in {KINDS}, mode in {MODES} and a request id")
        if not isinstance(r.get("ref"), str) or not _REF.match(r["ref"]):
            raise SuppressionError("suppression row: ref must be a reference (64 lower-case hex characters)")
        wanted.append(dict(r))
    have = {(r["kind"], r["ref"], r["mode"], r["request_id"]) for r in _rows(lake)}
    new: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for r in wanted:
        new.setdefault((r["kind"], r["ref"], r["mode"], r["request_id"]), r)
    todo = [r for k, r in new.items() if k not in have]
    if not todo:
        return 0
    now = dt.datetime.now().astimezone()
    schema = ledger.arrow_schema(SUPPRESSION_DDL)
    data = pa.Table.from_pylist(
        [{f.name: r.get(f.name, now if f.name == "added_at" else None) for f in schema} for r in todo],
        schema=schema,
    )
    uri, options = delta_rs_location(path(lake))
    fence.check(f"appending to _system.{SUPPRESSION}")
    write_deltalake(uri, data, mode="append", configuration=ledger.APPEND_ONLY, storage_options=options)
    return len(todo)


def _rows(lake: Lake) -> list[dict[str, Any]]:
    return delta_log.rows(path(lake), ["kind", "ref", "mode", "request_id", "key_fingerprint"])


def refs(lake: Lake, key: bytes | None = None) -> dict[str, set[str]]:
    """mode -> the references listed in that mode (a missing list is an empty one). With
    ``key``, raise ``SuppressionError`` if a request's references were all made under another
    key (``stale_requests``): they match no hash made now, so its subjects would come back."""
    rows = _rows(lake)
    if key is not None and (stale := _stale(rows, key)):
        raise SuppressionError(
            f"subject request(s) {', '.join(stale)} are suppressed under another PII key; record them "
            "again under this key (the subjects files are needed) before silver promotes anything"
        )
    out: dict[str, set[str]] = {m: set() for m in MODES}
    for r in rows:
        out[r["mode"]].add(r["ref"])
    return out


def stale_requests(lake: Lake, key: bytes) -> list[str]:
    """Requests none of whose rows were made under ``key``: their references match no hash
    silver makes now, so their subjects would come back with the next rebuild."""
    return _stale(_rows(lake), key)


def _stale(rows: list[dict[str, Any]], key: bytes) -> list[str]:
    fp = pii.fingerprint(key)
    current: dict[str, bool] = {}
    for r in rows:
        current[r["request_id"]] = current.get(r["request_id"], False) or r["key_fingerprint"] == fp
    return sorted(req for req, ok in current.items() if not ok)


def subject_hash_columns(contract: FeedContract, columns: Iterable[str]) -> list[str]:
    """The silver hash columns of the contract's subject identifiers that ``columns`` holds."""
    have = set(columns)
    return [hash_column(n) for names in identifier_columns(contract).values() for n in names
            if hash_column(n) in have]  # fmt: skip


def mark_suppressed(
    df: DataFrame, contract: FeedContract, key: bytes, refs_by_mode: Mapping[str, Iterable[str]]
) -> DataFrame:
    """``df`` (silver-shaped) with ``SUPPRESSED``: ``erase`` or ``restrict`` for a row whose subject
    hash columns hold a listed subject (erase wins over restrict), null otherwise.

    One broadcast join per hash column against the few listed references, each hash turned into
    its reference in the JVM (``hmac_hex`` under ``reference_key``): the plan carries references,
    never a hash. With nothing listed, or no subject column, the column is a null literal: no join.
    """
    from pyspark.sql import functions as F

    from citylake.engine.frames import local_frame

    table = {r: RESTRICT for r in refs_by_mode.get(RESTRICT, ())}
    table |= {r: ERASE for r in refs_by_mode.get(ERASE, ())}
    cols = subject_hash_columns(contract, df.columns)
    if not table or not cols:
        return df.withColumn(SUPPRESSED, F.lit(None).cast("string"))
    lookup = local_frame(df.sparkSession, sorted(table.items()), "ref string, mode string")
    rkey = reference_key(key)
    modes = []
    for i, c in enumerate(cols):
        ref, mode = f"_suppression_ref_{i}", f"_suppression_mode_{i}"
        right = F.broadcast(lookup.toDF(ref, mode))
        df = df.join(right, pii.hmac_hex(F.col(c), rkey) == F.col(ref), "left").drop(ref)
        modes.append(F.col(mode))
    found = F.array(*modes)
    marked = (
        F.when(F.array_contains(found, ERASE), F.lit(ERASE))
        .when(F.array_contains(found, RESTRICT), F.lit(RESTRICT))
        .otherwise(F.lit(None).cast("string"))
    )
    return df.withColumn(SUPPRESSED, marked).drop(*[f"_suppression_mode_{i}" for i in range(len(cols))])


def split_suppressed(
    df: DataFrame, contract: FeedContract, key: bytes, refs_by_mode: Mapping[str, Iterable[str]]
) -> tuple[DataFrame, DataFrame, DataFrame]:
    """(kept, erased, restricted) rows of ``df``. With nothing listed (or no subject column)
    ``kept`` is ``df`` itself and the other two are empty: no join, no extra work."""
    from pyspark.sql import functions as F

    if not any(refs_by_mode.values()) or not subject_hash_columns(contract, df.columns):
        empty = df.where(F.lit(False))  # Spark plans an empty relation: no scan
        return df, empty, empty
    marked = mark_suppressed(df, contract, key, refs_by_mode)
    sup = F.col(SUPPRESSED)
    return (
        marked.where(sup.isNull()).drop(SUPPRESSED),
        marked.where(sup == ERASE).drop(SUPPRESSED),
        marked.where(sup == RESTRICT).drop(SUPPRESSED),
    )


def erased_rows(df: DataFrame, contract: str, run_id: str, date: dt.date, now: dt.datetime) -> DataFrame:
    """``quarantine.dq_rows`` rows for erased subjects' records: where they came from and the
    reason, nothing of the record (``record`` and ``failed_expectations`` null)."""
    from pyspark.sql import functions as F

    return df.select(
        *ledger.quarantine_origin(run_id, date, contract),
        F.lit(None).cast("array<string>").alias("failed_expectations"),
        F.lit(ERASED_REASON).alias("reason"),
        F.lit(None).cast("string").alias("record"),
        F.col("_batch_id").alias("batch_id"),
        F.lit(now).cast("timestamp").alias("quarantined_at"),
    )
