"""Bronze under in-process failures and incomplete deliveries, on real Spark and Delta.

Each test lands two small files of one contract (two district parking bureaus, one batch), each
with one record that does not parse, so every batch makes two commits: bronze (every record
that parsed, in one pass), then quarantine (the files whose write saw a record that did not).
After every scenario each landed record is in bronze or quarantine exactly once.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from citylake.engine import delta_io
from citylake.engine.faults import StorageFailure
from citylake.generate import build_rows, render
from citylake.lake import Lake, ledger
from jobs import bronze_ingest
from jobs.bronze_replay import file_token
from jobs.context import JobRun

pytestmark = pytest.mark.spark

DAY = dt.date(2026, 11, 20)
CONTRACT = "parking_occupancy"
UNITS = ("d310101_parking", "d310104_parking")
GOOD = 6  # records that parse, per file; record 2 of each file does not


def _data(registry, unit: str) -> bytes:
    feed = registry.feed(unit, CONTRACT)
    return render(feed, build_rows(feed, DAY, 0.05)[: GOOD + 1], {1: "extra_field"})


def _land(lake: Lake, registry, unit: str) -> str:
    path = Path(lake.landing_dir(unit, CONTRACT, DAY.isoformat())) / "occupancy.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_data(registry, unit))
    return f"{unit}/{CONTRACT}/{DAY}/occupancy.csv"


def _rows(lake: Lake, zone: str, table: str, columns: list[str]) -> list[tuple]:
    return sorted(tuple(r[c] for c in columns) for r in ledger.read_rows(lake, zone, table, columns))


def _assert_exactly_once(lake: Lake, rels: list[str]) -> None:
    """Every landed record of ``rels`` once: record 2 in quarantine, the others in bronze."""
    assert _rows(lake, "quarantine", "bronze_records", ["source_file", "record_no"]) == sorted((r, 2) for r in rels)
    assert _rows(lake, "bronze", CONTRACT, ["_source_file", "_record_no"]) == sorted(
        (r, n) for r in rels for n in range(1, GOOD + 2) if n != 2
    )


def _run(spark, lake, registry, run_id: str, **kwargs) -> bronze_ingest.BronzeResult:
    return bronze_ingest.run(JobRun(spark, lake, registry, DAY, run_id), **kwargs)


def _status(result) -> dict[str, str]:
    return {f.file: f.status for f in result.files}


def _fail_write(spark, lake: Lake, monkeypatch, when, zone: str = "bronze") -> list[dict]:
    """Make the append to bronze (or quarantine) fail with a real Spark error whenever
    ``when(user_metadata)``; each failure notes what the other table held then."""
    real, failed = delta_io.append, []
    target = lake.table("bronze", CONTRACT) if zone == "bronze" else lake.table("quarantine", "bronze_records")

    def append(df, path, *args, user_metadata=None, **kwargs):
        if path == target and when(user_metadata or {}):
            failed.append({"quarantine": _rows(lake, "quarantine", "bronze_records", ["source_file", "record_no"]),
                           "bronze": _rows(lake, "bronze", CONTRACT, ["_source_file", "_record_no"])})  # fmt: skip
            spark.sql(f"SELECT raise_error('injected: the {zone} write failed')").collect()
        return real(df, path, *args, user_metadata=user_metadata, **kwargs)

    monkeypatch.setattr(delta_io, "append", append)
    return failed


def test_a_batch_that_fails_after_its_bronze_commit_is_replayed_not_duplicated(spark, registry, lake, monkeypatch):
    rels = [_land(lake, registry, u) for u in UNITS]
    failed = _fail_write(spark, lake, monkeypatch, lambda meta: not failed, zone="quarantine")  # once
    result = _run(spark, lake, registry, "run-partial")
    # it failed after the bronze write committed, and the retry replayed the same batch
    assert failed == [{"quarantine": [], "bronze": sorted((r, n) for r in rels for n in range(1, GOOD + 2) if n != 2)}]
    assert _status(result) == dict.fromkeys(rels, ledger.LOADED)
    assert len({f.batch_id for f in result.files}) == 1
    _assert_exactly_once(lake, rels)


def test_a_file_that_keeps_failing_fails_alone_and_loads_once_on_the_next_run(spark, registry, lake, monkeypatch):
    guilty, innocent = [_land(lake, registry, u) for u in UNITS]
    sha = hashlib.sha256(Path(lake.zone("landing"), guilty).read_bytes()).hexdigest()
    token = file_token(SimpleNamespace(rel=guilty, sha256=sha))
    _fail_write(spark, lake, monkeypatch, lambda meta: token in meta.get("files", []))
    first = _run(spark, lake, registry, "run-1")
    assert _status(first) == {guilty: ledger.FAILED, innocent: ledger.LOADED}
    # bronze is written first: the failing file committed nothing, the other all of itself
    assert _rows(lake, "quarantine", "bronze_records", ["source_file", "record_no"]) == [(innocent, 2)]
    monkeypatch.undo()  # the cause is fixed; the failed file is retried with the replay check
    second = _run(spark, lake, registry, "run-2")
    assert _status(second)[guilty] == ledger.LOADED
    _assert_exactly_once(lake, [guilty, innocent])


@pytest.fixture
def full_disk():
    """Mount a tiny tmpfs and fill it: a real ENOSPC for whatever writes there (needs root)."""
    mounted: list[Path] = []

    def mount(path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(path)], capture_output=True)
        if proc.returncode:
            pytest.skip(f"a full disk needs a tmpfs mount: {proc.stderr.decode().strip()}")
        mounted.append(path)
        with contextlib.suppress(OSError):
            (path / ".filler").write_bytes(b"\0" * (128 << 10))

    def clear() -> None:
        while mounted:
            subprocess.run(["umount", "-l", str(mounted.pop())], check=True)

    yield mount, clear
    clear()


def test_a_full_disk_is_an_infrastructure_failure_never_the_units_bad_data(spark, registry, lake, full_disk):
    mount, clear = full_disk
    rels = [_land(lake, registry, u) for u in UNITS]
    mount(Path(lake.table("bronze", CONTRACT)) / f"_logical_date={DAY}")  # where bronze writes the day's files
    with pytest.raises(StorageFailure, match=r"storage failure while loading bronze.parking_occupancy .*disk full") as err:
        _run(spark, lake, registry, "run-disk-full")
    assert "No space left on device" in str(err.value)  # the storage's own words, found in Spark's causes
    # nothing recorded against the units: no ledger row, nothing set aside, the files still pending
    assert _rows(lake, "_system", "run_ledger", ["file", "status"]) == []
    assert _rows(lake, "quarantine", "rejected_files", ["source_file"]) == []
    assert {s for _, s in _rows(lake, "_system", "file_manifest", ["file", "status"])} == {ledger.PENDING}
    clear()  # the disk has room again: the next run replays the pending batch
    result = _run(spark, lake, registry, "run-after")
    assert _status(result) == dict.fromkeys(rels, ledger.LOADED)
    _assert_exactly_once(lake, rels)


def test_a_file_still_being_written_waits_and_then_loads_whole(spark, registry, lake):
    unit = UNITS[0]
    rel = f"{unit}/{CONTRACT}/{DAY}/occupancy.csv"
    path = Path(lake.zone("landing"), rel)
    path.parent.mkdir(parents=True)
    data = _data(registry, unit)
    cut = data.index(b"\n", len(data) // 2) - 4  # inside a record
    with open(path, "wb") as upload:  # the unit's upload, still going when the run starts
        upload.write(data[:cut])
        upload.flush()
        early = _run(spark, lake, registry, "run-early", settle_s=60)
        upload.write(data[cut:])
    assert _status(early) == {rel: ledger.WAITING}
    assert "still being delivered" in (early.files[0].reason or "")
    # not loaded, not rejected, not in the manifest: only the run's ledger says it waits
    assert _rows(lake, "bronze", CONTRACT, ["_source_file"]) == []
    assert _rows(lake, "_system", "file_manifest", ["file"]) == []
    assert _rows(lake, "_system", "run_ledger", ["file", "status"]) == [(rel, ledger.WAITING)]
    settled = time.time() - 61
    os.utime(path, (settled, settled))  # the upload finished a minute ago
    later = _run(spark, lake, registry, "run-later", settle_s=60)
    assert _status(later) == {rel: ledger.LOADED}  # whole, and no conflict with what was seen before
    assert later.files[0].rows_landed == GOOD + 1
    _assert_exactly_once(lake, [rel])


class _Killed(BaseException):
    """The process stopping where it stands (no handler of the run's catches it)."""


def test_a_run_killed_between_the_bronze_commit_and_its_audit_is_audited_by_the_next(
    spark, registry, lake, monkeypatch
):
    """The audit record is the batch's "done" mark: a batch committed but not audited is not
    promoted, and the next run audits the same commits (writing nothing again) and releases it."""
    from citylake.lake import progress
    from jobs import bronze_batch
    from jobs.silver_conform import owed

    rels = [_land(lake, registry, u) for u in UNITS]

    def killed(*args, **kwargs):
        raise _Killed("stopped between the bronze commit and its audit")

    monkeypatch.setattr(bronze_batch, "_record_audit", killed)
    with pytest.raises(_Killed):
        _run(spark, lake, registry, "run-killed")
    monkeypatch.undo()
    contract = registry.contracts[CONTRACT]
    committed = _rows(lake, "bronze", CONTRACT, ["_source_file", "_record_no"])
    assert committed == sorted((r, n) for r in rels for n in range(1, GOOD + 2) if n != 2)
    assert ledger.read_rows(lake, "_system", "bronze_audit", ["batch_id"]) == []
    waiting = owed(lake, contract, progress.load(lake))
    assert waiting is None or not waiting.commits  # committed, not audited: silver waits
    version = delta_io.latest_version(spark, lake.table("bronze", CONTRACT))

    result = _run(spark, lake, registry, "run-after")
    assert _status(result) == dict.fromkeys(rels, ledger.LOADED)
    _assert_exactly_once(lake, rels)
    assert delta_io.latest_version(spark, lake.table("bronze", CONTRACT)) == version  # nothing written again
    audits = ledger.read_rows(lake, "_system", "bronze_audit", ["unit", "bronze_versions", "rows", "verdict"])
    assert sorted(a["unit"] for a in audits) == sorted(UNITS)
    assert all(a["bronze_versions"] == [version] and a["rows"] == GOOD and a["verdict"] != "failed" for a in audits)
    todo = owed(lake, contract, progress.load(lake))
    assert todo is not None and [b.version for b in todo.commits] == [version]
    assert all(not b.held for b in todo.commits)
