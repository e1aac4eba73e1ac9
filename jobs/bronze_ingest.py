"""Landing -> bronze: every new landed file, read once with its contract's declared schema.

The run: discover and classify the day's files, then one batch per contract, then the books.
The parts, one job each: read planning (jobs/bronze_read.py), pure transforms
(jobs/bronze_transform.py), one batch (jobs/bronze_batch.py), recording (jobs/bronze_record.py).

Design notes:
- One Spark application ingests a whole day; files of one contract are read together, grouped
  only by reader options (format, encoding, header order), and committed as one Delta batch.
- Records that do not parse (wrong field count, unparseable values, broken JSON) are split off
  in the same pass and quarantined with their raw text and a reason.
- One pass (ADR 0004): a batch's rows are numbered, tagged and written in one Spark job, and
  its audit counts what was committed afterwards (jobs/bronze_batch.py, jobs/bronze_audit.py).
  Preflight, which reads every byte anyway, counts the records before each place Spark will
  split a file (citylake.engine.splits), so numbering needs no pass of its own.
- Exactly-once: a batch id derived from its files' checksums names both of the batch's
  commits (bronze, then quarantine), and each commit names the files it holds; the
  manifest records the batch as pending before them, so a run that dies anywhere after that
  replays the same batch id and writes only what it does not find among the commits made
  since. A batch that fails in process is replayed or retried the same way
  (jobs/bronze_retry.py), and so is a failed file retried by a later run.
- Only complete deliveries are read (citylake.lake.completeness): a file still being uploaded
  is left in landing as ``waiting``. A storage fault stops the run (StorageFailure) before
  anything is recorded against the units.
- The audit record is the batch's "done" mark: it names the batch's commits and the unit/feeds
  the gate held, which is all silver needs to know what it owes (citylake.lake.progress).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from citylake.config.registry import FeedContract, Registry
from citylake.config.settings import load_settings
from citylake.engine import delta_io, parallel
from citylake.engine.faults import WatchedStore
from citylake.engine.splits import one_split_per_partition
from citylake.engine.storage import Store, store_for
from citylake.lake import ledger, preflight
from citylake.quality.gate import evaluate, suite_expectations, verdict
from citylake.quality.gx_runner import GxProject, SuiteOutcome
from citylake.quality.suites import load_row_checks
from jobs.bronze_batch import BatchResult
from jobs.bronze_read import splittable
from jobs.bronze_record import FileOutcome, record, set_aside
from jobs.bronze_replay import CLOCK_SLACK_MS
from jobs.bronze_retry import ingest_isolated
from jobs.bronze_transform import batch_id_for, bronze_properties, bronze_schema
from jobs.context import JobRun

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)
RECOVERY_WINDOW_DAYS = 35
_record = record  # the bookkeeping step, by a name tests can replace to crash a run there


@dataclass
class FeedVerdict:
    """The gate's decision for one unit/feed of a run: ``failed`` feeds are not promoted."""

    unit: str
    feed: str
    contract: str
    batch_ids: list[str]
    rows: int
    verdict: str
    checks: list[Any]
    error: str | None = None

    def reason(self) -> str:
        bad = [c for c in self.checks if not c.success and c.expectation.severity == "fail"]
        parts = [f"{c.expectation.id}: {c.failures} of {c.rows_checked} rows" for c in bad]
        return "; ".join(([self.error] if self.error else []) + parts)


@dataclass
class BronzeResult:
    run_id: str
    date: dt.date
    files: list[FileOutcome] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    feeds: dict[tuple[str, str], FeedVerdict] = field(default_factory=dict)
    suites: list[SuiteOutcome] = field(default_factory=list)

    def promotable(self) -> dict[str, list[FeedVerdict]]:
        """Per contract, the unit/feeds of this run whose batches passed the gate."""
        out: dict[str, list[FeedVerdict]] = defaultdict(list)
        for v in self.feeds.values():
            if v.verdict != "failed":
                out[v.contract].append(v)
        return out

    @property
    def status(self) -> str:
        bad = [f for f in self.files if f.status in ledger.PROBLEM_STATUSES]
        if not bad:
            return "ok"
        return "failed" if len(bad) == len(self.files) else "partial"


def _classify(
    lf: preflight.LandedFile, state: dict[str, ledger.FileState], twins: dict[tuple[str, str, str], str]
) -> tuple[str, str | None]:
    """Decide what to do with a landed file given the manifest; returns (status, reason).

    ``twins`` maps (unit, feed, sha256) to the file that holds that content: loaded, pending
    (a batch a crashed run began) or new in this run, so a byte-identical re-send is a
    duplicate whatever state its original is in.
    """
    prev = state.get(lf.rel)
    if prev is not None:
        # A rejected file is judged again: after a registry fix (the unit onboarded, a feed
        # setting corrected) the same file loads.
        retry = prev.status == ledger.REJECTED and lf.ok
        if prev.sha256 == lf.sha256 and prev.status != ledger.FAILED and not retry:
            return (ledger.PENDING, None) if prev.status == ledger.PENDING else (ledger.SKIPPED, None)
        # what was loaded under this name counts even when a conflict came after it: the loaded
        # bytes put back are skipped, other bytes are a conflict, never a second load
        if lf.sha256 in prev.loaded:
            return ledger.SKIPPED, None
        if prev.sha256 != lf.sha256 and (
            prev.status in (ledger.LOADED, ledger.DUPLICATE, ledger.PENDING) or prev.loaded
        ):
            return ledger.CONFLICT, (
                f"re-sent with changed content under the same name (was sha256 {prev.sha256[:12]}, now "
                f"{lf.sha256[:12]}); not loaded. Deliver corrections under a new file name."
            )
    if not lf.ok:
        return ledger.REJECTED, lf.reason
    twin = twins.get((lf.unit, lf.feed, lf.sha256))
    if twin and twin != lf.rel:
        return ledger.DUPLICATE, f"byte-identical copy of {twin}, which is already loaded"
    return "new", None


def contracts_touched(registry: Registry, files: list[preflight.LandedFile]) -> list[FeedContract]:
    names = {lf.contract for lf in files if lf.contract}
    return [registry.contracts[n] for n in sorted(names)]


def run(
    job: JobRun,
    store: Store | None = None,
    progress: Callable[[str], None] | None = None,
    expectations_dir: Path | None = None,
    gx: GxProject | None = None,
    validate: bool = True,
    scope: preflight.Scope | None = None,
    workers: int = 1,
    settle_s: float | None = None,
) -> BronzeResult:
    """Ingest every new file landed for ``date``, ``workers`` contracts' batches at a time; safe
    to re-run any number of times, and to kill at any moment.

    ``validate=False`` runs without any data-quality work (no row tags, gate counts or GX); only
    the benchmark uses it, to measure what validation adds to the job. ``settle_s``: how long a
    file of a feed with the default completeness rule must stand unchanged (default:
    CITYLAKE_LANDING_SETTLE_S).
    """
    spark, lake, registry, date, run_id = job
    store = store or store_for(lake.root)
    expectations_dir = expectations_dir or load_settings().expectations_dir
    # a scoped run sets up only the contracts its units deliver
    in_scope = [registry.contracts[c] for c in (scope or preflight.Scope()).contracts_of(registry)]
    checks = load_row_checks(registry, expectations_dir, in_scope)
    exps = {c.contract: suite_expectations(expectations_dir, c.suites_for("bronze")) for c in in_scope}
    if validate and gx is None:
        gx = GxProject(lake, expectations_dir, mode=load_settings().gx_mode)
    if not validate:  # no row tags, no gate counts, no GX: the baseline the benchmark compares against
        checks, exps, gx = {c: [] for c in checks}, {c: [] for c in exps}, None
    if gx is not None:
        gx.warm_up()
    say = progress or (lambda _msg: None)
    result = BronzeResult(run_id, date)
    t0 = time.perf_counter()
    started = dt.datetime.now()
    ledger.ensure_system_tables(spark, lake)
    state = ledger.manifest_state(lake, date - dt.timedelta(days=RECOVERY_WINDOW_DAYS))
    result.timings["setup_s"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    landed = preflight.discover(lake, store, registry, date.isoformat(), scope, settle_s)
    waiting = [FileOutcome(lf.unit, lf.feed, lf.rel, ledger.WAITING, lf.contract, lf.waiting, bytes=lf.size)
               for lf in landed if lf.waiting]  # fmt: skip
    landed = [lf for lf in landed if not lf.waiting]
    say(f"bronze: preflight of {len(landed)} landed files" + (f", {len(waiting)} still being delivered"
                                                               if waiting else ""))  # fmt: skip
    # files side by side: reading (local disk or S3), hashing and gunzip release the GIL.
    # A read the storage failed is no file's fault: the run stops before judging any file.
    watched = WatchedStore(store)
    # where Spark will cut each file (under the setting bronze reads with): preflight counts the records before
    with one_split_per_partition(spark) as splits:
        for lf in landed:
            lf.split_starts = splits.starts(lf.size) if splittable(lf) else ()
    parallel.each(landed, lambda lf: preflight.check(lf, watched), workers)
    watched.raise_if_faulted("storage failure while reading landed files in preflight")
    result.timings["preflight_s"] = time.perf_counter() - t1

    twins = {(s.unit, s.feed, sha): s.file for s in state.values() for sha in s.loaded}
    twins.update({(s.unit, s.feed, s.sha256): s.file for s in state.values()
                  if s.status in (ledger.LOADED, ledger.PENDING)})  # fmt: skip
    to_load: dict[str, list[preflight.LandedFile]] = defaultdict(list)  # contract -> files
    recovering: dict[str, list[preflight.LandedFile]] = defaultdict(list)  # batch id -> files
    outcomes: list[FileOutcome] = list(waiting)
    held_aside: list[FileOutcome] = []
    for lf in sorted(landed, key=lambda f: f.rel):
        status, reason = _classify(lf, state, twins)
        if status == "new":
            twins.setdefault((lf.unit, lf.feed, lf.sha256), lf.rel)
            assert lf.contract is not None
            to_load[lf.contract].append(lf)
        elif status == ledger.PENDING:
            prev = state[lf.rel]
            assert prev.batch_id is not None
            recovering[prev.batch_id].append(lf)
        elif status == ledger.SKIPPED:
            outcomes.append(FileOutcome(lf.unit, lf.feed, lf.rel, ledger.SKIPPED, lf.contract,
                                        "already processed by an earlier run", bytes=lf.size, sha256=lf.sha256))  # fmt: skip
        else:
            held_aside.append(FileOutcome(lf.unit, lf.feed, lf.rel, status, lf.contract, reason, lf.records, 0,
                                          lf.records, lf.size, lf.sha256))  # fmt: skip
    batches: list[tuple[str, list[preflight.LandedFile]]] = list(recovering.items())
    batches += [(batch_id_for(c, date, fs), fs) for c, fs in sorted(to_load.items())]
    now = dt.datetime.now()
    pending = [
        {"file": lf.rel, "unit": lf.unit, "feed": lf.feed, "contract": lf.contract, "logical_date": date,
         "size": lf.size, "sha256": lf.sha256, "status": ledger.PENDING, "batch_id": bid,
         "records": lf.records, "run_id": run_id, "recorded_at": now}
        for bid, fs in batches
        if bid not in recovering
        for lf in fs
    ]  # fmt: skip
    ledger.append_rows(lake, "_system", "file_manifest", pending)

    touched = {c.contract for c in contracts_touched(registry, [lf for _, fs in batches for lf in fs])}

    def ensure(contract: FeedContract) -> None:
        delta_io.ensure_table(
            spark,
            lake.table("bronze", contract.contract),
            bronze_schema(contract),
            partition_by=("_logical_date",),
            properties=bronze_properties(contract),
            comment=f"bronze: {contract.title}; one row per landed record, as sent",
            evolve=contract.contract in touched,  # schema changes only for the tables this run writes
        )

    # every contract's table exists (readers and marts expect them): a log listing each once they
    # do (no Spark), and only the tables this run writes are checked for schema changes
    parallel.each(registry.contracts_in_use(), ensure, workers)

    t2 = time.perf_counter()
    merged = BatchResult({}, {}, [])

    def ingest(numbered: tuple[int, tuple[str, list[preflight.LandedFile]]]) -> BatchResult:
        n, (bid, files) = numbered
        contract = registry.contracts[files[0].contract or ""]
        say(f"bronze {n}/{len(batches)}: {contract.contract} ({len(files)} files)")
        return ingest_isolated(
            spark, lake, store, contract, files, bid, run_id, date, checks[contract.contract],
            exps[contract.contract], gx, replays.get(bid),
        )  # fmt: skip

    # A batch a stopped run began, or one holding a file an earlier run began and failed: no
    # commit holding its files' rows is older than their first pending record.
    begun = {bid: [at for lf in fs if lf.rel in state and (at := state[lf.rel].pending_at)] for bid, fs in batches}
    replays = {bid: _epoch_ms(min(at)) for bid, at in begun.items() if at}
    replays |= {bid: 1 for bid in recovering if bid not in replays}  # no time known: every commit

    with one_split_per_partition(spark):
        for batch in parallel.each(list(enumerate(batches, start=1)), ingest, workers):
            merged.merge(batch)
    outcomes += merged.files.values()
    result.suites = merged.suites
    result.timings["validation_s"] = merged.validation_s
    result.timings["ingest_s"] = time.perf_counter() - t2
    result.timings["gx_s"] = sum(o.seconds for o in result.suites)
    for (unit, feed), fc in merged.feeds.items():
        judged = evaluate(exps[fc.contract], fc.rows, fc.failures)
        held = fc.held or bool(fc.error) or verdict(judged) == "failed"
        result.feeds[(unit, feed)] = FeedVerdict(unit, feed, fc.contract, fc.batch_ids, fc.rows,
                                                 "failed" if held else verdict(judged), judged, fc.error)  # fmt: skip

    t3 = time.perf_counter()
    say("bronze: recording the ledger and the manifest")
    failed = [o for o in outcomes if o.status == ledger.FAILED]
    set_aside(spark, lake, store, held_aside + failed, run_id, date)
    outcomes += held_aside
    finished = dt.datetime.now()
    for o in outcomes:
        o.started_at, o.finished_at = started, finished
    _record(spark, lake, outcomes, run_id, date, _dq_rows(result, run_id, date))
    result.files = sorted(outcomes, key=lambda o: o.file)
    result.timings["record_s"] = time.perf_counter() - t3
    result.timings["total_s"] = time.perf_counter() - t0
    return result


def _epoch_ms(at: dt.datetime | None) -> int:
    if at is None:
        return 1  # unknown: look through every commit
    return int(at.timestamp() * 1000) - CLOCK_SLACK_MS


def _dq_rows(result: BronzeResult, run_id: str, date: dt.date) -> list[dict[str, Any]]:
    now = dt.datetime.now()
    suite_ids = {(o.dataset, o.suite): o.validation_id for o in result.suites}
    return [
        {
            "run_id": run_id,
            "logical_date": date,
            "layer": "bronze",
            "dataset": f"bronze.{v.contract}",
            "unit": v.unit,
            "feed": v.feed,
            "contract": v.contract,
            "suite": c.expectation.id.split("#", 1)[0],
            "expectation_id": c.expectation.id,
            "expectation_type": c.expectation.type,
            "column": ",".join(c.expectation.columns) or None,
            "severity": c.expectation.severity,
            "rows_checked": c.rows_checked,
            "failures": c.failures,
            "success": c.success,
            "observed": c.observed,
            "verdict": v.verdict,
            "validation_id": suite_ids.get((f"bronze.{v.contract}", c.expectation.id.split("#", 1)[0])),
            "recorded_at": now,
        }
        for v in result.feeds.values()
        for c in v.checks
    ]
