"""What the class archive saves a process: alternating runs with and without it.

Each run is a fresh process that starts a session, writes a 100-row Delta table and reads it
back, the fixed part of every CLI run and Airflow task. `python -m benchmarks.class_archive [pairs]`
prints each run and the medians.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys

PROCESS = """
import json, tempfile, time
t0 = time.perf_counter()
from citylake.engine.spark import get_spark
spark = get_spark("class-archive-bench")
t1 = time.perf_counter()
path = tempfile.mkdtemp()
spark.range(100).selectExpr("id", "id % 7 AS k").write.format("delta").save(path)
spark.read.format("delta").load(path).groupBy("k").count().collect()
print(json.dumps({"session_s": t1 - t0, "process_s": time.perf_counter() - t0}))
"""


def one(archive: str) -> dict[str, float]:
    env = {**os.environ, "CITYLAKE_CLASS_ARCHIVE": archive}
    proc = subprocess.run(
        [sys.executable, "-c", PROCESS], env=env, capture_output=True, text=True, timeout=600
    )
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(pairs: int = 5) -> dict[str, dict[str, float]]:
    runs: dict[str, list[dict[str, float]]] = {"on": [], "off": []}
    for _ in range(pairs):
        for archive in ("on", "off"):
            runs[archive].append(one(archive))
            print(archive, {k: round(v, 2) for k, v in runs[archive][-1].items()}, flush=True)
    medians = {a: {k: round(statistics.median(r[k] for r in rs), 2) for k in rs[0]} for a, rs in runs.items()}
    print(json.dumps(medians))
    return medians


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
