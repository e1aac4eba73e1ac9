"""Silver conformance on fixed inputs: datums, resident IDs, district codes, SCD2 and MERGE re-runs."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from citylake.domain import geo, pii
from citylake.domain.districts import code_status, current_code
from citylake.domain.ids import is_valid_resident_id, resident_id_check
from citylake.engine import delta_io
from citylake.lake import Lake, reference
from citylake.quality.rowchecks import DQ_FAILED
from jobs import silver_conform, silver_merge

pytestmark = pytest.mark.spark

SHANGHAI = ZoneInfo("Asia/Shanghai")
KEY = b"test-key"
NOW = dt.datetime(2026, 11, 20, 12, 0)

# Published pairs from wandergis/coordtransform (test/app.js), an independent implementation.
WGS = (116.404, 39.915)
GCJ_OF_WGS = (116.41024449916938, 39.91640428150164)
GCJ = (116.404, 39.915)
BD_OF_GCJ = (116.41036949371029, 39.92133699351021)
ONE_STEP_WGS_OF_GCJ = (116.39775550083061, 39.91359571849836)


def _metres(a, b) -> float:
    return float(geo.haversine_m(np.array([a[0]]), np.array([a[1]]), np.array([b[0]]), np.array([b[1]]))[0])


def _to_wgs84_in_spark(spark, points: list[tuple[float | None, float | None, str]]):
    from pyspark.sql import functions as F

    df = spark.createDataFrame(points, "lon double, lat double, system string")
    out = geo.with_wgs84(df, "lon", "lat", F.col("system"), "wlon", "wlat", "status")
    return [(r["wlon"], r["wlat"], r["status"]) for r in out.collect()]


def test_forward_transforms_match_the_published_pairs():
    glon, glat = geo.wgs84_to_gcj02(np.array([WGS[0]]), np.array([WGS[1]]))
    assert _metres((glon[0], glat[0]), GCJ_OF_WGS) < 0.001
    blon, blat = geo.gcj02_to_bd09(np.array([GCJ[0]]), np.array([GCJ[1]]))
    assert _metres((blon[0], blat[0]), BD_OF_GCJ) < 0.001


def test_spark_inverse_recovers_known_points_within_half_a_metre(spark):
    got = _to_wgs84_in_spark(
        spark,
        [
            (*GCJ_OF_WGS, "gcj02"),
            (*BD_OF_GCJ, "bd09"),
            (*GCJ, "gcj02"),
            (*WGS, "wgs84"),
            (2.2945, 48.8584, "gcj02"),
        ],
    )
    (g_lon, g_lat, g_status), (b_lon, b_lat, b_status), (o_lon, o_lat, _), wgs, paris = got
    assert _metres((g_lon, g_lat), WGS) < 0.5 and g_status == "converted_from_gcj02"
    # BD-09 of GCJ (116.404, 39.915) is the same place as GCJ (116.404, 39.915)
    assert _metres((b_lon, b_lat), (o_lon, o_lat)) < 0.5 and b_status == "converted_from_bd09"
    # iterating lands where the forward transform says; the published one-step inverse does not
    fwd = geo.wgs84_to_gcj02(np.array([o_lon]), np.array([o_lat]))
    one = geo.wgs84_to_gcj02(np.array([ONE_STEP_WGS_OF_GCJ[0]]), np.array([ONE_STEP_WGS_OF_GCJ[1]]))
    assert _metres((fwd[0][0], fwd[1][0]), GCJ) < 0.001 < _metres((one[0][0], one[1][0]), GCJ)
    assert wgs == (*WGS, "wgs84")
    # outside China: left exactly as sent, and flagged
    assert paris == (2.2945, 48.8584, "outside_china")


def test_spark_inverse_error_over_shanghai_is_below_half_a_metre(spark):
    rng = np.random.default_rng(7)
    lon, lat = rng.uniform(120.8, 122.5, 2000), rng.uniform(30.6, 32.0, 2000)
    for system in ("gcj02", "bd09"):
        x, y = geo.wgs84_to(system, lon, lat)
        got = _to_wgs84_in_spark(spark, [(float(a), float(b), system) for a, b in zip(x, y, strict=True)])
        err = geo.haversine_m(lon, lat, np.array([g[0] for g in got]), np.array([g[1] for g in got]))
        assert err.max() < 0.5, (system, err.max())
        one_step = geo.to_wgs84(system, x, y, steps=1)
        assert geo.haversine_m(lon, lat, *one_step).max() > 0.5  # why silver iterates


def test_resident_id_check_characters_in_spark_and_python(spark):
    from pyspark.sql import functions as F

    first17 = "11010519491231002"
    valid18 = first17 + resident_id_check(first17)
    assert valid18 == "11010519491231002X"  # GB 11643's own worked example
    wrong = first17 + "1"
    legacy15 = "310103630512263"  # born 1963-05-12, sequence ends odd: male; Luwan (retired code)
    rows = [(valid18,), (wrong,), (legacy15,), ("3101",), (None,), (" 11010519491231002x ",)]
    df = spark.createDataFrame(rows, "id string")
    out = df.select(
        "id",
        pii.resident_id_valid(F.col("id")).alias("valid"),
        *[pii.resident_id_derived(F.col("id"), f).alias(f) for f in ("birth_year", "gender", "region")],
    ).collect()
    got = {r["id"]: (r["valid"], r["birth_year"], r["gender"], r["region"]) for r in out}
    assert got[valid18] == (True, 1949, "F", "110105")
    assert got[wrong] == (False, None, None, None)
    assert got[legacy15] == (True, 1963, "M", "310101")
    assert got["3101"] == (False, None, None, None)
    assert got[None] == (None, None, None, None)
    assert got[" 11010519491231002x "][0] is True  # trimmed, lower-case x accepted
    for (value,) in rows[:4]:
        assert is_valid_resident_id(value) == bool(got[value][0])


def test_district_and_street_codes_are_remapped_or_flagged(spark):

    from citylake.domain.districts import crosswalk, lookup_rows, seed_register, with_conformed_code

    cases = [
        ("310103", "district", "310101", "remapped"),  # Luwan, merged into Huangpu in 2011
        ("310108", "district", "310106", "remapped"),
        ("310230", "district", "310151", "remapped"),
        ("310115", "district", "310115", "current"),
        ("310101000000", "district", "310101", "current"),
        ("310199", "district", None, "unknown"),
        ("3101", "district", None, "unknown"),
        ("310108001", "street", "310106015", "remapped"),  # Zhabei's Tianmu Road West, now Jing'an 015
        ("310230101", "street", "310151101", "remapped"),  # Chengqiao town, Chongming county -> district
        ("310108005", "street", None, "unknown"),  # re-prefixing a Zhabei code names no real street
        ("310103002", "street", None, "unknown"),  # Luwan's streets left before the 2015 tables
        ("310101001", "street", None, "unknown"),  # Huangpu has no 001
        ("310101013", "street", "310101013", "current"),
        ("310101013000", "street", "310101013", "current"),
        ("310101013001", "street", "310101013", "current"),  # a community of it
        ("310101013999", "street", None, "unknown"),
        ("320104012", "street", None, "unknown"),
        (None, "street", None, None),
    ]
    register = [(d.code, d.level) for d in seed_register()]
    lookup = spark.createDataFrame(
        lookup_rows(register, crosswalk()), "sent string, code string, level string, status string"
    )
    df = spark.createDataFrame([(i, c) for i, (c, *_rest) in enumerate(cases)], "i int, code string")
    got = {}
    for level in ("district", "street"):
        out = with_conformed_code(df, "code", level, lookup, "now", "status")
        got[level] = {r["i"]: (r["now"], r["status"]) for r in out.collect()}
    for i, (code, level, now, status) in enumerate(cases):
        assert got[level][i] == (now, status), code
        if code is not None:
            assert (current_code(code, level), code_status(code, level)) == (now, status), code


# --- MERGE and SCD2 ------------------------------------------------------------------------


def _bronze(spark, contract, rows: list[dict], day: dt.date, batch: str):
    from pyspark.sql import types as T

    from jobs.bronze_read import spark_type

    fields = [T.StructField(c.name, spark_type(c.type)) for c in contract.columns] + [
        T.StructField("_unit", T.StringType()),
        T.StructField("_feed", T.StringType()),
        T.StructField("_source_file", T.StringType()),
        T.StructField("_record_no", T.LongType()),
        T.StructField("_batch_id", T.StringType()),
        T.StructField("_logical_date", T.DateType()),
        T.StructField(DQ_FAILED, T.ArrayType(T.StringType())),
    ]
    data = [
        {**{c.name: r.get(c.name) for c in contract.columns}, "_unit": r.get("_unit", "op_test"),
         "_feed": contract.contract, "_source_file": f"{batch}.csv", "_record_no": i + 1, "_batch_id": batch,
         "_logical_date": day, DQ_FAILED: []}
        for i, r in enumerate(rows)
    ]  # fmt: skip
    return spark.createDataFrame(data, T.StructType(fields))


def _merge_day(spark, lake: Lake, contract, rows, day, systems=None) -> int | None:
    path = lake.table("silver", contract.contract)
    delta_io.ensure_table(spark, path, silver_conform.silver_schema(contract))
    bronze = _bronze(spark, contract, rows, day, f"b{day:%Y%m%d}")
    register, _ = reference.division_lookup(spark, lake)
    inc = silver_conform.conform(bronze, contract, KEY, f"run-{day}", NOW, systems, register=register).drop(
        DQ_FAILED
    )
    dates = sorted({r["event_date"] for r in inc.select("event_date").distinct().collect()})
    silver_merge.merge(spark, path, inc, contract, dates)
    return delta_io.latest_version(spark, path)


def _station(status: str, power: float, updated: str, **kw) -> dict:
    base = {"station_id": "CS-1", "station_name": "Xuhui Hub", "operator_name": "Op", "district_code": "310106",
            "street_code": "310106015", "address": "1 Road", "lon": 121.48, "lat": 31.23, "connector_count": 8,
            "power_kw": power, "status": status, "updated_at": dt.datetime.fromisoformat(updated)}  # fmt: skip
    return {**base, **kw}


def test_scd2_keeps_the_history_of_a_station_whose_attributes_change(spark, registry, lake):
    contract = registry.contracts["ev_charging_stations"]
    systems = {"op_test/ev_charging_stations": "gcj02"}
    other = _station("operating", 60.0, "2026-11-18 01:00:00", station_id="CS-2")
    d1, d2, d3 = dt.date(2026, 11, 18), dt.date(2026, 11, 19), dt.date(2026, 11, 20)
    _merge_day(
        spark, lake, contract, [_station("operating", 120.0, "2026-11-18 02:00:00"), other], d1, systems
    )
    # day 2: same attributes, a newer update time, codes sent in their retired form: no new version
    same = {**other, "updated_at": dt.datetime(2026, 11, 19, 3)}
    legacy = _station(
        "operating", 120.0, "2026-11-19 02:00:00", district_code="310108", street_code="310108001"
    )
    _merge_day(spark, lake, contract, [legacy, same], d2, systems)
    # day 3: CS-1 goes into maintenance with less power
    day3 = [_station("maintenance", 90.0, "2026-11-20 04:00:00"), same]
    v3 = _merge_day(spark, lake, contract, day3, d3, systems)
    table = spark.read.format("delta").load(lake.table("silver", contract.contract))
    history = sorted(
        (r.asDict() for r in table.where("station_id = 'CS-1'").collect()), key=lambda r: r["valid_from"]
    )
    assert [(h["status"], h["power_kw"], h["is_current"]) for h in history] == [
        ("operating", 120.0, False),
        ("maintenance", 90.0, True),
    ]
    assert history[0]["valid_from"] == dt.datetime(2026, 11, 18, 2)
    assert history[0]["valid_to"] == history[1]["valid_from"] == dt.datetime(2026, 11, 20, 4)
    assert history[1]["valid_to"] is None
    assert table.where("station_id = 'CS-2'").count() == 1
    # coordinates: converted from GCJ-02, the sent values kept
    assert history[1]["lon_as_sent"] == 121.48 and history[1]["coord_status"] == "converted_from_gcj02"
    assert 0.003 < 121.48 - history[1]["lon"] < 0.006
    assert (history[1]["district_code"], history[1]["street_code"]) == ("310106", "310106015")
    # re-running day 3 changes nothing: no new table version
    assert _merge_day(spark, lake, contract, day3, d3, systems) == v3
    # a correction of the current version (same update time) fixes it in place
    fixed = [_station("maintenance", 95.0, "2026-11-20 04:00:00"), same]
    _merge_day(spark, lake, contract, fixed, d3, systems)
    cs1 = (
        spark.read.format("delta").load(lake.table("silver", contract.contract)).where("station_id = 'CS-1'")
    )
    assert sorted((r["power_kw"], r["is_current"]) for r in cs1.collect()) == [(95.0, True), (120.0, False)]
    # an older snapshot arriving late does not rewrite history
    _merge_day(spark, lake, contract, [_station("closed", 1.0, "2026-11-19 05:00:00"), same], d2, systems)
    cs1 = (
        spark.read.format("delta").load(lake.table("silver", contract.contract)).where("station_id = 'CS-1'")
    )
    assert sorted((r["power_kw"], r["is_current"]) for r in cs1.collect()) == [(95.0, True), (120.0, False)]


def _session(sid: str, energy: float, start: str, **kw) -> dict:
    """A session; its start is a Shanghai wall-clock time, as the sources send it."""
    base = {"session_id": sid, "station_id": "CS-1", "connector_id": "C1",
            "start_time": dt.datetime.fromisoformat(start).replace(tzinfo=SHANGHAI), "end_time": None, "energy_kwh": energy,
            "fee_yuan": 10.0, "plate_no": "沪A12345", "user_mobile": "13812345678", "district_code": "310103"}  # fmt: skip
    return {**base, **kw}


def test_event_merge_rerun_changes_nothing_and_corrections_update_in_place(spark, registry, lake):
    contract = registry.contracts["ev_charging_sessions"]
    day = dt.date(2026, 11, 20)
    rows = [_session("S1", 10.0, "2026-11-20 08:00:00"), _session("S2", 20.0, "2026-11-19 23:00:00")]
    v1 = _merge_day(spark, lake, contract, rows, day)
    assert _merge_day(spark, lake, contract, rows, day) == v1
    table = spark.read.format("delta").load(lake.table("silver", contract.contract))
    got = {r["session_id"]: r for r in table.collect()}
    assert got["S2"]["event_date"] == dt.date(2026, 11, 19)  # a late record lands on its own day
    assert got["S1"]["district_code"] == "310101" and got["S1"]["district_code_as_sent"] == "310103"
    assert got["S1"]["district_code_status"] == "remapped"
    assert got["S1"]["plate_no_hash"] == pii.hmac_hex_py("沪A12345", KEY)
    # a corrected re-delivery of S2 updates it in place
    _merge_day(spark, lake, contract, [_session("S2", 25.0, "2026-11-19 23:00:00")], day)
    table = spark.read.format("delta").load(lake.table("silver", contract.contract))
    assert table.count() == 2
    assert table.where("session_id = 'S2'").first()["energy_kwh"] == 25.0


def test_scd2_measures_update_the_current_version_without_opening_one(spark, registry, lake):
    contract = registry.contracts["retail_terminals"]
    assert [c.name for c in contract.columns if not c.track] == ["daily_sales_yuan"]

    def terminal(sales: float, updated: str, status: str = "operating") -> dict:
        return {"terminal_id": "RT-1", "terminal_type": "vending", "operator_name": "Op", "district_code": "310115",
                "street_code": "310115004", "lon": 121.54, "lat": 31.22, "daily_sales_yuan": sales,
                "status": status, "updated_at": dt.datetime.fromisoformat(updated)}  # fmt: skip

    _merge_day(spark, lake, contract, [terminal(100.0, "2026-11-18 01:00:00")], dt.date(2026, 11, 18))
    _merge_day(spark, lake, contract, [terminal(250.0, "2026-11-19 01:00:00")], dt.date(2026, 11, 19))
    table = spark.read.format("delta").load(lake.table("silver", contract.contract))
    rows = [r.asDict() for r in table.collect()]
    assert [(r["daily_sales_yuan"], r["is_current"], r["valid_from"]) for r in rows] == [
        (250.0, True, dt.datetime(2026, 11, 18, 1))
    ]
    _merge_day(
        spark, lake, contract, [terminal(80.0, "2026-11-20 01:00:00", "offline")], dt.date(2026, 11, 20)
    )
    table = spark.read.format("delta").load(lake.table("silver", contract.contract))
    assert sorted((r["status"], r["daily_sales_yuan"], r["is_current"]) for r in table.collect()) == [
        ("offline", 80.0, True),
        ("operating", 250.0, False),
    ]


# --- ranking copies ------------------------------------------------------------------------


def test_ranking_only_the_repeated_keys_ranks_every_row_as_the_full_window_does(spark, registry):
    """Silver ranks only keys with copies when it does not cache the increment
    (``beaten_copies`` + ``with_ranks``); every row must get the rank and winning batch that the
    window over all rows gives it: copies in one batch, across batches, dropped rows apart."""
    import random

    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    from jobs.silver_transform import beaten_copies, rank_copies, with_ranks

    contract = registry.contracts["iot_sensor_readings"]
    assert silver_conform.recompute(contract, silver_conform.RECOMPUTE_ROWS)
    rnd = random.Random(15)
    start = dt.datetime(2026, 11, 23, 8)
    rows = []
    for batch, version in (("b1", 3), ("b2", 5), ("b3", 4)):
        for n in range(1, 401):
            k = rnd.randrange(600)  # some keys come once, some in several records and batches
            at = start + dt.timedelta(minutes=k % 200)
            rows.append((f"op_{k % 3}", f"N-{k}", "pm25", at, at.date(), f"{batch}/f{n % 2}.csv", n, batch,
                         version, rnd.random() < 0.1))  # fmt: skip
    schema = T.StructType.fromDDL(
        "_unit STRING, node_id STRING, metric STRING, read_at TIMESTAMP, event_date DATE, _source_file STRING, "
        "_record_no LONG, _batch_id STRING, _bronze_version INT, _dropped BOOLEAN"
    )
    df = spark.createDataFrame(rows, schema)
    order = F.col("_bronze_version")
    cols = ["_batch_id", "_source_file", "_record_no", "_copy", "_winner_batch"]
    full = {tuple(r) for r in rank_copies(df, contract, order, apart="_dropped").select(*cols).collect()}
    beaten = beaten_copies(df, contract, order, apart="_dropped")
    assert beaten.count() > 100  # there are copies to rank
    ours = {tuple(r) for r in with_ranks(df, beaten).select(*cols).collect()}
    assert len(full) == len(rows) and ours == full
    assert {r[3] for r in full} >= {1, 2, 3}
