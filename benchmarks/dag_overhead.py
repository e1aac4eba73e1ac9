"""Per-feed fixed cost of the Airflow layout, against one task (one JVM) per contract.

Every registered feed delivers one tiny file. The `citylake_ingest` DAG's Spark task runs as a
worker would run it: a fresh Python process, so a fresh JVM, for every unit of the day. For
comparison, a one-task-per-contract layout runs on a sample of contracts in a second lake and
is extrapolated to all of them. Prints seconds per feed for both.

Usage: .venv/bin/python benchmarks/dag_overhead.py [--scale 0.01] [--sample 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from tiny_day import DAY, tiny_day

TASK = (
    "import json, sys; from citylake.runs import tasks; "
    "out = tasks.ingest(sys.argv[1], (), [c for c in sys.argv[2:]]); print(json.dumps(out['status']))"
)


def task_seconds(lake_root: str, contracts: list[str]) -> float:
    """One ingest task in its own process, as Airflow runs it; its wall time."""
    env = {**os.environ, "CITYLAKE_LAKE_ROOT": lake_root, "CITYLAKE_EXECUTION": "embedded"}
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", TASK, DAY.isoformat(), *contracts], env=env,
                          capture_output=True, text=True)  # fmt: skip
    if proc.returncode != 0 or '"ok"' not in proc.stdout:
        raise SystemExit(f"ingest {contracts or 'all'}: {proc.stdout[-500:]} {proc.stderr[-2000:]}")
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=0.01)
    ap.add_argument("--sample", type=int, default=3, help="contracts timed one task each")
    args = ap.parse_args()
    with tiny_day(args.scale) as (reg, lake, _):
        feeds = sum(1 for _ in reg.feeds())
        one_task_s = task_seconds(lake.root, [])
        print(f"one task for the day: {one_task_s:.1f} s", file=sys.stderr, flush=True)
    contracts = [c.contract for c in reg.contracts_in_use()]
    sample = contracts[:: max(1, len(contracts) // args.sample)][: args.sample]
    with tiny_day(args.scale) as (_, lake, _):
        per_contract = {c: round(task_seconds(lake.root, [c]), 1) for c in sample}
    print(f"one task per contract, sample: {per_contract}", file=sys.stderr, flush=True)
    per_contract_total = sum(per_contract.values()) / len(sample) * len(contracts)
    print(json.dumps({
        "units": len(reg.units), "feeds": feeds, "contracts": len(contracts),
        "one_task_s": round(one_task_s, 1), "per_feed_s": round(one_task_s / feeds, 3),
        "per_contract_sample_s": per_contract,
        "per_contract_layout_s_extrapolated": round(per_contract_total, 1),
        "per_contract_layout_per_feed_s": round(per_contract_total / feeds, 3),
    }, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
