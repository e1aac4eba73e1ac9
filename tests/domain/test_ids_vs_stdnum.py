"""Resident IDs (GB 11643) and credit codes (GB 32100) checked by silver's Spark columns, against
python-stdnum 2.2 (``cn.ric``, ``cn.uscc``) as the oracle, on vectors built here from the real
register of division codes. Where the two rules agree, the verdicts agree on every vector; where
they differ, each class says why."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from stdnum.cn import ric, uscc

from citylake.domain import pii
from citylake.domain.ids import USCC_CHARS, org_code_check, resident_id_check, uscc_check
from citylake.lake import Lake, reference

pytestmark = pytest.mark.spark

DELIVERED = dt.date(2026, 11, 20)
N = 1000


@pytest.fixture(scope="module")
def register(tmp_path_factory):
    lake = Lake(str(tmp_path_factory.mktemp("lake")))
    codes = reference.division_codes(lake)  # writes _system/division_codes, then reads it back
    assert reference.division_codes(lake) == codes
    rows = reference.stdnum_divisions()
    assert {r["code"] for r in rows} | {reference.NATIONAL} == codes
    return codes, rows


def _checked(spark, values: list[str], codes: frozenset[str], kind: str) -> dict[str, str]:
    """Silver's verdict on each value: a resident ID delivered on DELIVERED, or a USCC; area
    codes looked up in the register as silver does (citylake.domain.pii.with_known_area)."""
    from pyspark.sql import functions as F

    register = spark.createDataFrame([(c,) for c in sorted(codes)], "code string")
    df = pii.with_known_area(spark.createDataFrame([(v,) for v in values], "v string"), "v",
                             1 if kind == "id" else 3, register, "_known")  # fmt: skip
    check = (pii.resident_id_check(F.col("v"), F.lit(DELIVERED), F.col("_known")) if kind == "id"
             else pii.uscc_check(F.col("v"), F.col("_known")))  # fmt: skip
    return {r["v"]: r["check"] for r in df.select("v", check.alias("check")).collect()}


def _ids(spark, values: list[str], codes: frozenset[str]) -> dict[str, str]:
    return _checked(spark, values, codes, "id")


def ric_valid(value: str) -> bool:
    """stdnum's verdict. stdnum 2.2 raises KeyError, where it means "invalid", for an area code
    whose province exists and county does not (its lookup then finds a province, no county)."""
    try:
        return ric.is_valid(value)
    except KeyError:
        return False


def _resident_id(code: str, born: dt.date, rng: random.Random) -> str:
    first17 = f"{code}{born:%Y%m%d}{rng.randrange(1000):03d}"
    return first17 + resident_id_check(first17)


def test_resident_ids_agree_with_stdnum_where_the_rules_agree(spark, register):
    codes, rows = register
    rng = random.Random(11643)
    # counties with some year in 1900-2025 (stdnum wants the code valid in the birth year)
    county = [r for r in rows if not r["code"].endswith("00")
              and max(r["first_year"] or 1900, 1900) <= min(r["last_year"] or 2025, 2025)]  # fmt: skip

    def born_in_era(row: dict) -> dt.date:
        lo, hi = max(row["first_year"] or 1900, 1900), min(row["last_year"] or 2025, 2025)
        return dt.date(rng.randint(lo, hi), rng.randint(1, 12), rng.randint(1, 28))

    valid = []
    while len(valid) < N:
        row = rng.choice(county)
        valid.append(_resident_id(row["code"], born_in_era(row), rng))
    bad_check = [v[:17] + rng.choice([c for c in "0123456789X" if c != v[17]]) for v in valid]
    impossible = []
    for v in valid:  # a real area, a date that does not exist, the right check character
        y = rng.choice([2001, 2002, 2003, 2005, 2010, 2019])  # no leap years
        first17 = v[:6] + rng.choice([f"{y}0229", f"{y}0230", f"{y}0431", f"{y}1301", f"{y}0600"]) + v[14:17]
        impossible.append(first17 + resident_id_check(first17))
    unknown = []
    while len(unknown) < N:
        code = f"{rng.randint(10, 99)}{rng.randint(0, 9999):04d}"
        if code not in codes:
            unknown.append(_resident_id(code, dt.date(1980, 5, 17), rng))
    vectors = {"ok": valid, "bad_check": bad_check, "bad_date": impossible, "bad_area": unknown}
    got = _ids(spark, [v for vs in vectors.values() for v in vs], codes)
    for verdict, values in vectors.items():
        ours = [got[v] for v in values]
        theirs = [ric_valid(v) for v in values]
        assert ours == [verdict] * len(values), verdict
        assert theirs == [verdict == "ok"] * len(values), f"stdnum disagrees on {verdict}"


def test_resident_ids_where_gb_11643_and_stdnum_differ(spark, register):
    codes, rows = register
    rng = random.Random(2)
    # Future birth dates: GB 11643's birth date cannot be after the delivery; stdnum 2.2 only
    # checks that the date exists.
    future = [_resident_id("310115", dt.date(2027, 1, 1) + dt.timedelta(days=rng.randrange(3000)), rng)
              for _ in range(200)]  # fmt: skip
    # A code issued after the birth year: the area code is where the ID was issued (Pudong, since
    # 1992, issues IDs to people born before); stdnum wants the code valid in the birth year.
    pudong = [_resident_id("310115", dt.date(rng.randint(1950, 1990), 3, 9), rng) for _ in range(200)]
    # Legacy 15-digit IDs: the same date and area checks, no check character; stdnum 2.2 only
    # knows the 18-character form.
    legacy = [f"310103{rng.randint(40, 99):02d}0{rng.randint(1, 9)}1{rng.randint(0, 9)}{rng.randrange(1000):03d}"
              for _ in range(200)]  # fmt: skip
    got = _ids(spark, future + pudong + legacy, codes)
    assert {got[v] for v in future} == {"bad_date"} and all(ric_valid(v) for v in future)
    assert {got[v] for v in pudong} == {"ok"} and not any(ric_valid(v) for v in pudong)
    assert {got[v] for v in legacy} == {"ok"} and not any(ric_valid(v) for v in legacy)
    # 15-digit IDs with a day that does not exist, or a code no division had
    broken = _ids(spark, ["310103630230263", "990103630512263"], codes)
    assert broken == {"310103630230263": "bad_date", "990103630512263": "bad_area"}


def _uscc(authority: str, area: str, rng: random.Random, org8: str | None = None) -> str:
    org8 = org8 or "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(8))
    first17 = f"{authority}{area}{org8}{org_code_check(org8)}"
    return first17 + uscc_check(first17)


def test_credit_codes_against_stdnum(spark, register):
    codes, rows = register
    rng = random.Random(32100)
    areas = sorted(codes)
    unknown_area = [a for a in (f"{rng.randint(10, 99)}{rng.randint(0, 9999):04d}" for _ in range(5000))
                    if a not in codes][:N]  # fmt: skip
    valid = [_uscc(rng.choice("123456789") + rng.choice("1239"), rng.choice(areas), rng) for _ in range(N)]
    bad_check = [v[:17] + rng.choice([c for c in USCC_CHARS if c != v[17]]) for v in valid]
    letters = [_uscc(rng.choice("ABCDEFGNY") + "1", rng.choice(areas), rng) for _ in range(N)]
    bad_org = []
    for v in valid:  # the organisation code's own check character wrong, GB 32100's recomputed
        first16 = v[:16] + rng.choice([c for c in "0123456789X" if c != v[16]])
        bad_org.append(first16 + uscc_check(first16))
    bad_area = [_uscc("91", a, rng) for a in unknown_area]
    values = valid + bad_check + letters + bad_org + bad_area
    got = _checked(spark, values, codes, "uscc")
    # where the rules agree: both accept, both reject a wrong GB 32100 check character
    assert [got[v] for v in valid] == ["ok"] * N and all(uscc.is_valid(v) for v in valid)
    assert [got[v] for v in bad_check] == ["bad_check"] * N and not any(uscc.is_valid(v) for v in bad_check)
    # where they differ, and why:
    # - authorities A-G, N and Y (letters) register codes too; stdnum 2.2 wants 8 leading digits
    assert [got[v] for v in letters] == ["ok"] * N and not any(uscc.is_valid(v) for v in letters)
    # - stdnum does not check the embedded GB 11714 organisation code, nor the area code
    assert [got[v] for v in bad_org] == ["bad_org"] * N and all(uscc.is_valid(v) for v in bad_org)
    assert len(bad_area) == N
    assert [got[v] for v in bad_area] == ["bad_area"] * N and all(uscc.is_valid(v) for v in bad_area)
