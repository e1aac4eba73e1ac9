"""Bronze -> silver: the batches that passed the gate, conformed, deduplicated and merged.

The transforms (``conform``, ``rank_copies``, ``to_dq_rows``: jobs/silver_transform.py) and the
writes (jobs/silver_merge.py) are apart; this module is the ``run`` that, per
contract, reads every bronze batch silver has not promoted yet (citylake.lake.progress: the bronze
version silver reached is its state, whichever run committed the batches), quarantines ``drop``
rows and surplus duplicates with the expectation they broke, and publishes through
write-audit-publish: the increment is staged, validated by the silver suite, and only then
merged into silver. Then it records the bronze version it reached.

A unit/feed whose bronze batch failed a ``fail`` expectation (the batch's bronze commit says
so) is not read at all: its rows stay in bronze for the engineer who repairs it. A silver suite
failure is a bug in this transform, so it holds the whole contract back, keeps the current
silver version, and leaves the batches owed.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from citylake.config.layers import (
    merge_keys,
)
from citylake.config.registry import FeedContract
from citylake.engine import delta_io, delta_log, parallel
from citylake.engine.faults import StorageFailure, fault_evidence, storage_fault
from citylake.engine.frames import local_frame
from citylake.engine.storage import store_for
from citylake.lake import DQ_ROWS, Lake, keyguard, progress, reference, suppression
from citylake.lake.ledger import short_error
from citylake.lake.progress import BronzeCommit, Progress, ProgressRow
from citylake.lake.publish import Publication, stage
from citylake.quality.gate import UNIQUE, suite_expectations
from citylake.quality.gx_runner import GxProject, SuiteOutcome
from citylake.quality.personal import personal_columns
from citylake.quality.rowchecks import DQ_FAILED, RowCheck, count_failures, is_dropped, row_checks
from citylake.quality.suites import load_suite
from jobs.context import JobRun
from jobs.silver_merge import merge
from jobs.silver_suppress import keep_restricted
from jobs.silver_transform import (
    beaten_copies,
    conform,
    coord_systems,
    kept_rows,
    latest_snapshot,
    rank_copies,
    silver_properties,
    silver_schema,
    surplus_copy,
    surplus_rows,
    to_dq_rows,
    with_ranks,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


GRAIN = {"event": "record", "entity": "object version", "reference": "register entry version"}


@dataclass
class SilverResult:
    publications: list[Publication] = field(default_factory=list)
    suites: list[SuiteOutcome] = field(default_factory=list)
    dates: dict[str, set[dt.date]] = field(default_factory=dict)  # contract -> event dates merged
    timings: dict[str, float] = field(default_factory=dict)
    progress: list[ProgressRow] = field(default_factory=list)  # what this step recorded


@dataclass(frozen=True)
class Owed:
    """The bronze commits of one contract that silver has not promoted: (after, upto]."""

    contract: FeedContract
    after: int
    upto: int
    commits: tuple[BronzeCommit, ...]

    @property
    def batch_ids(self) -> list[str]:
        return [b.batch_id for b in self.commits]


def owed(lake: Lake, contract: FeedContract, state: Progress) -> Owed | None:
    path = lake.table("bronze", contract.contract)
    store = store_for(path)
    upto = delta_log.latest_version(path, store)
    after = state.consumed(f"silver.{contract.contract}", f"bronze.{contract.contract}")
    if upto is None or upto <= after:
        return None
    commits = progress.bronze_commits(path, after, upto, store, progress.bronze_audits(lake, contract.contract))
    # a batch committed but not audited yet waits for bronze's next run, and so does all after it
    commits, upto = progress.audited_prefix(commits, upto)
    if upto <= after:
        return None
    return Owed(contract, after, upto, tuple(commits))


def quarantine_marks(lake: Lake, todo: list[Owed]) -> dict[str, int]:
    """Per contract, the bronze version ``quarantine.dq_rows`` holds rows through, where that is
    past silver's own mark (a run that stopped after quarantining and before recording). Only
    commits since the oldest owed bronze commit can say so: a short look at the newest commits."""
    commits = [b for o in todo for b in o.commits]
    if not commits:
        return {}
    since = min(b.timestamp_ms for b in commits) - 60_000  # a minute of slack for clocks
    marks: dict[str, int] = {}
    for _, info in delta_log.commits_since(lake.table("quarantine", DQ_ROWS), since):
        meta = info.get("userMetadata")
        if isinstance(meta, dict) and "dqrows" in meta:
            marks[meta["dqrows"]] = max(marks.get(meta["dqrows"], -1), int(meta["upto"]))
    return marks


MAX_BEATEN = 200_000  # beaten copies broadcast to the increment's tasks; past this, a cached full ranking
BEATEN_SCHEMA = "_batch_id STRING, _source_file STRING, _record_no LONG, _copy INT, _winner_batch STRING"


RECOMPUTE_ROWS = 1_000_000


def recompute(contract: FeedContract, rows: int) -> bool:
    """Read and conform the increment again for each of its three uses (the gate's counts, the
    quarantine and the write) rather than cache it. Caching costs more than conforming a large
    increment unless the conform hashes personal data: caching a scale-8 day's 1.6 million
    sensor readings took 3.7 s, conforming them 0.8 s. Below a million rows the cache costs
    less than the extra actions (small entity feeds each took about a second more). Registers
    keep the cache: their snapshot keys are a fourth use."""
    return (
        rows >= RECOMPUTE_ROWS and contract.kind != "reference" and not any(c.pii for c in contract.columns)
    )


def promote_contract(
    spark: SparkSession,
    lake: Lake,
    todo: Owed,
    dq_mark: int,
    date: dt.date,
    run_id: str,
    key: bytes,
    checks: list[RowCheck],
    gx: GxProject | None,
    expectations_dir: Any,
    systems: dict[str, str] | None = None,
    division_codes: DataFrame | None = None,
    register: DataFrame | None = None,
    suppressed: dict[str, set[str]] | None = None,
) -> tuple[Publication, SuiteOutcome | None, set[dt.date], ProgressRow | None]:
    """Promote the owed batches; the progress row is None when silver must try them again.
    ``suppressed``: the suppression list's references by mode (citylake.lake.suppression)."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    contract = todo.contract
    now = dt.datetime.now()
    dataset = f"silver.{contract.contract}"
    path = lake.table("silver", contract.contract)
    previous = delta_log.latest_version(path)
    batch_ids = todo.batch_ids

    def moved(days: set[dt.date]) -> ProgressRow:
        return ProgressRow("silver", dataset, f"bronze.{contract.contract}", todo.upto,
                           delta_log.latest_version(path), tuple(sorted(days)), run_id, date)  # fmt: skip

    pub = Publication("silver", dataset, "empty", None, 0, previous, previous, None, path, batch_ids)
    if not todo.commits:  # only schema or maintenance commits since the last promotion
        return pub, None, set(), moved(set())
    held = [(b.batch_id, u, f) for b in todo.commits for u, f in sorted(b.held)]
    days = sorted({b.date for b in todo.commits if b.date})
    bronze = delta_io.scan(
        spark, lake.table("bronze", contract.contract), where={"_logical_date": days}
    ).where(F.col("_batch_id").isin(batch_ids))
    if held:  # the gate held these unit/feeds of these batches: they stay in bronze
        bronze = bronze.where(~F.struct("_batch_id", "_unit", "_feed").isin(
            *[F.struct(F.lit(b), F.lit(u), F.lit(f)) for b, u, f in held]))  # fmt: skip
    # the bronze version of each row's batch: newer deliveries win, and the quarantine mark compares
    versions = F.create_map(*[F.lit(x) for b in todo.commits for x in (b.batch_id, b.version)])
    rows = conform(bronze, contract, key, run_id, now, systems, division_codes, register).withColumns(
        {"_bronze_version": F.element_at(versions, F.col("_batch_id")), "_dropped": is_dropped(checks)}
    )
    if contract.kind == "reference":
        rows = latest_snapshot(rows)
    # Listed subjects' rows are set aside like dropped ones (ranked apart, never winning a key):
    # erased to quarantine without their record, restricted to the restricted store.
    rows = suppression.mark_suppressed(rows, contract, key, suppressed or {})
    sup = F.col(suppression.SUPPRESSED)
    rows = rows.withColumn("_dropped", F.col("_dropped") | sup.isNotNull())
    unique_ids = [
        e.id for e in suite_expectations(expectations_dir, contract.suites_for("bronze")) if e.type in UNIQUE
    ]
    # The increment, its surplus copies and its dropped rows all come from one ranking (dropped
    # rows are ranked apart, so they never win a key).
    order = F.col("_bronze_version")
    beaten = None
    if recompute(contract, sum(b.rows for b in todo.commits)):
        beaten = beaten_copies(rows, contract, order, apart="_dropped").limit(MAX_BEATEN + 1).collect()
    if beaten is not None and len(beaten) <= MAX_BEATEN:
        ranked = with_ranks(rows, local_frame(spark, beaten, BEATEN_SCHEMA))
    else:  # a whole delivery sent again: too many copies to hand to every task
        ranked = rank_copies(rows, contract, order, apart="_dropped").persist(StorageLevel.MEMORY_AND_DISK)
    kept = ~F.col("_dropped")
    inc = kept_rows(ranked, kept).drop(DQ_FAILED, "_bronze_version", "_dropped", suppression.SUPPRESSED)
    try:
        suite = contract.suites_for("silver")[0]
        silver_checks = row_checks(load_suite(expectations_dir, suite))
        # one aggregation: the increment's rows, failures per check and days, and the rows
        # quarantine takes (a feed with none is not read again for them)
        winner = (F.col("_copy") == 1) & kept
        # quarantine takes dropped rows, surplus copies and erased subjects' rows
        checked = F.col("_dropped") & sup.isNull()
        aside = F.sum((checked | (sup == suppression.ERASE) | (kept & surplus_copy())).cast("long"))
        n, failures, extra = count_failures(
            ranked,
            silver_checks,
            prefix=f"{suite}#",
            extra={"dates": F.collect_set(F.when(winner, F.col("event_date"))), "aside": aside,
                   "restricted": F.sum((sup == suppression.RESTRICT).cast("long"))},
            where=winner,
        )  # fmt: skip
        pub.status, pub.rows = "published", n
        dates = sorted(extra["dates"] or [])
        outcome = None
        if n:
            counted = {k: (v, n) for k, v in failures.items()}
            # the increment holds one row per merge key: that uniqueness needs no count
            unique = [merge_keys(contract) + (["event_date"] if contract.kind == "event" else [])]
            outcome = (
                gx.validate(inc, dataset, suite, run_id, counted, n, unique_by=unique,
                            personal=personal_columns(contract)) if gx else None
            )  # fmt: skip
            if outcome is not None:
                pub.validation_id = outcome.validation_id
                if outcome.verdict == "failed":
                    stage(inc, lake, "silver", contract.contract)  # kept for whoever repairs it
                    pub.status, pub.reason = "failed", outcome.reason()
                    return pub, outcome, set(), None
        if extra["restricted"]:  # kept apart first: marked with the bronze version, like quarantine
            keep_restricted(spark, lake, contract, ranked.where(sup == suppression.RESTRICT), todo.upto)
        # Quarantine first, marked with the bronze version it reached, so a crash before the
        # MERGE neither loses these rows nor writes them twice.
        if todo.upto > dq_mark and extra["aside"]:
            dup_reason = F.lit(f"surplus copy of a business key in the same batch ({', '.join(unique_ids)}); "
                               "the last delivered copy was kept")  # fmt: skip
            drop_reason = F.concat(F.lit("broke drop expectation(s): "), F.array_join(F.col(DQ_FAILED), ", "))
            surplus = surplus_rows(ranked, kept).withColumn(
                DQ_FAILED, F.array(*[F.lit(i) for i in unique_ids]).cast("array<string>")
            )
            dropped = ranked.where(checked)
            quarantined = to_dq_rows(dropped, contract, run_id, date, drop_reason, now, mark=dq_mark)
            quarantined = quarantined.unionByName(
                to_dq_rows(surplus, contract, run_id, date, dup_reason, now, mark=dq_mark)
            )
            if (suppressed or {}).get(suppression.ERASE):
                erased = ranked.where((sup == suppression.ERASE) & (F.col("_bronze_version") > dq_mark))
                quarantined = quarantined.unionByName(
                    suppression.erased_rows(erased, contract.contract, run_id, date, now)
                )
            delta_io.append(quarantined.repartition(1), lake.table("quarantine", DQ_ROWS),
                            user_metadata={"dqrows": contract.contract, "upto": todo.upto, "run_id": run_id})  # fmt: skip
        if n == 0:
            pub.status = "empty"
            return pub, None, set(), moved(set())
        delivered = (
            ranked.select(*merge_keys(contract), "_logical_date") if contract.kind == "reference" else None
        )
        if not merge(spark, path, inc, contract, dates, delivered):
            pub.status = "unchanged"  # a re-delivery of what silver holds: no new version
        pub.delta_version = delta_log.latest_version(path)
        return pub, outcome, set(dates), moved(set(dates))
    finally:
        ranked.unpersist()


def run(
    job: JobRun,
    key: bytes,
    checks: dict[str, list[RowCheck]],
    expectations_dir: Any,
    gx: GxProject | None = None,
    say: Any = None,
    workers: int = 1,
    contracts: list[str] | None = None,
    state: Progress | None = None,
) -> SilverResult:
    """Promote what each contract owes (``contracts``, default all in use), ``workers``
    contracts at a time; one contract's failure stops no other. Records its progress."""
    spark, lake, registry, date, run_id = job
    say = say or (lambda _msg: None)
    result = SilverResult()
    t0 = time.perf_counter()
    state = state if state is not None else progress.load(lake)
    names = contracts if contracts is not None else [c.contract for c in registry.contracts_in_use()]
    todo = [o for o in (owed(lake, registry.contracts[n], state) for n in sorted(names)) if o is not None]
    say(f"silver: {len(todo)} contract(s) owe bronze batches")
    marks = quarantine_marks(lake, todo)
    # area codes of IDs and credit codes are checked against the national register, if any owes them
    checked = any(c.pii == "resident_id" or c.role == "uscc" for o in todo for c in o.contract.columns)
    codes = (
        local_frame(spark, [(c,) for c in sorted(reference.division_codes(lake))], "code string")
        if checked
        else None
    )

    owing = {o.contract.contract for o in todo}
    # one key per lake: stop before any hash is written under another (KeyMismatch)
    hashed = keyguard.hashed_contracts(registry)
    key_print = keyguard.check(lake, hashed, key)
    # once per run, for every contract; a list made under another key stops silver here
    suppressed = suppression.refs(lake, key)

    def ensure(contract: FeedContract) -> None:
        delta_io.ensure_table(
            spark,
            lake.table("silver", contract.contract),
            silver_schema(contract),
            evolve=contract.contract in owing,
            partition_by=("event_date",) if contract.kind == "event" else (),
            properties=silver_properties(contract),
            comment=f"silver: {contract.title}; one row per {GRAIN[contract.kind]} "
            f"per unit, keyed by {', '.join(merge_keys(contract))}",
        )

    parallel.each(registry.contracts_in_use(), ensure, workers)  # a listing each, once they exist
    for name in sorted(owing & set(hashed)):  # before the first hash is written
        keyguard.stamp(spark, lake, name, key_print)

    register: DataFrame | None = None

    def promote(item: Owed) -> tuple[str, Publication, SuiteOutcome | None, set[dt.date], ProgressRow | None]:
        name = item.contract.contract
        say(f"silver: {name} ({len(item.commits)} batch(es), bronze v{item.after + 1}..v{item.upto})")
        try:
            pub, outcome, dates, row = promote_contract(
                spark, lake, item, marks.get(name, -1), date, run_id, key, checks[name], gx,
                expectations_dir, coord_systems(registry, name), codes, register, suppressed,
            )  # fmt: skip
        except Exception as exc:  # one contract's failure must not stop the others
            if fault := storage_fault(exc):  # but a storage fault is no contract's: the run stops
                raise StorageFailure(f"storage failure while promoting silver.{name}: {fault}: "
                                     f"{fault_evidence(exc)}") from exc  # fmt: skip
            pub = Publication.refused(spark, "silver", f"silver.{name}", lake.table("silver", name),
                                      f"promotion failed: {short_error(exc)}", item.batch_ids)  # fmt: skip
            outcome, dates, row = None, set(), None
        return name, pub, outcome, dates, row

    # registers first: the other contracts' codes conform against the division register they hold
    registers = [o for o in todo if o.contract.kind == "reference"]
    done = parallel.each(registers, promote, workers)
    if any(c.role in ("district_code", "street_code") for o in todo for c in o.contract.columns):
        register, source = reference.division_lookup(spark, lake)
        say(f"silver: codes conform against {source}")
    done += parallel.each([o for o in todo if o not in registers], promote, workers)
    for name, pub, outcome, dates, row in done:
        if pub.batch_ids or pub.status == "failed":
            result.publications.append(pub)
        if outcome:
            result.suites.append(outcome)
        if dates:
            result.dates[name] = dates
        if row is not None:
            result.progress.append(row)
    progress.record(lake, result.progress, txn_app_id=f"progress-silver:{run_id}")
    result.timings["silver_s"] = time.perf_counter() - t0
    return result
