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
from typing import TYPE_CHECKING, Any

from citylake.config.registry import Registry
from citylake.engine.clock import lake_time
from citylake.lake import DQ_RESULTS, PUBLICATIONS, RUN_LEDGER, Lake
from citylake.lake.ledger import LOADED, PROBLEM_STATUSES

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

CADENCE_DAYS = {"15min": 1, "hourly": 1, "daily": 1, "weekly": 7}


def feed_status(spark: SparkSession, lake: Lake, registry: Registry, as_of: dt.date) -> list[dict[str, Any]]:
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    ledger_path, dq_path = lake.table("_system", RUN_LEDGER), lake.table("_system", DQ_RESULTS)
    per_day: dict[tuple[str, str], dict[str, Any]] = {}
    if DeltaTable.isDeltaTable(spark, ledger_path):
        led = newest_outcomes(
            spark.read.format("delta").load(ledger_path).where(F.col("logical_date") <= as_of)
        )
        rows = (
            led.groupBy("unit", "feed", "logical_date")
            .agg(
                F.sum(F.when(F.col("status") == LOADED, F.col("rows_bronze")).otherwise(0)).alias("rows"),
                F.sum("rows_landed").alias("landed"),
                F.sum(F.col("rows_quarantined") + F.coalesce(F.col("rows_dq_dropped"), F.lit(0))).alias(
                    "quarantined"
                ),
                F.max(F.col("status").isin(*PROBLEM_STATUSES).cast("int")).alias("problem"),
                F.max((F.col("status") == LOADED).cast("int")).alias("loaded"),
                F.count("schema_drift").alias("drift_files"),
                F.first("schema_drift", ignorenulls=True).alias("drift"),
            )
            .collect()
        )
        for r in rows:
            key = (r["unit"], r["feed"])
            if key not in per_day or r["logical_date"] > per_day[key]["logical_date"]:
                per_day[key] = r.asDict()
    dq: dict[tuple[str, str, dt.date], dict[str, int]] = {}
    if DeltaTable.isDeltaTable(spark, dq_path):
        from pyspark.sql import Window

        # the newest run that validated the unit/feed's day gives its verdict: a batch held
        # earlier that day stays held, but a corrected re-delivery that passed is the news
        results = (
            spark.read.format("delta").load(dq_path)
            .where((F.col("logical_date") <= as_of) & (F.col("layer") == "bronze"))
        )
        newest = Window.partitionBy("unit", "feed", "logical_date")
        agg = (
            results.withColumn("_last", F.max("recorded_at").over(newest))
            .where(F.col("recorded_at") == F.col("_last"))
            .groupBy("unit", "feed", "logical_date")
            .agg(
                F.sum(((F.col("severity") == "fail") & ~F.col("success")).cast("int")).alias("fail"),
                F.sum("failures").alias("failures"),
            )
            .collect()
        )  # fmt: skip
        for r in agg:
            dq[(r["unit"], r["feed"], r["logical_date"])] = {"fail": int(r["fail"] or 0),
                                                             "failures": int(r["failures"] or 0)}  # fmt: skip
    out: list[dict[str, Any]] = []
    for feed in registry.feeds():
        key = (feed.unit.unit, feed.spec.feed)
        day = per_day.get(key)
        if day is None:
            out.append({"unit": key[0], "feed": key[1], "last_date": None, "fresh": False, "rows": 0,
                        "quarantine_rate": None, "dq": None, "schema_drift": None})  # fmt: skip
            continue
        last: dt.date = day["logical_date"]
        sev = dq.get((*key, last), {})
        if day["problem"] or sev.get("fail", 0):
            verdict = "failed"
        elif sev.get("failures", 0):
            verdict = "warned"
        else:
            verdict = "passed"
        landed = int(day["landed"] or 0)
        out.append({
            "unit": key[0],
            "feed": key[1],
            "last_date": last.isoformat(),
            "fresh": (as_of - last).days <= CADENCE_DAYS[feed.cadence],
            "rows": int(day["rows"] or 0),
            "quarantine_rate": round(int(day["quarantined"] or 0) / landed, 6) if landed else None,
            "dq": verdict,
            "schema_drift": f"{day['drift_files']} file(s): {day['drift']}" if day["drift_files"] else None,
        })  # fmt: skip
    return out


def newest_outcomes(ledger: DataFrame) -> DataFrame:
    """One ledger row per landed file: its newest outcome (a failed file loaded on retry counts once)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    w = Window.partitionBy("file").orderBy(F.desc("finished_at"), F.desc("run_id"))
    final = ledger.where(F.col("status") != "skipped")
    return final.withColumn("_n", F.row_number().over(w)).where("_n = 1").drop("_n")


def dataset_status(spark: SparkSession, lake: Lake) -> list[dict[str, Any]]:
    """Per silver/gold dataset: the newest publication attempt and the version that is current."""
    from delta.tables import DeltaTable
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    path = lake.table("_system", PUBLICATIONS)
    if not DeltaTable.isDeltaTable(spark, path):
        return []
    pubs = spark.read.format("delta").load(path).where(~F.col("status").isin("empty", "unchanged"))
    newest = Window.partitionBy("dataset").orderBy(F.desc("recorded_at"))
    good = (
        pubs.where(F.col("status") == "published")
        .groupBy("dataset")
        .agg(F.max("recorded_at").alias("last_published_at"))
    )
    rows = (
        pubs.withColumn("_n", F.row_number().over(newest))
        .where("_n = 1")
        .join(good, "dataset", "left")
        .orderBy("layer", "dataset")
        .collect()
    )
    return [
        {
            "dataset": r["dataset"],
            "layer": r["layer"],
            "last_run": r["run_id"],
            "logical_date": r["logical_date"].isoformat() if r["logical_date"] else None,
            "status": r["status"],
            "current_version": r["delta_version"],
            "validation_id": r["validation_id"],
            # collect() gives this process's local time: shown in the lake's clock, with its offset
            "last_published_at": lake_time(r["last_published_at"], naive_is_local=True).isoformat(
                timespec="seconds"
            )
            if r["last_published_at"]
            else None,
            "reason": r["reason"],
        }
        for r in rows
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
