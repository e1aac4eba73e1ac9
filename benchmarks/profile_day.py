"""Where a generated day's time goes, contract by contract: a study script, not a gate.

    .venv/bin/python -m benchmarks.profile_day [bench_scale] [workers]

Generates the bench's day at scale 2 (a warm-up run, as the bench's larger scales come after
smaller ones in its session) and at ``bench_scale`` (default 8), each in a lake of its own, and
runs the daily run on each with ``workers`` contracts at a time (default 1, so the per-contract
seconds add up to the step's). Prints, for the measured run, each step's seconds, the slowest
contracts of bronze and silver and the slowest marts, and the Spark actions by kind.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import shutil
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from citylake.config.registry import load_registry
from citylake.config.settings import load_settings
from citylake.engine.job_profile import profiled
from citylake.generate import generate
from citylake.lake import Lake

DAY = dt.date(2026, 11, 20)
BASE_SCALE = 0.25  # generator scale of bench scale 1 (benchmarks/run.py)
SPENT: dict[str, float] = defaultdict(float)
_where = threading.local()


def _timed(owner: Any, name: str, label: Any) -> None:
    """Time ``owner.name``; ``label``: a string, or a function of the call's arguments."""
    fn = getattr(owner, name)

    @functools.wraps(fn)
    def timed(*args: Any, **kwargs: Any) -> Any:
        name = label if isinstance(label, str) else label(*args, **kwargs)
        outer = getattr(_where, "step", None)
        if not name.startswith("action"):
            _where.step = name
        t = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            spent = time.perf_counter() - t
            SPENT[name] += spent
            if name.startswith("action") and outer:
                SPENT[f"{outer} | {name[8:]}"] += spent
            _where.step = outer

    setattr(owner, name, timed)


def _instrument() -> None:
    from pyspark.sql.classic.dataframe import DataFrame

    import jobs.bronze_batch as bronze
    import jobs.gold_publish as gold
    import jobs.silver_conform as silver
    from citylake.engine import delta_io

    _timed(bronze, "ingest_batch", lambda _s, _l, contract, *a, **k: f"bronze {contract.contract}")
    _timed(silver, "promote_contract", lambda _s, _l, todo, *a, **k: f"silver {todo.contract.contract}")
    _timed(gold, "publish_mart", lambda *a, **k: f"gold {next(x for x in a if hasattr(x, 'mart')).mart}")
    import jobs.bronze_audit as audit

    _timed(DataFrame, "collect", "action: collect (bronze drift keys, silver counts, gold checks)")
    _timed(audit, "count_files", "action: bronze's audit, per-file counts (delta-rs)")
    _timed(audit, "count_duplicates", "action: bronze's audit, duplicates (delta-rs)")
    _timed(delta_io, "append", "action: Delta append (bronze, quarantine, silver insert, system tables)")
    _timed(silver, "merge", "action: silver insert or MERGE")


def _day(scale: float, root: Path) -> Lake:
    lake = Lake(str(root))
    generate(load_registry(load_settings().registry_dir), DAY, scale * BASE_SCALE, lake=lake)
    return lake


def main() -> None:
    from citylake.engine.spark import get_spark
    from citylake.runs.pipeline import run_daily

    scale = float(sys.argv[1]) if len(sys.argv) > 1 else 8.0
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    settings = dataclasses.replace(load_settings(), concurrency=workers)
    spark = get_spark("citylake-profile-day", settings)
    tmp = Path(tempfile.mkdtemp(prefix="citylake-profile-day-"))
    try:
        for label, s in (("warm-up", 2.0), ("measured", scale)):
            lake = _day(s, tmp / label)
            conf = dataclasses.replace(settings, lake_root=lake.root)
            if label == "measured":
                _instrument()
            t = time.perf_counter()
            with profiled(spark) as profile:
                run = run_daily(DAY, conf, spark)
            total = time.perf_counter() - t
            print(f"{label} run, bench scale {s:g}: {total:.1f} s ({run.status}), {len(profile.jobs)} Spark jobs")
        steps = {k: round(v, 1) for k, v in run.timings.items() if k.endswith("_s")}
        print("steps:", steps)
        for kind in ("bronze", "silver", "gold", "action"):
            rows = sorted(((v, k) for k, v in SPENT.items() if k.startswith(kind) and " | " not in k), reverse=True)
            print(f"{kind}: {sum(v for v, _ in rows):.1f} s in all" if kind != "action" else "actions:")
            for v, k in rows[:8]:
                print(f"  {v:6.1f} s  {k}")
                for part in sorted((p for p in SPENT if p.startswith(f"{k} | ")), key=lambda p: -SPENT[p]):
                    print(f"           {SPENT[part]:6.1f} s  {part.split(' | ', 1)[1]}")
        # the Spark jobs of the measured run by call site: how many, their seconds, what they read
        sites: dict[str, list[Any]] = defaultdict(lambda: [0, 0.0, 0])
        for job in profile.jobs:
            site = sites[job.description]
            site[0], site[1], site[2] = site[0] + 1, site[1] + job.seconds, site[2] + job.input_records
        print(f"Spark jobs by call site ({len(profile.jobs)} in all):")
        for what, (n, secs, records) in sorted(sites.items(), key=lambda kv: -kv[1][1])[:15]:
            print(f"  {n:5d} jobs {secs:7.1f} s {records:>12} records read  {what}")
    finally:
        spark.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
