"""The lake's run lock: one writer at a time, a clear error naming the holder, no deadlock after a kill."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time

import pytest

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


def test_a_holder_on_another_host_is_free_once_its_heartbeat_is_stale(lake, monkeypatch):
    import json

    from citylake.engine.storage import LocalStore

    path = f"{lake.zone('_system')}/locks/pipeline/{1:010d}.json"
    record = {"run_id": "run-elsewhere", "date": "2026-11-20", "host": "another-host", "pid": 1,
              "heartbeat": time.time()}  # fmt: skip
    assert LocalStore().create_exclusive(path, json.dumps(record).encode())
    assert runlock.holder(lake)["run_id"] == "run-elsewhere"
    with pytest.raises(runlock.LakeBusy, match="run-elsewhere"), runlock.hold(lake, "run-here", DAY):
        pass
    monkeypatch.setattr(runlock, "STALE_S", 0.0)
    with runlock.hold(lake, "run-here", DAY):
        assert runlock.holder(lake)["run_id"] == "run-here"
