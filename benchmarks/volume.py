"""The volume profile's single-file feeds, and the scoped run.

Two feeds of one file each, onboarded as a contract and two units in the benchmark's own
registry copy, from public data nobody here wrote: vega-datasets' ``flights-3m.parquet`` (npm,
3,000,000 US flights of 2001), as sent, and the same flights as one CSV of at least 300 MB
(three years: each copy's times moved on by a year, so keys stay distinct), larger than Spark's
split size, so record numbers are tested across splits.

Set-up caches the npm tarball under ``.cache/bench/``; nothing is fetched once it is there.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import shutil
import tarfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from benchmarks import peers, rounds
from citylake.config.registry import Registry, load_registry
from citylake.config.settings import REPO_ROOT, Settings
from citylake.lake import Lake
from citylake.lake.preflight import Scope
from citylake.quality.suites import write_default_suites

VEGA = "vega-datasets"
VEGA_VERSION = "3.2.1"
TARBALL = f"https://registry.npmjs.org/{VEGA}/-/{VEGA}-{VEGA_VERSION}.tgz"
MEMBER = "package/data/flights-3m.parquet"
CACHE = REPO_ROOT / ".cache" / "bench"
CONTRACT = "flight_delays"
UNITS = {"parquet": "bench_flights_parquet", "csv": "bench_flights_csv"}
CSV_MIN_BYTES = 300_000_000

FLIGHTS_CONTRACT = {
    "contract": CONTRACT,
    "version": 1,
    "title": "Flight delays",
    "description": "Departures with their delay and distance (vega-datasets flights-3m, public data).",
    "kind": "event",
    "action_area": "new_platforms",
    "owner": "citylake benchmarks",
    "cadence": "daily",
    "event_time": "departed_at",
    "business_keys": ["departed_at", "origin", "destination"],
    "suites": [f"bronze/{CONTRACT}", f"silver/{CONTRACT}"],
    "columns": [
        {"name": "departed_at", "type": "timestamp", "nullable": False, "aliases": ["date"]},
        {"name": "delay_min", "type": "long", "nullable": True, "aliases": ["delay"]},
        {"name": "distance_mi", "type": "long", "nullable": True, "aliases": ["distance"], "min": 0},
        {"name": "origin", "type": "string", "nullable": False},
        {"name": "destination", "type": "string", "nullable": False},
    ],
}


def flights_parquet() -> Path:
    """flights-3m.parquet from the npm tarball, cached."""
    out = CACHE / "flights-3m.parquet"
    if out.exists():
        return out
    CACHE.mkdir(parents=True, exist_ok=True)
    tgz = CACHE / f"{VEGA}-{VEGA_VERSION}.tgz"
    if not tgz.exists():
        with urllib.request.urlopen(TARBALL, timeout=300) as resp:  # noqa: S310 (a fixed https URL)
            tgz.write_bytes(resp.read())
    with tarfile.open(tgz) as tar:
        member = tar.extractfile(MEMBER)
        if member is None:
            raise FileNotFoundError(f"{tgz}: no {MEMBER}")
        tmp = out.with_suffix(".part")
        tmp.write_bytes(member.read())
        tmp.rename(out)
    return out


def flights_csv(min_bytes: int = CSV_MIN_BYTES) -> Path:
    """The flights as one CSV of at least ``min_bytes``: copies of the year, a year apart."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    out = CACHE / f"flights-{min_bytes // 1_000_000}mb.csv"
    if out.exists():
        return out
    table = pq.read_table(flights_parquet())
    seconds = table["date"].cast(pa.timestamp("s"))  # the contract's yyyy-MM-dd HH:mm:ss, no fraction
    tmp = out.with_suffix(".part")
    with open(tmp, "wb") as fh:
        fh.write((",".join(table.column_names) + "\n").encode())
        copy = 0
        while fh.tell() < min_bytes:
            later = pc.add(seconds, pa.scalar(dt.timedelta(days=365 * copy), pa.duration("s")))
            shifted = table.set_column(0, "date", pc.strftime(later, format="%Y-%m-%d %H:%M:%S"))
            buf = io.BytesIO()
            pcsv.write_csv(shifted, buf, pcsv.WriteOptions(include_header=False, quoting_style="none"))
            fh.write(buf.getvalue())
            copy += 1
    tmp.rename(out)
    return out


def onboard(schemas: Path, expectations: Path) -> Registry:
    """Add the flights contract and its two units to a registry copy, with default suites."""
    (schemas / "contracts" / f"{CONTRACT}.yaml").write_text(yaml.safe_dump(FLIGHTS_CONTRACT, sort_keys=False))
    for fmt, unit in UNITS.items():
        doc = {"unit": unit, "name": f"Benchmark flights ({fmt})", "name_zh": "航班基准", "kind": "operator",
               "action_area": "new_platforms", "owner": "citylake benchmarks",
               "contact": "the citylake engineers", "feeds": [{"feed": "flights", "contract": CONTRACT,
                                                                "format": fmt}]}  # fmt: skip
        (schemas / "units" / f"{unit}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    reg = load_registry(schemas)
    write_default_suites(reg, expectations)
    return reg


def onboarded_copy(settings: Settings, tmp: Path) -> tuple[Registry, Path, Path]:
    """(registry, schemas, expectations): copies under ``tmp`` with the flights onboarded."""
    schemas, expectations = tmp / "schemas-volume", tmp / "expectations-volume"
    shutil.copytree(settings.registry_dir, schemas)
    shutil.copytree(settings.expectations_dir, expectations)
    return onboard(schemas, expectations), schemas, expectations


def land(lake: Lake, fmt: str, day: dt.date) -> Path:
    """The flights file of ``fmt`` landed as its unit's delivery for ``day``."""
    src = flights_parquet() if fmt == "parquet" else flights_csv()
    landing = Path(lake.landing_dir(UNITS[fmt], "flights", day.isoformat()))
    landing.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(src, landing / f"flights.{fmt}"))


def bench_files(
    spark: Any, settings: Settings, tmp: Path, day: dt.date, pairs: int = 1
) -> list[dict[str, Any]]:
    """Each single-file feed: Polars + delta-rs once, then ``pairs`` interleaved rounds of bare
    Spark, the same-outputs baseline and citylake's run scoped to its unit (bronze and silver,
    with DQ), in this session (benchmarks/rounds.py). The scoped run is in every round because
    bronze is timed inside it; each runs on a lake of its own with the file landed afresh."""
    from citylake.runs.pipeline import run_daily

    reg, schemas, expectations = onboarded_copy(settings, tmp)

    def conf(lake: Lake) -> Settings:
        return dataclasses.replace(settings, lake_root=lake.root, registry_dir=schemas,
                                   expectations_dir=expectations)  # fmt: skip

    rows = []
    for fmt, unit in UNITS.items():
        landed = Lake(str(tmp / f"volume-{fmt}"))  # the peers read this copy; citylake never runs on it
        src = land(landed, fmt, day)
        scope = Scope(frozenset({unit}))
        groups = peers.accepted_groups(landed, reg, day, scope)
        polars_s = peers.polars_deltars(groups, str(tmp / f"polars-volume-{fmt}"))
        shutil.rmtree(tmp / f"polars-volume-{fmt}", ignore_errors=True)

        def fresh(i: int, fmt: str = fmt) -> Lake:
            lake = Lake(str(tmp / f"volume-{fmt}-round-{i + 1}"))
            land(lake, fmt, day)
            return lake

        def scoped(i: int, lake: Lake, scope: Scope = scope) -> tuple[Any, float]:
            t = time.perf_counter()
            run = run_daily(day, conf(lake), spark, reg, scope=scope, marts=False)
            daily_s = time.perf_counter() - t
            shutil.rmtree(lake.root, ignore_errors=True)
            return run, daily_s

        done = rounds.interleave(
            pairs, spark, groups, tmp / f"peers-volume-{fmt}", fresh, scoped, f"{unit}/flights"
        )
        runs = [r.citylake[0] for r in done]
        fig = rounds.figures([r.bare_s for r in done], [r.same_outputs_s for r in done],
                             [run.timings["bronze_s"] for run in runs], [r.citylake[1] for r in done])  # fmt: skip
        rows.append({
            "feed": f"{unit}/flights", "format": fmt, "records": sum(f.rows_landed for f in runs[-1].bronze.files),
            "landed_mb": round(src.stat().st_size / 1e6, 1),
            "status": rounds.worst_status([run.status for run in runs]),
            **fig, "same_outputs_observed": rounds.observed_total(done[-1].observed),
            "polars_deltars_s": round(polars_s, 1),
            "timings": rounds.median_timings([{**run.bronze.timings, **run.timings} for run in runs]),
        })  # fmt: skip
        shutil.rmtree(landed.root, ignore_errors=True)
    return rows


def bench_scoped(
    spark: Any, settings: Settings, reg: Registry, lake: Lake, day: dt.date, tmp: Path
) -> dict[str, Any]:
    """One unit delivering one small file to a lake that has run before, scoped to that unit."""
    from citylake.generate import generate
    from citylake.runs.pipeline import run_daily

    unit = next(u.unit for u in sorted(reg.units.values(), key=lambda u: u.unit) if len(u.feeds) == 1)
    reports = generate(reg, day, 0.01, [unit], lake, faults=False)
    scope = Scope(frozenset({unit}))
    groups = peers.accepted_groups(lake, reg, day, scope)
    bare_s = peers.bare_spark(spark, groups, str(tmp / "bare-scoped"))
    conf = dataclasses.replace(settings, lake_root=lake.root)
    t = time.perf_counter()
    run = run_daily(day, conf, spark, reg, scope=scope, marts=False)
    scoped_s = time.perf_counter() - t
    shutil.rmtree(tmp / "bare-scoped", ignore_errors=True)
    return {"unit": unit, "files": len(reports), "records": sum(r.records for r in reports),
            "status": run.status, "bare_spark_s": round(bare_s, 2), "scoped_s": round(scoped_s, 1),
            "timings": {k: round(v, 1) for k, v in {**run.bronze.timings, **run.timings}.items()},
            "scoped_vs_bare": round(scoped_s / bare_s, 2)}  # fmt: skip
