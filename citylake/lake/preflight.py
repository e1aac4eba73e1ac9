"""Landing-zone discovery and per-file checks, on the driver, before any Spark work.

One streaming pass over each delivered file computes its checksum, proves it decompresses and
decodes in the declared encoding, checks its header against the feed contract, and counts its
records the way Spark will read them, independently of Spark (the ``landed`` side of the ledger
invariant). A file that fails here is rejected with a reason naming the line and field, never a
value; it never reaches a Spark job, so one unit's broken delivery cannot fail the others.

No file can stop the run or exhaust the driver: memory is bounded by the feed's limits
(preflight_stream), and any error while checking a file becomes that file's rejection.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import traceback
from dataclasses import dataclass, field

from citylake.config.registry import Completeness, Feed, Registry
from citylake.config.settings import load_settings
from citylake.engine.storage import FileInfo, Store
from citylake.lake import Lake, completeness
from citylake.lake.preflight_formats import Checked, NoHeader, check_csv, check_jsonl
from citylake.lake.preflight_parquet import check_parquet
from citylake.lake.preflight_stream import (
    CSV_BLANK,
    EMPTY,
    SPACES,
    Limits,
    Lines,
    RawFile,
    ReadFailed,
    Rejected,
    StreamRejected,
    content,
)

log = logging.getLogger(__name__)
# Hadoop's path parser refuses ':' in a file name; the others make Spark's reader take the name
# for a glob pattern, which finds no file, or other files
SPARK_UNSAFE = ":*?[]{}\\"


@dataclass
class LandedFile:
    path: str  # full path or URI
    rel: str  # <unit>/<feed>/<date>/<name>, the id the ledger and manifest use
    unit: str
    feed: str
    date: str
    size: int
    feed_ref: Feed | None = None
    sha256: str = ""
    records: int = 0
    ok: bool = False
    reason: str | None = None
    # Canonical column names in the order (or under the keys) the file carries them.
    source_columns: list[tuple[str, str]] = field(default_factory=list)
    # why the delivery is not complete yet (citylake.lake.completeness); such a file is not read
    waiting: str | None = None
    # where Spark will start a split of the file after the first (set before the check), and the
    # non-blank lines that start at or before each: how bronze numbers records in one pass
    split_starts: tuple[int, ...] = ()
    lines_before: dict[int, int] = field(default_factory=dict)

    @property
    def contract(self) -> str | None:
        return self.feed_ref.contract.contract if self.feed_ref else None

    def reject(self, reason: str) -> LandedFile:
        self.ok = False
        self.reason = reason
        return self


@dataclass(frozen=True)
class Scope:
    """Which units and contracts a run covers; empty means all.

    A scoped run (re-running one unit's day, one contract's backfill) sees only the files of
    the feeds it covers, so it never judges, loads or rejects anybody else's deliveries.
    """

    units: frozenset[str] = frozenset()
    contracts: frozenset[str] = frozenset()

    @property
    def everything(self) -> bool:
        return not self.units and not self.contracts

    def covers(self, unit: str, contract: str | None) -> bool:
        if self.units and unit not in self.units:
            return False
        return not self.contracts or contract in self.contracts

    def contracts_of(self, registry: Registry) -> list[str]:
        """The contracts the run covers: every one in use, or those the scope's units deliver."""
        return sorted(
            {f.contract.contract for f in registry.feeds() if self.covers(f.unit.unit, f.contract.contract)}
        )


def discover(
    lake: Lake,
    store: Store,
    registry: Registry,
    date: str,
    scope: Scope | None = None,
    settle_s: float | None = None,
) -> list[LandedFile]:
    """Every file delivered under landing/<unit>/<feed>/<date>/, known units or not (scoped runs:
    only the feeds the scope covers; unknown units are left to the full run). A file whose
    delivery is not complete yet comes with ``waiting`` set (citylake.lake.completeness);
    ``settle_s``: the settling time of feeds that set none (default: CITYLAKE_LANDING_SETTLE_S)."""
    if settle_s is None:
        settle_s = load_settings().landing_settle_s
    root = lake.zone("landing")
    scope = scope or Scope()
    found: list[LandedFile] = []
    for unit in store.list_dirs(root):
        if scope.units and unit not in scope.units:
            continue
        for feed in store.list_dirs(f"{root}/{unit}"):
            ref = registry.feed(unit, feed)
            if not scope.everything and (ref is None or not scope.covers(unit, ref.contract.contract)):
                continue
            rule = ref.spec.complete_when if ref else Completeness()
            folder = f"{root}/{unit}/{feed}/{date}"
            infos = store.list_files(folder)
            names = set(store.list_names(folder)) if infos and rule.rule == "marker" else set()
            for info in infos:
                if completeness.is_marker(info.path.rsplit("/", 1)[-1], rule):
                    continue
                lf = _landed(info, unit, feed, date, registry)
                lf.waiting = completeness.waiting(info, names, rule, settle_s, f"{unit}/{feed}/{date}")
                found.append(lf)
    return found


def _landed(info: FileInfo, unit: str, feed: str, date: str, registry: Registry) -> LandedFile:
    name = info.path.rsplit("/", 1)[-1]
    lf = LandedFile(info.path, f"{unit}/{feed}/{date}/{name}", unit, feed, date, info.size)
    lf.feed_ref = registry.feed(unit, feed)
    return lf


class _Preflight:
    """One file's check: what was read of it, kept for the reason and the count when it fails."""

    def __init__(self, lf: LandedFile, store: Store):
        self.lf, self.store = lf, store
        self.raw = RawFile(store, lf.path)
        self.limits = Limits.of(lf.feed_ref, lf.unit)
        self.lines: Lines | None = None
        self.header = 0  # a CSV's header line is no record

    def run(self) -> Checked:
        lf, feed = self.lf, self.lf.feed_ref
        fmt = (
            feed.spec.format if feed else next((f for f in ("parquet", "csv") if f".{f}" in lf.path), "jsonl")
        )
        if fmt != "parquet":
            gz = lf.path.endswith(".gz")  # as Spark's reader decides: by the name alone
            multiline = feed is not None and feed.spec.multiline
            blank = (EMPTY if multiline else CSV_BLANK) if fmt == "csv" else SPACES
            chunks = content(self.raw, gz, self.limits)
            self.lines = Lines(chunks, self.limits, blank, ends=multiline, bom=fmt == "csv", marks=lf.split_starts)
            self.header = 1 if fmt == "csv" else 0
        unsafe = sorted({c for c in lf.path.rsplit("/", 1)[-1] if c in SPARK_UNSAFE})
        if unsafe:
            raise Rejected(
                f"the file name holds {' '.join(unsafe)}, which Spark's reader refuses in a path or takes for a "
                f"pattern: deliver it under a name without any of {' '.join(SPARK_UNSAFE)}"
            )
        if feed is None:
            raise Rejected(
                f"unknown unit/feed {lf.unit}/{lf.feed}: not in the registry (onboard the unit first)"
            )
        if fmt != "parquet" and feed.spec.compression == "gzip" and not lf.path.endswith(".gz"):
            name = lf.path.rsplit("/", 1)[-1]
            raise StreamRejected(  # compressed bytes: no lines to count
                f"the feed is declared compression: gzip but the file name does not end in .gz; the reader "
                f"decompresses by the name, so deliver it as {name}.gz"
            )
        if fmt == "parquet":
            return self._parquet(feed)
        assert self.lines is not None
        return (check_csv if fmt == "csv" else check_jsonl)(feed, self.lines, self.limits)

    def _parquet(self, feed: Feed) -> Checked:
        if "://" not in self.lf.path:  # a local file: pyarrow reads its footer in place
            self.raw.drain()
            if not self.raw.size:
                raise Rejected("empty file")
            return check_parquet(feed, self.lf.path, self.limits)
        # pyarrow reads the footer from the end of a file: a local copy, written as it is hashed
        with tempfile.NamedTemporaryFile(suffix=".parquet") as tmp:
            for chunk in self.raw:
                tmp.write(chunk)
            tmp.flush()
            if not self.raw.size:
                raise Rejected("empty file")
            return check_parquet(feed, tmp.name, self.limits)

    def rejected(self, reason: str, read_on: bool) -> None:
        """The file's rejection; its records (every non-blank line, as far as the content can be
        read) are what the ledger shows as landed and set aside."""
        if self.lines is not None:
            if read_on:
                # a corrupt or oversized rest: what could be read is what landed
                with contextlib.suppress(StreamRejected):
                    self.lines.count_rest()
            self.lf.records = max(0, self.lines.nonblank - self.header)
        self.lf.reject(reason)


def check(lf: LandedFile, store: Store) -> LandedFile:
    """Run every driver-side check on one landed file; sets ok/reason/records/sha256.

    Never raises: whatever goes wrong with one file is that file's rejection, so no delivery
    stops the run. A read the store fails (``cannot read file``) is storage, not the unit's data.
    """
    p = _Preflight(lf, store)
    try:
        try:
            checked = p.run()
            lf.records, lf.source_columns, lf.ok = checked.records, checked.source_columns, True
            if p.lines is not None:
                lf.lines_before = dict(p.lines.before)
        except StreamRejected as exc:
            p.rejected(exc.reason, read_on=False)
        except Rejected as exc:
            if isinstance(exc, NoHeader):
                p.header = 0
            p.rejected(exc.reason, read_on=True)
        lf.sha256 = p.raw.drain()
    except ReadFailed as exc:
        return lf.reject(f"cannot read file: {exc.cause}")
    except Exception as exc:  # a file nobody foresaw, or a bug: this file's rejection, never a stopped run
        at = f"at line {p.lines.number + 1}" if p.lines is not None else "before its first line"
        # the exception's message may quote the file's content: logged by type and place only
        log.warning("preflight of %s failed %s: %s\n%s", lf.rel, at, type(exc).__name__,
                    "".join(traceback.format_tb(exc.__traceback__)))  # fmt: skip
        p.rejected(f"preflight could not check {lf.rel} ({type(exc).__name__} {at}); the file is set aside "
                   "and checked again by the next run", read_on=False)  # fmt: skip
        try:
            lf.sha256 = p.raw.drain()
        except ReadFailed as failed:
            return lf.reject(f"cannot read file: {failed.cause}")
    return lf
