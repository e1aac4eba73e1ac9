"""Do observed metrics come back with a Delta append? A study script for issue 37, not a gate.

    .venv/bin/python -m benchmarks.study_observe [rows]

Bronze in one pass needs its counts (rows, unparsed rows, failures per check) from the write
itself: ``DataFrame.observe`` adds them to the write's plan. The question is whether Delta's
append (a V1 ``SaveIntoDataSourceCommand`` that runs the data's plan as an inner execution)
delivers them, and whether they are there when ``save()`` returns, so the audit that follows
can read them without waiting. Each case writes a fresh table through citylake's own append
(``citylake.engine.delta_io.append``: txnAppId/txnVersion and userMetadata, as bronze does)
and checks, right after ``save()`` returns, whether the observation's future is complete, how
long ``get`` then takes, and whether the counts equal an independent count of the table.

Cases: unpartitioned; partitioned by day; AQE off; a shuffle (repartition) before the write;
4 threads at once, each with its own table and observation; and an append Delta skips because
its txnVersion was committed already (what a replay after a crash does).
"""

from __future__ import annotations

import json
import sys
import tempfile
import threading
import time
from typing import Any

from citylake.config.settings import load_settings
from citylake.engine import delta_io
from citylake.engine.spark import get_spark


def _frame(spark: Any, rows: int) -> Any:
    from pyspark.sql import functions as F

    return (
        spark.range(rows)
        .withColumn("day", F.date_add(F.lit("2026-11-20").cast("date"), (F.col("id") % 3).cast("int")))
        .withColumn("bad", F.when(F.col("id") % 97 == 0, F.lit("raw text")))
    )


def _observed(df: Any, name: str) -> tuple[Any, Any]:
    from pyspark.sql import Observation
    from pyspark.sql import functions as F

    obs = Observation(name)
    return df.observe(obs, F.count(F.lit(1)).alias("rows"), F.count("bad").alias("bad")), obs


def _case(spark: Any, root: str, name: str, rows: int, **how: Any) -> dict[str, Any]:
    df = _frame(spark, rows)
    if how.get("repartition"):
        df = df.repartition(how["repartition"], "day")
    df, obs = _observed(df, name)
    path = f"{root}/{name}"
    t = time.perf_counter()
    delta_io.append(df, path, txn_app_id=f"study-{name}", txn_version=1, user_metadata={"case": name},
                    partition_by=("day",) if how.get("partitioned") else ())  # fmt: skip
    save_s = time.perf_counter() - t
    done_at_return = bool(obs._jo.future().isCompleted())
    t = time.perf_counter()
    got = obs.get
    wait_s = time.perf_counter() - t
    table = spark.read.format("delta").load(path)
    want = {"rows": table.count(), "bad": table.where("bad IS NOT NULL").count()}
    out = {"case": name, "save_s": round(save_s, 2), "complete_when_save_returned": done_at_return,
           "get_wait_s": round(wait_s, 3), "observed": got, "table": want, "equal": got == want}  # fmt: skip
    if how.get("replay"):  # the same txnVersion again: Delta skips the write; are metrics still delivered?
        df2, obs2 = _observed(_frame(spark, rows), f"{name}_replay")
        delta_io.append(df2, path, txn_app_id=f"study-{name}", txn_version=1, user_metadata={"case": name})
        out["replay_complete_when_save_returned"] = bool(obs2._jo.future().isCompleted())
        out["replay_versions"] = spark.sql(f"DESCRIBE HISTORY delta.`{path}`").count()
    return out


def main(argv: list[str]) -> int:
    rows = int(argv[0]) if argv else 1_000_000
    spark = get_spark("citylake-study-observe", load_settings())
    root = tempfile.mkdtemp(prefix="study-observe-")
    _case(spark, root, "warmup", 1000)
    results = [
        _case(spark, root, "plain", rows),
        _case(spark, root, "partitioned", rows, partitioned=True),
        _case(spark, root, "shuffled", rows, repartition=4, partitioned=True),
        _case(spark, root, "replayed", rows, replay=True),
    ]
    spark.conf.set("spark.sql.adaptive.enabled", "false")
    results.append(_case(spark, root, "aqe_off", rows, partitioned=True))
    spark.conf.set("spark.sql.adaptive.enabled", "true")
    threaded: list[dict[str, Any]] = []
    threads = [threading.Thread(target=lambda n=n: threaded.append(_case(spark, root, f"thread{n}", rows // 4,
                                                                          partitioned=True)))  # fmt: skip
               for n in range(4)]  # fmt: skip
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    results += sorted(threaded, key=lambda r: r["case"])
    for r in results:
        print(json.dumps(r, sort_keys=True))
    return 0 if all(r["equal"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
