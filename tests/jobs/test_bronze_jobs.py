"""Bronze's Spark jobs, counted (issue 37): a batch is read once, whatever the timing noise.

A listener (citylake.engine.job_profile) records every job a run starts and the records its
tasks read from files. One contract's batch of two files, each with a record that does not
parse, and one contract's clean batch: each batch's files are read by one job (the write), the
files with bad records once more (the quarantine write), and nothing else reads landed data.
The audit counts the committed rows without a Spark job.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from citylake.engine.job_profile import profiled
from citylake.generate import build_rows, render
from citylake.lake import Lake, ledger
from jobs import bronze_ingest
from jobs.context import JobRun

pytestmark = pytest.mark.spark

DAY = dt.date(2026, 11, 20)
BAD = "parking_occupancy"  # two units' files, one record that does not parse in each
CLEAN = "ev_charging_sessions"


def _land(lake: Lake, registry, unit: str, feed_name: str, rows: int, bad: bool) -> Path:
    feed = registry.feed(unit, feed_name)
    data = render(feed, build_rows(feed, DAY, 0.5)[:rows], {1: "extra_field"} if bad else {})
    path = Path(lake.landing_dir(unit, feed_name, DAY.isoformat())) / f"day{feed.spec.extension}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_each_batch_reads_its_files_once_and_bad_files_once_more(spark, registry, lake):
    for unit in ("d310101_parking", "d310104_parking"):
        _land(lake, registry, unit, BAD, 400, bad=True)
    clean = next(f for f in registry.feeds() if f.contract.contract == CLEAN)
    _land(lake, registry, clean.unit.unit, clean.spec.feed, 400, bad=False)
    with profiled(spark) as profile:
        result = bronze_ingest.run(JobRun(spark, lake, registry, DAY, "run-jobs"))
    loaded = {f.file: f for f in result.files if f.status == ledger.LOADED}
    assert len(loaded) == 3, result.files
    landed = {c: sum(f.rows_landed for f in loaded.values() if f.contract == c) for c in (BAD, CLEAN)}
    assert landed[BAD] == 800 and landed[CLEAN] > 0
    assert sum(f.rows_quarantined for f in loaded.values()) == 2
    reading = [j for j in profile.jobs if j.input_records > 0]
    table = profile.table()
    # the clean batch: one job reads its file, the write; the other batch: the write, and the
    # quarantine write, which reads the two files again (the only files with bad records)
    assert sorted(j.input_records for j in reading) == sorted([landed[CLEAN], landed[BAD], landed[BAD]]), table
    # and one job more: the quarantine's write of its few rows after their shuffle to one task
    assert len(profile.jobs) == len(reading) + 1, table
