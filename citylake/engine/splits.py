"""Where Spark cuts the landed files bronze reads, worked out in the driver before the read.

Bronze numbers records in the same pass that writes them: a record's number is its position in
its Spark partition plus the records of the file's earlier splits, which preflight counts at
each split's start while it reads the file anyway (citylake.lake.preflight_stream.Lines). That
needs two things of Spark's planner (``FilePartition``), which ``one_split_per_partition`` gets
by setting the cost of opening a file to the largest partition:

- no partition holds two splits (a split's open cost alone fills a partition), so a record's
  position in its task is its position in its split;
- every file is cut at the same places, whatever else the scan reads: Spark's rule
  ``max_split = min(maxPartitionBytes, max(openCostInBytes, total bytes / minPartitionNum))``
  is then ``maxPartitionBytes``, and splits start at its multiples below the file's size.

A read that meets a split this plan did not foresee fails, naming the file
(jobs.bronze_read.record_numbers), and the audit after the write checks that every file's
numbers run 1..n: a wrong plan is never a wrong number.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@dataclass(frozen=True)
class SplitPlan:
    max_partition_bytes: int
    open_cost_bytes: int
    min_partitions: int

    @classmethod
    def of(cls, spark: SparkSession) -> SplitPlan:
        """The session's settings, read from its SQLConf (the values the planner uses)."""
        session = spark._jsparkSession
        conf = session.sessionState().conf()
        minimum = conf.filesMinPartitionNum()
        return cls(
            int(conf.filesMaxPartitionBytes()),
            int(conf.filesOpenCostInBytes()),
            int(minimum.get()) if minimum.isDefined() else int(session.leafNodeDefaultParallelism()),
        )

    def max_split(self, size: int) -> int:
        per_core = (size + self.open_cost_bytes) // max(self.min_partitions, 1)
        return min(self.max_partition_bytes, max(self.open_cost_bytes, per_core))

    def starts(self, size: int) -> tuple[int, ...]:
        """Where the splits after the first begin, for a splittable file of ``size`` bytes."""
        step = self.max_split(size)
        return tuple(range(step, size, step))


OPEN_COST = "spark.sql.files.openCostInBytes"


@contextmanager
def one_split_per_partition(spark: SparkSession) -> Iterator[SplitPlan]:
    """While bronze reads landed files: one split per partition, files cut at multiples of
    maxPartitionBytes (see the module doc). Yields the plan those reads follow. The setting is
    the session's, so nothing else may read files in this session meanwhile (a run's steps
    take turns; bronze's batches all want the same)."""
    plan = SplitPlan.of(spark)
    before = spark.conf.get(OPEN_COST, None)
    spark.conf.set(OPEN_COST, str(plan.max_partition_bytes))
    try:
        yield SplitPlan(plan.max_partition_bytes, plan.max_partition_bytes, plan.min_partitions)
    finally:
        if before is None:
            spark.conf.unset(OPEN_COST)
        else:
            spark.conf.set(OPEN_COST, before)
