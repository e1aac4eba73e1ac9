"""GX results that keep no personal data: counts only for expectations on personal columns.

GX's SUMMARY format stores up to ``partial_unexpected_count`` failing values of a column (with
their counts and row indexes), and aggregate expectations store an observed value (a column's
max, its distinct values). On a personal-data column or its hash, those samples are personal
data in the validation results and Data Docs under ``_system/gx``, where no erasure reaches them.
So such an expectation is detailed with ``PERSONAL_FORMAT`` and its result is then cut down to
counts (``scrub``), whatever GX put in it.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

from citylake.config.layers import check_column, hash_column, valid_column
from citylake.config.registry import FeedContract

# GX 1.x: SUMMARY without values (exclude_unexpected_values, no sample, no rows, no index query)
PERSONAL_FORMAT = {
    "result_format": "SUMMARY",
    "partial_unexpected_count": 0,
    "exclude_unexpected_values": True,
    "include_unexpected_rows": False,
    "return_unexpected_index_query": False,
}
COUNT_KEYS = frozenset({
    "element_count", "unexpected_count", "unexpected_percent", "unexpected_percent_total",
    "unexpected_percent_nonmissing", "missing_count", "missing_percent",
})  # fmt: skip
# aggregate expectations whose observed value is a count or a share, never a value of the column
COUNT_OBSERVED = frozenset({
    "expect_column_unique_value_count_to_be_between",
    "expect_column_proportion_of_unique_values_to_be_between",
    "expect_column_proportion_of_non_null_values_to_be_between",
})  # fmt: skip
WITHHELD = "(withheld: expectation on personal data)"
_QUOTED = re.compile(r"'[^'\n]*'|\"[^\"\n]*\"")


def personal_columns(contract: FeedContract) -> frozenset[str]:
    """Columns of bronze and silver that hold a person's data: each personal column (bronze), and
    its hash, validity, check and derived fields (silver)."""
    out: set[str] = set()
    for c in contract.columns:
        if c.pii:
            out |= {c.name, hash_column(c.name), valid_column(c.name), check_column(c.name)}
            out |= {f"{c.name}_{d}" for d in c.derive}
    return frozenset(out)


def expectation_columns(kwargs: dict[str, Any]) -> list[str]:
    cols = [kwargs[k] for k in ("column", "column_A", "column_B") if isinstance(kwargs.get(k), str)]
    return cols + [c for c in kwargs.get("column_list") or [] if isinstance(c, str)]


def is_personal(kwargs: dict[str, Any], personal: Collection[str]) -> bool:
    """Whether an expectation looks at personal data: a listed column, or any keyed hash."""
    return any(c in personal or c.endswith("_hash") for c in expectation_columns(kwargs))


def scrub(result: Any) -> None:
    """Cut an ExpectationValidationResult down to counts, in place: no sample, no index, no
    observed value but a count, no quoted text of an exception (Spark quotes the values it fails on)."""
    cfg = result.expectation_config
    kept = {k: v for k, v in (result.result or {}).items() if k in COUNT_KEYS}
    observed = (result.result or {}).get("observed_value")
    if cfg is not None and cfg.type in COUNT_OBSERVED and isinstance(observed, (int, float)):
        kept["observed_value"] = observed
    result.result = kept
    info = result.exception_info
    if isinstance(info, dict) and info:
        result.exception_info = _scrub_exception(info)


def _scrub_exception(info: dict[str, Any]) -> dict[str, Any]:
    if "raised_exception" in info:
        message = info.get("exception_message")
        return {
            "raised_exception": info["raised_exception"],
            "exception_message": _QUOTED.sub("'…'", message) if isinstance(message, str) else None,
            "exception_traceback": WITHHELD if info.get("exception_traceback") else None,
        }
    # per metric: {metric id: {raised_exception, ...}}
    return {str(k): _scrub_exception(v) if isinstance(v, dict) else WITHHELD for k, v in info.items()}
