"""GX never stores a sample of personal data: an expectation on a personal column, its hash or
its derived fields keeps counts only, in the stored validation result and in Data Docs, while
other expectations keep their samples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from citylake.quality.gx_runner import GxProject
from citylake.quality.personal import personal_columns

pytestmark = pytest.mark.spark

SUITE = "silver/medical_visits"
LEAKED_ID = "11010519491231002X"  # a clear ID where its hash belongs
BAD_MOBILE = "10000000007"
NAME = "王小明"


def _exp(type_: str, **kwargs) -> dict:
    return {"type": type_, "kwargs": kwargs, "meta": {"severity": "warn"}}


def test_failing_expectations_on_personal_columns_store_no_value(spark, registry, lake, tmp_path: Path):
    suite = {"name": SUITE, "expectations": [
        _exp("expect_column_values_to_match_regex", column="patient_id_no_hash", regex="^[0-9a-f]{64}$"),
        _exp("expect_column_values_to_match_regex", column="patient_mobile", regex="^1[3-9][0-9]{9}$"),
        _exp("expect_column_distinct_values_to_be_in_set", column="patient_name", value_set=["nobody"]),
        _exp("expect_column_max_to_be_between", column="patient_id_no_birth_year", max_value=1900),
        _exp("expect_column_values_to_be_in_set", column="status", value_set=["open"]),
    ]}  # fmt: skip
    exp_dir = tmp_path / "expectations"
    (exp_dir / "silver").mkdir(parents=True)
    (exp_dir / f"{SUITE}.json").write_text(json.dumps(suite), encoding="utf-8")
    df = spark.createDataFrame(
        [(LEAKED_ID, BAD_MOBILE, NAME, 1949, "weird")],
        "patient_id_no_hash string, patient_mobile string, patient_name string, "
        "patient_id_no_birth_year int, status string",
    )
    gx = GxProject(lake, exp_dir)
    personal = personal_columns(registry.contracts["medical_visits"])
    outcome = gx.validate(df, "silver.medical_visits", SUITE, "run-gx-personal", personal=personal)
    gx.build_docs([outcome.result_key])

    by_column = {o.column: o for o in outcome.outcomes}
    assert not any(o.success for o in outcome.outcomes)
    for column in ("patient_id_no_hash", "patient_mobile"):
        assert by_column[column].unexpected_count == 1 and by_column[column].observed is None
    assert by_column["patient_name"].observed is None and by_column["patient_id_no_birth_year"].observed is None
    assert "weird" in (by_column["status"].observed or "")  # not personal: its sample stays

    stored = [p for p in (gx.root / "gx").rglob("*") if p.is_file() and p.suffix in (".json", ".html")]
    results = [p for p in stored if "validations" in p.parts and p.suffix == ".json"]
    assert results and any(p.suffix == ".html" and "validations" in p.parts for p in stored)
    text = "".join(p.read_text(encoding="utf-8", errors="ignore") for p in stored)
    for value in (LEAKED_ID, BAD_MOBILE, NAME, "1949"):
        assert value not in text, value
    assert "weird" in "".join(p.read_text(encoding="utf-8") for p in results)
