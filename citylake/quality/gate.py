"""The quality gate's verdict per unit/feed, from counts the ingest job already made.

GX validates a whole contract batch (many units at once); the gate needs the same answer per
unit and feed, so one unit's bad day holds back only that unit. Row-level failures come from the
row tags, duplicates from one grouped count, row counts from the stats pass; ``evaluate`` turns
them into a result per expectation with GX's semantics (``mostly``, min/max).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from citylake.engine.frames import key_hashes
from citylake.quality.rowchecks import ROW_LEVEL, expectation_key
from citylake.quality.suites import load_suite

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

UNIQUE = ("expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique")
ROW_COUNT = "expect_table_row_count_to_be_between"
PER_GROUP = (*ROW_LEVEL, *UNIQUE, ROW_COUNT)


@dataclass(frozen=True)
class Expectation:
    id: str
    type: str
    kwargs: dict[str, Any]
    severity: str

    @property
    def columns(self) -> list[str]:
        if "column" in self.kwargs:
            return [self.kwargs["column"]]
        return list(self.kwargs.get("column_list") or [])

    @property
    def mostly(self) -> float:
        return float(self.kwargs.get("mostly", 1.0))


@dataclass(frozen=True)
class Check:
    expectation: Expectation
    rows_checked: int
    failures: int
    success: bool
    observed: str | None = None


def suite_expectations(expectations_dir: Path, suites: list[str] | tuple[str, ...]) -> list[Expectation]:
    out = []
    for suite in suites:
        for i, exp in enumerate(load_suite(expectations_dir, suite)["expectations"]):
            out.append(
                Expectation(
                    f"{suite}#{expectation_key(i, exp)}", exp["type"], exp["kwargs"], exp["meta"]["severity"]
                )
            )
    return out


def evaluate(exps: list[Expectation], rows: int, failures: dict[str, int]) -> list[Check]:
    """Results for the expectations that can be judged per group; others are GX's alone."""
    out = []
    for e in exps:
        if e.type == ROW_COUNT:
            low, high = e.kwargs.get("min_value"), e.kwargs.get("max_value")
            ok = (low is None or rows >= low) and (high is None or rows <= high)
            out.append(Check(e, rows, 0 if ok else 1, ok, f"{rows} rows"))
        elif e.type in ROW_LEVEL or e.type in UNIQUE:
            n = int(failures.get(e.id, 0))
            out.append(Check(e, rows, n, n <= (1.0 - e.mostly) * rows + 1e-9))
    return out


def verdict(checks: list[Check]) -> str:
    if any(not c.success and c.expectation.severity == "fail" for c in checks):
        return "failed"
    return "warned" if any(c.failures for c in checks) else "passed"


def duplicate_counts(
    df: DataFrame, exps: list[Expectation], by: list[str], implied: tuple[str, ...] = ()
) -> dict[tuple[Any, ...], dict[str, int]]:
    """Rows sharing their key with another row, per uniqueness expectation and group.

    GX's semantics: every copy counts as unexpected; rows whose key columns are all null are
    ignored. One grouped aggregation per uniqueness expectation (suites have one). The shuffle
    carries two independent hashes of the key (xxhash64 and murmur3, 96 bits) instead of its
    values: a collision could only add a false duplicate, with a chance of about n^2 / 2^97.
    ``implied``: key columns that ``by`` determines (a number standing for a unit/feed), left
    out of the key like ``by`` itself.
    """
    from pyspark.sql import functions as F

    out: dict[tuple[Any, ...], dict[str, int]] = {}
    for e in (e for e in exps if e.type in UNIQUE):
        cols = [c for c in e.columns if c not in by and c not in implied]
        if not cols:
            continue
        keyed = df.where(
            F.greatest(*[F.col(c).isNotNull() for c in cols]) if len(cols) > 1 else F.col(cols[0]).isNotNull()
        )
        h1, h2 = key_hashes(cols)
        dup = (
            keyed.select(*by, h1.alias("_h1"), h2.alias("_h2"))
            .groupBy(*by, "_h1", "_h2")
            .agg(F.count(F.lit(1)).alias("_n"))
            .where(F.col("_n") > 1)
            .groupBy(*by)
            .agg(F.sum("_n").alias("_dups"))
            .collect()
        )
        for row in dup:
            out.setdefault(tuple(row[b] for b in by), {})[e.id] = int(row["_dups"] or 0)
    return out
