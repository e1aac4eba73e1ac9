"""The README's commands, end to end, in subprocesses against a fresh lake."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from conftest import cli as _cli

pytestmark = pytest.mark.slow


def test_demo_exits_0_and_prints_a_summary(demo_lake):
    _, proc = demo_lake
    assert "Where to look next" in proc.stdout
    assert "loaded" in proc.stdout and "bronze.ev_charging_sessions" in proc.stdout


def test_catalog_lists_a_bronze_table_per_contract(demo_lake, registry):
    root, _ = demo_lake
    tables = json.loads(_cli(root, "catalog", "--json").stdout)
    assert all(set(t) == {"name", "layer", "path", "format", "version", "rows", "updated_at"} for t in tables)
    # when each table last changed, in the lake's clock with its offset, whatever the machine's zone
    stamps = [dt.datetime.fromisoformat(t["updated_at"]) for t in tables]
    assert all(s.utcoffset() == dt.timedelta(hours=8) for s in stamps)
    assert all(abs(dt.datetime.now(dt.UTC) - s) < dt.timedelta(days=1) for s in stamps)
    text = _cli(root, "catalog", env={"TZ": "America/New_York", "COLUMNS": "250"}).stdout
    assert re.search(r"silver\.admin_divisions .* \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\+08:00", text), text
    bronze = {t["name"] for t in tables if t["layer"] == "bronze" and t["rows"] > 0}
    assert bronze == {f"bronze.{c.contract}" for c in registry.contracts_in_use()}
    assert {"ops.run_ledger", "ops.file_manifest", "quarantine.bronze_records"} <= {t["name"] for t in tables}


def test_run_json_shape_and_rerun_adds_nothing(demo_lake):
    root, _ = demo_lake

    def versions():
        tables = json.loads(_cli(root, "catalog", "--json").stdout)
        return {t["name"]: t["version"] for t in tables if t["layer"] in ("bronze", "silver", "gold")}

    before = versions()
    out = json.loads(_cli(root, "run", "--date", "2026-11-20", "--json").stdout)
    assert versions() == before
    assert set(out) == {
        "date",
        "run_id",
        "status",
        "files",
        "held_feeds",
        "publications",
        "data_docs",
        "report",
        "lineage",
    }
    assert Path(out["lineage"]).is_dir() and any(Path(out["lineage"]).glob("*.jsonl"))
    # nothing new: nothing held, and no silver or gold table gets a new version
    assert out["held_feeds"] == []
    assert {p["status"] for p in out["publications"]} <= {"unchanged"}
    assert out["status"] == "ok" and out["date"] == "2026-11-20"
    assert out["files"] and {f["status"] for f in out["files"]} == {"skipped"}
    assert sum(f["rows_bronze"] for f in out["files"]) == 0
    assert set(out["files"][0]) >= {
        "unit",
        "feed",
        "file",
        "status",
        "rows_landed",
        "rows_bronze",
        "rows_quarantined",
    }


def _own_lines(stderr: str) -> list[str]:
    """stderr without the one line the JVM itself prints at start (Spark 4 loads the incubator
    vector module), which no citylake setting reaches."""
    return [line for line in stderr.splitlines() if line and not line.startswith("WARNING: Using incubator modules")]


def test_query_and_registry_list(demo_lake):
    root, _ = demo_lake
    rows = json.loads(
        _cli(
            root,
            "query",
            "SELECT count(*) AS n FROM ops.run_ledger WHERE rows_landed <> rows_bronze + rows_quarantined",
            "--json",
        ).stdout
    )
    assert rows == [{"n": 0}]
    # a typo: exit 2, one line naming the command and Spark's condition, no traceback
    typo = _cli(root, "query", "SELEC 1", check_codes=(2,))
    lines = _own_lines(typo.stderr)
    assert len(lines) == 1 and lines[0].startswith("citylake query: [PARSE_SYNTAX_ERROR]") and "SELEC" in lines[0]
    assert "Traceback" not in typo.stderr and "py4j" not in typo.stderr.lower()
    missing = _own_lines(_cli(root, "query", "SELECT * FROM silver.no_such_table", check_codes=(2,)).stderr)
    assert len(missing) == 1 and "TABLE_OR_VIEW_NOT_FOUND" in missing[0]
    # a cut output says so; an uncut one does not
    cut = _cli(root, "query", "SELECT id FROM range(5)", "--json", "--limit", "3")
    assert [r["id"] for r in json.loads(cut.stdout)] == [0, 1, 2]
    assert "showing the first 3 rows; there are more" in cut.stderr
    whole = _cli(root, "query", "SELECT id FROM range(3)", "--json", "--limit", "3")
    assert len(json.loads(whole.stdout)) == 3 and "showing" not in whole.stderr
    units = json.loads(_cli(root, "registry", "list", "--json").stdout)
    assert len(units) >= 200 and set(units[0]) == {"unit", "name", "feeds"}
    assert set(units[0]["feeds"][0]) == {"feed", "contract"}


def test_demo_loads_the_division_register_and_conforms_codes_against_it(demo_sql):
    from servers import hive_query

    _, port = demo_sql
    # the register's current entries per level, and every code another contract conformed as
    # current or remapped checked against them (through the lake's SQL endpoint)
    sql = (
        "SELECT (SELECT to_json(map_from_entries(collect_list(struct(level, n)))) FROM (SELECT level, count(*) AS n "
        "FROM silver.admin_divisions WHERE is_current GROUP BY level)) AS levels, "
        "(SELECT count(*) FROM silver.cell_5g_sites s LEFT ANTI JOIN silver.admin_divisions d "
        "ON d.is_current AND d.code = s.street_code WHERE s.street_code_status IN ('current', 'remapped')) AS stray, "
        "(SELECT to_json(sort_array(collect_set(street_code_status))) FROM silver.cell_5g_sites) AS statuses"
    )
    (row,) = hive_query(port, sql)
    assert json.loads(row["levels"]) == {"community": 6509, "district": 16, "street": 234}
    assert row["stray"] == 0
    assert set(json.loads(row["statuses"])) >= {"current", "remapped"}


def test_the_demo_prints_progress_and_results_and_keeps_sparks_log_in_a_file(demo_lake):
    root, proc = demo_lake
    out = proc.stdout + proc.stderr
    noisy = [line for line in out.splitlines() if any(w in line for w in ("ERROR", "Traceback", "proxy", "WARN "))]
    assert not noisy, noisy[:5]
    log = root.parent / "logs" / "spark.log"
    assert f"Spark's log:  {log}" in proc.stdout and log.is_file()
    # what the console no longer shows is in the file: the session's start-up warnings at least
    text = log.read_text(errors="replace")
    assert " WARN " in text or " ERROR " in text
    assert "citylake-tests-only-not-a-secret" not in text  # the PII key never reaches a log line


def test_status_covers_every_feed(demo_lake, registry):
    root, _ = demo_lake
    rows = json.loads(_cli(root, "status", "--json", "--as-of", "2026-11-20").stdout)
    assert {(r["unit"], r["feed"]) for r in rows} == {(f.unit.unit, f.spec.feed) for f in registry.feeds()}
    assert all(
        set(r) == {"unit", "feed", "last_date", "fresh", "rows", "quarantine_rate", "dq", "schema_drift"}
        for r in rows
    )
    assert all(r["fresh"] and r["last_date"] == "2026-11-20" and r["rows"] > 0 for r in rows)
    assert {r["dq"] for r in rows} <= {"passed", "warned", "failed"}
    # the gate warns exactly where the generator injected faults an expectation checks
    generated = json.loads((root / "_system" / "generated" / "2026-11-20.json").read_text())
    checked = ("null_required", "out_of_range", "duplicate", "bad_coordinates")
    faulty = {(f["unit"], f["feed"]) for f in generated["files"]
              if sum(f["faults"].get(k, 0) for k in checked)}  # fmt: skip
    assert faulty
    # a record made late (moved to yesterday) can collide with the same key in a late file
    collide = {(f["unit"], f["feed"]) for f in generated["files"] if f["kind"] == "late_file"} & {
        (f["unit"], f["feed"]) for f in generated["files"] if f["faults"].get("late", 0)
    }
    warned = {(r["unit"], r["feed"]) for r in rows if r["dq"] == "warned"}
    assert faulty <= warned and warned - faulty <= collide
    assert {r["dq"] for r in rows if (r["unit"], r["feed"]) not in faulty | collide} == {"passed"}
    stale = _cli(root, "status", "--json", "--as-of", "2026-11-29", check_codes=(3,))
    assert not any(r["fresh"] for r in json.loads(stale.stdout))
    assert "stale (last date 2026-11-20)" in stale.stderr  # exit 3 names what needs attention


def test_demo_builds_data_docs_and_publishes_every_mart(demo_lake, registry):
    root, proc = demo_lake
    index = root / "_system" / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
    assert index.is_file()
    assert str(index) in proc.stdout
    out = _cli(root, "docs").stdout
    assert f"Data Docs: {index}" in out
    html = index.read_text()
    for c in registry.contracts_in_use():
        assert f"bronze.{c.contract}" in html and f"silver.{c.contract}" in html
    datasets = json.loads(_cli(root, "status", "--datasets", "--json").stdout)
    by_name = {d["dataset"]: d for d in datasets}
    for mart in registry.marts:
        assert by_name[f"gold.{mart}"]["status"] == "published"
        manifest = json.loads((root / "published" / mart / "_manifest.json").read_text())
        assert manifest["delta_version"] == by_name[f"gold.{mart}"]["current_version"]


def test_query_prints_times_in_shanghai_time_with_the_offset(demo_lake):
    """A weather row delivered as 2013-01-01T07:00:00Z is 15:00 in Shanghai, whatever the
    machine's zone; a TIMESTAMP_NTZ has no zone and prints as it is."""
    root, _ = demo_lake
    sql = ("SELECT timestamp'2013-01-01T07:00:00Z' AS time_hour, timestamp_ntz'2013-01-01 07:00:00' AS wall, "
           "start_time, cast(start_time AS string) AS start_text FROM bronze.ev_charging_sessions "
           "WHERE second(start_time) = 0 LIMIT 3")  # fmt: skip
    env = {"TZ": "America/New_York", "COLUMNS": "250"}  # the process's own zone must not matter
    rows = json.loads(_cli(root, "query", sql, "--json", env=env).stdout)
    table = _cli(root, "query", sql, env=env).stdout
    assert len(rows) == 3
    for r in rows:
        assert r["time_hour"] == "2013-01-01T15:00:00+08:00"
        assert r["wall"] == "2013-01-01T07:00:00"
        # the same instant Spark renders in the session zone, with the offset added
        assert r["start_time"] == r["start_text"].replace(" ", "T") + "+08:00"
        assert f"{r['start_text']}+08:00" in table
    assert "2013-01-01 15:00:00+08:00" in table and "2013-01-01 07:00:00 " in table
