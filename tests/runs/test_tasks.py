"""Task plumbing that needs no Spark: the failure callback and the unit check."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from citylake.runs import tasks


def test_failure_callback_writes_the_failure_and_calls_the_alert_hook(tmp_path, monkeypatch):
    monkeypatch.setenv("CITYLAKE_LAKE_ROOT", str(tmp_path / "lake"))
    ti = SimpleNamespace(dag_id="citylake_ingest", task_id="bronze_silver", try_number=2)
    alerts = []
    tasks.on_failure(
        {"task_instance": ti, "ds": "2026-11-20", "exception": ValueError("disk full")}, alerts.append
    )
    from deltalake import DeltaTable

    rows = DeltaTable(str(tmp_path / "lake" / "_system" / "task_failures")).to_pyarrow_table().to_pylist()
    assert len(rows) == 1 and rows[0].pop("recorded_at") is not None
    event = {"dag_id": "citylake_ingest", "task_id": "bronze_silver",
             "logical_date": "2026-11-20", "try_number": 2, "error": "disk full"}  # fmt: skip
    assert rows == [event] and alerts == [event]


def test_alert_hook_is_pluggable_by_environment(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("CITYLAKE_LAKE_ROOT", str(tmp_path / "lake"))
    monkeypatch.setenv("CITYLAKE_ALERT_HOOK", "citylake.runs.tasks:log_alert")
    ti = SimpleNamespace(dag_id="citylake_mart__dt_city_objects", task_id="build_publish", try_number=1)
    with caplog.at_level("ERROR", logger="citylake.alerts"):
        tasks.on_failure({"task_instance": ti, "ds": "2026-11-21", "exception": RuntimeError("gate refused")})
    assert "citylake_mart__dt_city_objects" in caplog.text and "gate refused" in caplog.text


def test_check_fails_a_partial_run_naming_the_held_units():
    tasks.check({"status": "ok", "run_id": "r", "held_feeds": []})
    with pytest.raises(RuntimeError, match="op_teld/ev_charging_sessions"):
        tasks.check({"status": "partial", "run_id": "r",
                     "held_feeds": [{"unit": "op_teld", "feed": "ev_charging_sessions"}]})  # fmt: skip


@pytest.mark.spark
def test_maintenance_compacts_fragmented_tables_and_keeps_a_week_of_history(spark, tmp_path, monkeypatch):
    import os
    import time
    from pathlib import Path

    from citylake.lake import Lake

    lake = Lake(str(tmp_path / "lake"))
    silver, quarantine = lake.table("silver", "parking_occupancy"), lake.table("quarantine", "dq_rows")
    bronze = lake.table("bronze", "parking_lots")
    staging = lake.table("_system", "staging/silver/parking_occupancy")
    # a MERGE or an append a day, each a small file: version 0 holds one, version 1 the rest
    # (one commit of many files fragments the table as many commits do, at a fraction of the cost)
    spark.range(0, 10).coalesce(1).write.format("delta").mode("append").save(silver)
    n = tasks.SMALL_FILES + 3
    spark.range(10, n * 10, numPartitions=n - 1).write.format("delta").mode("append").save(silver)
    for i in range(2):
        spark.range(i, i + 1).write.format("delta").mode("append").save(quarantine)
        spark.range(i, i + 5).write.format("delta").mode("overwrite").save(staging)
    spark.range(3).write.format("delta").option("delta.appendOnly", "true").save(bronze)
    # a killed write's file: in the table's folder, named by no commit, older than the retention
    orphans = {}
    old = time.time() - (tasks.VACUUM_RETENTION_HOURS + 1) * 3600
    for table in (bronze, quarantine, silver):
        orphans[table] = Path(table) / "part-00000-aborted-write.snappy.parquet"
        orphans[table].write_bytes(b"PAR1 rows of a write that never committed PAR1")
        os.utime(orphans[table], (old, old))
    young = Path(bronze) / "part-00001-write-under-way.snappy.parquet"
    young.write_bytes(b"PAR1 rows of a write still running PAR1")
    recent = time.time() - (tasks.VACUUM_RETENTION_HOURS - 1) * 3600
    os.utime(young, (recent, recent))
    monkeypatch.setenv("CITYLAKE_LAKE_ROOT", lake.root)

    sc = spark.sparkContext
    sc.setJobGroup("maintain-under-test", "maintenance")
    try:
        done = tasks.maintain("2026-11-20")
    finally:
        sc.setLocalProperty("spark.jobGroup.id", None)
    # no step fans out wider than a shuffle: Spark's default listing parallelism (10000) made
    # each VACUUM FULL of these one-file tables run 10000 tasks
    tracker = sc.statusTracker()
    stages = [tracker.getStageInfo(s) for j in tracker.getJobIdsForGroup("maintain-under-test")
              for s in tracker.getJobInfo(j).stageIds]  # fmt: skip
    widest = max(st.numTasks for st in stages if st is not None)
    assert widest <= int(spark.conf.get("spark.sql.shuffle.partitions")), widest

    assert done["optimized"] == ["silver.parking_occupancy"]  # the 2-file table is left alone
    assert {"silver.parking_occupancy", "quarantine.dq_rows", "bronze.parking_lots"} <= set(done["vacuumed"])
    assert done["staging_vacuumed"] == ["silver.parking_occupancy"]
    # records as sent are vacuumed FULL: the orphan goes; LITE (the log's removals only) keeps it
    assert sorted(done["vacuumed_full"]) == ["bronze.parking_lots", "quarantine.dq_rows"]
    assert not orphans[bronze].exists() and not orphans[quarantine].exists()
    assert orphans[silver].exists()
    assert spark.read.format("delta").load(bronze).count() == 3
    # at the week's retention, never 0 hours: a file younger than that (a write under way) stays
    assert young.exists()

    def files(path):
        return spark.sql(f"DESCRIBE DETAIL delta.`{path}`").first()["numFiles"]

    assert files(silver) == 1 and files(quarantine) == 2
    ids = [r.id for r in spark.read.format("delta").load(silver).orderBy("id").collect()]
    assert ids == list(range((tasks.SMALL_FILES + 3) * 10))  # compaction changed no data
    ops = [r.operation for r in spark.sql(f"DESCRIBE HISTORY delta.`{silver}`").collect()]
    assert ops[0].startswith("VACUUM") and "OPTIMIZE" in ops
    # the retention keeps a week of time travel: the first version's files are still there
    assert spark.read.format("delta").option("versionAsOf", 0).load(silver).count() == 10
    assert sorted(r.id for r in spark.read.format("delta").load(staging).collect()) == [1, 2, 3, 4, 5]
