"""The run-health report's numbers: one run of a logical date, from the ops tables alone.

Read with delta-rs (no JVM), so `citylake report` is quick and the run pays little for it:
the run (``ops.runs``), each unit/feed's files, rows, quarantine rate, DQ verdict and
freshness (``ops.run_ledger``, ``ops.dq_results``), the last N days per contract, the
datasets the run published (``ops.publications``), and the open and overdue data-subject
requests on the date (``ops.subject_requests``). citylake.pages.report_page draws them.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from typing import Any

from citylake.config.registry import Registry
from citylake.engine import delta_log
from citylake.lake import DQ_RESULTS, PUBLICATIONS, RUN_LEDGER, RUNS, Lake
from citylake.lake.ledger import LOADED, PROBLEM_STATUSES
from citylake.lake.status import CADENCE_DAYS, newest_outcomes, request_status

REPORTS = "reports"
RUN_COLUMNS = ("run_id logical_date status started_at finished_at duration_s files rows_landed rows_bronze "
               "rows_quarantined failed_feeds detail")  # fmt: skip
LEDGER_COLUMNS = ("run_id logical_date unit feed contract file status reason rows_landed rows_bronze "
                  "rows_quarantined rows_dq_dropped finished_at")  # fmt: skip
DQ_COLUMNS = "unit feed logical_date severity success failures expectation_id observed"
PUBLICATION_COLUMNS = "layer dataset status rows delta_version validation_id reason"


class NoRun(LookupError):
    pass


def _table(
    lake: Lake, name: str, columns: str, where: list[tuple[str, str, Any]] | None = None
) -> list[dict[str, Any]]:
    return delta_log.rows(lake.table("_system", name), columns.split(), where)


def gather(lake: Lake, registry: Registry, date: dt.date, days: int = 14) -> dict[str, Any]:
    """Everything the report shows for the newest finished run of ``date``; NoRun if none."""
    runs = [
        r for r in _table(lake, RUNS, RUN_COLUMNS, [("logical_date", "=", date)]) if r["status"] != "running"
    ]
    if not runs:
        raise NoRun(f"no finished run for {date} in ops.runs")
    run = max(runs, key=lambda r: (r["finished_at"], r["run_id"]))
    detail = json.loads(run["detail"] or "{}")
    since = date - dt.timedelta(days=days - 1)
    ledger = newest_outcomes(_table(lake, RUN_LEDGER, LEDGER_COLUMNS, [("logical_date", "<=", date)]))
    window = [("layer", "=", "bronze"), ("logical_date", ">=", since), ("logical_date", "<=", date)]
    dq = _table(lake, DQ_RESULTS, DQ_COLUMNS, window)
    failing = defaultdict(list)  # (unit, feed, day) -> the fail expectations it broke
    warned: set[tuple[str, str, dt.date]] = set()
    for r in dq:
        key = (r["unit"], r["feed"], r["logical_date"])
        if r["severity"] == "fail" and not r["success"]:
            failing[key].append(f"{r['expectation_id']} ({r['observed'] or 'failed'})")
        elif r["failures"]:
            warned.add(key)
    last_loaded: dict[tuple[str, str], dt.date] = {}
    for r in ledger:
        if r["status"] == LOADED:
            feed = (r["unit"], r["feed"])
            last_loaded[feed] = max(last_loaded.get(feed, r["logical_date"]), r["logical_date"])
    feeds = [_feed_row(f, date, ledger, failing, warned, last_loaded) for f in registry.feeds()]
    feeds.sort(key=lambda f: (f["verdict"] != "failed", f["fresh"], f["unit"], f["feed"]))
    requests = request_status(lake, date)
    return {
        "date": date.isoformat(),
        "days": days,
        "run": {k: run[k] for k in ("run_id", "status", "started_at", "finished_at", "duration_s", "files",
                                    "rows_landed", "rows_bronze", "rows_quarantined", "failed_feeds")},
        "steps": _steps(detail.get("timings", {})),
        "owed": detail.get("owed", []),
        "feeds": feeds,
        "history": _history(registry, ledger, failing, since, date),
        "published": sorted(
            ({k: p[k] for k in ("layer", "dataset", "status", "rows", "delta_version", "validation_id", "reason")}
             for p in _table(lake, PUBLICATIONS, PUBLICATION_COLUMNS, [("run_id", "=", run["run_id"])])),
            key=lambda p: (p["layer"] != "gold", p["dataset"])),
        "subject_requests": {"open": len(requests), "overdue": sum(r["overdue"] for r in requests),
                             "overdue_ids": [r["request_id"] for r in requests if r["overdue"]]},
    }  # fmt: skip


def _steps(timings: dict[str, Any]) -> dict[str, float]:
    """Seconds per step in run order, bronze's own parts after it ("bronze/preflight")."""
    top = ("bronze", "silver", "gold")
    parts = [
        k.removesuffix("_s")
        for k in timings
        if k.endswith("_s") and k.removesuffix("_s") not in (*top, "total")
    ]
    order = ["bronze", *(f"bronze/{p}" for p in parts), "silver", "gold"]
    secs = {**{f"bronze/{p}": timings[f"{p}_s"] for p in parts}, **{t: timings.get(f"{t}_s") for t in top}}
    return {k: round(float(secs[k]), 2) for k in order if isinstance(secs.get(k), int | float)}


def _feed_row(feed: Any, date: dt.date, ledger: list[dict[str, Any]], failing: dict[Any, list[str]],
              warned: set[Any], last_loaded: dict[Any, dt.date]) -> dict[str, Any]:  # fmt: skip
    key = (feed.unit.unit, feed.spec.feed)
    files = [r for r in ledger if (r["unit"], r["feed"]) == key and r["logical_date"] == date]
    landed = sum(r["rows_landed"] or 0 for r in files)
    quarantined = sum((r["rows_quarantined"] or 0) + (r["rows_dq_dropped"] or 0) for r in files)
    reasons = failing.get((*key, date), []) + [
        f"{r['file'].rsplit('/', 1)[-1]}: {r['status']}: {r['reason']}"
        for r in files
        if r["status"] in PROBLEM_STATUSES
    ]
    if reasons:
        verdict = "failed"
    elif not files:
        verdict = "no delivery"
    else:
        verdict = "warned" if (*key, date) in warned else "passed"
    last = last_loaded.get(key)
    return {
        "unit": key[0],
        "feed": key[1],
        "contract": feed.contract.contract,
        "files": len(files),
        "rows_landed": landed,
        "rows_bronze": sum(r["rows_bronze"] or 0 for r in files if r["status"] == LOADED),
        "quarantine_rate": round(quarantined / landed, 6) if landed else None,
        "verdict": verdict,
        "reasons": reasons,
        "cadence": feed.cadence,
        "last_loaded": last.isoformat() if last else None,
        "fresh": last is not None and (date - last).days <= CADENCE_DAYS[feed.cadence],
    }


def _history(registry: Registry, ledger: list[dict[str, Any]], failing: dict[Any, list[str]],
             since: dt.date, date: dt.date) -> dict[str, Any]:  # fmt: skip
    """Per contract and day: rows landed, quarantine rate, held unit/feeds."""
    days = [since + dt.timedelta(days=i) for i in range((date - since).days + 1)]
    contracts = sorted({f.contract.contract for f in registry.feeds()})
    landed = {c: [0] * len(days) for c in contracts}
    quarantined = {c: [0] * len(days) for c in contracts}
    held = {c: [0] * len(days) for c in contracts}
    index = {d: i for i, d in enumerate(days)}
    for r in ledger:
        i = index.get(r["logical_date"])
        if i is None or r["contract"] not in landed:
            continue
        landed[r["contract"]][i] += r["rows_landed"] or 0
        quarantined[r["contract"]][i] += (r["rows_quarantined"] or 0) + (r["rows_dq_dropped"] or 0)
    contract_of = {(f.unit.unit, f.spec.feed): f.contract.contract for f in registry.feeds()}
    for unit, feed, day in failing:
        if (unit, feed) in contract_of and day in index:
            held[contract_of[(unit, feed)]][index[day]] += 1
    return {
        "days": [d.isoformat() for d in days],
        "rows_landed": landed,
        "quarantine_rate": {c: [round(q / n, 6) if n else None for q, n in zip(quarantined[c], landed[c], strict=True)]
                            for c in contracts},
        "held_feeds": held,
    }  # fmt: skip
