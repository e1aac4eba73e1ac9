"""What data-quality validation adds to the bronze job, measured side by side in one process.

The same generated day is ingested into fresh lakes, in turn without any validation and with it
(row tags, the per unit/feed gate counts and the GX suites), in both GX modes: ``batched`` (the
default: GX does not recount what the ingest pass counted) and ``native`` (GX recounts every
row-level expectation). Reported per mode:
- ``validation_share``: the job's own measured validation time / job wall time (validation
  runs beside the Delta write, so this is what it costs, not all of what it adds);
- ``added_wall_share``: (median job with validation - median job without) / median job with.
Both must stay <= 0.15. The job must take >= 30 s, or the ratio says nothing.

Usage: .venv/bin/python benchmarks/validation_overhead.py [--scale 0.2] [--reps 2]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from citylake.config.registry import load_registry
from citylake.config.settings import REPO_ROOT
from citylake.generate import generate
from citylake.lake import Lake
from citylake.quality.gx_runner import GxProject
from jobs import bronze_ingest
from jobs.context import JobRun

DAY = dt.date(2026, 11, 20)
TARGET = 0.15
MODES = ("none", "batched", "native")  # none: no row tags, gate counts or GX at all


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=0.2)
    ap.add_argument("--reps", type=int, default=2)
    args = ap.parse_args()
    reg = load_registry()
    from citylake.engine.spark import get_spark

    spark = get_spark("citylake-bench-validation")
    with tempfile.TemporaryDirectory() as tmp:
        source = Lake(f"{tmp}/source")
        reports = generate(reg, DAY, args.scale, None, source)
        # warm the JVM and GX once, so neither mode pays first-use costs
        warm = Lake(f"{tmp}/warm")
        generate(reg, DAY, 0.01, ["op_teld", "d310104_gov_service"], warm)
        bronze_ingest.run(JobRun(spark, warm, reg, DAY, "bench-warm"))
        runs: dict[str, list[dict[str, float]]] = {m: [] for m in MODES}
        for rep in range(args.reps):
            for mode in MODES if rep % 2 == 0 else MODES[::-1]:
                lake = Lake(f"{tmp}/lake-{rep}-{mode}")
                shutil.copytree(Path(source.zone("landing")), Path(lake.zone("landing")))
                gx = GxProject(lake, REPO_ROOT / "expectations", mode=mode) if mode != "none" else None
                t0 = time.perf_counter()
                job = JobRun(spark, lake, reg, DAY, f"bench-{rep}-{mode}")
                result = bronze_ingest.run(job, gx=gx, validate=mode != "none")
                wall = time.perf_counter() - t0
                runs[mode].append({"wall_s": wall, "validation_s": result.timings.get("validation_s", 0.0),
                                       "gx_s": result.timings.get("gx_s", 0.0)})  # fmt: skip
                print(json.dumps({"mode": mode, **{k: round(v, 1) for k, v in result.timings.items()}}),
                      flush=True)  # fmt: skip
                shutil.rmtree(lake.root)
    without_s = statistics.median(r["wall_s"] for r in runs["none"])
    out: dict[str, object] = {
        "scale": args.scale,
        "records": sum(r.records for r in reports),
        "files": len(reports),
        "reps": args.reps,
        "job_without_validation_s": round(without_s, 1),
        "target": TARGET,
    }
    for mode in ("batched", "native"):
        with_s = statistics.median(r["wall_s"] for r in runs[mode])
        validation_s = statistics.median(r["validation_s"] for r in runs[mode])
        out[mode] = {
            "job_with_validation_s": round(with_s, 1),
            "validation_s": round(validation_s, 1),
            "gx_s": round(statistics.median(r["gx_s"] for r in runs[mode]), 1),
            "validation_share": round(validation_s / with_s, 3),
            "added_wall_share": round((with_s - without_s) / with_s, 3),
            "job_long_enough": with_s >= 30,
        }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
