"""Per-feed fixed cost of the Airflow layout: one ingest task per contract, each its own process.

Every registered feed delivers one tiny file; then each contract's `bronze_silver` task runs as
Airflow would run it (a fresh Python process, so a fresh JVM), one after the other. Prints the
total, the seconds per feed amortized, and the per-task times.

Usage: .venv/bin/python benchmarks/dag_overhead.py [--scale 0.01]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from tiny_day import DAY, scale_arg, tiny_day

TASK = "import sys; from citylake import tasks; print(tasks.ingest(sys.argv[1], sys.argv[2])['status'])"


def main() -> None:
    day = DAY
    with tiny_day(scale_arg()) as (reg, lake, _):
        env = {**os.environ, "CITYLAKE_LAKE_ROOT": lake.root, "CITYLAKE_EXECUTION": "embedded"}
        per_task = {}
        t0 = time.perf_counter()
        for contract in reg.contracts_in_use():
            t = time.perf_counter()
            proc = subprocess.run([sys.executable, "-c", TASK, contract.contract, day.isoformat()], env=env,
                                  capture_output=True, text=True)  # fmt: skip
            if proc.returncode != 0:
                raise SystemExit(f"{contract.contract}: {proc.stderr[-2000:]}")
            per_task[contract.contract] = round(time.perf_counter() - t, 1)
            # as it goes, so a run cut short still says where the time went
            print(f"{contract.contract}: {per_task[contract.contract]} s", file=sys.stderr, flush=True)
        total = time.perf_counter() - t0
    feeds = sum(1 for _ in reg.feeds())
    print(json.dumps({"units": len(reg.units), "feeds": feeds, "tasks": len(per_task), "total_s": round(total, 1),
                      "per_feed_s": round(total / feeds, 3), "per_task_s": per_task}, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
