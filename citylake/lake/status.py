"""`citylake status`: one line per unit/feed, from the ledger and the DQ results.

A feed is fresh when its newest loaded date is within its declared cadence of the as-of date
(15-minute, hourly and daily feeds arrive as daily files, so they may be one day old; weekly
feeds seven). DQ is "failed" when a ``fail`` expectation failed (the batch was held back from silver) or the
newest delivery was rejected, failed or conflicted; "warned" when any expectation found bad
rows; else "passed". A feed that never delivered has ``last_date`` and ``dq`` null and is not
fresh. ``dataset_status`` does the same for silver and gold: the newest publication attempt of
each dataset, and the version readers currently get. ``request_status`` lists the open
data-subject requests (citylake.lake.subject_ledger), overdue ones first.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from citylake.config.registry import Registry
from citylake.engine.clock import lake_time
from citylake.lake import DQ_RESULTS, PUBLICATIONS, RUN_LEDGER, Lake
from citylake.lake.ledger import LOADED, PROBLEM_STATUSES, read_rows

CADENCE_DAYS = {"15min": 1, "hourly": 1, "daily": 1, "weekly": 7}


def newest_outcomes(ledger: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One ledger row per landed file: its newest outcome (a failed file loaded on retry counts
    once); ``skipped`` rows are not outcomes."""
    best: dict[str, dict[str, Any]] = {}
    for r in ledger:
        if r["status"] == "skipped":
            continue
        have = best.get(r["file"])
        if have is None or _outcome_order(r) > _outcome_order(have):
            best[r["file"]] = r
    return list(best.values())


def _outcome_order(r: dict[str, Any]) -> tuple[Any, str]:
    return (r["finished_at"] or _EPOCH, r["run_id"] or "")


_EPOCH = dt.datetime.min.replace(tzinfo=dt.UTC)
_LEDGER = ["run_id", "file", "unit", "feed", "logical_date", "status", "finished_at", "rows_landed", "rows_bronze",
           "rows_quarantined", "rows_dq_dropped", "schema_drift"]  # fmt: skip


def feed_status(lake: Lake, registry: Registry, as_of: dt.date) -> list[dict[str, Any]]:
    """One row per registered unit/feed (its newest logical date up to ``as_of``). No JVM: the
    ledger and the DQ results are read with delta-rs, so an alert can run it every minute."""
    per_day: dict[tuple[str, str, dt.date], dict[str, Any]] = {}
    for r in sorted(newest_outcomes(read_rows(lake, "_system", RUN_LEDGER, _LEDGER, [("logical_date", "<=", as_of)])),
                    key=lambda r: r["file"]):  # fmt: skip
        day = per_day.setdefault((r["unit"], r["feed"], r["logical_date"]), {
            "logical_date": r["logical_date"], "rows": 0, "landed": 0, "quarantined": 0, "problem": False,
            "drift_files": 0, "drift": None})  # fmt: skip
        if r["status"] == LOADED:
            day["rows"] += r["rows_bronze"] or 0
        day["landed"] += r["rows_landed"] or 0
        day["quarantined"] += (r["rows_quarantined"] or 0) + (r["rows_dq_dropped"] or 0)
        day["problem"] |= r["status"] in PROBLEM_STATUSES
        if r["schema_drift"] is not None:
            day["drift_files"] += 1
            day["drift"] = day["drift"] or r["schema_drift"]
    newest: dict[tuple[str, str], dict[str, Any]] = {}
    for (unit, name, date), day in per_day.items():
        if (unit, name) not in newest or date > newest[(unit, name)]["logical_date"]:
            newest[(unit, name)] = day
    dq = _newest_verdicts(lake, as_of)
    out: list[dict[str, Any]] = []
    for feed in registry.feeds():
        key = (feed.unit.unit, feed.spec.feed)
        found = newest.get(key)
        if found is None:
            out.append({"unit": key[0], "feed": key[1], "last_date": None, "fresh": False, "rows": 0,
                        "quarantine_rate": None, "dq": None, "schema_drift": None})  # fmt: skip
            continue
        last: dt.date = found["logical_date"]
        sev = dq.get((*key, last), {})
        if found["problem"] or sev.get("fail", 0):
            verdict = "failed"
        elif sev.get("failures", 0):
            verdict = "warned"
        else:
            verdict = "passed"
        landed = found["landed"]
        out.append({
            "unit": key[0],
            "feed": key[1],
            "last_date": last.isoformat(),
            "fresh": (as_of - last).days <= CADENCE_DAYS[feed.cadence],
            "rows": found["rows"],
            "quarantine_rate": round(found["quarantined"] / landed, 6) if landed else None,
            "dq": verdict,
            "schema_drift": f"{found['drift_files']} file(s): {found['drift']}" if found["drift_files"] else None,
        })  # fmt: skip
    return out


def _newest_verdicts(lake: Lake, as_of: dt.date) -> dict[tuple[str, str, dt.date], dict[str, int]]:
    """(unit, feed, day) -> its ``fail`` checks broken and bad rows found, by the newest run that
    validated it: a batch held earlier that day stays held, but a corrected re-delivery that
    passed is the news."""
    cols = ["unit", "feed", "logical_date", "recorded_at", "severity", "success", "failures"]
    rows = read_rows(lake, "_system", DQ_RESULTS, cols, [("logical_date", "<=", as_of), ("layer", "=", "bronze")])
    last: dict[tuple[str, str, dt.date], Any] = {}
    for r in rows:
        key = (r["unit"], r["feed"], r["logical_date"])
        if r["recorded_at"] is not None and (key not in last or r["recorded_at"] > last[key]):
            last[key] = r["recorded_at"]
    out: dict[tuple[str, str, dt.date], dict[str, int]] = {}
    for r in rows:
        key = (r["unit"], r["feed"], r["logical_date"])
        if r["recorded_at"] != last.get(key):
            continue
        sev = out.setdefault(key, {"fail": 0, "failures": 0})
        sev["fail"] += int(r["severity"] == "fail" and not r["success"])
        sev["failures"] += r["failures"] or 0
    return out


def dataset_status(lake: Lake) -> list[dict[str, Any]]:
    """Per silver/gold dataset: the newest publication attempt and the version that is current
    (no JVM, as feed_status)."""
    cols = ["dataset", "layer", "run_id", "logical_date", "status", "delta_version", "validation_id", "reason",
            "recorded_at"]  # fmt: skip
    newest: dict[str, dict[str, Any]] = {}
    published: dict[str, Any] = {}
    for r in read_rows(lake, "_system", PUBLICATIONS, cols):
        if r["status"] in ("empty", "unchanged"):
            continue
        when = r["recorded_at"] or _EPOCH
        if r["dataset"] not in newest or when > (newest[r["dataset"]]["recorded_at"] or _EPOCH):
            newest[r["dataset"]] = r
        if r["status"] == "published" and when > published.get(r["dataset"], _EPOCH):
            published[r["dataset"]] = when
    return [
        {
            "dataset": r["dataset"],
            "layer": r["layer"],
            "last_run": r["run_id"],
            "logical_date": r["logical_date"].isoformat() if r["logical_date"] else None,
            "status": r["status"],
            "current_version": r["delta_version"],
            "validation_id": r["validation_id"],
            "last_published_at": lake_time(published[r["dataset"]]).isoformat(timespec="seconds")
            if r["dataset"] in published
            else None,
            "reason": r["reason"],
        }
        for r in sorted(newest.values(), key=lambda r: (r["layer"], r["dataset"]))
    ]


def request_status(lake: Lake, as_of: dt.date) -> list[dict[str, Any]]:
    """Data-subject requests received by ``as_of`` and not done, overdue first, each with its
    days left (negative: overdue). No JVM: the ledger is read with delta-rs."""
    from citylake.lake import subject_ledger

    states = [s for s in subject_ledger.requests(lake, as_of) if s.open and s.received_on <= as_of]
    return [s.json() for s in sorted(states, key=lambda s: (not s.overdue, s.due_on, s.request_id))]


def pipeline_status(lake: Lake, registry: Registry, as_of: dt.date, days: int = 14) -> list[dict[str, Any]]:
    """Per logical date: ``ok``, or ``incomplete`` with what each step still owes for it.

    A day is incomplete while landed files wait for bronze (never seen, or pending from a run
    that stopped), while bronze batches of it wait for silver, while marts have not been built
    from what its runs promoted, or while a published snapshot lags gold. No JVM: the progress
    table, the tables' logs, the manifest and the landing listing answer it.
    """
    from citylake.lake import RUNS, ledger, progress, runlock
    from citylake.lake.landing import new_deliveries

    runs = ledger.read_rows(lake, "_system", RUNS, ["run_id", "logical_date", "status", "started_at"],
                            [("logical_date", "<=", as_of)])  # fmt: skip
    newest: dict[dt.date, dict[str, Any]] = {}
    finished = {r["run_id"] for r in runs if r["status"] != "running"}
    for r in sorted(runs, key=lambda r: r["started_at"] or dt.datetime.min.replace(tzinfo=dt.UTC)):
        newest[r["logical_date"]] = r
    owed = progress.owed(lake, registry)
    dates = sorted({*newest, *(d for o in owed for d in o.dates if d <= as_of)})[-days:]
    holder = runlock.holder(lake)
    out = []
    for day in dates:
        items = [o.json() for o in owed if day in o.dates]
        waiting = new_deliveries(lake, registry, day.isoformat())
        if waiting:
            items.insert(0, {"step": "bronze", "target": "bronze", "dates": [day.isoformat()],
                             "detail": f"{len(waiting)} landed file(s) no run has finished with"})  # fmt: skip
        last = newest.get(day)
        note = None
        if last and last["run_id"] not in finished:
            alive = holder is not None and holder.get("run_id") == last["run_id"]
            note = f"run {last['run_id']} " + ("is running" if alive else "stopped before it finished")
        out.append({"date": day.isoformat(), "status": "incomplete" if items else "ok", "owed": items,
                    "last_run": last["run_id"] if last else None, "note": note})  # fmt: skip
    return out


def attention(
    pipeline: list[dict[str, Any]] | None = None,
    feeds: list[dict[str, Any]] | None = None,
    datasets: list[dict[str, Any]] | None = None,
    requests: list[dict[str, Any]] | None = None,
) -> list[tuple[str, str]]:
    """What makes `citylake status` exit 3, so an alert can run it (as `dbt source freshness`
    does): (kind, line naming it), the most urgent kinds first: a feed held by the quality gate,
    a dataset whose newest publication failed, an overdue data-subject request, an incomplete
    day, a stale feed."""
    out = [("held feed", f"{f['unit']}/{f['feed']}: held by the quality gate on {f['last_date']}")
           for f in feeds or [] if f["dq"] == "failed"]  # fmt: skip
    out += [("failed publication", f"{d['dataset']}: newest publication failed")
            for d in datasets or [] if d["status"] == "failed"]  # fmt: skip
    out += [("overdue request", f"request {r['request_id']}: overdue") for r in requests or [] if r["overdue"]]
    out += [("incomplete day", f"{d['date']}: incomplete") for d in pipeline or [] if d["status"] != "ok"]
    out += [("stale feed", f"{f['unit']}/{f['feed']}: stale (last date {f['last_date'] or 'never'})")
            for f in feeds or [] if not f["fresh"]]  # fmt: skip
    return out
