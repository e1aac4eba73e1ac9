"""The lake's run lock: one writer at a time, a clear error naming the holder, no deadlock after a kill."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from citylake.engine.storage import LocalStore
from citylake.lake import Lake, runlock

DAY = dt.date(2026, 11, 20)

HOLD = """
import datetime as dt, sys, time
from citylake.lake import runlock
from citylake.lake import Lake
with runlock.hold(Lake(sys.argv[1]), "run-holder", dt.date(2026, 11, 20)):
    print("HELD", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _holder(lake: Lake, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, lake.root, str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "HELD"
    return proc


def test_a_second_run_stops_at_once_naming_the_run_that_holds_the_lake(lake):
    with runlock.hold(lake, "run-20261120-first", DAY):
        t = time.perf_counter()
        with pytest.raises(runlock.LakeBusy) as err, runlock.hold(lake, "run-20261120-second", DAY):
            pass
        assert time.perf_counter() - t < 2
    msg = str(err.value)
    assert "run run-20261120-first for 2026-11-20 holds it" in msg and f"pid {os.getpid()}" in msg
    assert "--wait" in msg
    # released: the next run takes it
    with runlock.hold(lake, "run-20261120-third", DAY):
        assert runlock.holder(lake)["run_id"] == "run-20261120-third"
    assert runlock.holder(lake) is None


def test_a_waiting_run_goes_on_when_the_holder_finishes(lake):
    proc = _holder(lake, 3)
    with pytest.raises(runlock.LakeBusy, match="run-holder"), runlock.hold(lake, "run-eager", DAY):
        pass
    t = time.perf_counter()
    with runlock.hold(lake, "run-patient", DAY, wait_s=60):
        waited = time.perf_counter() - t
        assert runlock.holder(lake)["run_id"] == "run-patient"
    assert proc.wait(timeout=10) == 0
    assert 0.5 < waited < 30


def test_a_holder_killed_with_sigkill_does_not_block_the_next_run(lake):
    proc = _holder(lake, 600)
    assert runlock.holder(lake)["run_id"] == "run-holder"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    # its lock file stays behind, but its process is gone: the lock is free at once
    assert runlock.holder(lake) is None
    with runlock.hold(lake, "run-after-kill", DAY):
        assert runlock.holder(lake)["run_id"] == "run-after-kill"


def _lock_file(lake: Lake, generation: int) -> str:
    return f"{lake.zone('_system')}/locks/pipeline/{generation:010d}.json"


def _remote(lake: Lake, generation: int = 1, beat: int = 0, lease_s: float = 1.0) -> str:
    """A lock generation as a run on another host writes it; its wall clock is an hour off ours."""
    path = _lock_file(lake, generation)
    record = {"run_id": "run-elsewhere", "date": "2026-11-20", "host": "another-host", "pid": 1, "beat": beat,
              "lease_s": lease_s, "heartbeat": time.time() + 3600}  # fmt: skip
    LocalStore().write_bytes(path, json.dumps(record).encode())
    return path


def test_a_holder_on_another_host_that_beats_holds_the_lake(lake, monkeypatch):
    monkeypatch.setattr(runlock, "POLL_S", 0.1)
    path = _remote(lake, lease_s=60)
    stop = threading.Event()

    def beat() -> None:  # its heartbeat: the counter moves, whatever its clock says
        n = 0
        while not stop.wait(0.2):
            n += 1
            record = json.loads(Path(path).read_text())
            LocalStore().write_bytes(path, json.dumps({**record, "beat": n}).encode())

    threading.Thread(target=beat, daemon=True).start()
    try:
        assert runlock.holder(lake)["run_id"] == "run-elsewhere"
        t = time.perf_counter()
        with pytest.raises(runlock.LakeBusy, match="run-elsewhere") as err, runlock.hold(lake, "run-here", DAY):
            pass
        assert time.perf_counter() - t < 5  # one beat seen moving is enough; no lease to wait out
        assert "still beating" in str(err.value) and "s ago" not in str(err.value)  # no clock of ours vs its
    finally:
        stop.set()


def test_a_holder_on_another_host_is_gone_once_its_beat_stands_still_for_its_lease(lake, monkeypatch):
    """Measured on our own clock: its heartbeat stamp, an hour in our future, is never read."""
    monkeypatch.setattr(runlock, "POLL_S", 0.1)
    _remote(lake, lease_s=1.0)
    t = time.perf_counter()
    with runlock.hold(lake, "run-here", DAY):
        assert time.perf_counter() - t >= 1.0  # it watched the beat for the holder's whole lease
        assert runlock.holder(lake)["run_id"] == "run-here"


STALLS = """
import datetime as dt, json, socket, sys
socket.gethostname = lambda: "stalled-host"  # another host, as far as the lake can tell
from citylake.lake import Lake, ledger, runlock
runlock.HEARTBEAT_S, runlock.LEASE_S, runlock.GUARD_S = 0.2, 2.0, 0.5
lake = Lake(sys.argv[1])
row = lambda status: [{"run_id": "run-stalled", "logical_date": dt.date(2026, 11, 20), "status": status}]
with runlock.hold(lake, "run-stalled", dt.date(2026, 11, 20)):
    ledger.append_rows(lake, "_system", "runs", row("before the stall"))
    print("HELD", flush=True)
    sys.stdin.readline()  # stopped here (SIGSTOP) while another run takes the lake, then let go
    try:
        ledger.append_rows(lake, "_system", "runs", row("after the stall"))
        print("WROTE", flush=True)
    except runlock.LockLost as exc:
        print("LOST", exc, flush=True)
"""


def test_a_stalled_holder_that_resumes_after_another_run_took_the_lake_writes_nothing(lake, monkeypatch):
    from citylake.lake import ledger

    monkeypatch.setattr(runlock, "POLL_S", 0.1)
    child = subprocess.Popen([sys.executable, "-c", STALLS, lake.root], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert child.stdout is not None and child.stdin is not None
        assert child.stdout.readline().strip() == "HELD"
        os.kill(child.pid, signal.SIGSTOP)  # a paused VM, a stopped process: its heartbeat stops too
        its_lock = Path(_lock_file(lake, 1)).read_text()
        t = time.perf_counter()
        with runlock.hold(lake, "run-taker", DAY):
            assert time.perf_counter() - t >= 2.0  # its beat stood still for its lease, on our clock
            ledger.append_rows(lake, "_system", "runs", [{"run_id": "run-taker", "logical_date": DAY,
                                                           "status": "taken over"}])  # fmt: skip
            os.kill(child.pid, signal.SIGCONT)
            child.stdin.write("go\n")
            child.stdin.flush()
            said = child.stdout.readline()
            assert child.wait(timeout=30) == 0
        assert said.startswith("LOST") and "lost the lake's lock (generation 1" in said, said
        assert "without writing" in said
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
    rows = ledger.read_rows(lake, "_system", "runs", ["run_id", "status"])
    assert sorted(r["status"] for r in rows) == ["before the stall", "taken over"]  # nothing after the stall
    assert Path(_lock_file(lake, 1)).read_text() == its_lock  # nor a beat or a release into the lock


def test_a_holder_whose_lease_lapsed_stops_before_its_next_commit(lake, monkeypatch):
    """Even when nobody took the lake: from outside it could not be told from a dead holder."""
    from citylake.lake import ledger

    row = [{"run_id": "run-slow", "logical_date": DAY, "status": "x"}]
    with runlock.hold(lake, "run-slow", DAY):
        ledger.append_rows(lake, "_system", "runs", row)
        later = runlock._clock() + runlock.LEASE_S  # the process slept through its lease
        monkeypatch.setattr(runlock, "_clock", lambda: later)
        with pytest.raises(runlock.LockLost, match="its lease lapsed"):
            ledger.append_rows(lake, "_system", "runs", row)
    assert len(ledger.read_rows(lake, "_system", "runs", ["run_id"])) == 1


@pytest.mark.spark
def test_no_spark_write_once_another_run_took_the_lake(spark, lake):
    from citylake.engine import delta_io
    from citylake.engine.delta_log import latest_version

    path = lake.table("bronze", "fence_probe")
    with runlock.hold(lake, "run-fenced", DAY):
        delta_io.append(spark.range(3), path)
        _remote(lake, generation=2)  # the next generation, taken by a run elsewhere
        with pytest.raises(runlock.LockLost, match="another run took generation 2"):
            delta_io.append(spark.range(3), path)
    assert latest_version(path) == 0 and spark.read.format("delta").load(path).count() == 3
    assert json.loads(Path(_lock_file(lake, 2)).read_text())["run_id"] == "run-elsewhere"  # left alone
