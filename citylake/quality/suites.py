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

from citylake.quality.rowchecks import RowCheck, row_checks
from citylake.registry import FeedContract, Problem, Registry

SEVERITIES = ("warn", "drop", "fail")
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
        if col.role == "district_code":
            exps.append(_exp("expect_column_values_to_match_regex", {"column": col.name, "regex": r"^31\d{4}"},
                             "warn", "Shanghai district codes start with 31; silver remaps retired codes"))  # fmt: skip
    keys = list(contract.business_keys)
    key_exp = (
        _exp("expect_column_values_to_be_unique", {"column": keys[0]}, "warn", "duplicates are merged in silver")
        if len(keys) == 1
        else _exp("expect_compound_columns_to_be_unique", {"column_list": keys}, "warn",
                  "duplicates are merged in silver")
    )  # fmt: skip
    exps.append(key_exp)
    return {
        "name": f"bronze.{contract.contract}",
        "expectations": exps,
        "meta": {"dataset": f"bronze.{contract.contract}", "contract_version": contract.version},
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


def validate_suites(registry: Registry, expectations_dir: Path) -> list[Problem]:
    problems: list[Problem] = []
    for contract in registry.contracts.values():
        if not contract.suites:
            problems.append(Problem(str(registry.root / "contracts" / f"{contract.contract}.yaml"), "suites",
                                    "every contract must name at least one expectation suite"))  # fmt: skip
        columns = {c.name for c in contract.columns}
        for suite in contract.suites:
            problems += check_suite_file(suite_path(expectations_dir, suite), columns)
    return problems


def load_suite(expectations_dir: Path, suite: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(suite_path(expectations_dir, suite).read_text(encoding="utf-8"))
    return doc


def load_row_checks(registry: Registry, expectations_dir: Path) -> dict[str, list[RowCheck]]:
    """Row-level checks per contract, from every suite the contract names (ids prefixed by suite)."""
    out: dict[str, list[RowCheck]] = {}
    for name, contract in registry.contracts.items():
        checks: list[RowCheck] = []
        for suite in contract.suites:
            for c in row_checks(load_suite(expectations_dir, suite)):
                checks.append(dataclasses.replace(c, id=f"{suite}#{c.id}"))
        out[name] = checks
    return out
