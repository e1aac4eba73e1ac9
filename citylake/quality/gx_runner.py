"""Great Expectations 1.x on the DataFrame a job already holds, with results that last.

One file-based GX project per lake (``_system/gx``) keeps the suites, every validation result
and the Data Docs site, browsable offline next to the data it describes (docs_offline.py).

Cost: GX's SUMMARY format launches Spark work per expectation. A suite is validated first with
BOOLEAN_ONLY (GX bundles the aggregate metrics), and only the expectations that failed are run
again with SUMMARY to fetch counts and sample values (counts only for an expectation on
personal data: citylake.quality.personal). A clean batch pays for one pass.

Batched metrics: a job that already counted a row-level expectation exactly (the row tags in
bronze, one aggregation in silver and gold) passes its counts in ``counted``; GX does not count
them again, and computes the rest (row counts, column aggregates, pair checks). The counts go
into the GX validation result, so Data Docs and the stored results are complete, each marked
``computed_by``. tests/quality/test_gate.py proves the counts equal GX's own SUMMARY counts.
``mode="native"`` (CITYLAKE_GX_MODE=native) makes GX recount everything but uniqueness.

Uniqueness is the exception. GX answers a (compound) uniqueness expectation with about 7 Spark
jobs of its own: on a cached 157k-row bronze batch, 0.52 s of a 1.16 s suite, the other eleven
expectations taking 0.32 s (benchmarks/validation_overhead.py has the end-to-end figure). So one
grouped count (``gate.duplicate_counts``, one job) computes it, per unit/feed where the gate
needs that, and its result goes into the same GX validation result that Data Docs render,
marked ``computed_by``.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import threading
import time
import uuid
from collections.abc import Callable, Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from citylake.lake import Lake
from citylake.quality.docs_offline import make_offline
from citylake.quality.gate import ROW_COUNT, UNIQUE, Expectation, duplicate_counts
from citylake.quality.outcomes import ExpectationOutcome, SuiteOutcome
from citylake.quality.personal import PERSONAL_FORMAT, is_personal, scrub
from citylake.quality.rowchecks import ROW_LEVEL, expectation_key
from citylake.quality.suites import load_suite

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

DATASOURCE = "citylake"
# batched: what the job counted in its own pass is not recounted; native: GX recounts (audit, baseline)
GX_MODES = ("batched", "native")
DETAIL_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": 5}


def _counted_result(e: Expectation, unexpected: int, rows: int, by: str = "citylake grouped count") -> Any:
    from great_expectations.core.expectation_validation_result import ExpectationValidationResult
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    pct = 100.0 * unexpected / rows if rows else 0.0
    if e.type == ROW_COUNT:
        low, high = e.kwargs.get("min_value"), e.kwargs.get("max_value")
        return ExpectationValidationResult(
            success=(low is None or rows >= low) and (high is None or rows <= high),
            expectation_config=ExpectationConfiguration(
                type=e.type, kwargs=e.kwargs,
                meta={"severity": e.severity, "citylake_id": e.id, "computed_by": "citylake stats pass"},
            ),
            result={"observed_value": rows},
        )  # fmt: skip
    return ExpectationValidationResult(
        success=unexpected <= (1.0 - e.mostly) * rows + 1e-9,
        expectation_config=ExpectationConfiguration(
            type=e.type,
            kwargs=e.kwargs,
            meta={"severity": e.severity, "citylake_id": e.id, "computed_by": by},
        ),
        result={
            "element_count": rows,
            "unexpected_count": unexpected,
            "unexpected_percent": pct,
            "unexpected_percent_total": pct,
            "partial_unexpected_list": [],
        },  # fmt: skip
    )


def _restate(result: Any) -> None:
    """Suite success and statistics after adding results GX did not compute itself."""
    ok = sum(1 for r in result.results if r.success)
    n = len(result.results)
    result.success = ok == n
    result.statistics.update({"evaluated_expectations": n, "successful_expectations": ok,
                              "unsuccessful_expectations": n - ok, "success_percent": 100.0 * ok / n if n else None})  # fmt: skip


def gx_name(suite: str) -> str:
    """GX store keys cannot hold '/': suite "bronze/parking_lots" is "bronze.parking_lots" in GX."""
    return suite.replace("/", ".")


def _column_label(kwargs: dict[str, Any]) -> str | None:
    if "column" in kwargs:
        return str(kwargs["column"])
    if "column_list" in kwargs:
        return ",".join(kwargs["column_list"])
    return None


def _observed(result: dict[str, Any]) -> str | None:
    if "observed_value" in result:
        return json.dumps(result["observed_value"], default=str, ensure_ascii=False)
    sample = result.get("partial_unexpected_list")
    if sample:
        return "e.g. " + json.dumps(sample[:5], default=str, ensure_ascii=False)
    return None


NO_PAGE = "citylake:index-only"


_M = TypeVar("_M", bound=Callable[..., Any])


def _one_at_a_time(method: _M) -> _M:
    """Hold the project's lock for the call: GX's context, stores and metric caches are not
    thread-safe, and jobs validate tables concurrently."""

    @functools.wraps(method)
    def held(self: Any, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)

    return held  # type: ignore[return-value]


class GxProject:
    """The lake's GX project; create one per process and reuse it for every validation."""

    def __init__(self, lake: Lake, expectations_dir: Path, root: Path | None = None, mode: str = "batched"):
        if mode not in GX_MODES:
            raise ValueError(f"GX mode {mode!r}: expected one of {', '.join(GX_MODES)}")
        self.mode = mode
        self.lake = lake
        self.expectations_dir = expectations_dir
        self.root = root or self.default_root(lake)
        self._context: Any = None
        self._warming: Any = None
        self._suites: dict[str, Any] = {}
        self._parsed: dict[str, list[tuple[Expectation, dict[str, Any]]]] = {}
        self._batch_defs: dict[str, Any] = {}
        # GX's context, stores and metric caches are not thread-safe; jobs validate tables concurrently
        self._lock = threading.RLock()

    @staticmethod
    def default_root(lake: Lake) -> Path:
        if lake.is_s3:
            from citylake.config.settings import REPO_ROOT

            # GX stores are files; an S3 lake keeps its GX project in the local cache.
            return REPO_ROOT / ".cache" / "gx" / lake.root.removeprefix("s3a://").replace("/", "_")
        return Path(lake.root.removeprefix("file://")) / "_system"

    def warm_up(self) -> None:
        """Import GX and open the project in the background (about 2 s, pure Python and file I/O),
        while the job does its own set-up; ``context`` waits for it."""
        import threading

        if self._context is None and self._warming is None:
            self._warming = threading.Thread(target=self._open, name="gx-warm-up", daemon=True)
            self._warming.start()

    @property
    def docs_index(self) -> Path:
        return self.root / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"

    @property
    def context(self) -> Any:
        if self._warming is not None:
            self._warming.join()
            self._warming = None
        if self._context is None:
            self._open()
        return self._context

    def _open(self) -> None:
        if self._context is None:
            import great_expectations as gx

            self.root.mkdir(parents=True, exist_ok=True)
            ctx = gx.get_context(mode="file", project_root_dir=str(self.root))
            bars = ctx.variables.progress_bars
            if bars is None or (bars.get("globally", True) if isinstance(bars, dict) else bars.globally):
                from great_expectations.data_context.types.base import ProgressBarsConfig

                ctx.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
                ctx.variables.save()
            self._context = ctx

    def _suite(self, suite_name: str) -> Any:
        if suite_name not in self._suites:
            from great_expectations.core.expectation_suite import ExpectationSuite

            doc = load_suite(self.expectations_dir, suite_name)
            exps = []
            for i, exp in enumerate(doc["expectations"]):
                meta = {**(exp.get("meta") or {}), "citylake_id": f"{suite_name}#{expectation_key(i, exp)}"}
                exps.append({"type": exp["type"], "kwargs": exp["kwargs"], "meta": meta})
            suite = ExpectationSuite(name=gx_name(suite_name), expectations=exps, meta=doc.get("meta") or {})
            self._suites[suite_name] = self.context.suites.add_or_update(suite)
            self._parsed[suite_name] = [
                (
                    Expectation(
                        e["meta"]["citylake_id"], e["type"], e["kwargs"], e["meta"].get("severity", "warn")
                    ),
                    e,
                )
                for e in exps
            ]
        return self._suites[suite_name]

    def _batch_definition(self, dataset: str) -> Any:
        if dataset not in self._batch_defs:
            ctx = self.context
            try:
                ds = ctx.data_sources.get(DATASOURCE)
            except (KeyError, ValueError):
                ds = ctx.data_sources.add_spark(name=DATASOURCE)
            try:
                asset = ds.get_asset(dataset)
            except (LookupError, ValueError):
                asset = ds.add_dataframe_asset(name=dataset)
            try:
                bd = asset.get_batch_definition("whole")
            except (KeyError, LookupError, ValueError):
                bd = asset.add_batch_definition_whole_dataframe("whole")
            self._batch_defs[dataset] = bd
        return self._batch_defs[dataset]

    @_one_at_a_time
    def validate(
        self,
        df: DataFrame | Callable[[], DataFrame],
        dataset: str,
        suite_name: str,
        run_id: str,
        counted: dict[str, tuple[int, int]] | None = None,
        row_count: int | None = None,
        run_time: dt.datetime | None = None,
        unique_by: list[list[str]] | None = None,
        personal: Collection[str] = (),
    ) -> SuiteOutcome:
        """Validate ``df`` (already cached by the caller) and store the result for Data Docs; one
        validation at a time per project.

        ``counted`` maps expectation ids to (unexpected, rows) the job already counted in its
        own pass (row tags), and ``row_count`` is the batch's row count if the job knows it;
        in batched mode GX does not count those again. ``unique_by``: column sets the job made
        unique itself (silver's dedupe keeps one row per key): a uniqueness expectation on
        exactly such a set has no duplicates by construction and costs no shuffle. ``personal``:
        the dataset's personal-data columns (citylake.quality.personal.personal_columns); what an
        expectation on one of them (or on any ``*_hash`` column) stores is counts only.
        """
        from great_expectations.core.expectation_suite import ExpectationSuite
        from great_expectations.core.run_identifier import RunIdentifier
        from great_expectations.data_context.types.resource_identifiers import (
            ExpectationSuiteIdentifier,
            ValidationResultIdentifier,
        )

        # ``df`` may be a function: the rows are built only if a check citylake does not count needs them
        rows_of: Callable[[], DataFrame] = functools.cache(df if callable(df) else lambda: df)
        counted = dict(counted or {})
        t0 = time.perf_counter()
        self._suite(suite_name)
        parsed = self._parsed[suite_name]
        # What the job's own passes count exactly (proved equal to GX in the tests) is not recounted.
        batched = self.mode == "batched"
        ours = [e for e, _ in parsed if e.type in UNIQUE or (batched and e.type in ROW_LEVEL and e.id in counted)
                or (batched and e.type == ROW_COUNT and row_count is not None)]  # fmt: skip
        ids = {e.id for e in ours}
        by = {e.id: "citylake grouped count" for e in ours}
        unique_sets = {frozenset(cols) for cols in unique_by or []}
        for e in ours:
            if e.type == ROW_COUNT:
                counted[e.id] = (0, row_count or 0)
                by[e.id] = "citylake stats pass"
            elif batched and e.type in UNIQUE and e.id not in counted and frozenset(e.columns) in unique_sets:
                counted[e.id] = (0, row_count if row_count is not None else rows_of().count())
                by[e.id] = "unique by construction: the job keeps one row per key"
        missing = [e for e in ours if e.id not in counted]
        if missing:
            rows = row_count if row_count is not None else rows_of().count()
            dups = duplicate_counts(rows_of(), missing, []).get((), {})
            counted.update({e.id: (dups.get(e.id, 0), rows) for e in missing})
        gx_part = [doc for e, doc in parsed if e.id not in ids]
        batch = (
            self._batch_definition(dataset).get_batch(batch_parameters={"dataframe": rows_of()}) if gx_part else None
        )
        if batch is not None:
            result = batch.validate(
                ExpectationSuite(name=gx_name(suite_name), expectations=gx_part), result_format="BOOLEAN_ONLY"
            )
        else:
            from great_expectations.core.expectation_validation_result import ExpectationSuiteValidationResult

            result = ExpectationSuiteValidationResult(success=True, results=[], suite_name=gx_name(suite_name),
                                                      statistics={})  # fmt: skip
        for e in ours:
            result.results.append(_counted_result(e, *counted[e.id], by=by[e.id]))
        _restate(result)
        failing = [i for i, r in enumerate(result.results)
                   if not r.success and r.expectation_config.meta.get("citylake_id") not in counted]  # fmt: skip
        private = {i for i, r in enumerate(result.results)
                   if is_personal(r.expectation_config.kwargs, personal)}  # fmt: skip
        for group, fmt in (([i for i in failing if i not in private], DETAIL_FORMAT),
                           ([i for i in failing if i in private], PERSONAL_FORMAT)):  # fmt: skip
            if not group:
                continue
            # Details only for what failed: one more pass over the cached data, small suites.
            sub = ExpectationSuite(name=f"{gx_name(suite_name)}.details",
                                   expectations=[result.results[i].expectation_config.to_json_dict() for i in group])  # fmt: skip
            assert batch is not None  # failing results GX computed come from a batch
            detailed = batch.validate(sub, result_format=fmt)
            for i, r in zip(group, detailed.results, strict=True):
                result.results[i] = r
        for i in private:  # whatever GX put in them: counts only
            scrub(result.results[i])
        validation_id = f"{run_id}:{dataset}:{uuid.uuid4().hex[:8]}"
        result.meta.update({"run_id": run_id, "dataset": dataset, "validation_id": validation_id})
        key = ValidationResultIdentifier(
            expectation_suite_identifier=ExpectationSuiteIdentifier(name=gx_name(suite_name)),
            run_id=RunIdentifier(run_name=run_id, run_time=run_time or dt.datetime.now(dt.UTC)),
            batch_identifier=dataset,
        )
        outcomes = []
        for r in result.results:
            cfg = r.expectation_config
            res = dict(r.result or {})
            cid = cfg.meta.get("citylake_id", cfg.type)
            if cid in counted and not r.success:
                bad, rows = counted[cid]
                pct = 100.0 * bad / rows if rows else 0.0
                res.update({"unexpected_count": bad, "element_count": rows, "unexpected_percent": pct,
                            "unexpected_percent_total": pct, "partial_unexpected_list": []})  # fmt: skip
                r.result = res
            outcomes.append(ExpectationOutcome(
                id=cid, type=cfg.type, column=_column_label(cfg.kwargs), severity=cfg.meta.get("severity", "warn"),
                success=bool(r.success), unexpected_count=res.get("unexpected_count"),
                element_count=res.get("element_count"), observed=None if r.success else _observed(res),
            ))  # fmt: skip
        self.context.validation_results_store.store_validation_results(result, key)
        return SuiteOutcome(
            dataset, suite_name, validation_id, bool(result.success), outcomes, time.perf_counter() - t0, key
        )

    def build_docs(self, keys: list[Any] | None = None, missing: bool = False) -> Path:
        """Render the Data Docs site (only ``keys`` plus the index when given) and return its index.

        ``missing``: also render every stored validation result that has no page yet, such as
        those of a run that was stopped before it built the docs.
        """
        with self._lock:
            wanted = list(keys or [])
            if missing:
                pages = self.docs_index.parent / "validations"
                have = {tuple(k.to_tuple()) for k in wanted}
                wanted += [k for k in self.context.validation_results_store.list_keys()
                           if tuple(k.to_tuple()) not in have
                           and not (pages / ("/".join(map(str, k.to_tuple())) + ".html")).exists()]  # fmt: skip
            # GX reads an empty list as "everything"; a key that matches nothing renders just the index
            if keys is not None or missing:
                wanted = wanted or [NO_PAGE]
            self.context.build_data_docs(resource_identifiers=wanted or None)
            make_offline(self.docs_index.parent)
        return self.docs_index
