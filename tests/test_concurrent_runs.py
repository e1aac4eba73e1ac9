"""Two runs of one date at once: a manual CLI run beside the Airflow ingest task, in both orders.

Whichever starts second either stops at once with an error naming the run that holds the lake,
or (asked to wait) runs after it. Either way no row is loaded twice or lost.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import cli

from citylake.lake import Lake, runlock

pytestmark = pytest.mark.slow

UNITS = ["op_teld"]
DAY = "2026-11-20"
TASK = "import json, sys; from citylake.runs import tasks; print('RESULT', json.dumps(tasks.ingest(sys.argv[1])))"


def _env(root: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "CITYLAKE_LAKE_ROOT": str(root), **extra}


def _holder(root: Path, proc: subprocess.Popen, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        held = runlock.holder(Lake(str(root)))
        if held:
            return held
        assert proc.poll() is None, "the first run ended before it took the lake"
        time.sleep(0.2)
    pytest.fail("the first run never took the lake's lock")


def _accounted(root: Path) -> None:
    """Every landed record once: bronze per file as generated, one outcome per file, no key twice."""
    from deltalake import DeltaTable

    generated = json.loads((root / "_system" / "generated" / f"{DAY}.json").read_text())
    ledger = DeltaTable(str(root / "_system" / "run_ledger")).to_pyarrow_table().to_pylist()
    final = [r for r in ledger if r["status"] != "skipped"]
    assert sorted(r["file"] for r in final) == sorted({r["file"] for r in final})  # one outcome per file
    per_file: dict[str, int] = {}
    for table in (root / "bronze").iterdir():
        if (table / "_delta_log").is_dir():
            for r in DeltaTable(str(table)).to_pyarrow_table(columns=["_source_file"]).to_pylist():
                per_file[r["_source_file"]] = per_file.get(r["_source_file"], 0) + 1
    for f in generated["files"]:
        rel = "/".join(Path(f["path"]).parts[-4:])
        want = 0 if f["kind"] == "resend" else f["records"] - len(f["malformed_records"])
        assert per_file.get(rel, 0) == want, rel
    assert all(r["rows_landed"] == r["rows_bronze"] + r["rows_quarantined"] for r in ledger)
    silver = DeltaTable(str(root / "silver" / "ev_charging_sessions")).to_pyarrow_table().to_pylist()
    keys = [(r["_unit"], r["session_id"], r["event_date"]) for r in silver]
    assert silver and len(keys) == len(set(keys))


def test_cli_run_first_then_the_airflow_task_stops_naming_it(tmp_path):
    root = tmp_path / "lake"
    cli(root, "generate", "--date", DAY, "--scale", "0.02", "--units", *UNITS)
    first = subprocess.Popen([sys.executable, "-m", "citylake.cli", "run", "--date", DAY, "--json"],
                             env=_env(root), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    held = _holder(root, first)
    t = time.perf_counter()
    second = subprocess.run([sys.executable, "-c", TASK, DAY], env=_env(root, CITYLAKE_LOCK_WAIT="0"),
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    took = time.perf_counter() - t
    assert second.returncode != 0
    assert f"run {held['run_id']} for {DAY} holds it" in second.stderr, second.stderr[-2000:]
    assert took < 60  # at once: before any Spark work
    out, err = first.communicate(timeout=1200)
    assert first.returncode == 0, err[-3000:]
    assert json.loads(out)["run_id"] == held["run_id"]
    _accounted(root)


def test_airflow_task_first_then_a_cli_run_waits_for_it(tmp_path):
    root = tmp_path / "lake"
    cli(root, "generate", "--date", DAY, "--scale", "0.02", "--units", *UNITS)
    task = subprocess.Popen([sys.executable, "-c", TASK, DAY], env=_env(root), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    held = _holder(root, task)
    # without --wait it would stop at once (exit 4) and name the task's run
    busy = cli(root, "run", "--date", DAY, "--json", check_codes=(4,))
    assert f"run {held['run_id']} for {DAY} holds it" in busy.stderr
    waited = cli(root, "run", "--date", DAY, "--json", "--wait", "1200")
    out, err = task.communicate(timeout=60)
    assert task.returncode == 0, err[-3000:]
    ingest = json.loads(out.split("RESULT ", 1)[1])
    assert ingest["status"] == "ok" and ingest["run_id"] == held["run_id"]
    second = json.loads(waited.stdout)
    # it ran after the task: every file was already processed, and it built the marts
    assert {f["status"] for f in second["files"]} == {"skipped"} and second["status"] == "ok"
    assert any(p["dataset"].startswith("gold.") for p in second["publications"])
    _accounted(root)
