"""What each step of the pipeline still owes, worked out from what the lake holds.

A run never trusts what an earlier run meant to do, only what it committed. Each step's state:

- **bronze**: ``_system/file_manifest``, per landed file (pending is the write-ahead intent of
  a batch). Each bronze commit carries its batch id and logical date in its userMetadata; the
  batch's audit (``_system/bronze_audit``, written after the commit) names the commits it
  counted and the unit/feeds the gate held. A commit no audit names yet is not done: silver
  stops before it (commits written before the audit existed carry ``held`` themselves).
- **silver**: ``_system/progress`` rows ``silver.<c> <- bronze.<c>``: ``upto`` is the bronze
  version promoted through. Silver owes every bronze commit after it. ``quarantine.dq_rows``
  keeps its own mark, the Delta transaction ``dqrows:<c>`` (= bronze version quarantined through).
- **gold**: rows ``gold.<mart> <- <input>``: ``upto`` is the input's ``version`` the mart was
  built from. A mart owes the days of every change of an input after that.
- **published**: ``published/<mart>/_manifest.json`` names the gold version it exports; it
  owes the newest validated gold commit when that is newer.

Every step's sinks are idempotent (commits named by their batch, content-keyed appends,
MERGEs that commit nothing when nothing changes), so a step that dies after its sink commit and before its
progress row does the same work again, changing nothing, and then records its progress.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from citylake.engine import delta_log
from citylake.engine.storage import Store, store_for
from citylake.lake import PROGRESS, Lake

if TYPE_CHECKING:
    from citylake.config.registry import MartDoc, Registry

MANIFEST = "_manifest.json"


# a row that makes ``target`` consume ``source`` again from the start; its ``version`` is the
# target's version at the reset (an emptied silver table: see citylake.runs.rekey)
RESET = "reset"


@dataclass(frozen=True)
class ProgressRow:
    step: str  # bronze | silver | gold | reset
    target: str  # the dataset that moved, e.g. silver.parking_occupancy
    source: str  # what it consumed, e.g. bronze.parking_occupancy
    upto: int | None  # the source version consumed through
    version: int | None  # the target's Delta version afterwards
    days: tuple[dt.date, ...] = ()  # event days the step wrote (what downstream rebuilds)
    run_id: str = ""
    logical_date: dt.date | None = None

    def row(self, now: dt.datetime) -> dict[str, Any]:
        return {"run_id": self.run_id, "logical_date": self.logical_date, "step": self.step,
                "target": self.target, "source": self.source, "upto": self.upto, "version": self.version,
                "days": sorted(self.days), "recorded_at": now}  # fmt: skip


@dataclass
class Progress:
    rows: list[ProgressRow] = field(default_factory=list)

    def consumed(self, target: str, source: str) -> int:
        """How far ``target`` has consumed ``source`` (-1: not at all), since its last reset."""
        mine = [r for r in self.rows if r.target == target and r.source == source]
        since = max((r.version for r in mine if r.step == RESET and r.version is not None), default=None)
        if since is not None:  # rows from before the reset (a lower target version) no longer count
            mine = [r for r in mine if r.version is not None and r.version >= since]
        return max((r.upto for r in mine if r.upto is not None), default=-1)

    def changes(self, target: str, after: int) -> list[ProgressRow]:
        """Rows that moved ``target`` past version ``after``."""
        return [r for r in self.rows if r.target == target and r.version is not None and r.version > after]

    def mart_owed(self, doc: MartDoc) -> tuple[set[dt.date], dict[str, int]]:
        """(days to rebuild, new cursor per input) for a mart: every input change it has not built."""
        days: set[dt.date] = set()
        cursors: dict[str, int] = {}
        for ref in doc.inputs:
            if ref.startswith("registry."):
                continue
            new = self.changes(ref, self.consumed(f"gold.{doc.mart}", ref))
            if new:
                cursors[ref] = max(r.version for r in new if r.version is not None)
                for r in new:
                    days |= set(r.days)
        return days, cursors

    def add(self, rows: Iterable[ProgressRow]) -> None:
        self.rows.extend(rows)


def load(lake: Lake) -> Progress:
    """Every progress row (a small table, read without a JVM)."""
    cols = ["run_id", "logical_date", "step", "target", "source", "upto", "version", "days"]
    data = delta_log.rows(lake.table("_system", PROGRESS), cols)
    return Progress([ProgressRow(r["step"], r["target"], r["source"], r["upto"], r["version"],
                                 tuple(r["days"] or ()), r["run_id"], r["logical_date"]) for r in data])  # fmt: skip


def record(lake: Lake, rows: list[ProgressRow], txn_app_id: str) -> None:
    from citylake.lake import ledger

    now = dt.datetime.now()
    ledger.append_rows(lake, "_system", PROGRESS, [r.row(now) for r in rows], txn_app_id=txn_app_id)


# --- what is owed ------------------------------------------------------------------------


@dataclass(frozen=True)
class BronzeCommit:
    version: int
    batch_id: str
    date: dt.date | None
    held: frozenset[tuple[str, str]]
    timestamp_ms: int = 0
    rows: int = 0  # rows the commit wrote (its operationMetrics)
    audited: bool = True  # an audit names this commit: its verdict is known


def bronze_audits(lake: Lake, contract: str) -> dict[int, list[tuple[str, str, str]]]:
    """Bronze version -> (unit, feed, verdict) of every audit that counted that commit's rows."""
    from citylake.lake import BRONZE_AUDIT, ledger

    out: dict[int, list[tuple[str, str, str]]] = {}
    for r in ledger.read_rows(lake, "_system", BRONZE_AUDIT, ["unit", "feed", "bronze_versions", "verdict"],
                              [("contract", "=", contract)]):  # fmt: skip
        for v in r["bronze_versions"] or ():
            out.setdefault(int(v), []).append((r["unit"], r["feed"], r["verdict"]))
    return out


def bronze_commits(
    path: str,
    after: int,
    upto: int,
    store: Store | None = None,
    audits: dict[int, list[tuple[str, str, str]]] | None = None,
) -> list[BronzeCommit]:
    """The batch commits of a bronze table in (after, upto]; schema and maintenance commits carry
    none. ``audits`` (bronze_audits): a commit no audit names is ``audited=False``."""
    store = store or store_for(path)
    out = []
    for v in range(after + 1, upto + 1):
        info = delta_log.commit_info(path, v, store) or {}
        meta: dict[str, Any] = info["userMetadata"] if isinstance(info.get("userMetadata"), dict) else {}
        if "batch_id" not in meta:
            continue
        date = meta.get("date") or meta["batch_id"].split(":")[2]
        rows = int((info.get("operationMetrics") or {}).get("numOutputRows", 0))
        if "held" in meta:  # written before audits: the verdict is in the commit
            held, audited = frozenset((u, f) for u, f in meta["held"]), True
        else:
            found = (audits or {}).get(v, [])
            held, audited = frozenset((u, f) for u, f, verdict in found if verdict == "failed"), bool(found)
        out.append(BronzeCommit(v, meta["batch_id"], dt.date.fromisoformat(date), held,
                                int(info.get("timestamp", 0)), rows, audited))  # fmt: skip
    return out


def audited_prefix(commits: list[BronzeCommit], upto: int) -> tuple[list[BronzeCommit], int]:
    """The commits silver may promote, in order, up to the first one no audit names yet, and
    the version they reach (a batch committed but not audited is done by bronze's next run)."""
    for n, b in enumerate(commits):
        if not b.audited:
            return commits[:n], b.version - 1
    return commits, upto


def validated_gold_version(path: str, store: Store | None = None) -> tuple[int, dict[str, Any]] | None:
    """The newest gold commit a gate passed (a compaction rewrites files, not data, and is skipped)."""
    store = store or store_for(path)
    latest = delta_log.latest_version(path, store)
    for v in range(latest if latest is not None else -1, -1, -1):
        meta = delta_log.user_metadata(path, v, store)
        if meta.get("validation_id") is not None or "run_id" in meta:
            return v, meta
    return None


def published_version(lake: Lake, mart: str, store: Store | None = None) -> int | None:
    import json

    store = store or store_for(lake.root)
    try:
        return int(
            json.loads(store.read_bytes(f"{lake.zone('published')}/{mart}/{MANIFEST}"))["delta_version"]
        )
    except FileNotFoundError:
        return None


@dataclass(frozen=True)
class Owed:
    step: str  # bronze | silver | gold | reset | published
    target: str
    detail: str
    dates: frozenset[dt.date]

    def json(self) -> dict[str, Any]:
        return {"step": self.step, "target": self.target, "detail": self.detail,
                "dates": sorted(d.isoformat() for d in self.dates)}  # fmt: skip


def owed(
    lake: Lake,
    registry: Registry,
    contracts: Iterable[str] | None = None,
    marts: Iterable[str] | None = None,
    state: Progress | None = None,
) -> list[Owed]:
    """Work some step still owes: silver for ``contracts``, gold and published for ``marts``
    (None: all of them). Reads only the progress table and the tables' logs."""
    store = store_for(lake.root)
    state = state if state is not None else load(lake)
    out: list[Owed] = []
    names = (
        sorted(contracts)
        if contracts is not None
        else sorted(c.contract for c in registry.contracts_in_use())
    )
    for c in names:
        path = lake.table("bronze", c)
        latest = delta_log.latest_version(path, store)
        upto = state.consumed(f"silver.{c}", f"bronze.{c}")
        if latest is None or latest <= upto:
            continue
        commits = bronze_commits(path, upto, latest, store, bronze_audits(lake, c))
        if commits:
            out.append(Owed("silver", f"silver.{c}",
                            f"bronze.{c} v{commits[0].version}..v{commits[-1].version} "
                            f"({len(commits)} batch(es)) not promoted to silver",
                            frozenset(b.date for b in commits if b.date)))  # fmt: skip
    for name in sorted(marts) if marts is not None else sorted(registry.marts):
        doc = registry.marts[name]
        days, cursors = state.mart_owed(doc)
        if cursors:
            sources = sorted(cursors)
            dates = frozenset(r.logical_date for ref in sources
                              for r in state.changes(ref, state.consumed(f"gold.{name}", ref)) if r.logical_date)  # fmt: skip
            out.append(Owed("gold", f"gold.{name}",
                            f"{len(days)} day(s) from {', '.join(sources)} not yet built", dates))  # fmt: skip
            continue
        gold = validated_gold_version(lake.table("gold", name), store)
        if gold is None:
            continue
        shown = published_version(lake, name, store)
        if shown is None or shown < gold[0]:
            built = [
                r.logical_date for r in state.rows if r.target == f"gold.{name}" and r.version == gold[0]
            ]
            out.append(Owed("published", f"published.{name}",
                            f"the published snapshot is {'missing' if shown is None else f'v{shown}'}, "
                            f"gold is v{gold[0]}", frozenset(d for d in built if d)))  # fmt: skip
    return out
