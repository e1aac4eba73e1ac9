"""The job profile: every Spark job started while it listens, with the records its tasks read."""

from __future__ import annotations

import threading

import pytest

from citylake.engine.job_profile import profiled

pytestmark = pytest.mark.spark


def test_counts_the_jobs_of_any_thread_and_the_records_each_read(spark, tmp_path):
    path = str(tmp_path / "numbers")
    spark.range(1000).write.parquet(path)
    spark.range(10).collect()  # before the profile: not counted

    def other_thread() -> None:
        spark.read.parquet(path).where("id % 3 = 0").collect()

    with profiled(spark) as profile:
        assert spark.read.parquet(path).where("id % 2 = 0").count() == 500
        t = threading.Thread(target=other_thread)
        t.start()
        t.join()
    # the count's scan read all 1000 rows, and so did the other thread's (neither filter can skip
    # a row group); range(10) before the profile is not there
    full = profile.reading(1000)
    assert len(full) == 2, profile.table()
    assert all(j.tasks >= 1 and j.seconds >= 0 and j.input_bytes > 0 for j in full)
    assert all(j.input_records <= 1000 for j in profile.jobs), profile.table()
    # every job is named: its call site, or for AQE's stage jobs their stage's name
    assert all(j.description for j in profile.jobs), profile.table()
    assert any("test_job_profile.py" in j.description for j in full), profile.table()


def test_an_empty_profile_when_no_job_ran(spark):
    with profiled(spark) as profile:
        pass
    assert profile.jobs == []
