"""Write-audit-publish and isolation: a failing gate keeps what readers see, and stops nothing else.

Day 1 publishes everything. Day 2 runs with a gold suite that the parking mart cannot pass and
with one unit's delivery that breaks a bronze ``fail`` expectation.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from citylake.config.settings import REPO_ROOT, Settings
from citylake.engine.delta_io import latest_version
from citylake.generate import generate
from citylake.runs.pipeline import run_daily

pytestmark = pytest.mark.spark
DAY1 = dt.date(2026, 11, 20)
DAY2 = DAY1 + dt.timedelta(days=1)
UNITS = ["d310115_parking", "op_teld", "d310104_gov_service"]
BROKEN_UNIT = "d310101_parking"
IMPOSSIBLE = {
    "type": "expect_column_max_to_be_between",
    "kwargs": {"column": "peak_occupancy_rate", "max_value": 0.01},
    "meta": {"severity": "fail", "why": "test: no lot is ever more than 1% full"},
}


def _broken_delivery(lake, registry) -> None:
    """Half the records lack lot_id: the bronze fail expectation (mostly 0.95) must hold the batch."""
    contract = registry.contracts["parking_occupancy"]
    d = Path(lake.landing_dir(BROKEN_UNIT, "parking_occupancy", DAY2.isoformat()))
    d.mkdir(parents=True, exist_ok=True)
    with open(d / "occupancy_20261121.csv", "w", encoding="gbk", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([c.aliases[0] for c in contract.columns])
        for i in range(40):
            w.writerow(["" if i % 2 else f"L{i:04d}", f"{DAY2} 08:{i:02d}:00", 100, 40, "310101"])


@pytest.fixture(scope="module")
def two_days(spark, registry, module_lake, tmp_path_factory):
    # the generator has just landed every file whole: none needs to settle
    settings = Settings(lake_root=module_lake.root, shuffle_partitions=2, landing_settle_s=0)
    generate(registry, DAY1, 0.05, UNITS, module_lake)
    day1 = run_daily(DAY1, settings=settings, spark=spark, registry=registry)
    before = {
        m: (latest_version(spark, module_lake.table("gold", m)),
            (Path(module_lake.zone("published")) / m / "_manifest.json").read_bytes())
        for m in registry.marts
    }  # fmt: skip
    exp_dir = tmp_path_factory.mktemp("expectations")
    shutil.copytree(REPO_ROOT / "expectations", exp_dir, dirs_exist_ok=True)
    suite_file = exp_dir / "gold" / "mart_parking_daily.json"
    suite = json.loads(suite_file.read_text())
    suite["expectations"].append(IMPOSSIBLE)
    suite_file.write_text(json.dumps(suite))
    generate(registry, DAY2, 0.05, UNITS, module_lake)
    _broken_delivery(module_lake, registry)
    day2 = run_daily(DAY2, settings=dataclasses.replace(settings, expectations_dir=exp_dir), spark=spark,
                     registry=registry)  # fmt: skip
    return module_lake, day1, day2, before, exp_dir


def test_day1_publishes_every_mart(two_days, registry):
    _, day1, _, before, _ = two_days
    assert day1.status == "ok"
    assert {p.dataset for p in day1.publications if p.status == "published"} >= {
        f"gold.{m}" for m in registry.marts
    }
    assert all(v is not None for v, _ in before.values())


def test_failing_mart_keeps_its_gold_and_published_version(spark, two_days):
    lake, _, day2, before, _ = two_days
    pub = {p.dataset: p for p in day2.publications}["gold.mart_parking_daily"]
    assert pub.status == "failed"
    assert "expect_column_max_to_be_between:peak_occupancy_rate" in pub.reason
    version, manifest = before["mart_parking_daily"]
    assert latest_version(spark, lake.table("gold", "mart_parking_daily")) == version == pub.delta_version
    assert (Path(lake.zone("published")) / "mart_parking_daily" / "_manifest.json").read_bytes() == manifest
    # the refused candidate is kept in staging for whoever repairs it
    staged = spark.read.format("delta").load(lake.table("_system", "staging/gold/mart_parking_daily"))
    assert staged.where(f"date = DATE'{DAY2}'").count() > 0


def test_other_marts_still_publish(spark, two_days):
    lake, _, day2, before, _ = two_days
    for mart in ("mart_ev_charging_daily", "mart_service_requests_daily", "mart_source_unit_health"):
        pub = {p.dataset: p for p in day2.publications}[f"gold.{mart}"]
        assert pub.status == "published", pub
        assert pub.delta_version > before[mart][0]
        manifest = json.loads((Path(lake.zone("published")) / mart / "_manifest.json").read_text())
        assert manifest["delta_version"] == pub.delta_version
        assert manifest["validation_id"] == pub.validation_id
        dates = spark.read.format("delta").load(lake.table("gold", mart)).select("date").distinct().collect()
        assert {r[0] for r in dates} >= {DAY1, DAY2} or mart != "mart_source_unit_health"


def test_held_unit_is_not_promoted_and_others_are(spark, two_days):
    lake, _, day2, _, _ = two_days
    held = {(v.unit, v.feed): v for v in day2.held_feeds}
    assert set(held) == {(BROKEN_UNIT, "parking_occupancy")}
    assert "expect_column_values_to_not_be_null:lot_id" in held[(BROKEN_UNIT, "parking_occupancy")].reason()
    silver = spark.read.format("delta").load(lake.table("silver", "parking_occupancy"))
    assert silver.where(f"_unit = '{BROKEN_UNIT}'").count() == 0
    assert silver.where(f"_unit = 'd310115_parking' AND _logical_date = DATE'{DAY2}'").count() > 0
    bronze = spark.read.format("delta").load(lake.table("bronze", "parking_occupancy"))
    assert bronze.where(f"_unit = '{BROKEN_UNIT}'").count() == 40  # kept as sent, for the repair
    assert day2.status == "partial" and day2.exit_code == 3


def _cli(lake, exp_dir, *args, code=0):
    env = {**os.environ, "CITYLAKE_LAKE_ROOT": lake.root, "CITYLAKE_EXPECTATIONS_DIR": str(exp_dir)}
    proc = subprocess.run([sys.executable, "-m", "citylake.cli", *args], capture_output=True, text=True, env=env,
                          timeout=600)  # fmt: skip
    assert proc.returncode == code, proc.stderr[-3000:]
    return proc.stdout


def test_status_reports_the_failures(two_days):
    lake, _, _, before, exp_dir = two_days
    # a failed publication and a held feed need attention: exit 3, so an alert can run status
    datasets = json.loads(_cli(lake, exp_dir, "status", "--datasets", "--json", code=3))
    by_name = {d["dataset"]: d for d in datasets}
    parking = by_name["gold.mart_parking_daily"]
    assert parking["status"] == "failed" and parking["current_version"] == before["mart_parking_daily"][0]
    assert "peak_occupancy_rate" in parking["reason"]
    assert by_name["gold.mart_ev_charging_daily"]["status"] == "published"
    feeds = json.loads(_cli(lake, exp_dir, "status", "--json", "--as-of", DAY2.isoformat(), code=3))
    mine = [f for f in feeds if f["unit"] == BROKEN_UNIT and f["feed"] == "parking_occupancy"]
    assert mine[0]["dq"] == "failed"
    human = _cli(lake, exp_dir, "status", "--as-of", DAY2.isoformat(), code=3)
    assert "gold.mart_parking_daily" in human and "failed" in human


# --- the runbooks, run on this lake (last: they repair it) ------------------------------------


def _lake_files(root: str) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(Path(root).rglob("*")) if p.is_file() and "locks" not in p.parts}


def test_the_operators_runbooks_run_as_written_on_this_lake(two_days, registry):
    """Each page's commands, in the situation the page is for: they run, exit as the page says
    and show what it says (tests/runbook.py); between sections the test does the unit's part."""
    import threading

    from runbook import run

    from citylake.lake import runlock

    lake, _, _, _, exp_dir = two_days
    root = lake.root
    env = {"CITYLAKE_EXPECTATIONS_DIR": str(exp_dir), "CITYLAKE_LANDING_SETTLE_S": "0"}
    held, refused, day, busy = ("feed-held-by-the-gate.md", "mart-refused-by-its-suite.md", "day-incomplete.md",
                                "lake-busy.md")  # fmt: skip
    key, rejected = "key-or-credential-problem.md", "file-rejected.md"
    for page in (held, refused, day):
        run(page, "Signal", root, env)
        run(page, "Checks", root, env)
    before = _lake_files(root)
    run(key, "Signal", root, env)
    assert _lake_files(root) == before, "a run under another key wrote nothing"
    run(key, "Checks", root, env)
    before = _lake_files(root)  # (the query wrote its lineage events)
    with runlock.hold(lake, "runbook-holder", DAY2):
        run(busy, "Signal", root, env)
    assert _lake_files(root) == before, "a command that found the lake busy wrote nothing"

    # the unit sends the corrected file under a new name
    contract = registry.contracts["parking_occupancy"]
    d = Path(lake.landing_dir(BROKEN_UNIT, "parking_occupancy", DAY2.isoformat()))
    with open(d / "occupancy_20261121_fixed.csv", "w", encoding="gbk", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([c.aliases[0] for c in contract.columns])
        for i in range(40):
            w.writerow([f"L{i:04d}", f"{DAY2} 08:{i:02d}:00", 100, 40, "310101"])
    run(held, "Fix", root, env)
    # the impossible expectation is taken out of the gold suite (a reviewed change)
    shutil.copy(REPO_ROOT / "expectations" / "gold" / "mart_parking_daily.json",
                exp_dir / "gold" / "mart_parking_daily.json")  # fmt: skip
    run(refused, "Fix", root, env)
    run(held, "Verify", root, env)
    run(refused, "Verify", root, env)
    run(day, "Fix", root, env)
    run(day, "Verify", root, env)

    # the lake is busy for a few seconds more: the command queues behind the holder
    taken, release = threading.Event(), threading.Event()

    def holder() -> None:
        with runlock.hold(lake, "runbook-holder", DAY2):
            taken.set()
            release.wait(60)

    t = threading.Thread(target=holder)
    t.start()
    taken.wait(30)
    threading.Timer(8, release.set).start()
    run(busy, "Fix", root, env)
    t.join()
    run(busy, "Verify", root, env)

    # a file rejected, then re-sent corrected under a new name
    landing = Path(lake.landing_dir("d310104_gov_service", "service_requests", DAY2.isoformat()))
    sent = next(landing.parent.parent.rglob(f"*{DAY2:%Y%m%d}.csv")).read_bytes()
    header, _, body = sent.partition(b"\n")
    (landing / "requests_resend.csv").write_bytes(b"a,b,c\n" + body)
    run(rejected, "Signal", root, env)
    run(rejected, "Checks", root, env)
    (landing / "requests_fixed.csv").write_bytes(header + b"\n" + body.rstrip(b"\n").rsplit(b"\n", 1)[0] + b"\n")
    run(rejected, "Fix", root, env)
    run(rejected, "Verify", root, env)
    run(key, "Verify", root, env)
