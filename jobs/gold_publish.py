"""Silver -> gold -> published: every mart rebuilt for the days that changed, behind its suite.

Per mart: build the days it owes (citylake.lake.progress: every change of an input since the
input version the mart was last built from, whichever run made it), with jobs/gold/<mart>.py
(a pure transform), cast to the mart doc's declared columns, stage, validate with the mart's GX
suite, and only if no ``fail`` expectation broke, replace those days in gold and export a
Parquet snapshot with its manifest. Then it records the input versions it built from.
A mart that fails keeps its current gold version and published snapshot, and still owes its
days; the others go on. A published snapshot that lags gold's newest validated version (a run
stopped between the two) is exported on the next run.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from citylake.config.registry import MartDoc, Registry
from citylake.config.settings import load_settings
from citylake.engine import delta_io, delta_log, fence, parallel
from citylake.engine.faults import StorageFailure, fault_evidence, storage_fault
from citylake.engine.frames import key_hashes, local_frame, significant
from citylake.lake import Lake, progress
from citylake.lake.ledger import short_error
from citylake.lake.progress import Progress, ProgressRow
from citylake.lake.publish import Publication, snapshot, stage
from citylake.quality.gx_runner import GxProject, SuiteOutcome
from citylake.quality.rowchecks import count_failures, row_checks
from citylake.quality.suites import load_suite
from jobs.context import JobRun

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType


@dataclass
class GoldResult:
    publications: list[Publication] = field(default_factory=list)
    suites: list[SuiteOutcome] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    progress: list[ProgressRow] = field(default_factory=list)


def mart_schema(doc: MartDoc) -> StructType:
    from pyspark.sql import types as T

    from jobs.bronze_read import spark_type

    return T.StructType(
        [T.StructField(c.name, spark_type(c.type), True, {"comment": c.description}) for c in doc.columns]
    )


def shape(df: DataFrame, doc: MartDoc) -> DataFrame:
    """Exactly the documented columns, in order, with the documented types."""
    from pyspark.sql import functions as F

    return df.select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in mart_schema(doc).fields])


def read_inputs(
    spark: SparkSession, lake: Lake, doc: MartDoc, registry: Registry | None = None
) -> dict[str, DataFrame]:
    """The mart's inputs; one nobody has delivered to yet is an empty frame of its declared schema."""
    out = {}
    for ref in doc.inputs:
        zone, name = ref.split(".", 1)
        if zone == "registry":
            assert registry is not None, "registry.units needs the registry"
            units = [(u.unit, u.kind, u.district_code) for u in registry.units.values()]
            out[ref] = local_frame(spark, units, "unit string, kind string, district_code string")
        else:
            out[ref] = delta_io.scan(spark, lake.table(zone, name),
                                     empty_schema=_declared_schema(zone, name, registry))  # fmt: skip
    return out


def _declared_schema(zone: str, name: str, registry: Registry | None) -> StructType:
    from citylake.lake.ledger import TABLES, _schema
    from jobs.silver_conform import silver_schema

    if zone == "silver" and registry is not None:
        return silver_schema(registry.contracts[name])
    if zone == "gold" and registry is not None:
        return mart_schema(registry.marts[name])
    return _schema(TABLES[(zone, name)])


def build_waves(registry: Registry) -> list[list[MartDoc]]:
    """Marts in waves: a wave's marts need only marts of earlier waves (dt_object_state_hourly
    after dt_city_objects), so the marts of one wave can be built at the same time."""
    done: set[str] = set()
    waves: list[list[MartDoc]] = []
    pending = sorted(registry.marts.values(), key=lambda d: d.mart)
    while pending:
        ready = [d for d in pending if not {i[5:] for i in d.inputs if i.startswith("gold.")} - done]
        if not ready:
            raise ValueError(f"marts depend on each other in a cycle: {[d.mart for d in pending]}")
        waves.append(ready)
        done |= {d.mart for d in ready}
        pending = [d for d in pending if d not in ready]
    return waves


# A rebuilt mart's doubles differ from gold's in their last bits when sums run in another order
# (14,432 of 800,100 rows of a rebuilt dt_object_state_hourly day): compared at 9 significant
# digits, such noise (about 1e-15 relative) compares equal except when it straddles a rounding
# step, about once in 10^6 values, and then the day is only republished unchanged.
SIGNIFICANT_DIGITS = 9


def fingerprint(df: DataFrame, columns: list[str], digits: int = SIGNIFICANT_DIGITS) -> tuple[Any, ...]:
    """(rows, and two independent 64-bit sums of a hash per row): equal for equal multisets of
    rows, and for different ones only by a ~2^-96 accident. One aggregation, no shuffle: two
    ``exceptAll`` comparisons cost two shuffles each. The row is hashed as typed values (mart
    columns are scalars) with null flags (``key_hashes``), floating-point ones at ``digits``
    significant digits. Hashing the row's JSON instead took twice as long (800,100 rows of
    dt_object_state_hourly: 0.91 s against 0.48 s)."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import DoubleType, FloatType

    floating = {f.name for f in df.schema.fields if isinstance(f.dataType, DoubleType | FloatType)}
    h1, h2 = key_hashes(
        [significant(F.col(f"`{c}`").cast("double"), digits) if c in floating else c for c in columns]
    )
    row = df.agg(
        F.count(F.lit(1)),
        F.sum(h1.cast("decimal(38,0)")),
        F.sum(h2.cast("decimal(38,0)")),
    ).first()
    return tuple(row) if row else (0, None, None)


def _same_as_current(
    spark: SparkSession, path: str, df: DataFrame, rows: int, doc: MartDoc, dates: list[dt.date]
) -> bool:
    current = delta_io.scan(spark, path, where={doc.date_column: dates} if doc.date_column else None)
    columns = [c.name for c in doc.columns]
    theirs = fingerprint(current, columns)
    # a new day, or another row count, differs without hashing the rebuilt rows
    return bool(theirs[0] == rows) and fingerprint(df, columns) == theirs


def arrange(df: DataFrame, doc: MartDoc, rows: int) -> DataFrame:
    """Lay the rows out for readers: one file group per ``files_by`` value (so a filter on it
    skips the other files), files capped at ``max_rows_per_file``, sorted on ``cluster_by``."""
    from pyspark.sql import functions as F

    layout = doc.layout
    order = list(layout.cluster_by) or [c.name for c in doc.columns[:3]]
    if layout.files_by:
        first = df.select(F.count_distinct(layout.files_by)).first()
        groups = (first[0] if first else 0) or 1
        # range partitioning on a column with as many values as partitions gives one value each
        out = df.repartitionByRange(int(groups), layout.files_by)
    else:
        out = df.repartition(max(1, -(-rows // layout.max_rows_per_file)))
    return out.sortWithinPartitions(*order)


def compact(spark: SparkSession, path: str, doc: MartDoc, max_files: int = 64) -> bool:
    """Rewrite a fragmented mart in its layout (dataChange=false: readers see no new data).

    Daily replaces add a few files per run; past ``max_files`` the table is rewritten whole,
    laid out by ``arrange``. Delta's OPTIMIZE ZORDER would bin everything into one file at
    these sizes and lose the one-file-per-district layout the AI readers skip by.
    """
    if delta_log.file_count(path) <= max_files:
        return False
    current = delta_io.scan(spark, path)
    rows = current.count()
    fence.check(f"compacting {path}")
    arrange(current, doc, rows).write.format("delta").mode("overwrite").option("dataChange", "false").option(
        "compression", "zstd"
    ).save(path)
    return True


def publish_mart(
    spark: SparkSession,
    lake: Lake,
    doc: MartDoc,
    dates: list[dt.date],
    run_id: str,
    gx: GxProject | None,
    expectations_dir: Path,
    registry: Registry | None = None,
    say: Any = None,
) -> tuple[Publication, SuiteOutcome | None]:
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    dataset = f"gold.{doc.mart}"
    path = lake.table("gold", doc.mart)
    delta_io.ensure_table(spark, path, mart_schema(doc), comment=f"{doc.title}: {doc.grain}")
    previous = delta_log.latest_version(path)
    module = importlib.import_module(f"jobs.gold.{doc.mart}")
    built = shape(module.build(read_inputs(spark, lake, doc, registry), dates), doc)
    if doc.date_column:  # a build may only touch the days it was asked for
        built = built.where(F.col(doc.date_column).isin(dates))
    df = built.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        checks = [dataclasses.replace(c, id=f"{s}#{c.id}") for s in doc.suites
                  for c in row_checks(load_suite(expectations_dir, s))]  # fmt: skip
        rows, failures, _ = count_failures(df, checks)
        pub = Publication("gold", dataset, "published", None, rows, previous, previous, None, path)
        if rows == 0:
            pub.status = "empty"
            return pub, None
        # version 0 is the table's creation: nothing to compare with yet
        if previous and _same_as_current(spark, path, df, rows, doc, dates):
            # inputs changed nowhere that matters: no new version, nothing to republish
            pub.status = "unchanged"
            return pub, None
        outcome = None
        for suite in doc.suites:
            counted = {k: (v, rows) for k, v in failures.items() if k.startswith(f"{suite}#")}
            outcome = gx.validate(df, dataset, suite, run_id, counted, rows) if gx else None
            if outcome is not None:
                pub.validation_id = outcome.validation_id
                if outcome.verdict == "failed":
                    stage(df, lake, "gold", doc.mart)  # kept for whoever repairs it
                    pub.status, pub.reason = "failed", f"gate: {outcome.reason()}"
                    return pub, outcome
        writer = (
            arrange(df, doc, rows)
            .write.format("delta")
            .mode("overwrite")
            # the files a publication copies as they are (citylake.lake.publish.snapshot)
            .option("compression", "zstd")
            .option("userMetadata", f'{{"run_id": "{run_id}", "validation_id": "{pub.validation_id}"}}')
        )
        if doc.date_column:  # only the rebuilt days are replaced
            days = ", ".join(f"DATE'{d.isoformat()}'" for d in dates)
            writer = writer.option("replaceWhere", f"{doc.date_column} IN ({days})")
        fence.check(f"publishing {path}")
        writer.save(path)
        compact(spark, path, doc)
        version = delta_log.latest_version(path)
        assert version is not None
        pub.delta_version = version
        if say:
            say(f"publish: {doc.mart} v{version}")
        pub.published_path = snapshot(lake, doc.mart, path, version, pub.validation_id, run_id, doc.grain,
                                      mart_schema(doc))  # fmt: skip
        return pub, outcome
    finally:
        df.unpersist()


def catch_up(lake: Lake, doc: MartDoc, run_id: str) -> Publication | None:
    """Publish gold's newest validated version if the published snapshot lags it."""
    path = lake.table("gold", doc.mart)
    gold = progress.validated_gold_version(path)
    shown = progress.published_version(lake, doc.mart)
    if gold is None or (shown is not None and shown >= gold[0]):
        return None
    version = delta_log.latest_version(path)
    assert version is not None
    validation_id = gold[1].get("validation_id")
    published = snapshot(lake, doc.mart, path, version, validation_id, run_id, doc.grain, mart_schema(doc))
    return Publication("gold", f"gold.{doc.mart}", "published",
                       f"snapshot of v{version} copied: an earlier run stopped before publishing it",
                       0, version, version, validation_id, path, published_path=published)  # fmt: skip


def run(
    job: JobRun,
    gx: GxProject | None = None,
    say: Any = None,
    expectations_dir: Path | None = None,
    only: set[str] | None = None,
    workers: int = 1,
    state: Progress | None = None,
    extra_days: dict[str, set[dt.date]] | None = None,
) -> GoldResult:
    """Rebuild, validate and publish every mart (or ``only`` these) that owes days, up to
    ``workers`` at a time: a mart built on other marts waits for them. ``extra_days``: days to
    rebuild besides the owed ones (``citylake marts --date``). Records its progress."""
    spark, lake, registry, date, run_id = job
    say = say or (lambda _msg: None)
    expectations_dir = expectations_dir or load_settings().expectations_dir
    state = state if state is not None else progress.load(lake)
    result = GoldResult()
    t0 = time.perf_counter()

    def build(
        item: tuple[MartDoc, list[dt.date], dict[str, int]],
    ) -> tuple[Publication, SuiteOutcome | None, list[ProgressRow]]:
        doc, dates, cursors = item
        try:
            if dates:
                say(f"gold: {doc.mart} ({len(dates)} day(s))")
                pub, outcome = publish_mart(
                    spark, lake, doc, dates, run_id, gx, expectations_dir, registry, say
                )
            else:  # its inputs moved without new days (an empty increment): nothing to build
                pub, outcome = Publication("gold", f"gold.{doc.mart}", "empty", None, 0, None, None, None,
                                           lake.table("gold", doc.mart)), None  # fmt: skip
            if pub.status in ("unchanged", "empty"):
                pub = catch_up(lake, doc, run_id) or pub
        except Exception as exc:  # one mart's failure must not stop the others
            if fault := storage_fault(exc):  # but a storage fault is no mart's: the run stops
                raise StorageFailure(f"storage failure while building gold.{doc.mart}: {fault}: "
                                     f"{fault_evidence(exc)}") from exc  # fmt: skip
            return Publication.refused(spark, "gold", f"gold.{doc.mart}", lake.table("gold", doc.mart),
                                       f"build failed: {short_error(exc)}"), None, []  # fmt: skip
        if pub.status == "failed":
            return pub, outcome, []  # the days stay owed
        version = delta_log.latest_version(lake.table("gold", doc.mart))
        rows = [ProgressRow("gold", f"gold.{doc.mart}", ref, upto, version, tuple(dates), run_id, date)
                for ref, upto in sorted(cursors.items())]  # fmt: skip
        if not rows and pub.status == "published":  # rebuilt on request (extra days) only
            rows = [
                ProgressRow("gold", f"gold.{doc.mart}", "request", None, version, tuple(dates), run_id, date)
            ]
        return pub, outcome, rows

    for wave in build_waves(registry):
        todo = []
        for doc in wave:
            if only is not None and doc.mart not in only:
                continue
            days, cursors = state.mart_owed(doc)
            days |= (extra_days or {}).get(doc.mart, set())
            if days or cursors:
                todo.append((doc, sorted(days), cursors))
            elif (late := catch_up(lake, doc, run_id)) is not None:
                result.publications.append(late)
        for pub, outcome, rows in parallel.each(todo, build, workers):
            if pub.status != "empty" or pub.published_path:
                result.publications.append(pub)
            if outcome:
                result.suites.append(outcome)
            state.add(rows)  # a mart of a later wave sees this wave's changes
            result.progress += rows
    progress.record(lake, result.progress, txn_app_id=f"progress-gold:{run_id}")
    result.timings["gold_s"] = time.perf_counter() - t0
    return result
