"""A storage failure is the run's infrastructure failure: its own status, exit code and message."""

from __future__ import annotations

import datetime as dt
import errno

from citylake.engine.faults import StorageFailure
from citylake.lake import ledger
from citylake.runs import pipeline

DAY = dt.date(2026, 11, 20)


def test_a_storage_fault_is_recorded_as_the_runs_infrastructure_failure(lake):
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as full:
            raise RuntimeError("the ledger append failed") from full
    except RuntimeError as exc:
        failure = pipeline.infrastructure_failure(lake, "run-x", DAY, dt.datetime.now(), exc)
    assert isinstance(failure, StorageFailure) and "storage failure: disk full: OSError:" in str(failure)
    rows = ledger.read_rows(lake, "_system", "runs", ["run_id", "status", "detail"])
    assert [(r["run_id"], r["status"]) for r in rows] == [("run-x", "infrastructure_failure")]
    assert "disk full" in rows[0]["detail"]
    # any other error is left alone: it is not the storage's
    assert pipeline.infrastructure_failure(lake, "run-y", DAY, dt.datetime.now(), ValueError("bad data")) is None


def test_the_command_exits_5_and_says_the_units_data_was_not_blamed(lake, monkeypatch, capsys):
    from citylake import cli

    def broken(*args, **kwargs):
        raise StorageFailure("storage failure while loading bronze.x (batch b, 1 file(s)): disk full: "
                             "org.apache.hadoop.fs.FSError: java.io.IOException: No space left on device")  # fmt: skip

    monkeypatch.setattr(pipeline, "run_daily", broken)
    monkeypatch.setenv("CITYLAKE_LAKE_ROOT", lake.root)
    assert cli.main(["run", "--date", DAY.isoformat()]) == 5
    err = capsys.readouterr().err
    assert "citylake run: infrastructure failure: storage failure while loading bronze.x" in err
    assert "no unit's file was rejected or set aside" in err
