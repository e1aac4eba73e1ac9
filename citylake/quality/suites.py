"""Expectation suites as data: GX 1.x suite JSON under expectations/<layer>/<dataset>.json.

Every expectation carries ``meta.severity``:
- ``warn``: record the failure and continue;
- ``drop``: failing rows go to quarantine, tagged with the expectation;
- ``fail``: the unit/feed batch is not promoted.

Feed contracts name their suites (``suites:`` in schemas/contracts/*.yaml), so a newly onboarded
unit inherits its contract's checks. ``validate_suites`` is what `citylake registry validate`
and every run call before any Spark work.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from citylake.config.layers import BRONZE_META
from citylake.config.registry import FeedContract, Problem, Registry
from citylake.quality.rowchecks import RowCheck, row_checks

SEVERITIES = ("warn", "drop", "fail")
# Columns every bronze row carries besides its contract's; suites may check them (e.g. keys per unit).
BRONZE_META_COLUMNS = tuple(name for name, _ in BRONZE_META)
# WGS-84 box around Shanghai, widened for the GCJ-02/BD-09 offsets (< 0.02 degrees).
CITY_BOX = {"lon": (120.8, 122.5), "lat": (30.6, 32.0)}
# A batch with more than this share of rows missing a business key is broken, not merely dirty.
KEY_NULL_FAIL_MOSTLY = 0.95
COLUMN_KWARGS = ("column", "column_A", "column_B")
COLUMN_LIST_KWARGS = ("column_list",)


def suite_path(expectations_dir: Path, suite: str) -> Path:
    return expectations_dir / f"{suite}.json"


def default_suite(contract: FeedContract) -> dict[str, Any]:
    """The checks a contract's declarations imply; the starting point for a new contract's suite."""
    exps: list[dict[str, Any]] = [
        _exp("expect_table_row_count_to_be_between", {"min_value": 1}, "fail",
             "an empty delivery is never a valid day"),
    ]  # fmt: skip
    for col in contract.columns:
        if not col.nullable:
            exps.append(_exp("expect_column_values_to_not_be_null", {"column": col.name}, "drop",
                             f"{col.name} is required by the contract"))  # fmt: skip
        if col.min is not None or col.max is not None:
            kwargs: dict[str, Any] = {"column": col.name}
            if col.min is not None:
                kwargs["min_value"] = col.min
            if col.max is not None:
                kwargs["max_value"] = col.max
            exps.append(_exp("expect_column_values_to_be_between", kwargs, "drop", "declared range"))
        if col.allowed:
            exps.append(_exp("expect_column_values_to_be_in_set", {"column": col.name, "value_set": list(col.allowed)},
                             "drop", "declared code list"))  # fmt: skip
        if col.role in CITY_BOX:
            low, high = CITY_BOX[col.role]
            exps.append(_exp("expect_column_values_to_be_between", {"column": col.name, "min_value": low,
                             "max_value": high}, "warn",
                             "a Shanghai object outside the city box: bad or swapped coordinates"))  # fmt: skip
        if col.role == "district_code":
            exps.append(_exp("expect_column_values_to_match_regex", {"column": col.name, "regex": r"^31\d{4}"},
                             "warn", "Shanghai district codes start with 31; silver remaps retired codes"))  # fmt: skip
    keys = list(contract.business_keys)
    for key in keys:
        exps.append(_exp("expect_column_values_to_not_be_null", {"column": key, "mostly": KEY_NULL_FAIL_MOSTLY},
                         "fail", f"more than {1 - KEY_NULL_FAIL_MOSTLY:.0%} of records without {key}: the "
                         "extract is broken, so the unit's batch is held back"))  # fmt: skip
    # Keys are unique per sending unit and feed; two operators may both have a station "S001".
    exps.append(_exp("expect_compound_columns_to_be_unique", {"column_list": ["_unit", "_feed", *keys]}, "warn",
                     "duplicates are merged in silver; surplus copies are quarantined"))  # fmt: skip
    return {
        "name": f"bronze.{contract.contract}",
        "expectations": exps,
        "meta": {"dataset": f"bronze.{contract.contract}", "contract_version": contract.version},
    }


def default_silver_suite(contract: FeedContract) -> dict[str, Any]:
    """Invariants of the silver transform: if one breaks, the code is wrong, so nothing merges."""
    from citylake.config.layers import hash_column, merge_keys, status_column, valid_column

    keys = merge_keys(contract)
    exps: list[dict[str, Any]] = []
    for key in keys:
        exps.append(_exp("expect_column_values_to_not_be_null", {"column": key}, "fail",
                         "drop rows were quarantined before staging; a null key here is a bug"))  # fmt: skip
    exps.append(_exp("expect_column_values_to_not_be_null", {"column": "event_date"}, "fail",
                     "event_date partitions silver"))  # fmt: skip
    unique = keys + (["event_date"] if contract.kind == "event" else [])
    exps.append(_exp("expect_compound_columns_to_be_unique", {"column_list": unique}, "fail",
                     "the increment is deduplicated before MERGE; duplicates would make MERGE ambiguous"))  # fmt: skip
    for col in contract.columns:
        if col.pii:
            exps.append(_exp("expect_column_values_to_match_regex", {"column": hash_column(col.name),
                             "regex": "^[0-9a-f]{64}$"}, "fail",
                             f"{col.pii} must be a keyed hash past bronze (PIPL); anything else is clear data"))  # fmt: skip
        if col.pii == "resident_id":
            exps.append(_exp("expect_column_values_to_be_in_set", {"column": valid_column(col.name),
                             "value_set": [True]}, "warn",
                             "a wrong GB 11643 check character: the record is kept and flagged"))  # fmt: skip
        if col.role in ("district_code", "street_code"):
            exps.append(_exp("expect_column_values_to_be_in_set", {"column": status_column(col.name),
                             "value_set": ["current", "remapped"]}, "warn",
                             "a code that is neither current nor a known retired one: kept as sent, flagged"))  # fmt: skip
    if contract.coordinates:
        exps.append(_exp("expect_column_values_to_not_be_in_set", {"column": "coord_status",
                         "value_set": ["outside_china"]}, "warn",
                         "a point outside China cannot be converted: left as sent, flagged"))  # fmt: skip
    if contract.scd2:
        exps.append(_exp("expect_column_values_to_be_in_set", {"column": "is_current", "value_set": [True]},
                         "fail", "an increment holds only new current versions; SCD2 closes the old ones"))  # fmt: skip
    return {
        "name": f"silver.{contract.contract}",
        "expectations": exps,
        "meta": {"dataset": f"silver.{contract.contract}", "contract_version": contract.version},
    }


def _exp(kind: str, kwargs: dict[str, Any], severity: str, why: str) -> dict[str, Any]:
    return {"type": kind, "kwargs": kwargs, "meta": {"severity": severity, "why": why}}


def _columns(kwargs: dict[str, Any]) -> list[str]:
    cols = [kwargs[k] for k in COLUMN_KWARGS if k in kwargs]
    for k in COLUMN_LIST_KWARGS:
        cols += list(kwargs.get(k) or [])
    return cols


def known_expectation_types() -> set[str]:
    import great_expectations.expectations  # noqa: F401  (registers the core expectations)
    from great_expectations.expectations.registry import _registered_expectations

    return set(_registered_expectations)


def check_suite_file(path: Path, columns: set[str]) -> list[Problem]:
    """Every problem with one suite file: JSON, GX validity, columns and severities."""
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return [Problem(where, "(file)", "suite file does not exist")]
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        return [Problem(where, f"line {exc.lineno}, column {exc.colno}", f"not valid JSON: {exc.msg}")]
    if not isinstance(doc, dict) or not isinstance(doc.get("expectations"), list):
        return [Problem(where, "expectations", "a GX suite is an object with an 'expectations' list")]
    from great_expectations.core.expectation_suite import ExpectationSuite

    known = known_expectation_types()
    problems = []
    for i, exp in enumerate(doc["expectations"]):
        label = f"expectations[{i}]"
        if not isinstance(exp, dict):
            problems.append(Problem(where, label, "an expectation must be an object"))
            continue
        label = f"expectations[{i}:{exp.get('type', '?')}]"
        if exp.get("type") not in known:
            problems.append(Problem(where, label, f"unknown expectation type {exp.get('type')!r}"))
            continue
        try:
            ExpectationSuite(name="check", expectations=[{k: v for k, v in exp.items() if k != "meta"}])
        except Exception as exc:  # GX raises several types for bad kwargs
            reason = str(exc).strip().splitlines()[-1]
            problems.append(Problem(where, label, f"not a valid GX expectation: {reason}"))
            continue
        severity = (exp.get("meta") or {}).get("severity")
        if severity not in SEVERITIES:
            problems.append(Problem(where, f"{label}.meta.severity",
                                    f"severity must be one of {', '.join(SEVERITIES)}, got {severity!r}"))  # fmt: skip
        for col in _columns(exp.get("kwargs") or {}):
            if col not in columns:
                problems.append(Problem(where, f"{label}.kwargs", f"column {col!r} is not in the dataset"))
    return problems


def suite_columns(registry: Registry, suite: str, contract: FeedContract | None = None) -> set[str]:
    """The columns a suite may name: those of the dataset its layer and name point at."""
    from citylake.config.layers import silver_columns

    layer, name = suite.split("/", 1) if "/" in suite else ("", suite)
    if contract is not None and layer == "bronze":
        return {c.name for c in contract.columns} | set(BRONZE_META_COLUMNS)
    if contract is not None and layer == "silver":
        return {n for n, _ in silver_columns(contract)}
    mart = registry.marts.get(name)
    if layer == "gold" and mart is not None:
        return {c.name for c in mart.columns}
    return set()


def validate_suites(registry: Registry, expectations_dir: Path) -> list[Problem]:
    problems: list[Problem] = []
    for contract in registry.contracts.values():
        where = str(registry.root / "contracts" / f"{contract.contract}.yaml")
        for layer in ("bronze", "silver"):
            if not contract.suites_for(layer):
                problems.append(
                    Problem(where, "suites", f"every contract must name a {layer}/ expectation suite")
                )
        for suite in contract.suites:
            if suite.split("/", 1)[0] not in ("bronze", "silver"):
                problems.append(
                    Problem(where, "suites", f"{suite!r}: contract suites live in bronze/ or silver/")
                )
                continue
            problems += check_suite_file(
                suite_path(expectations_dir, suite), suite_columns(registry, suite, contract)
            )
    for mart in registry.marts.values():
        where = str(registry.root / "marts" / f"{mart.mart}.yaml")
        for suite in mart.suites:
            if not suite.startswith("gold/"):
                problems.append(Problem(where, "suites", f"{suite!r}: mart suites live in gold/"))
                continue
            problems += check_suite_file(suite_path(expectations_dir, suite), {c.name for c in mart.columns})
    return problems


def write_default_suites(registry: Registry, expectations_dir: Path, overwrite: bool = False) -> list[Path]:
    """Write ``bronze/`` and ``silver/<contract>.json`` from each contract; returns the files written."""
    written = []
    for contract in registry.contracts.values():
        for layer, make in (("bronze", default_suite), ("silver", default_silver_suite)):
            path = suite_path(expectations_dir, f"{layer}/{contract.contract}")
            if path.exists() and not overwrite:
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(make(contract), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            written.append(path)
    return written


def load_suite(expectations_dir: Path, suite: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(suite_path(expectations_dir, suite).read_text(encoding="utf-8"))
    return doc


def load_row_checks(
    registry: Registry, expectations_dir: Path, contracts: list[FeedContract] | None = None
) -> dict[str, list[RowCheck]]:
    """Row-level checks per contract (``contracts``, else all), from every suite the contract
    names (ids prefixed by suite)."""
    out: dict[str, list[RowCheck]] = {}
    for contract in registry.contracts.values() if contracts is None else contracts:
        name = contract.contract
        checks: list[RowCheck] = []
        for suite in contract.suites_for("bronze"):
            for c in row_checks(load_suite(expectations_dir, suite)):
                checks.append(dataclasses.replace(c, id=f"{suite}#{c.id}"))
        out[name] = checks
    return out
