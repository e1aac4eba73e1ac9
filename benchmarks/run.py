"""`make bench`: every platform figure, measured side by side in one run, against its target.

One Spark session serves every in-process measurement, so each ratio compares runs made in
the same JVM, on the same generated files, minutes apart. Sections, in order:

1. DAG parse time with 250 registered units (a fresh interpreter, as the scheduler parses).
2. Fixed cost per feed: 250 units, every feed one small file, one ingest run (bronze + silver
   with DQ, what the Airflow ingest task runs); and one spark-submit per feed, as a naive
   layout would run it, on a sample of feeds, extrapolated.
3. For each scale: generate the day, load it once with Polars + delta-rs, then ``BENCH_PAIRS``
   (default 3) interleaved rounds of bare Spark, the same-outputs baseline and the whole citylake
   daily run (bronze, silver, gold, publish, DQ), each figure the median over the rounds
   (benchmarks/rounds.py).
4. The published layout of the largest scale: files per mart, and how many files a reader of one
   district-month of ``ai_district_hourly_features`` skips.

Writes ``benchmarks/results.json`` (or ``$BENCH_OUT``) and ``benchmarks/RESULTS.md``.
``BENCH_PROFILE``: ``quick`` (a smoke check, at most 5 minutes; ``BENCH_QUICK=1`` too), ``full``
(the default) or ``volume`` (scales 8 and 16 besides, and two single-file feeds of public data,
benchmarks/volume.py; at most 40 minutes). Every profile also times a run scoped to one unit.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import layout, machine, peers, report, rounds, subject_erase, volume
from benchmarks.dag_parse import parse_dags
from benchmarks.synthetic import registry_with_units
from citylake.config.registry import Registry, load_registry
from citylake.config.settings import Settings, load_settings
from citylake.generate import generate
from citylake.lake import Lake

DAY = dt.date(2026, 11, 20)
HERE = Path(__file__).resolve().parent


@dataclasses.dataclass(frozen=True)
class Profile:
    name: str
    units: int  # units registered for the DAG parse
    per_feed_units: int  # units registered for the per-feed run (clones past the real ones)
    base_scale: float  # generator scale of bench scale 1 (scale s generates s x base_scale)
    scales: tuple[int, ...]
    scale_units: int  # units delivering in the scale runs (0: every registered unit)
    naive_sample: int  # feeds run as one spark-submit each
    tiny_scale: float = 0.01  # the per-feed run's "small file"
    single_files: bool = False  # the two single-file feeds (benchmarks/volume.py)


# scale 4 is the generator's nominal day (--scale 1: about 1.7 million records from every unit of the registry)
FULL = Profile(
    "full", units=250, per_feed_units=250, base_scale=0.25, scales=(1, 2, 4), scale_units=0, naive_sample=3
)
# the smoke check: every section, on fewer units and two scales
QUICK = Profile("quick", units=250, per_feed_units=6, base_scale=0.02, scales=(1, 2), scale_units=10,
                naive_sample=1)  # fmt: skip
# at volume: scale 16 is about 7 million records and 535 MB, plus the single-file feeds (<= 40 min)
VOLUME = dataclasses.replace(FULL, name="volume", scales=(1, 2, 4, 8, 16), single_files=True)
PROFILES = {p.name: p for p in (QUICK, FULL, VOLUME)}


def chosen_profile() -> Profile:
    """BENCH_PROFILE=quick|full|volume; BENCH_QUICK=1 is kept as the quick profile's old switch."""
    name = os.environ.get("BENCH_PROFILE") or (
        "quick" if os.environ.get("BENCH_QUICK", "") not in ("", "0") else "full"
    )
    if name not in PROFILES:
        raise SystemExit(f"BENCH_PROFILE={name}: choose one of {', '.join(PROFILES)}")
    return PROFILES[name]


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def spread_units(registry: Registry, n: int) -> list[str]:
    """``n`` units covering as many contracts as possible (round robin over contracts)."""
    by_contract: dict[str, list[str]] = {}
    for feed in registry.feeds():
        by_contract.setdefault(feed.contract.contract, []).append(feed.unit.unit)
    chosen: list[str] = []
    queues = [sorted(set(us)) for _, us in sorted(by_contract.items())]
    while len(chosen) < n and any(queues):
        for q in queues:
            while q and q[0] in chosen:
                q.pop(0)
            if q and len(chosen) < n:
                chosen.append(q.pop(0))
    return chosen


def bench_dag_parse(tmp: Path, units: int) -> dict[str, Any]:
    """Three parses, each in a fresh interpreter; the median is the figure. The scheduler's DAG
    processor parses the file again every 30 s, so the first parse's cold disk cache is a
    one-off (it is kept in ``runs_s``)."""
    schemas = registry_with_units(units, tmp / "schemas-parse")
    runs = []
    for _ in range(3):
        parsed = parse_dags(tmp / "airflow", schemas)
        if parsed["errors"]:
            raise RuntimeError(f"dags/ import errors: {parsed['errors']}")
        runs.append(round(parsed["seconds"], 2))
    return {
        "units": units,
        "dags": len(parsed["dags"]),
        "dag_parse_s": statistics.median(runs),
        "runs_s": runs,
    }


def bench_per_feed(spark: Any, settings: Settings, tmp: Path, profile: Profile) -> dict[str, Any]:
    from citylake.runs.pipeline import run_daily

    schemas = registry_with_units(profile.per_feed_units, tmp / "schemas-per-feed")
    reg = load_registry(schemas)
    lake = Lake(str(tmp / "per-feed"))
    units = spread_units(reg, profile.per_feed_units) if profile.per_feed_units < len(reg.units) else None
    reports = generate(reg, DAY, profile.tiny_scale, units, lake, faults=False)
    feeds = sorted({(r.unit, r.feed) for r in reports})
    conf = dataclasses.replace(settings, lake_root=lake.root, registry_dir=schemas)
    t0 = time.perf_counter()
    run = run_daily(DAY, conf, spark, reg, marts=False)
    ingest_s = time.perf_counter() - t0
    if run.status != "ok":
        raise RuntimeError(f"per-feed run: status {run.status}: {run.json()['held_feeds']}")
    log(f"per-feed: one run, {len(feeds)} feeds: {ingest_s:.1f} s")
    # The naive layout: one spark-submit (one JVM) per feed, on a copy of the same landing zone.
    naive_lake = Lake(str(tmp / "per-feed-naive"))
    shutil.copytree(lake.zone("landing"), naive_lake.zone("landing"))
    by_contract = {(f.unit.unit, f.spec.feed): f.contract.contract for f in reg.feeds()}
    step = max(1, len(feeds) // profile.naive_sample)
    sample = feeds[::step][: profile.naive_sample]
    naive: dict[str, float] = {}
    for unit, feed in sample:
        contract = by_contract[(unit, feed)]
        naive[f"{unit}/{feed}"] = round(naive_submit(naive_lake, schemas, unit, contract), 1)
        log(f"per-feed: spark-submit for {unit}/{feed}: {naive[f'{unit}/{feed}']} s")
    naive_per_feed = statistics.median(naive.values())
    return {
        "units": len({u for u, _ in feeds}),
        "feeds": len(feeds),
        "records": sum(r.records for r in reports),
        "ingest_s": round(ingest_s, 1),
        "timings": {k: round(v, 1) for k, v in {**run.bronze.timings, **run.timings}.items()},
        "per_feed_overhead_s": round(ingest_s / len(feeds), 3),
        "naive_submit_sample_s": naive,
        "naive_per_feed_s": naive_per_feed,
        "naive_extrapolated_s": round(naive_per_feed * len(feeds), 1),
    }


def naive_submit(lake: Lake, schemas: Path, unit: str, contract: str) -> float:
    """One feed's bronze + silver as its own spark-submit: what a task-per-feed DAG would run."""
    env = {**os.environ, "CITYLAKE_LAKE_ROOT": lake.root, "CITYLAKE_REGISTRY_DIR": str(schemas),
           "CITYLAKE_EXECUTION": "submit", "CITYLAKE_SPARK_MASTER": "local[2]"}  # fmt: skip
    code = "import sys; from citylake.runs import tasks; print(tasks.ingest(sys.argv[1], [sys.argv[2]], [sys.argv[3]])['status'])"
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code, DAY.isoformat(), unit, contract], env=env,
                          capture_output=True, text=True)  # fmt: skip
    seconds = time.perf_counter() - t0
    if proc.returncode != 0 or proc.stdout.strip().splitlines()[-1:] != ["ok"]:
        raise RuntimeError(f"spark-submit for {unit}/{contract}: {proc.stdout[-500:]} {proc.stderr[-2000:]}")
    return seconds


def bench_scale(
    spark: Any, settings: Settings, reg: Registry, tmp: Path, profile: Profile, scale: int, pairs: int = 1
) -> tuple[dict[str, Any], Lake]:
    """One scale: bare Spark, the same-outputs baseline and citylake's daily run as ``pairs``
    interleaved rounds (benchmarks/rounds.py), Polars + delta-rs once. The daily run is in every
    round because bronze is timed inside it (its ``bronze_s``); each runs on a fresh copy of the
    generated lake, as the one run used to run on the lake the generator had just written."""
    from citylake.runs.pipeline import run_daily

    landed = Lake(str(tmp / f"scale-{scale}-landed"))  # what the generator wrote; never run on
    units = spread_units(reg, profile.scale_units) if profile.scale_units else None
    t = time.perf_counter()
    reports = generate(reg, DAY, scale * profile.base_scale, units, landed)
    generate_s = time.perf_counter() - t
    groups = peers.accepted_groups(landed, reg, DAY)
    landed_bytes = sum(Path(r.path).stat().st_size for r in reports)
    log(
        f"scale {scale}: {sum(r.records for r in reports)} records in {len(reports)} files ({generate_s:.0f} s)"
    )
    polars_s = peers.polars_deltars(groups, str(tmp / f"polars-{scale}"))
    shutil.rmtree(tmp / f"polars-{scale}", ignore_errors=True)
    log(f"scale {scale}: Polars + delta-rs {polars_s:.1f} s")

    def fresh(i: int) -> Lake:
        lake = Lake(str(tmp / f"scale-{scale}-round-{i + 1}"))
        shutil.copytree(landed.root, lake.root)  # the generator's files, byte for byte
        return lake

    def daily(i: int, lake: Lake) -> tuple[Lake, Any, float]:
        conf = dataclasses.replace(settings, lake_root=lake.root)
        t = time.perf_counter()
        run = run_daily(DAY, conf, spark, reg)
        daily_s = time.perf_counter() - t
        log(f"scale {scale}: round {i + 1}: citylake daily {daily_s:.1f} s, bronze "
            f"{run.timings['bronze_s']:.1f} s ({run.status})")  # fmt: skip
        if i < pairs - 1:  # the last round's lake is the one the layout probe reads
            shutil.rmtree(lake.root, ignore_errors=True)
        return lake, run, daily_s

    rounds_ = rounds.interleave(pairs, spark, groups, tmp / f"peers-{scale}", fresh, daily, f"scale {scale}")
    shutil.rmtree(landed.root, ignore_errors=True)
    gx: list[float] = []
    dq_all: list[float] = []
    for r in rounds_:
        run = r.citylake[1]
        suites = [
            *run.bronze.suites,
            *(run.silver.suites if run.silver else []),
            *(run.gold.suites if run.gold else []),
        ]
        # GX time: every suite's validation (GX holds one lock, so these never overlap) and Data Docs
        gx.append(sum(o.seconds for o in suites) + run.timings.get("docs_s", 0.0))
        # all DQ work, an upper bound: bronze's gate counts and GX (summed over concurrent batches,
        # so it can exceed their wall time), the silver and gold suites, and Data Docs
        dq_all.append(
            run.bronze.timings.get("validation_s", 0.0)
            + gx[-1]
            - sum(o.seconds for o in suites if o.dataset.startswith("bronze."))
        )
    runs = [r.citylake[1] for r in rounds_]
    fig = rounds.figures([r.bare_s for r in rounds_], [r.same_outputs_s for r in rounds_],
                         [run.timings["bronze_s"] for run in runs], [r.citylake[2] for r in rounds_])  # fmt: skip
    # medians of the unrounded values, as fig's ratios are
    bare_s = statistics.median(r.bare_s for r in rounds_)
    bronze_s = statistics.median(run.timings["bronze_s"] for run in runs)
    daily_s = statistics.median(r.citylake[2] for r in rounds_)
    gx_s, dq_all_s = statistics.median(gx), statistics.median(dq_all)
    return {
        "scale": scale,
        "generator_scale": scale * profile.base_scale,
        "units": len({r.unit for r in reports}),
        "files": len(reports),
        "records": sum(r.records for r in reports),
        "landed_mb": round(landed_bytes / 1e6, 1),
        "status": rounds.worst_status([run.status for run in runs]),
        "generate_s": round(generate_s, 1),
        **fig,
        "same_outputs_observed": rounds.observed_total(rounds_[-1].observed),
        "polars_deltars_s": round(polars_s, 1),
        "timings": rounds.median_timings([{**run.bronze.timings, **run.timings} for run in runs]),
        "gx_s": round(gx_s, 1),
        "dq_all_s": round(dq_all_s, 1),
        "dq_overhead": round(gx_s / daily_s, 3),
        "dq_all_share": round(dq_all_s / daily_s, 3),
        "vs_polars_deltars": round(bronze_s / polars_s, 2),
        "bare_spark_vs_polars_deltars": round(bare_s / polars_s, 2),
    }, rounds_[-1].citylake[0]


def main() -> None:
    profile = chosen_profile()
    pairs = rounds.pairs()  # BENCH_PAIRS, read before any work so a bad value fails at once
    out = Path(os.environ.get("BENCH_OUT") or HERE / "results.json")
    started = time.perf_counter()
    results: dict[str, Any] = {
        "profile": profile.name,
        "date": dt.date.today().isoformat(),
        "machine": machine.info(),
        "config": dataclasses.asdict(profile),
        "pairs": pairs,
    }
    settings = load_settings()
    reg = load_registry(settings.registry_dir)
    # what a long profile measured so far, kept if a later section fails
    partial = out.with_suffix(".partial.json")
    with tempfile.TemporaryDirectory(prefix="citylake-bench-") as name:
        tmp = Path(name)
        log("DAG parse")
        results["dag_parse"] = bench_dag_parse(tmp, profile.units)
        from citylake.engine.spark import get_spark

        t = time.perf_counter()
        spark = get_spark("citylake-bench", settings)
        spark.range(1).count()
        results["session_start_s"] = round(time.perf_counter() - t, 1)
        log("per-feed cost")
        results["per_feed"] = bench_per_feed(spark, settings, tmp, profile)
        log("a run scoped to one unit")
        results["scoped"] = volume.bench_scoped(spark, settings, reg, Lake(str(tmp / "per-feed")),
                                                DAY + dt.timedelta(days=1), tmp)  # fmt: skip
        log(f"scoped: {results['scoped']}")
        scales = []
        lake = None
        for scale in profile.scales:
            row, lake = bench_scale(spark, settings, reg, tmp, profile, scale, pairs)
            scales.append(row)
            if scale != profile.scales[-1]:
                shutil.rmtree(lake.root, ignore_errors=True)
            results["scales"] = scales
            partial.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        if profile.single_files:
            log("single-file feeds")
            results["files"] = volume.bench_files(spark, settings, tmp, DAY, pairs)
            log(f"single-file feeds: {results['files']}")
        assert lake is not None
        results["layout"] = layout.measure(lake, reg, DAY)
        log("data-subject erasure")
        results["subject_erase"] = subject_erase.measure(spark, settings, reg, tmp)
        log(f"data-subject erasure: {results['subject_erase']}")
        spark.stop()
    results["summary"] = report.summary(results)
    results["bench_wall_s"] = round(time.perf_counter() - started, 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    md = HERE / "RESULTS.md" if out.parent == HERE else out.with_suffix(".md")
    md.write_text(report.markdown(results), encoding="utf-8")
    partial.unlink(missing_ok=True)
    log(f"wrote {out} and {md} in {results['bench_wall_s']} s")
    print(json.dumps(results["summary"], indent=1))


if __name__ == "__main__":
    main()
