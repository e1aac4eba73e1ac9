"""Which Spark jobs a piece of work ran, and what each read (jvm/src/org/citylake/metrics).

``with profiled(spark) as profile:`` registers a listener in the driver, and on leaving waits
for Spark's listener bus to drain and removes it; ``profile.jobs`` then holds every job that
started meanwhile, from any thread: its time, the bytes and records its tasks read from files,
its task count and Spark's description (the call site). The benchmarks print it to say where a
run's time goes; the tests count with it how many jobs read a whole batch, which no timing
noise can hide.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@dataclass(frozen=True)
class Job:
    id: int
    seconds: float
    input_bytes: int
    input_records: int
    tasks: int
    description: str


@dataclass
class Profile:
    jobs: list[Job] = field(default_factory=list)

    def reading(self, records: int) -> list[Job]:
        """The jobs whose tasks read at least ``records`` records from files."""
        return [j for j in self.jobs if j.input_records >= records]

    def table(self) -> str:
        """One line per job, for people."""
        lines = [f"{'job':>5} {'s':>7} {'MB read':>9} {'records read':>13} {'tasks':>6}  call site"]
        lines += [f"{j.id:>5} {j.seconds:7.2f} {j.input_bytes / 1e6:9.1f} {j.input_records:>13} {j.tasks:>6}  "
                  f"{j.description}" for j in self.jobs]  # fmt: skip
        return "\n".join(lines)


def _drain(spark: SparkSession) -> None:
    spark.sparkContext._jsc.sc().listenerBus().waitUntilEmpty()


@contextmanager
def profiled(spark: SparkSession) -> Iterator[Profile]:
    sc = spark.sparkContext
    jvm = sc._jvm
    assert jvm is not None
    _drain(spark)  # jobs that ended before are not this work's
    listener = jvm.org.citylake.metrics.JobProfile()
    sc._jsc.sc().addSparkListener(listener)
    profile = Profile()
    try:
        yield profile
    finally:
        _drain(spark)
        sc._jsc.sc().removeSparkListener(listener)
        for row in listener.rows():
            job, start, end, read, records, tasks, what = str(row).split("\t", 6)
            seconds = (int(end) - int(start)) / 1000 if int(end) >= 0 else float("nan")
            profile.jobs.append(Job(int(job), seconds, int(read), int(records), int(tasks), what))
