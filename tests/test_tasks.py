"""Task plumbing that needs no Spark: the failure callback and the unit check."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from citylake import tasks


def test_failure_callback_writes_the_failure_and_calls_the_alert_hook(tmp_path, monkeypatch):
    monkeypatch.setenv("CITYLAKE_LAKE_ROOT", str(tmp_path / "lake"))
    ti = SimpleNamespace(dag_id="citylake_ingest__parking_lots", task_id="bronze_silver", try_number=2)
    alerts = []
    tasks.on_failure(
        {"task_instance": ti, "ds": "2026-11-20", "exception": ValueError("disk full")}, alerts.append
    )
    written = list((tmp_path / "lake" / "_system" / "task_failures").glob("*.json"))
    assert len(written) == 1
    event = json.loads(written[0].read_text())
    assert event == {"dag_id": "citylake_ingest__parking_lots", "task_id": "bronze_silver",
                     "logical_date": "2026-11-20", "try_number": 2, "error": "disk full"}  # fmt: skip
    assert alerts == [event]


def test_alert_hook_is_pluggable_by_environment(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("CITYLAKE_LAKE_ROOT", str(tmp_path / "lake"))
    monkeypatch.setenv("CITYLAKE_ALERT_HOOK", "citylake.tasks:log_alert")
    ti = SimpleNamespace(dag_id="citylake_mart__dt_city_objects", task_id="build_publish", try_number=1)
    with caplog.at_level("ERROR", logger="citylake.alerts"):
        tasks.on_failure({"task_instance": ti, "ds": "2026-11-21", "exception": RuntimeError("gate refused")})
    assert "citylake_mart__dt_city_objects" in caplog.text and "gate refused" in caplog.text


def test_check_fails_a_partial_run_naming_the_held_units():
    tasks.check({"status": "ok", "run_id": "r", "held_feeds": []})
    with pytest.raises(RuntimeError, match="op_teld/ev_charging_sessions"):
        tasks.check({"status": "partial", "run_id": "r",
                     "held_feeds": [{"unit": "op_teld", "feed": "ev_charging_sessions"}]})  # fmt: skip


@pytest.mark.slow
def test_submit_execution_runs_the_same_task_through_spark_submit(tmp_path, monkeypatch):
    """CITYLAKE_EXECUTION=submit: the task spark-submits the CLI to the configured master."""
    from conftest import cli
    from deltalake import DeltaTable

    root = tmp_path / "lake"
    cli(root, "generate", "--date", "2026-11-20", "--scale", "0.02", "--units", "op_teld")
    monkeypatch.setenv("CITYLAKE_LAKE_ROOT", str(root))
    monkeypatch.setenv("CITYLAKE_EXECUTION", "submit")
    monkeypatch.setenv("CITYLAKE_SPARK_MASTER", "local[2]")
    out = tasks.ingest("ev_charging_stations", "2026-11-20", ["op_teld"])
    assert out["status"] == "ok" and out["held_feeds"] == []
    silver = DeltaTable(str(root / "silver" / "ev_charging_stations")).to_pyarrow_table()
    assert silver.num_rows > 0 and set(silver.column("_unit").to_pylist()) == {"op_teld"}
    assert not (root / "gold").exists()  # ingest stops at silver; the mart DAGs build gold
