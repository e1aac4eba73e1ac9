"""The data-subject request ledger, ``ops.subject_requests`` (PIPL Art. 44-47).

One row per step of a request: received, in progress, done or failed. The table is
``delta.appendOnly`` and hash-chained: row ``seq`` holds ``prev_digest`` (the digest of row
``seq - 1``; 64 zeros for the first) and ``digest = sha256(prev_digest || canonical JSON of its
other fields)``. An edited row no longer matches its digest, a deleted one leaves a gap in
``seq`` and a broken link, and the table's history shows the commit that did it
(``verify_chain``). A wholesale rewrite of the chain with fresh digests is only caught by the
history and by the head each certificate records: keep certificates outside the lake.

The ledger names subjects by ``Subject.ref(key)`` only (citylake.lake.subjects); no clear value
or silver hash goes in: ``record`` refuses subjects that are not references and an id, basis or
outcome that looks like an identifier (``identifier_like``), and cuts such text out of a reason
(a failure is recorded even when its error quoted a value). Outcomes are counts.

Concurrency: rows are appended under the lake's run lock, which the caller holds (the
``subject`` commands take it as a run does); ``record`` reads the head and appends with no
lock of its own, and the fence check before the commit stops a holder that lost the lock.
Two appends outside the lock could both take the same ``seq``; ``verify_chain`` names that.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from citylake.engine import delta_log, fence
from citylake.engine.clock import lake_today
from citylake.lake import Lake
from citylake.lake.ledger import APPEND_ONLY, arrow_schema

SUBJECT_REQUESTS = "subject_requests"
TYPES = ("locate", "export", "erase", "restrict", "verify")
RECEIVED, IN_PROGRESS, DONE, FAILED = "received", "in_progress", "done", "failed"
STATUSES = (RECEIVED, IN_PROGRESS, DONE, FAILED)
# What each request type exercises: access and a copy (Art. 45), deletion (47), and the
# restriction 47(2) allows where deletion is hard; correction (46) has no type of its own yet.
LEGAL_BASIS = {
    "locate": "PIPL Art. 45",
    "export": "PIPL Art. 45",
    "erase": "PIPL Art. 47",
    "verify": "PIPL Art. 47",
    "restrict": "PIPL Art. 47(2)",
}
DUE_DAYS = 30
GENESIS = "0" * 64

DDL = (
    "seq LONG NOT NULL, request_id STRING NOT NULL, type STRING, subject_refs ARRAY<STRING>, "
    "legal_basis STRING, received_on DATE, due_on DATE, status STRING, outcome STRING, reason STRING, "
    "recorded_at TIMESTAMP, prev_digest STRING, digest STRING"
)
# the fields a digest covers: all but the chain's own two
CHAINED = ("seq", "request_id", "type", "subject_refs", "legal_basis", "received_on", "due_on", "status",
           "outcome", "reason", "recorded_at")  # fmt: skip
COLUMNS = [*CHAINED, "prev_digest", "digest"]

# What a clear identifier or a hash of one looks like in text: a resident ID (17 digits and a
# digit or X), a mainland mobile, a 64-hex hash (silver's keyed hash, or any sha256).
IDENTIFIER_PATTERNS = {
    "resident ID": re.compile(r"(?<![0-9A-Za-z])\d{17}[0-9Xx](?![0-9A-Za-z])"),
    "mobile number": re.compile(r"(?<!\d)1\d{10}(?!\d)"),
    "64-hex hash": re.compile(r"(?<![0-9A-Fa-f])[0-9A-Fa-f]{64}(?![0-9A-Fa-f])"),
}
REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
REF = re.compile(r"^[0-9a-f]{24}$")  # what Subject.ref gives
# commits an append-only ledger may have; anything else rewrote or unlocked it
_KEPT_OPS = {"CREATE TABLE", "OPTIMIZE", "VACUUM START", "VACUUM END"}


class LedgerError(ValueError):
    """A row ``record`` will not write; the message names the field, never its value."""


def identifier_like(text: str) -> str | None:
    """The kind of identifier ``text`` holds something looking like, or None."""
    for kind, pattern in IDENTIFIER_PATTERNS.items():
        if pattern.search(text):
            return kind
    return None


def redact(text: str) -> str:
    """``text`` with whatever looks like an identifier cut out: a failure's reason is recorded
    even when the error quoted a value."""
    for kind, pattern in IDENTIFIER_PATTERNS.items():
        text = pattern.sub(f"[{kind} removed]", text)
    return text


def path(lake: Lake) -> str:
    return lake.table("_system", SUBJECT_REQUESTS)


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat(timespec="microseconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return value


def canonical(row: dict[str, Any]) -> str:
    """The row's chained fields as canonical JSON (sorted keys, no spaces, UTC instants)."""
    return json.dumps({k: _plain(row.get(k)) for k in CHAINED}, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False)  # fmt: skip


def digest_of(prev_digest: str, row: dict[str, Any]) -> str:
    return hashlib.sha256((prev_digest + canonical(row)).encode("utf-8")).hexdigest()


def all_rows(lake: Lake) -> list[dict[str, Any]]:
    """Every row, in ``seq`` order (the table is small: a few rows per request)."""
    rows = delta_log.rows(path(lake), COLUMNS)
    rows.sort(key=lambda r: (r["seq"], _plain(r["recorded_at"]) or ""))
    return rows


def rows_of(lake: Lake, request_id: str) -> list[dict[str, Any]]:
    """One request's rows, in ``seq`` order."""
    return [r for r in all_rows(lake) if r["request_id"] == request_id]


def head(lake: Lake) -> tuple[int, str]:
    """The newest row's ``(seq, digest)``; ``(0, GENESIS)`` for an empty ledger."""
    return _head(all_rows(lake))


def _head(rows: list[dict[str, Any]]) -> tuple[int, str]:
    if not rows:
        return 0, GENESIS
    last = rows[-1]
    return int(last["seq"]), str(last["digest"])


def record(
    lake: Lake,
    request_id: str,
    type: str,  # noqa: A002 - the ledger's column name
    subject_refs: list[str] | tuple[str, ...] | None,
    status: str,
    outcome: dict[str, Any] | str | None = None,
    reason: str | None = None,
    legal_basis: str | None = None,
    received_on: dt.date | None = None,
    due_days: int = DUE_DAYS,
) -> dict[str, Any]:
    """Append one step of a request and return the row written (with its seq and digest).

    The first row of a request fixes its type, received and due dates; later rows keep them,
    and keep its subjects and legal basis unless given. The caller holds the run lock.
    """
    if not REQUEST_ID.match(request_id):
        raise LedgerError(
            "request id: 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    if type not in TYPES:
        raise LedgerError(f"type must be one of {', '.join(TYPES)}")
    if status not in STATUSES:
        raise LedgerError(f"status must be one of {', '.join(STATUSES)}")
    if isinstance(outcome, str):
        try:
            outcome = json.loads(outcome)  # stored canonical, whatever spacing it came with
        except ValueError:
            raise LedgerError(f"request {request_id}: outcome is not JSON") from None
    outcome_text = json.dumps(outcome, sort_keys=True, separators=(",", ":")) if outcome is not None else None
    rows = all_rows(lake)
    earlier = [r for r in rows if r["request_id"] == request_id]
    first = earlier[0] if earlier else None
    if first is not None and first["type"] != type:
        raise LedgerError(f"request {request_id} is a {first['type']} request, not {type}")
    refs = sorted(set(subject_refs or ())) or (list(earlier[-1]["subject_refs"] or []) if earlier else [])
    received = first["received_on"] if first else (received_on or lake_today())
    seq, prev = _head(rows)
    row: dict[str, Any] = {
        "seq": seq + 1,
        "request_id": request_id,
        "type": type,
        "subject_refs": refs,
        "legal_basis": legal_basis or (earlier[-1]["legal_basis"] if earlier else LEGAL_BASIS[type]),
        "received_on": received,
        "due_on": first["due_on"] if first else received + dt.timedelta(days=due_days),
        "status": status,
        "outcome": outcome_text,
        "reason": redact(reason) if reason else reason,
        # whole microseconds in UTC: what the table stores, so the digest reads back the same
        "recorded_at": dt.datetime.now(dt.UTC),
        "prev_digest": prev,
    }
    _check_value_free(row)
    row["digest"] = digest_of(prev, row)
    _append(lake, row)
    return row


def _check_value_free(row: dict[str, Any]) -> None:
    """Refuse a row that could find a person: subjects must be references, text free of IDs."""
    bad = [i + 1 for i, ref in enumerate(row["subject_refs"]) if not REF.match(ref)]
    if bad:
        raise LedgerError(f"request {row['request_id']}: subject_refs {bad} are not subject references "
                          "(Subject.ref: 24 hex digits)")  # fmt: skip
    outcome = json.loads(row["outcome"]) if row["outcome"] else None
    # the outcome's text only: a count (bytes scanned) may well have 11 digits and start with 1
    texts = {
        "request_id": [row["request_id"]],
        "legal_basis": [row["legal_basis"] or ""],
        "outcome": _texts(outcome),
    }
    for name, values in texts.items():
        kind = next(filter(None, map(identifier_like, values)), None)
        if kind:
            who = "?" if name == "request_id" else row["request_id"]  # the id itself may be the leak
            raise LedgerError(f"request {who}: {name} looks like a {kind}; the ledger holds subject "
                              "references and counts only")  # fmt: skip


# outcome fields that are sha256 digests of files by definition (an export package's checksum):
# they must be exactly that, and are not read as a subject's hash
DIGEST_KEYS = frozenset({"sha256", "sha256_before", "sha256_after"})
SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _texts(value: Any) -> list[str]:
    """Every string in a JSON value, keys too; a file digest under a ``DIGEST_KEYS`` key is
    checked to be one and then left out."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        out = []
        for k, v in value.items():
            if k in DIGEST_KEYS and isinstance(v, str) and SHA256.match(v):
                out.append(str(k))
                continue
            out += [str(k), *_texts(v)]
        return out
    if isinstance(value, list):
        return [t for v in value for t in _texts(v)]
    return []


def _append(lake: Lake, row: dict[str, Any]) -> None:
    import pyarrow as pa
    from deltalake import write_deltalake

    from citylake.engine.storage import delta_rs_location

    uri, options = delta_rs_location(path(lake))
    schema = arrow_schema(DDL)
    data = pa.Table.from_pylist([{f.name: row.get(f.name) for f in schema}], schema=schema)
    fence.check(f"appending to _system.{SUBJECT_REQUESTS}")
    write_deltalake(uri, data, mode="append", configuration=APPEND_ONLY, storage_options=options)


def verify_chain(lake: Lake) -> list[str]:
    """What is wrong with the ledger, one line per problem naming the seq (or table version);
    empty when every row matches its digest, links to the one before, and seq runs 1..n."""
    rows = all_rows(lake)
    problems: list[str] = []
    prev: dict[str, Any] | None = None
    for r in rows:
        seq = int(r["seq"])
        if digest_of(r["prev_digest"] or "", r) != r["digest"]:
            problems.append(f"seq {seq}: digest mismatch: the row was changed after it was recorded")
        want = 0 if prev is None else int(prev["seq"])
        if seq == want:
            problems.append(f"seq {seq}: duplicate: more than one row has this seq")
        elif seq > want + 1:
            gap = f"{want + 1}" if seq == want + 2 else f"{want + 1}..{seq - 1}"
            problems.append(f"seq {gap}: missing: a row was deleted (seq {seq} follows seq {want or 'none'})")
        link = GENESIS if prev is None else prev["digest"]
        if r["prev_digest"] != link:
            before = "the start of the ledger" if prev is None else f"seq {prev['seq']}'s digest"
            problems.append(f"seq {seq}: broken link: prev_digest is not {before}")
        prev = r
    return problems + _history_problems(lake)


def _history_problems(lake: Lake) -> list[str]:
    """Commits that were not appends: a row rewritten or deleted, or the table unlocked."""
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    from citylake.engine.storage import delta_rs_location

    uri, options = delta_rs_location(path(lake))
    try:
        history = DeltaTable(uri, storage_options=options).history()
    except TableNotFoundError:
        return []
    out = []
    for c in sorted(history, key=lambda c: int(c.get("version", 0))):
        op, params = str(c.get("operation", "")), c.get("operationParameters") or {}
        if op == "WRITE" and params.get("mode") == "Append" or op in _KEPT_OPS:
            continue
        if op == "SET TBLPROPERTIES" and "appendOnly" not in str(params.get("properties", "")):
            continue
        out.append(f"table version {c.get('version')}: {op} {json.dumps(params, sort_keys=True)}: "
                   "the ledger only ever appends")  # fmt: skip
    return out


@dataclass(frozen=True)
class RequestState:
    """A request as its newest row leaves it, judged on ``today``."""

    request_id: str
    type: str
    legal_basis: str
    subject_refs: tuple[str, ...]
    received_on: dt.date
    due_on: dt.date
    status: str
    seq: int
    outcome: dict[str, Any] | None
    reason: str | None
    today: dt.date

    @property
    def open(self) -> bool:
        return self.status != DONE

    @property
    def days_left(self) -> int:
        """Days until due; negative: days overdue."""
        return (self.due_on - self.today).days

    @property
    def overdue(self) -> bool:
        return self.open and self.due_on < self.today

    def json(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id, "type": self.type, "legal_basis": self.legal_basis,
            "subjects": len(self.subject_refs), "received_on": self.received_on.isoformat(),
            "due_on": self.due_on.isoformat(), "status": self.status, "open": self.open,
            "overdue": self.overdue, "days_left": self.days_left, "reason": self.reason,
        }  # fmt: skip


def requests(lake: Lake, today: dt.date | None = None) -> list[RequestState]:
    """Every request's newest state, oldest due date first."""
    today = today or lake_today()
    newest: dict[str, dict[str, Any]] = {}
    for r in all_rows(lake):
        newest[r["request_id"]] = r  # rows come in seq order: the last one wins
    out = [
        RequestState(
            r["request_id"], r["type"], r["legal_basis"], tuple(r["subject_refs"] or ()), r["received_on"],
            r["due_on"], r["status"], int(r["seq"]), json.loads(r["outcome"]) if r["outcome"] else None,
            r["reason"], today,
        )
        for r in newest.values()
    ]  # fmt: skip
    return sorted(out, key=lambda s: (s.due_on, s.request_id))
