"""Fixed cost per feed: every registered feed delivers one tiny file; one run ingests them all.

Usage: .venv/bin/python benchmarks/per_feed_overhead.py [--scale 0.01]
Prints seconds per feed, amortized over the bronze run (session start-up excluded, reported apart).
"""

from __future__ import annotations

import json
import time

from tiny_day import DAY, scale_arg, tiny_day

from jobs import bronze_ingest


def main() -> None:
    day = DAY
    with tiny_day(scale_arg()) as (reg, lake, reports):
        t0 = time.perf_counter()
        from citylake.spark import get_spark

        spark = get_spark("citylake-bench-per-feed")
        session_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        result = bronze_ingest.run(spark, lake, reg, day, "bench-per-feed")
        run_s = time.perf_counter() - t1
        feeds = len({(r.unit, r.feed) for r in reports})
        print(
            json.dumps(
                {
                    "feeds": feeds,
                    "files": len(reports),
                    "records": sum(r.records for r in reports),
                    "session_start_s": round(session_s, 2),
                    "bronze_run_s": round(run_s, 2),
                    "per_feed_overhead_s": round(run_s / feeds, 3),
                    "status": result.status,
                    "timings": {k: round(v, 2) for k, v in result.timings.items()},
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
