"""Expectation suites are data: every contract has one, and broken suites fail validation precisely."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from citylake.config.settings import REPO_ROOT
from citylake.quality.suites import SEVERITIES, suite_path, validate_suites

EXPECTATIONS = REPO_ROOT / "expectations"


def test_committed_suites_are_valid_and_linked(registry):
    assert validate_suites(registry, EXPECTATIONS) == []
    for contract in registry.contracts.values():
        assert f"bronze/{contract.contract}" in contract.suites
        doc = json.loads(suite_path(EXPECTATIONS, contract.suites[0]).read_text())
        assert {e["meta"]["severity"] for e in doc["expectations"]} <= set(SEVERITIES)
        required = {c.name for c in contract.columns if not c.nullable}
        not_null = {e["kwargs"]["column"] for e in doc["expectations"]
                    if e["type"] == "expect_column_values_to_not_be_null"}  # fmt: skip
        assert not_null == required


def _broken(tmp_path, mutate, suite="bronze/air_quality"):
    root = tmp_path / "expectations"
    shutil.copytree(EXPECTATIONS, root)
    path = root / f"{suite}.json"
    doc = json.loads(path.read_text())
    text = mutate(doc)
    path.write_text(text if isinstance(text, str) else json.dumps(doc, indent=2))
    return root, path


@pytest.mark.parametrize(
    ("mutate", "field", "reason"),
    [
        (lambda d: '{"name": "bronze.air_quality", "expectations": [\n  {"type": }\n]}', "line 2, column 12",
         "not valid JSON"),
        (lambda d: d["expectations"].append({"type": "expect_column_values_to_not_be_null",
                                             "kwargs": {"column": "pm2_5"}, "meta": {"severity": "drop"}}),
         "kwargs", "column 'pm2_5' is not in the dataset"),
        (lambda d: d["expectations"].append({"type": "expect_air_to_be_clean", "kwargs": {}, "meta": {"severity": "warn"}}),
         "expect_air_to_be_clean", "unknown expectation type 'expect_air_to_be_clean'"),
        (lambda d: d["expectations"][1]["meta"].pop("severity") and None, "meta.severity", "severity must be one of"),
    ],
    ids=["invalid-json", "unknown-column", "unknown-type", "no-severity"],
)  # fmt: skip
def test_broken_suite_named_precisely(tmp_path, registry, mutate, field, reason):
    root, path = _broken(tmp_path, mutate)
    problems = validate_suites(registry, root)
    assert problems, "a broken suite must not validate"
    assert all(p.file == str(path) for p in problems)
    assert any(field in p.field and reason in p.reason for p in problems), problems


def test_cli_validate_fails_on_a_broken_suite(tmp_path):
    root, path = _broken(tmp_path, lambda d: d["expectations"][1]["meta"].pop("severity") and None)
    proc = subprocess.run(
        [sys.executable, "-m", "citylake.cli", "registry", "validate", "--expectations", str(root)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 2
    assert f"{path}: expectations[1:" in proc.stderr and "severity must be one of" in proc.stderr


@pytest.mark.parametrize(
    ("suite", "column"),
    [
        ("silver/service_requests", "citizen_id_no"),  # silver only has the keyed hash
        ("gold/mart_parking_daily", "occupancy"),  # not a column of the mart doc
    ],
)
def test_silver_and_gold_suites_are_checked_against_their_dataset(tmp_path, registry, suite, column):
    exp = {
        "type": "expect_column_values_to_not_be_null",
        "kwargs": {"column": column},
        "meta": {"severity": "fail"},
    }
    root, path = _broken(tmp_path, lambda d: d["expectations"].append(exp), suite)
    problems = validate_suites(registry, root)
    assert [(p.file, p.reason) for p in problems] == [(str(path), f"column {column!r} is not in the dataset")]


def test_every_mart_and_silver_table_has_a_suite(registry):
    for contract in registry.contracts.values():
        assert contract.suites_for("silver") == (f"silver/{contract.contract}",)
    for mart in registry.marts.values():
        assert mart.suites == (f"gold/{mart.mart}",) and mart.grain.startswith("one row per")
