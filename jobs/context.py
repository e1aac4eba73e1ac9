"""What every job's ``run()`` is given by its caller (the daily runner, an Airflow task, a test)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from citylake.config.registry import Registry
    from citylake.lake import Lake


class JobRun(NamedTuple):
    """One run of the pipeline: the shared SparkSession, the lake, the registry, the logical date
    and the run's id. Unpacks as ``spark, lake, registry, date, run_id = job``."""

    spark: SparkSession
    lake: Lake
    registry: Registry
    date: dt.date
    run_id: str
