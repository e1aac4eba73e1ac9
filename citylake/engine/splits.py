"""Where Spark cuts a file it reads on its own into splits, worked out in the driver before the read.

Bronze numbers records in the same pass that writes them: a record's number is its position in
its split plus the records of the file's earlier splits, which preflight counts at each split's
start while it reads the file anyway (citylake.lake.preflight_stream.Lines). So the starts must
be known before preflight, from the sizes and the session's settings, with Spark's own rule
(``FilePartition.maxSplitBytes``, a scan of one file):

    max_split = min(maxPartitionBytes, max(openCostInBytes, (size + openCostInBytes) / minPartitionNum))

and splits start at 0, max_split, 2 * max_split, ... below the size. A read that meets a split
this plan did not foresee fails, naming the file (jobs.bronze_read.record_numbers), and the audit
after the write checks that every file's numbers run 1..n: a wrong plan is never a wrong number.
"""

from __future__ import annotations

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
