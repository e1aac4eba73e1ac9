"""The data-subject request ledger (no Spark: delta-rs writes and reads it): its hash chain holds,
names the row someone edited or deleted, and feeds `citylake status` and the run-health report
their open and overdue requests."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import re
from pathlib import Path

import pytest
from deltalake import DeltaTable

from citylake import cli
from citylake.lake import RUNS, subject_ledger
from citylake.lake.ledger import append_rows
from citylake.lake.status import request_status
from citylake.lake.subject_ledger import LedgerError, record, verify_chain
from citylake.lake.subjects import Subject

KEY = b"citylake-tests-only-not-a-secret"
TODAY = dt.date(2026, 11, 20)
ALICE = Subject(1, {"resident_id": "11010519491231002X", "mobile": "13800138000"})
BOB = Subject(2, {"name": "王小明", "licence_plate": "京A12345"})


def _fill(lake) -> None:
    """Four requests, nine rows: one overdue, one done, one open in time, one failed and overdue."""
    record(lake, "DSR-1", "erase", [ALICE.ref(KEY)], "received", received_on=dt.date(2026, 10, 1))
    record(lake, "DSR-2", "export", [BOB.ref(KEY)], "received", received_on=dt.date(2026, 11, 10))
    record(lake, "DSR-1", "erase", None, "in_progress", outcome={"tables": 3, "rows": 7})
    record(lake, "DSR-2", "export", None, "done", outcome={"packages": 1})
    record(
        lake,
        "DSR-3",
        "restrict",
        [ALICE.ref(KEY), BOB.ref(KEY)],
        "received",
        received_on=dt.date(2026, 11, 15),
    )
    record(lake, "DSR-4", "locate", [BOB.ref(KEY)], "received", received_on=dt.date(2026, 11, 1), due_days=10)
    record(lake, "DSR-4", "locate", None, "failed", reason="storage timed out")
    record(lake, "DSR-3", "restrict", None, "in_progress")
    # received after the as-of date: not yet a request on it
    record(lake, "DSR-5", "erase", [BOB.ref(KEY)], "received", received_on=dt.date(2026, 11, 25))


def _unlocked(lake) -> DeltaTable:
    """The ledger as someone with write access to the lake would edit it: appendOnly lifted."""
    table = DeltaTable(subject_ledger.path(lake))
    table.alter.set_table_properties({"delta.appendOnly": "false"})
    return DeltaTable(subject_ledger.path(lake))


def test_rows_chain_and_keep_the_request_dates(lake):
    assert subject_ledger.head(lake) == (0, subject_ledger.GENESIS) and verify_chain(lake) == []
    _fill(lake)
    rows = subject_ledger.all_rows(lake)
    assert [r["seq"] for r in rows] == list(range(1, 10))
    assert all(r["prev_digest"] == p["digest"] for p, r in zip(rows, rows[1:], strict=False))
    assert subject_ledger.head(lake) == (9, rows[-1]["digest"])
    assert verify_chain(lake) == []
    first, later = subject_ledger.rows_of(lake, "DSR-1")
    assert (first["received_on"], first["due_on"]) == (dt.date(2026, 10, 1), dt.date(2026, 10, 31))
    assert (later["received_on"], later["due_on"], later["subject_refs"]) == (
        first["received_on"], first["due_on"], [ALICE.ref(KEY)])  # fmt: skip
    assert later["legal_basis"] == "PIPL Art. 47" and json.loads(later["outcome"]) == {"rows": 7, "tables": 3}
    assert subject_ledger.rows_of(lake, "DSR-3")[0]["legal_basis"] == "PIPL Art. 47(2)"
    # the ledger is append-only: delta-rs itself refuses to change a row
    with pytest.raises(Exception, match="append-only"):
        DeltaTable(subject_ledger.path(lake)).update(predicate="seq = 1", updates={"status": "'done'"})


def test_an_edited_row_is_named(lake):
    _fill(lake)
    _unlocked(lake).update(predicate="seq = 3", updates={"outcome": '\'{"rows":0,"tables":0}\''})
    problems = verify_chain(lake)
    by_seq = [p for p in problems if p.startswith("seq ")]
    assert by_seq == ["seq 3: digest mismatch: the row was changed after it was recorded"]
    assert any("SET TBLPROPERTIES" in p for p in problems) and any(": UPDATE " in p for p in problems)


def test_an_edit_with_a_fresh_digest_breaks_the_next_link(lake):
    _fill(lake)
    row = subject_ledger.rows_of(lake, "DSR-2")[1]  # seq 4
    forged = subject_ledger.digest_of(row["prev_digest"], {**row, "status": "failed"})
    _unlocked(lake).update(predicate="seq = 4", updates={"status": "'failed'", "digest": f"'{forged}'"})
    assert [p for p in verify_chain(lake) if p.startswith("seq ")] == [
        "seq 5: broken link: prev_digest is not seq 4's digest"
    ]


def test_a_deleted_row_is_named(lake):
    _fill(lake)
    _unlocked(lake).delete("seq = 6")
    problems = verify_chain(lake)
    assert [p for p in problems if p.startswith("seq ")] == [
        "seq 6: missing: a row was deleted (seq 7 follows seq 5)",
        "seq 7: broken link: prev_digest is not seq 5's digest",
    ]
    assert any(": DELETE " in p for p in problems)


def test_two_appends_outside_the_lock_are_named(lake):
    _fill(lake)
    rows = subject_ledger.all_rows(lake)
    # a second writer that read the same head: its row takes seq 9 again
    twin = {**rows[-1], "request_id": "DSR-6", "recorded_at": dt.datetime.now(dt.UTC)}
    twin["digest"] = subject_ledger.digest_of(twin["prev_digest"], twin)
    subject_ledger._append(lake, twin)
    problems = verify_chain(lake)
    assert "seq 9: duplicate: more than one row has this seq" in problems
    assert not [p for p in problems if "digest mismatch" in p or "table version" in p]


def test_open_and_overdue_on_a_fixed_day(lake):
    _fill(lake)
    states = {s.request_id: s for s in subject_ledger.requests(lake, TODAY)}
    assert {k: (s.status, s.open, s.overdue, s.days_left) for k, s in states.items()} == {
        "DSR-1": ("in_progress", True, True, -20),
        "DSR-2": ("done", False, False, 20),
        "DSR-3": ("in_progress", True, False, 25),
        "DSR-4": ("failed", True, True, -9),
        "DSR-5": ("received", True, False, 35),
    }
    shown = request_status(lake, TODAY)
    assert [(r["request_id"], r["overdue"], r["days_left"]) for r in shown] == [
        ("DSR-1", True, -20), ("DSR-4", True, -9), ("DSR-3", False, 25)]  # fmt: skip
    assert shown[2]["subjects"] == 2 and shown[1]["reason"] == "storage timed out"


def test_the_ledger_takes_references_and_counts_only(lake):
    with pytest.raises(LedgerError, match=r"subject_refs \[1\] are not subject references") as refused:
        record(lake, "DSR-9", "erase", [ALICE.hashes(KEY)["resident_id"]], "received")
    assert ALICE.hashes(KEY)["resident_id"] not in str(refused.value)
    with pytest.raises(LedgerError, match="request_id looks like a resident ID") as refused:
        record(lake, ALICE.values["resident_id"], "erase", [ALICE.ref(KEY)], "received")
    assert ALICE.values["resident_id"] not in str(refused.value)
    with pytest.raises(LedgerError, match="outcome looks like a mobile number"):
        record(
            lake, "DSR-9", "erase", [ALICE.ref(KEY)], "received", outcome={"mobile": ALICE.values["mobile"]}
        )
    assert subject_ledger.head(lake)[0] == 0  # nothing was written
    # a failure's reason is recorded, with what looks like a value cut out
    row = record(lake, "DSR-9", "erase", [ALICE.ref(KEY)], "failed",
                 reason=f"bad literal '{ALICE.values['mobile']}' in x")  # fmt: skip
    assert row["reason"] == "bad literal '[mobile number removed]' in x"
    # counts are numbers, not text: a byte count with a mobile number's shape is fine
    record(lake, "DSR-9", "erase", None, "done", outcome={"bytes_scanned": 13_912_345_678})
    assert verify_chain(lake) == []
    stored = b"".join(p.read_bytes() for p in Path(lake.root).rglob("*") if p.is_file())
    assert not [n for n in ALICE.needles(KEY) if n in stored]


def test_status_and_the_run_report_show_the_requests(lake, registry, monkeypatch):
    from citylake.pages import report, report_page

    _fill(lake)
    monkeypatch.setenv("CITYLAKE_LAKE_ROOT", lake.root)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(["status", "--requests", "--json", "--as-of", TODAY.isoformat()]) == 3  # 2 overdue
    shown = json.loads(out.getvalue())
    assert shown["as_of"] == "2026-11-20"
    assert [(r["request_id"], r["overdue"]) for r in shown["subject_requests"]] == [
        ("DSR-1", True), ("DSR-4", True), ("DSR-3", False)]  # fmt: skip
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(["status", "--requests", "--as-of", TODAY.isoformat()]) == 3
    assert "3 open data-subject requests as of 2026-11-20, 2 overdue" in out.getvalue()
    assert "20 overdue" in out.getvalue()

    now = dt.datetime(2026, 11, 20, 2, 0, tzinfo=dt.UTC)
    append_rows(lake, "_system", RUNS, [{"run_id": "run-1", "logical_date": TODAY, "status": "ok", "started_at": now,
                                         "finished_at": now, "duration_s": 1.0, "files": 0, "rows_landed": 0,
                                         "rows_bronze": 0, "rows_quarantined": 0, "failed_feeds": 0,
                                         "detail": "{}"}])  # fmt: skip
    data = report.gather(lake, registry, TODAY, days=2)
    assert data["subject_requests"] == {"open": 3, "overdue": 2, "overdue_ids": ["DSR-1", "DSR-4"]}
    html = report_page.render(data)
    assert re.search(r'id="requests-open">3<.*id="requests-overdue">2 overdue<', html, re.S)
