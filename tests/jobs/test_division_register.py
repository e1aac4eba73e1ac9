"""The division register as a reference feed: the civil-affairs unit's NBS 2023 snapshot goes
landing -> bronze -> silver (SCD2), and every other contract's codes conform against it.

Day 1: the shipped register, plus two units whose codes the generator builds from it (a legacy
city-wide carrier, the 12345 hotline), with no record faults,
so every code it counted must come out of silver with exactly that status.
Day 2: the bureau's next snapshot renames one street and drops another; the hotline's records
that still send the dropped street's code are then unknown.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
from collections import Counter
from pathlib import Path

import pytest

from citylake.config.settings import load_settings
from citylake.domain.districts import crosswalk, seed_register
from citylake.generate import generate
from citylake.lake import Lake
from citylake.lake.preflight import Scope

pytestmark = pytest.mark.spark

DAY1, DAY2 = dt.date(2026, 11, 20), dt.date(2026, 11, 27)
CODED = ("op_cbn_sh", "mc_gov_service")
RENAMED, NEW_NAME = "310101002", "南京东路街道（更名测试）"
REMOVED = "310101013"  # 外滩街道


@pytest.fixture(scope="module")
def lake_after_two_snapshots(spark, registry, tmp_path_factory):
    from citylake.runs.pipeline import run_daily

    lake = Lake(str(tmp_path_factory.mktemp("register") / "lake"))
    conf = dataclasses.replace(load_settings(), lake_root=lake.root)
    reports = generate(registry, DAY1, scale=0.3, units=("mc_civil_affairs", *CODED), lake=lake, faults=False)
    first = run_daily(DAY1, conf, spark, registry, scope=Scope(frozenset(("mc_civil_affairs", *CODED))),
                      marts=False)  # fmt: skip
    # the bureau's next delivery: the day-1 file with one street renamed and one removed
    sent = next(r for r in reports if r.unit == "mc_civil_affairs")
    rows = list(csv.reader(io.StringIO(Path(sent.path).read_text(encoding="utf-8"))))
    rows = [[c, NEW_NAME if c == RENAMED else n, lvl, p] for c, n, lvl, p in rows if c != REMOVED]
    landing = Path(lake.landing_dir("mc_civil_affairs", "admin_divisions", DAY2.isoformat()))
    landing.mkdir(parents=True)
    with (landing / "admin_divisions_20261127.csv").open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)
    generate(registry, DAY2, scale=0.3, units=("mc_gov_service",), lake=lake, faults=False)
    second = run_daily(DAY2, conf, spark, registry, scope=Scope(frozenset(("mc_civil_affairs", "mc_gov_service"))),
                       marts=False)  # fmt: skip
    return lake, reports, first, second


def _silver(spark, lake: Lake, contract: str):
    return spark.read.format("delta").load(lake.table("silver", contract))


def test_every_generated_code_conforms_as_the_generator_counted(spark, lake_after_two_snapshots):
    from pyspark.sql import functions as F

    lake, reports, first, _ = lake_after_two_snapshots
    assert first.status == "ok", first.status
    expected: Counter[tuple[str, str, str]] = Counter()
    for r in reports:
        contract = {f.spec.feed: f.contract.contract for f in _feeds(r.unit)}[r.feed]
        for column, counts in r.codes.items():
            for status, n in counts.items():
                expected[(contract, column, status)] += n
    assert {s for (_, _, s), n in expected.items() if n} == {"current", "remapped", "unknown"}
    got: Counter[tuple[str, str, str]] = Counter()
    walk = crosswalk()
    for contract in sorted({c for c, _, _ in expected}):
        df = _silver(spark, lake, contract).where(F.col("_logical_date") == DAY1)
        for column in sorted({col for c, col, _ in expected if c == contract}):
            for row in df.groupBy(f"{column}_status").count().collect():
                got[(contract, column, row[0])] = row[1]
            # a remapped code is the crosswalk's successor; an unknown one is null
            pairs = (
                df.where(F.col(f"{column}_status") == "remapped")
                .select(f"{column}_as_sent", column)
                .distinct()
            )
            assert all(walk[sent] == now for sent, now in pairs.collect()), (contract, column)
            assert df.where((F.col(f"{column}_status") == "unknown") & F.col(column).isNotNull()).isEmpty()
    assert got == +expected


def _feeds(unit: str):
    from citylake.config.registry import load_registry

    return [f for f in load_registry(load_settings().registry_dir).feeds() if f.unit.unit == unit]


def test_a_second_snapshot_renames_and_closes_as_scd2(spark, lake_after_two_snapshots):
    from pyspark.sql import functions as F

    lake, _, _, second = lake_after_two_snapshots
    assert second.status == "ok", second.status
    silver = _silver(spark, lake, "admin_divisions")
    dated = silver.where(F.col("code").isin(RENAMED, REMOVED)).select(  # days in the lake's time zone
        "code", "name", F.to_date("valid_from"), F.to_date("valid_to"), "is_current"
    )
    history = {(code, name): (start, end, current) for code, name, start, end, current in dated.collect()}
    assert history == {
        (RENAMED, "南京东路街道"): (DAY1, DAY2, False),
        (RENAMED, NEW_NAME): (DAY2, None, True),
        (REMOVED, "外滩街道"): (DAY1, DAY2, False),  # closed, not deleted
    }
    assert silver.where("is_current").count() == len(seed_register()) - 1
    assert silver.where(F.col("valid_from") > F.lit(DAY1)).count() == 1  # nothing else moved


def test_codes_conform_against_the_current_snapshot(spark, lake_after_two_snapshots):
    from pyspark.sql import functions as F

    lake, _, _, _ = lake_after_two_snapshots
    sent = _silver(spark, lake, "service_requests").where(F.col("street_code_as_sent") == REMOVED)
    by_day = {(r._logical_date, r.street_code_status, r.street_code) for r in sent.collect()}
    assert {d for d, _, _ in by_day} == {DAY1, DAY2}
    assert {(d, s, c) for d, s, c in by_day} == {(DAY1, "current", REMOVED), (DAY2, "unknown", None)}
