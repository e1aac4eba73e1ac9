"""A bronze batch's audit: what its commits hold, counted after the write, and the gate's verdict.

Bronze writes a batch in one pass (jobs/bronze_batch.py); everything the gate and the ledger
need is then read back from what was committed, with delta-rs's SQL engine over the few columns
it takes (the file, the record number, the row checks' tags, the uniqueness keys): no Spark job.
A replay after a crash counts the same committed rows and reaches the same verdict, whether
the rows were written now or by the attempt that died.

The audit record (``_system.bronze_audit``, one row per unit/feed of a batch, appended once per
batch id) is the batch's "done" mark: silver promotes a bronze commit only once an audit names
it, and leaves out the unit/feeds whose verdict is ``failed`` (citylake.lake.progress).

It also proves the one-pass record numbers: a file's records, bronze's and quarantine's
together, must be numbered exactly 1..n, n being preflight's count.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from citylake.config.registry import FeedContract
from citylake.engine.delta_log import sql_literal
from citylake.engine.storage import delta_rs_location
from citylake.lake import BRONZE_AUDIT, BRONZE_RECORDS, Lake, ledger, preflight
from citylake.quality.gate import UNIQUE, Expectation
from citylake.quality.rowchecks import DQ_FAILED, RowCheck, drop_ids


@dataclass
class FileCount:
    """One landed file's rows as committed: in bronze (with its row checks' failures) and in quarantine."""

    bronze: int = 0
    quarantined: int = 0
    dropped: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    numbers: tuple[int, int, int] = (0, 0, 0)  # record numbers: lowest, highest, sum

    def numbering_error(self, records: int) -> str | None:
        """Why the file's record numbers are not exactly 1..records, or None."""
        n = self.bronze + self.quarantined
        if not n:
            return None
        low, high, total = self.numbers
        if (low, high, total) != (1, records, records * (records + 1) // 2):
            return (f"record numbers are not 1..{records}: found {n} records numbered {low}..{high}; the batch "
                    f"is held (a numbering fault, not the unit's data)")  # fmt: skip
        return None


def _query(path: str, sql: str) -> list[dict[str, Any]]:
    import pyarrow as pa
    from deltalake import DeltaTable, QueryBuilder
    from deltalake.exceptions import TableNotFoundError

    uri, options = delta_rs_location(path)
    try:
        table = DeltaTable(uri, storage_options=options)
    except TableNotFoundError:
        return []
    out: list[dict[str, Any]] = pa.table(QueryBuilder().register("t", table).execute(sql).read_all()).to_pylist()
    return out


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _files_in(column: str, files: list[preflight.LandedFile]) -> str:
    return f"{_q(column)} IN ({', '.join(sql_literal(lf.rel) for lf in files)})"


def _in_days(days: list[dt.date]) -> str:
    """Bronze's partitions the batch's commits wrote (the logical dates of their runs)."""
    return f'"_logical_date" IN ({", ".join(sql_literal(d) for d in sorted(set(days)))})'


def count_files(
    lake: Lake,
    contract: FeedContract,
    files: list[preflight.LandedFile],
    checks: list[RowCheck],
    days: list[dt.date],
) -> dict[str, FileCount]:
    """Per landed file, what bronze and quarantine hold of it (whichever attempt committed it,
    in the partitions of ``days``)."""
    out = {lf.rel: FileCount(failures=dict.fromkeys((c.id for c in checks), 0)) for lf in files}
    has = [f'SUM(CASE WHEN array_has({_q(DQ_FAILED)}, {sql_literal(c.id)}) THEN 1 ELSE 0 END) AS c{n}'
           for n, c in enumerate(checks)]  # fmt: skip
    dropped = " OR ".join(f"array_has({_q(DQ_FAILED)}, {sql_literal(i)})" for i in drop_ids(checks)) or "FALSE"
    numbers = 'MIN("_record_no") AS low, MAX("_record_no") AS high, SUM("_record_no") AS total'
    bronze = _query(
        lake.table("bronze", contract.contract),
        f'SELECT "_source_file" AS file, COUNT(*) AS n, {numbers}, '
        f"SUM(CASE WHEN {dropped} THEN 1 ELSE 0 END) AS dropped{''.join(', ' + h for h in has)} "
        f'FROM t WHERE {_in_days(days)} AND {_files_in("_source_file", files)} GROUP BY "_source_file"',
    )
    quarantine = _query(
        lake.table("quarantine", BRONZE_RECORDS),
        'SELECT source_file AS file, COUNT(*) AS n, MIN(record_no) AS low, MAX(record_no) AS high, '
        f"SUM(record_no) AS total FROM t WHERE contract = {sql_literal(contract.contract)} AND "
        f'{_files_in("source_file", files)} GROUP BY source_file',
    )
    seen: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
    for row in bronze:
        fc = out[row["file"]]
        fc.bronze, fc.dropped = int(row["n"]), int(row["dropped"] or 0)
        fc.failures = {c.id: int(row[f"c{n}"] or 0) for n, c in enumerate(checks)}
        seen[row["file"]].append((int(row["low"]), int(row["high"]), int(row["total"])))
    for row in quarantine:
        out[row["file"]].quarantined = int(row["n"])
        seen[row["file"]].append((int(row["low"]), int(row["high"]), int(row["total"])))
    for rel, parts in seen.items():
        out[rel].numbers = (min(p[0] for p in parts), max(p[1] for p in parts), sum(p[2] for p in parts))
    return out


def count_duplicates(
    lake: Lake,
    contract: FeedContract,
    files: list[preflight.LandedFile],
    exps: list[Expectation],
    days: list[dt.date],
) -> dict[tuple[str, str], dict[str, int]]:
    """Per unit/feed, rows of the batch that share their key with another (GX's semantics, as
    citylake.quality.gate.duplicate_counts: every copy counts, rows whose key is all null do not)."""
    out: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    for e in (e for e in exps if e.type in UNIQUE):
        cols = [c for c in e.columns if c not in ("_unit", "_feed")]
        if not cols:
            continue
        keys = ", ".join(_q(c) for c in cols)
        some = " OR ".join(f"{_q(c)} IS NOT NULL" for c in cols)
        rows = _query(
            lake.table("bronze", contract.contract),
            f'SELECT "_unit" AS unit, "_feed" AS feed, SUM(n) AS dups FROM (SELECT "_unit", "_feed", COUNT(*) AS n '
            f'FROM t WHERE {_in_days(days)} AND {_files_in("_source_file", files)} AND ({some}) '
            f'GROUP BY "_unit", "_feed", {keys}) d '
            f'WHERE n > 1 GROUP BY "_unit", "_feed"',
        )
        for row in rows:
            out[(row["unit"], row["feed"])][e.id] = int(row["dups"] or 0)
    return out


@dataclass(frozen=True)
class AuditRow:
    unit: str
    feed: str
    rows: int
    rows_quarantined: int
    verdict: str  # passed | warned | failed
    reason: str | None


def record(
    lake: Lake,
    contract: str,
    batch_id: str,
    run_id: str,
    date: dt.date,
    versions: list[int],
    rows: list[AuditRow],
) -> None:
    """The batch's audit, once per batch id (a replay's is the same, and is not appended again)."""
    now = dt.datetime.now()
    ledger.append_rows(lake, "_system", BRONZE_AUDIT, [
        {"batch_id": batch_id, "run_id": run_id, "logical_date": date, "contract": contract, "unit": r.unit,
         "feed": r.feed, "bronze_versions": sorted(versions), "rows": r.rows, "rows_quarantined": r.rows_quarantined,
         "verdict": r.verdict, "reason": r.reason, "audited_at": now}
        for r in rows
    ], txn_app_id=f"audit:{batch_id}")  # fmt: skip

