"""Seeded, deterministic sample feeds in the landing layout, with documented faults.

``landing/<unit>/<feed>/<YYYY-MM-DD>/<unit>_<feed>_<YYYYMMDD>.<ext>``

Every value derives from a seed of (unit, feed, date), so the same call writes the same bytes.
Entities (stations, lots, nodes, sites, lockers, terminals) derive from (unit, feed) alone, so
they persist across days, with a few seeded attribute changes per day (SCD2 material).

Faults, at the rates in FAULT_RATES, on disjoint records, counted exactly in the report that is
written to ``_system/generated/<date>.json``:
- ``null_required``: a required (non-nullable) column left empty;
- ``duplicate``: an exact copy of another record;
- ``malformed`` (CSV/JSON only): extra field, missing field, unparseable number, broken JSON;
- ``out_of_range``: a value outside its column's declared min/max;
- ``bad_coordinates``: (0, 0) or swapped lon/lat, for contracts with coordinates;
- ``invalid_resident_id``: a wrong GB 11643 check character, for contracts with resident IDs;
- ``late``: an event time on the previous day;
and per file: ``resend`` (a second, byte-identical copy under another name) and ``late_file``
(an extra file of the previous day's records delivered today).

Codes: district and street codes are real register codes (NBS 2023); legacy units send retired
ones and 1% of street codes exist nowhere (``_codes``); each file's report counts them as
silver must conform them. The civil-affairs unit delivers the shipped register itself.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import hashlib
import io
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from citylake import geo
from citylake.districts import STATUSES, crosswalk, seed_register, streets_of
from citylake.districts import districts as district_names
from citylake.ids import USCC_CHARS, org_code_check, resident_id_check, uscc_check
from citylake.lake import Lake
from citylake.registry import Feed, FeedContract, Registry
from citylake.storage import Store, store_for

# Records per unit per day at scale 1 (events), or entities per unit (entity snapshots).
BASE_ROWS: dict[str, int] = {
    "ev_charging_sessions": 6000,
    "ev_charging_stations": 300,
    "parking_occupancy": 80 * 96,
    "parking_lots": 80,
    "iot_sensor_readings": 30000,
    "iot_sensor_nodes": 500,
    "air_quality": 10 * 24,
    "cell_5g_load": 60 * 3 * 24,
    "cell_5g_sites": 16 * 60,
    "traffic_flow": 400 * 288,
    "delivery_lockers": 2000,
    "retail_terminals": 1000,
    "service_requests": 3000,
    "medical_visits": 5000,
    "enterprise_cloud_adoption": 200,
    "admin_divisions": len(seed_register()),  # the whole register, at every scale
}

FAULT_RATES: dict[str, float] = {
    "null_required": 0.004,
    "duplicate": 0.01,
    "malformed": 0.003,
    "out_of_range": 0.004,
    "bad_coordinates": 0.01,
    "invalid_resident_id": 0.01,
    "late": 0.02,
}
FILE_FAULT_RATES = {"resend": 0.08, "late_file": 0.05}

SURNAMES = list(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈姚卢"
)
GIVEN = list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国志红玲文斌辉鹏晨宇浩然欣怡佳琪子涵梓萱思远")
ROADS = [
    "南京西路",
    "淮海中路",
    "世纪大道",
    "中山北路",
    "延安西路",
    "四川北路",
    "肇嘉浜路",
    "张杨路",
    "虹桥路",
    "曹安公路",
    "沪闵路",
    "长宁路",
    "武宁路",
    "共和新路",
    "杨高路",
    "龙华中路",
    "漕宝路",
    "松江大道",
    "嘉松北路",
    "人民路",
]
CATEGORIES = [
    "城市管理",
    "交通出行",
    "住房保障",
    "环境保护",
    "市场监管",
    "社会保障",
    "公共安全",
    "教育",
    "医疗卫生",
    "噪音扰民",
]
DEPARTMENTS = ["内科", "外科", "儿科", "妇产科", "急诊科", "眼科", "口腔科", "皮肤科", "中医科", "心血管内科"]
INDUSTRIES = [
    "制造业",
    "信息技术",
    "批发零售",
    "金融业",
    "交通运输",
    "科学研究",
    "医药制造",
    "集成电路",
    "汽车制造",
    "生物医药",
]
PLATE_LETTERS = "ABCDEFGHJKLMN"
CARRIERS = ("cmcc", "cucc", "ctcc", "cbn")


@dataclass
class FileReport:
    unit: str
    feed: str
    path: str
    kind: str  # main | resend | late_file
    records: int
    faults: dict[str, int] = field(default_factory=dict)
    malformed_records: list[int] = field(default_factory=list)
    # per code column: codes silver conforms as current, remapped, unknown (before record faults)
    codes: dict[str, dict[str, int]] = field(default_factory=dict)


def _seed(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:8], "little")


def _rng(*parts: object) -> np.random.Generator:
    return np.random.default_rng(_seed(*parts))


def _ts(base: dt.datetime, seconds: np.ndarray) -> list[str]:
    return [(base + dt.timedelta(seconds=int(s))).strftime("%Y-%m-%d %H:%M:%S") for s in seconds]


def _districts_for(feed: Feed, n: int, rng: np.random.Generator) -> list[str]:
    if feed.unit.district_code:
        return [feed.unit.district_code] * n
    codes = list(district_names())
    return [codes[i] for i in rng.integers(0, len(codes), n)]


def _street(district: str, i: int) -> str:
    """A real street or town of the district (NBS 2023)."""
    streets = streets_of(district)
    return streets[i % len(streets)]


# A rough centre per district, WGS-84 (lon, lat): the generator scatters objects around it.
CENTROIDS: dict[str, tuple[float, float]] = {
    "310101": (121.4846, 31.2317),
    "310104": (121.4367, 31.1885),
    "310105": (121.4244, 31.2204),
    "310106": (121.4478, 31.2286),
    "310107": (121.3972, 31.2497),
    "310109": (121.5050, 31.2646),
    "310110": (121.5260, 31.2596),
    "310112": (121.3816, 31.1129),
    "310113": (121.4890, 31.4049),
    "310114": (121.2654, 31.3747),
    "310115": (121.5447, 31.2222),
    "310116": (121.3420, 30.7417),
    "310117": (121.2277, 31.0324),
    "310118": (121.1242, 31.1504),
    "310120": (121.4741, 30.9178),
    "310151": (121.3973, 31.6232),
}


def _positions(districts: list[str], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    cx = np.array([CENTROIDS[d][0] for d in districts])
    cy = np.array([CENTROIDS[d][1] for d in districts])
    return cx + rng.normal(0, 0.025, len(districts)), cy + rng.normal(0, 0.02, len(districts))


def _resident_id(rng: np.random.Generator, district: str) -> str:
    year = int(rng.integers(1950, 2010))
    birth = dt.date(year, 1, 1) + dt.timedelta(days=int(rng.integers(0, 365)))
    first17 = f"{district}{birth:%Y%m%d}{int(rng.integers(0, 1000)):03d}"
    return first17 + resident_id_check(first17)


def _mobile(rng: np.random.Generator) -> str:
    return f"1{int(rng.integers(3, 10))}{int(rng.integers(0, 10**9)):09d}"


def _name(rng: np.random.Generator) -> str:
    k = int(rng.integers(1, 3))
    return SURNAMES[int(rng.integers(0, len(SURNAMES)))] + "".join(
        GIVEN[int(i)] for i in rng.integers(0, len(GIVEN), k)
    )


def _address(rng: np.random.Generator, district: str) -> str:
    return f"上海市{district_names()[district]}{ROADS[int(rng.integers(0, len(ROADS)))]}{int(rng.integers(1, 2000))}号"


def _plate(rng: np.random.Generator) -> str:
    letter = PLATE_LETTERS[int(rng.integers(0, len(PLATE_LETTERS)))]
    return f"沪{letter}{'D' if rng.random() < 0.7 else ''}{int(rng.integers(10000, 99999))}"


def _uscc(rng: np.random.Generator, district: str) -> str:
    org8 = "".join(USCC_CHARS[int(i)] for i in rng.integers(0, 10, 8))
    first17 = "91" + district + org8 + org_code_check(org8)
    return first17 + uscc_check(first17)


# --- entities ------------------------------------------------------------------------------


@dataclass
class Entities:
    ids: list[str]
    districts: list[str]
    lon: np.ndarray  # true WGS-84
    lat: np.ndarray


def entities(feed: Feed, contract: str, scale: float) -> Entities:
    """The unit's stable objects for a contract: same ids and places on every date."""
    n = max(3, round(BASE_ROWS[contract] * scale))
    rng = _rng("entities", feed.unit.unit, contract)
    prefix = {
        "ev_charging_stations": "CS",
        "parking_lots": "PL",
        "iot_sensor_nodes": "N",
        "delivery_lockers": "LK",
        "retail_terminals": "RT",
    }[contract]
    districts = _districts_for(feed, n, rng)
    lon, lat = _positions(districts, rng)
    tag = feed.unit.unit.upper().replace("_", "")[:10]
    return Entities([f"{prefix}-{tag}-{i:05d}" for i in range(n)], districts, lon, lat)


def _day_index(date: dt.date) -> int:
    return (date - dt.date(2024, 1, 1)).days


def _status(ids: list[str], date: dt.date, normal: str, other: list[str]) -> list[str]:
    """Mostly `normal`; a few objects are in another state on a given day (SCD2 churn)."""
    out = []
    for i in ids:
        h = _seed("status", i, date.isoformat()) % 100
        out.append(other[h % len(other)] if h < 3 else normal)
    return out


# --- per-contract builders: canonical column -> list of python values ----------------------


class Ctx:
    def __init__(self, feed: Feed, date: dt.date, scale: float, variant: str = "main"):
        self.feed = feed
        self.date = date
        self.scale = scale
        self.rng = _rng(feed.unit.unit, feed.spec.feed, date.isoformat(), variant)
        self.midnight = dt.datetime.combine(date, dt.time())
        self.n = max(1, round(BASE_ROWS[feed.contract.contract] * scale))

    def seconds(self, n: int) -> np.ndarray:
        return self.rng.integers(0, 86400, n)

    def coords(self, lon: np.ndarray, lat: np.ndarray) -> tuple[list[float], list[float]]:
        x, y = geo.wgs84_to(self.feed.spec.coord_system or "wgs84", lon, lat)
        return [round(float(v), 7) for v in x], [round(float(v), 7) for v in y]

    def updated(self, n: int) -> list[str]:
        return _ts(self.midnight, self.rng.integers(0, 6 * 3600, n))


def _ev_sessions(c: Ctx) -> dict[str, list[Any]]:
    st = entities(c.feed, "ev_charging_stations", c.scale)
    n, r = c.n, c.rng
    pick = r.integers(0, len(st.ids), n)
    start = c.seconds(n)
    dur = r.integers(600, 4 * 3600, n)
    energy = np.round(r.gamma(3.0, 8.0, n), 2)
    return {
        "session_id": [f"S{c.date:%Y%m%d}{c.feed.unit.unit[-6:].upper()}{i:07d}" for i in range(n)],
        "station_id": [st.ids[i] for i in pick],
        "connector_id": [
            f"{st.ids[i]}-C{int(k):02d}" for i, k in zip(pick, r.integers(1, 9, n), strict=True)
        ],
        "start_time": _ts(c.midnight, start),
        "end_time": _ts(c.midnight, start + dur),
        "energy_kwh": energy.tolist(),
        "fee_yuan": np.round(energy * r.uniform(1.0, 2.2, n), 2).tolist(),
        "plate_no": [_plate(r) for _ in range(n)],
        "user_mobile": [_mobile(r) for _ in range(n)],
        "district_code": [st.districts[i] for i in pick],
    }


def _ev_stations(c: Ctx) -> dict[str, list[Any]]:
    e = entities(c.feed, "ev_charging_stations", c.scale)
    n = len(e.ids)
    base = np.array([_seed("cc", i) % 20 + 2 for i in e.ids])
    grown = np.array([1 if _seed("grow", i) % 60 < (_day_index(c.date) % 60) // 20 else 0 for i in e.ids])
    lon, lat = c.coords(e.lon, e.lat)
    return {
        "station_id": e.ids,
        "station_name": [
            f"{district_names()[d]}{ROADS[_seed(i) % len(ROADS)]}充电站{k}"
            for k, (i, d) in enumerate(zip(e.ids, e.districts, strict=True))
        ],
        "operator_name": [c.feed.unit.name_zh] * n,
        "district_code": e.districts,
        "street_code": [_street(d, _seed(i)) for i, d in zip(e.ids, e.districts, strict=True)],
        "address": [
            f"上海市{district_names()[d]}{ROADS[_seed(i) % len(ROADS)]}{_seed(i) % 999 + 1}号"
            for i, d in zip(e.ids, e.districts, strict=True)
        ],
        "lon": lon,
        "lat": lat,
        "connector_count": (base + grown * 2).tolist(),
        "power_kw": ((base + grown * 2) * 60.0).tolist(),
        "status": _status(e.ids, c.date, "operating", ["maintenance", "closed"]),
        "updated_at": c.updated(n),
    }


def _parking_occupancy(c: Ctx) -> dict[str, list[Any]]:
    lots = entities(c.feed, "parking_lots", c.scale)
    slots = max(1, c.n // len(lots.ids))
    idx = np.repeat(np.arange(len(lots.ids)), slots)
    t = np.tile(np.arange(slots) * (86400 // slots), len(lots.ids))
    total = np.array([_seed("cap", lots.ids[i]) % 400 + 50 for i in idx])
    hour = t / 3600.0
    busy = 0.5 + 0.35 * np.sin((hour - 8) / 24 * 2 * np.pi)
    free = np.clip(np.round(total * (1 - busy + c.rng.normal(0, 0.05, len(idx)))), 0, total).astype(int)
    return {
        "lot_id": [lots.ids[i] for i in idx],
        "observed_at": _ts(c.midnight, t),
        "total_spaces": total.tolist(),
        "free_spaces": free.tolist(),
        "district_code": [lots.districts[i] for i in idx],
    }


def _parking_lots(c: Ctx) -> dict[str, list[Any]]:
    e = entities(c.feed, "parking_lots", c.scale)
    n = len(e.ids)
    lon, lat = c.coords(e.lon, e.lat)
    types = ["public", "commercial", "residential", "on_street"]
    return {
        "lot_id": e.ids,
        "lot_name": [
            f"{district_names()[d]}{ROADS[_seed(i) % len(ROADS)]}停车场"
            for i, d in zip(e.ids, e.districts, strict=True)
        ],
        "lot_type": [types[_seed("t", i) % 4] for i in e.ids],
        "district_code": e.districts,
        "street_code": [_street(d, _seed(i)) for i, d in zip(e.ids, e.districts, strict=True)],
        "lon": lon,
        "lat": lat,
        "total_spaces": [_seed("cap", i) % 400 + 50 for i in e.ids],
        "hourly_rate_yuan": [float(5 + _seed("rate", i) % 11) for i in e.ids],
        "status": _status(e.ids, c.date, "operating", ["closed"]),
        "updated_at": c.updated(n),
    }


METRICS = {
    "noise": ("noise_db", 35, 85),
    "water_level": ("water_level_m", 0.5, 4.0),
    "manhole": ("manhole_tilt_deg", 0, 5),
    "weather": ("temperature_c", -2, 36),
    "smoke": ("smoke_ppm", 0, 30),
}
NODE_TYPES = list(METRICS)


def _iot_readings(c: Ctx) -> dict[str, list[Any]]:
    nodes = entities(c.feed, "iot_sensor_nodes", c.scale)
    n, r = c.n, c.rng
    pick = r.integers(0, len(nodes.ids), n)
    kinds = [NODE_TYPES[_seed("nt", nodes.ids[i]) % 5] for i in pick]
    lo = np.array([METRICS[k][1] for k in kinds])
    hi = np.array([METRICS[k][2] for k in kinds])
    return {
        "node_id": [nodes.ids[i] for i in pick],
        "metric": [METRICS[k][0] for k in kinds],
        "value": np.round(lo + (hi - lo) * r.random(n), 3).tolist(),
        "read_at": _ts(c.midnight, c.seconds(n)),
        "battery_pct": np.round(r.uniform(5, 100, n), 1).tolist(),
    }


def _iot_nodes(c: Ctx) -> dict[str, list[Any]]:
    e = entities(c.feed, "iot_sensor_nodes", c.scale)
    n = len(e.ids)
    lon, lat = c.coords(e.lon, e.lat)
    return {
        "node_id": e.ids,
        "node_type": [NODE_TYPES[_seed("nt", i) % 5] for i in e.ids],
        "vendor": [["华为", "海康威视", "大华", "移远通信"][_seed("v", i) % 4] for i in e.ids],
        "district_code": e.districts,
        "street_code": [_street(d, _seed(i)) for i, d in zip(e.ids, e.districts, strict=True)],
        "lon": lon,
        "lat": lat,
        "installed_on": [
            (dt.date(2021, 1, 1) + dt.timedelta(days=_seed("inst", i) % 1000)).isoformat() for i in e.ids
        ],
        "status": _status(e.ids, c.date, "online", ["offline"]),
        "updated_at": c.updated(n),
    }


def _air_quality(c: Ctx) -> dict[str, list[Any]]:
    r = c.rng
    stations = max(1, c.n // 24)
    sr = _rng("aq-stations", c.feed.unit.unit)
    districts = _districts_for(c.feed, stations, sr)
    slon, slat = _positions(districts, sr)
    idx = np.repeat(np.arange(stations), 24)
    hours = np.tile(np.arange(24) * 3600, stations)
    m = len(idx)
    pm25 = np.round(r.gamma(4.0, 9.0, m), 1)
    lon, lat = c.coords(slon[idx], slat[idx])
    return {
        "station_code": [f"AQ{c.feed.unit.unit[-8:].upper()}{i:03d}" for i in idx],
        "station_name": [f"{district_names()[districts[i]]}监测站{i + 1}" for i in idx],
        "district_code": [districts[i] for i in idx],
        "lon": lon,
        "lat": lat,
        "measured_at": _ts(c.midnight, hours),
        "aqi": np.clip(np.round(pm25 * 1.4 + 10), 0, 500).astype(int).tolist(),
        "pm25": pm25.tolist(),
        "pm10": np.round(pm25 * r.uniform(1.2, 1.8, m), 1).tolist(),
        "no2": np.round(r.gamma(3.0, 12.0, m), 1).tolist(),
        "o3": np.round(r.gamma(3.0, 20.0, m), 1).tolist(),
        "so2": np.round(r.gamma(2.0, 3.0, m), 1).tolist(),
        "co": np.round(r.gamma(2.0, 0.3, m), 2).tolist(),
    }


def _site_ids(carrier: str, district: str, scale: float) -> list[str]:
    n = max(1, round(60 * scale))
    return [f"{carrier.upper()}-{district}-{i:04d}" for i in range(n)]


def _cell_load(c: Ctx) -> dict[str, list[Any]]:
    carrier = c.feed.unit.unit.split("_")[1]
    sites = _site_ids(carrier, c.feed.unit.district_code or "310101", c.scale)
    cells = [f"{s}-{k}" for s in sites for k in (1, 2, 3)]
    idx = np.repeat(np.arange(len(cells)), 24)
    hours = np.tile(np.arange(24), len(cells))
    m, r = len(idx), c.rng
    util = np.clip(30 + 40 * np.sin((hours - 6) / 24 * 2 * np.pi) + r.normal(0, 8, m), 0, 100)
    return {
        "cell_id": [cells[i] for i in idx],
        "site_id": [cells[i].rsplit("-", 1)[0] for i in idx],
        "measured_at": _ts(c.midnight, hours * 3600),
        "prb_util_pct": np.round(util, 2).tolist(),
        "active_users": np.round(util * r.uniform(3, 8, m)).astype(int).tolist(),
        "dl_throughput_mbps": np.round(util * r.uniform(8, 20, m), 1).tolist(),
        "ul_throughput_mbps": np.round(util * r.uniform(1, 3, m), 1).tolist(),
    }


def _cell_sites(c: Ctx) -> dict[str, list[Any]]:
    own = c.feed.unit.unit.split("_")[1]
    # A carrier reports its own sites; the regulator reports every carrier's.
    carriers = [own] if own in CARRIERS else ["cmcc", "cucc", "ctcc"]
    ids, districts, owners = [], [], []
    for carrier in carriers:
        for d in district_names():
            s = _site_ids(carrier, d, c.scale)
            ids += s
            districts += [d] * len(s)
            owners += [carrier] * len(s)
    r = _rng("sites", *carriers)
    wlon, wlat = _positions(districts, r)
    lon, lat = c.coords(wlon, wlat)
    bands = ["n41", "n78", "n79", "n28", "n1"]
    return {
        "site_id": ids,
        "site_name": [f"{district_names()[d]}{i[-4:]}站" for i, d in zip(ids, districts, strict=True)],
        "carrier": owners,
        "district_code": districts,
        "street_code": [_street(d, _seed(i)) for i, d in zip(ids, districts, strict=True)],
        "lon": lon,
        "lat": lat,
        "band": [bands[_seed("b", i) % 5] for i in ids],
        "cell_count": [3] * len(ids),
        "commissioned_on": [
            (dt.date(2020, 1, 1) + dt.timedelta(days=_seed("c", i) % 1500)).isoformat() for i in ids
        ],
        "status": _status(ids, c.date, "active", ["planned"]),
        "updated_at": c.updated(len(ids)),
    }


def _traffic(c: Ctx) -> dict[str, list[Any]]:
    detectors = max(1, c.n // 288)
    r = c.rng
    dr = _rng("detectors", c.feed.unit.unit)
    districts = _districts_for(c.feed, detectors, dr)
    idx = np.repeat(np.arange(detectors), 288)
    t = np.tile(np.arange(288) * 300, detectors)
    m = len(idx)
    peak = 1 + 0.8 * np.exp(-(((t / 3600) - 8) ** 2) / 2) + 0.8 * np.exp(-(((t / 3600) - 18) ** 2) / 2)
    return {
        "detector_id": [f"TD{c.feed.unit.unit[-6:].upper()}{i:05d}" for i in idx],
        "road_name": [ROADS[i % len(ROADS)] for i in idx],
        "district_code": [districts[i] for i in idx],
        "interval_start": _ts(c.midnight, t),
        "vehicle_count": np.round(peak * r.uniform(10, 60, m)).astype(int).tolist(),
        "avg_speed_kmh": np.round(np.clip(60 / peak + r.normal(0, 5, m), 3, 120), 1).tolist(),
        "occupancy_pct": np.round(np.clip(peak * 12 + r.normal(0, 3, m), 0, 100), 1).tolist(),
    }


def _lockers(c: Ctx) -> dict[str, list[Any]]:
    e = entities(c.feed, "delivery_lockers", c.scale)
    n = len(e.ids)
    lon, lat = c.coords(e.lon, e.lat)
    comp = np.array([_seed("comp", i) % 150 + 30 for i in e.ids])
    return {
        "locker_id": e.ids,
        "operator_name": [c.feed.unit.name_zh] * n,
        "district_code": e.districts,
        "street_code": [_street(d, _seed(i)) for i, d in zip(e.ids, e.districts, strict=True)],
        "lon": lon,
        "lat": lat,
        "compartment_count": comp.tolist(),
        "occupied_count": np.round(comp * c.rng.uniform(0.2, 0.95, n)).astype(int).tolist(),
        "status": _status(e.ids, c.date, "operating", ["offline"]),
        "updated_at": c.updated(n),
    }


def _retail(c: Ctx) -> dict[str, list[Any]]:
    e = entities(c.feed, "retail_terminals", c.scale)
    n = len(e.ids)
    lon, lat = c.coords(e.lon, e.lat)
    types = ["vending_machine", "micro_market", "smart_store", "recycling_station"]
    recycling = "recycl" in c.feed.spec.feed or "xiaohuanggou" in c.feed.unit.unit
    return {
        "terminal_id": e.ids,
        "terminal_type": ["recycling_station" if recycling else types[_seed("t", i) % 3] for i in e.ids],
        "operator_name": [c.feed.unit.name_zh] * n,
        "district_code": e.districts,
        "street_code": [_street(d, _seed(i)) for i, d in zip(e.ids, e.districts, strict=True)],
        "lon": lon,
        "lat": lat,
        "daily_sales_yuan": np.round(c.rng.gamma(2.0, 400.0, n), 2).tolist(),
        "status": _status(e.ids, c.date, "operating", ["offline"]),
        "updated_at": c.updated(n),
    }


def _service_requests(c: Ctx) -> dict[str, list[Any]]:
    n, r = c.n, c.rng
    districts = _districts_for(c.feed, n, r)
    received = c.seconds(n)
    status = [["received", "dispatched", "resolved", "closed"][int(i)] for i in r.integers(0, 4, n)]
    closed = [
        _ts(c.midnight, np.array([s + int(r.integers(600, 20000))]))[0]
        if st in ("resolved", "closed")
        else None
        for s, st in zip(received, status, strict=True)
    ]
    channels = ["hotline_12345", "app", "web", "window"]
    return {
        "request_id": [f"GD{c.date:%Y%m%d}{c.feed.unit.unit[-8:].upper()}{i:06d}" for i in range(n)],
        "received_at": _ts(c.midnight, received),
        "channel": [channels[int(i)] for i in r.choice(4, n, p=[0.55, 0.25, 0.1, 0.1])],
        "category": [CATEGORIES[int(i)] for i in r.integers(0, len(CATEGORIES), n)],
        "district_code": districts,
        "street_code": [_street(d, int(k)) for d, k in zip(districts, r.integers(0, 20, n), strict=True)],
        "citizen_name": [_name(r) for _ in range(n)],
        "citizen_id_no": [_resident_id(r, d) for d in districts],
        "citizen_mobile": [_mobile(r) for _ in range(n)],
        "address": [_address(r, d) for d in districts],
        "status": status,
        "closed_at": closed,
        "satisfaction": [int(r.integers(1, 6)) if st == "closed" else None for st in status],
    }


def _medical(c: Ctx) -> dict[str, list[Any]]:
    n, r = c.n, c.rng
    districts = _districts_for(c.feed, n, r)
    types = ["outpatient", "emergency", "inpatient", "online_consult"]
    online = c.feed.unit.unit in ("op_wedoctor", "op_pingan_gooddoctor")
    return {
        "visit_id": [f"V{c.date:%Y%m%d}{c.feed.unit.unit[-8:].upper()}{i:07d}" for i in range(n)],
        "hospital_code": [f"H{_seed(c.feed.unit.unit) % 10**8:08d}"] * n,
        "department": [DEPARTMENTS[int(i)] for i in r.integers(0, len(DEPARTMENTS), n)],
        "visit_at": _ts(c.midnight, c.seconds(n)),
        "visit_type": [
            "online_consult" if online else types[int(i)] for i in r.choice(3, n, p=[0.8, 0.15, 0.05])
        ],
        "patient_id_no": [_resident_id(r, d) for d in districts],
        "patient_name": [_name(r) for _ in range(n)],
        "patient_mobile": [_mobile(r) for _ in range(n)],
        "district_code": districts,
        "fee_yuan": np.round(r.gamma(2.0, 150.0, n), 2).tolist(),
    }


def _enterprise(c: Ctx) -> dict[str, list[Any]]:
    n, r = c.n, c.rng
    districts = _districts_for(c.feed, n, r)
    platforms = ["阿里云", "华为云", "腾讯云", "宝信xIn3Plat", "优刻得UCloud", "上海电气星云智汇"]
    levels = ["iaas", "paas", "saas", "industrial_internet"]
    return {
        "uscc": [_uscc(r, d) for d in districts],
        "enterprise_name": [
            f"上海{_name(r)}{INDUSTRIES[int(r.integers(0, 10))][:2]}有限公司" for _ in range(n)
        ],
        "industry": [INDUSTRIES[int(i)] for i in r.integers(0, len(INDUSTRIES), n)],
        "district_code": districts,
        "platform": [platforms[int(i)] for i in r.integers(0, len(platforms), n)],
        "cloud_level": [levels[int(i)] for i in r.integers(0, 4, n)],
        "adopted_on": [(c.date - dt.timedelta(days=int(d))).isoformat() for d in r.integers(0, 900, n)],
        "reported_at": _ts(c.midnight, c.seconds(n)),
        "employees": r.integers(5, 5000, n).tolist(),
        "annual_cloud_spend_wan": np.round(r.gamma(2.0, 20.0, n), 2).tolist(),
    }


def _admin_divisions(c: Ctx) -> dict[str, list[Any]]:
    """The civil-affairs unit's register: the shipped NBS 2023 table, as it is (no faults)."""
    rows = seed_register()
    return {"code": [d.code for d in rows], "name": [d.name for d in rows],
            "level": [d.level for d in rows], "parent_code": [d.parent_code for d in rows]}  # fmt: skip


BUILDERS = {
    "admin_divisions": _admin_divisions,
    "ev_charging_sessions": _ev_sessions,
    "ev_charging_stations": _ev_stations,
    "parking_occupancy": _parking_occupancy,
    "parking_lots": _parking_lots,
    "iot_sensor_readings": _iot_readings,
    "iot_sensor_nodes": _iot_nodes,
    "air_quality": _air_quality,
    "cell_5g_load": _cell_load,
    "cell_5g_sites": _cell_sites,
    "traffic_flow": _traffic,
    "delivery_lockers": _lockers,
    "retail_terminals": _retail,
    "service_requests": _service_requests,
    "medical_visits": _medical,
    "enterprise_cloud_adoption": _enterprise,
}


# --- faults --------------------------------------------------------------------------------


def _inject(
    contract: FeedContract, fmt: str, rows: list[list[Any]], rng: np.random.Generator
) -> tuple[list[list[Any]], dict[str, int], dict[int, str]]:
    """Corrupt disjoint records; returns rows, exact counts per fault and malformed row kinds."""
    cols = [c.name for c in contract.columns]
    pos = {name: i for i, name in enumerate(cols)}
    n = len(rows)
    order = rng.permutation(n)
    cursor = 0
    counts: dict[str, int] = {}

    def take(kind: str) -> np.ndarray:
        nonlocal cursor
        k = int(n * FAULT_RATES[kind])
        chosen = order[cursor : cursor + k]
        cursor += k
        counts[kind] = k
        return chosen

    required = [c for c in contract.columns if not c.nullable and c.name != contract.event_time]
    for i in take("null_required"):
        rows[i][pos[required[int(i) % len(required)].name]] = None
    ranged = [c for c in contract.columns if c.max is not None and c.role not in ("lon", "lat")]
    if ranged:
        for i in take("out_of_range"):
            col = ranged[int(i) % len(ranged)]
            value = -1 if (col.min or 0) >= 0 and int(i) % 2 else (col.max or 0) * 10 + 1
            rows[i][pos[col.name]] = int(value) if col.type in ("int", "long") else float(value)
    if contract.coordinates:
        lon, lat = pos[contract.coordinates.lon], pos[contract.coordinates.lat]
        for k, i in enumerate(take("bad_coordinates")):
            if k % 2:
                rows[i][lon], rows[i][lat] = rows[i][lat], rows[i][lon]
            else:
                rows[i][lon], rows[i][lat] = 0.0, 0.0
    ids = [c.name for c in contract.columns if c.pii == "resident_id"]
    if ids:
        for i in take("invalid_resident_id"):
            v = rows[i][pos[ids[0]]]
            if v and len(v) == 18:
                bad = "0123456789X".replace(v[-1], "")
                rows[i][pos[ids[0]]] = v[:-1] + bad[int(i) % len(bad)]
            elif v:
                rows[i][pos[ids[0]]] = v[:-1]  # a 15-digit ID with a digit lost
    if contract.kind == "event" and contract.event_time:
        et = pos[contract.event_time]
        for i in take("late"):
            if rows[i][et]:
                t = dt.datetime.strptime(rows[i][et], "%Y-%m-%d %H:%M:%S") - dt.timedelta(days=1)
                rows[i][et] = t.strftime("%Y-%m-%d %H:%M:%S")
    marks: list[str | None] = [None] * n
    if fmt != "parquet":
        kinds = (
            ["extra_field", "missing_field", "bad_number"] if fmt == "csv" else ["broken_json", "bad_number"]
        )
        for k, i in enumerate(take("malformed")):
            marks[int(i)] = kinds[k % len(kinds)]
    dups = take("duplicate")
    # Duplicates copy clean records only, so every fault stays counted once.
    clean = [int(i) for i in order[cursor:]] or list(range(n))
    out = [list(r) for r in rows]
    for k in range(len(dups)):
        at = int(rng.integers(0, len(out) + 1))
        out.insert(at, list(rows[clean[k % len(clean)]]))
        marks.insert(at, None)
    return out, counts, {i: m for i, m in enumerate(marks) if m}


def _fmt_value(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)
    return str(v)


def _numeric_positions(contract: FeedContract) -> list[int]:
    return [i for i, c in enumerate(contract.columns) if c.type in ("int", "long", "double")]


def _header(feed: Feed) -> list[str]:
    if feed.spec.header_language == "zh":
        return [c.aliases[0] if c.aliases else c.name for c in feed.contract.columns]
    return [c.name for c in feed.contract.columns]


def _csv_bytes(feed: Feed, rows: list[list[Any]], malformed: dict[int, str]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=feed.spec.delimiter, lineterminator="\n")
    w.writerow(_header(feed))
    numeric = _numeric_positions(feed.contract)
    for i, row in enumerate(rows):
        cells = [_fmt_value(v) for v in row]
        kind = malformed.get(i)
        if kind == "extra_field":
            cells.append("EXTRA")
        elif kind == "missing_field":
            cells = cells[:-1]
        elif kind == "bad_number":
            cells[numeric[i % len(numeric)]] = "12..5#"
        w.writerow(cells)
    text = buf.getvalue()
    encoding = feed.spec.encoding
    return text.encode(encoding)  # utf-8-sig writes the BOM some Excel exports carry


def _jsonl_bytes(feed: Feed, rows: list[list[Any]], malformed: dict[int, str]) -> bytes:
    names = [c.name for c in feed.contract.columns]
    numeric = _numeric_positions(feed.contract)
    lines = []
    for i, row in enumerate(rows):
        rec = dict(zip(names, row, strict=True))
        kind = malformed.get(i)
        if kind == "bad_number":
            rec[names[numeric[i % len(numeric)]]] = "12..5#"
        line = json.dumps(rec, ensure_ascii=False)
        if kind == "broken_json":
            line = line[: len(line) // 2]
        lines.append(line)
    return ("\n".join(lines) + "\n").encode("utf-8")


def _parquet_bytes(feed: Feed, rows: list[list[Any]]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrow_types = {
        "string": pa.string(),
        "int": pa.int32(),
        "long": pa.int64(),
        "double": pa.float64(),
        "boolean": pa.bool_(),
        "date": pa.date32(),
        "timestamp": pa.timestamp("us", tz="Asia/Shanghai"),
    }
    cols = {}
    for j, c in enumerate(feed.contract.columns):
        values = [r[j] for r in rows]
        if c.type == "timestamp":
            values = [
                dt.datetime.strptime(v, "%Y-%m-%d %H:%M:%S").replace(tzinfo=SHANGHAI) if v else None
                for v in values
            ]
        elif c.type == "date":
            values = [dt.date.fromisoformat(v) if v else None for v in values]
        cols[c.name] = pa.array(values, type=arrow_types[c.type])
    buf = io.BytesIO()
    pq.write_table(pa.table(cols), buf)
    return buf.getvalue()


SHANGHAI = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")


def render(feed: Feed, rows: list[list[Any]], malformed: dict[int, str]) -> bytes:
    fmt = feed.spec.format
    if fmt == "csv":
        data = _csv_bytes(feed, rows, malformed)
    elif fmt == "jsonl":
        data = _jsonl_bytes(feed, rows, malformed)
    else:
        data = _parquet_bytes(feed, rows)
    if feed.spec.compression == "gzip":
        data = gzip.compress(data, compresslevel=6, mtime=0)  # mtime=0 keeps bytes deterministic
    return data


def build_rows(
    feed: Feed,
    date: dt.date,
    scale: float,
    variant: str = "main",
    codes: dict[str, dict[str, int]] | None = None,
) -> list[list[Any]]:
    """One file's records; ``codes`` receives, per code column, how many codes conform as
    current, remapped or unknown (by construction, before record faults are injected)."""
    ctx = Ctx(feed, date, scale, variant)
    columns = BUILDERS[feed.contract.contract](ctx)
    names = [c.name for c in feed.contract.columns]
    missing = set(names) - set(columns)
    if missing:
        raise RuntimeError(f"generator for {feed.contract.contract} misses columns {sorted(missing)}")
    _legacy(feed, date, variant, columns)
    tally = _codes(feed, columns)
    if codes is not None:
        codes.update(tally)
    return [list(r) for r in zip(*(columns[n] for n in names), strict=True)]


# Current code -> the retired code an older system still sends for it.
LEGACY_CODES = {"310101": "310103", "310106": "310108", "310151": "310230"}
LEGACY_UNIT_SHARE = 0.25  # units whose systems predate the district mergers
LEGACY_ID_SHARE = 0.03  # resident IDs still in the 15-digit form


INVALID_STREET_SHARE = 0.01  # street codes no register holds: <district>999, as if keyed in by hand


def _codes(feed: Feed, columns: dict[str, list[Any]]) -> dict[str, dict[str, int]]:
    """Codes as older and careless systems send them, in place, counted by what silver must make
    of them. A legacy unit sends retired district codes (LEGACY_CODES) and, for streets that
    have one, the street's retired NBS code (the shipped crosswalk, read backwards): both
    ``remapped``. INVALID_STREET_SHARE of street codes, chosen by record key, are ``unknown``.
    Every other code is a current register code."""
    legacy = _seed("legacy-codes", feed.unit.unit) % 100 < LEGACY_UNIT_SHARE * 100
    retired_of = {new: old for old, new in crosswalk().items() if len(old) == 9}
    keys = list(zip(*(columns[k] for k in feed.contract.business_keys), strict=True))
    counts: dict[str, dict[str, int]] = {}
    for c in feed.contract.columns:
        if c.role not in ("district_code", "street_code"):
            continue
        tally = {s: 0 for s in STATUSES}
        out: list[str | None] = []
        for key, v in zip(keys, columns[c.name], strict=True):
            if v is None:
                out.append(v)
                continue
            if (
                c.role == "street_code"
                and _seed("bad-street", feed.key, key) % 10_000 < INVALID_STREET_SHARE * 10_000
            ):
                v, status = v[:6] + "999", "unknown"
            elif legacy and v in LEGACY_CODES:
                v, status = LEGACY_CODES[v], "remapped"
            elif legacy and v in retired_of:
                v, status = retired_of[v], "remapped"
            else:
                status = "current"
            out.append(v)
            tally[status] += 1
        columns[c.name], counts[c.name] = out, tally
    return counts


def _legacy(feed: Feed, date: dt.date, variant: str, columns: dict[str, list[Any]]) -> None:
    """Quirks of older source systems, in place: 15-digit resident IDs."""
    rng = _rng("legacy-ids", feed.key, date.isoformat(), variant)
    for c in feed.contract.columns:
        if c.pii == "resident_id":
            # 18 -> 15: drop the century and the check character
            columns[c.name] = [
                v[:6] + v[8:17] if v and len(v) == 18 and rng.random() < LEGACY_ID_SHARE else v
                for v in columns[c.name]
            ]


def file_name(feed: Feed, date: dt.date, suffix: str = "") -> str:
    return f"{feed.unit.unit}_{feed.spec.feed}_{date:%Y%m%d}{suffix}{feed.spec.extension}"


def generate_feed(
    feed: Feed, date: dt.date, scale: float, lake: Lake, store: Store, faults: bool = True
) -> list[FileReport]:
    reports = []
    landing = lake.landing_dir(feed.unit.unit, feed.spec.feed, date.isoformat())
    rng = _rng("faults", feed.key, date.isoformat())
    faults = faults and feed.contract.kind != "reference"  # a register is delivered as it is
    variants = [("main", date, "")]
    if faults and rng.random() < FILE_FAULT_RATES["late_file"] and feed.contract.kind == "event":
        yesterday = date - dt.timedelta(days=1)
        variants.append(("late_file", yesterday, "_late"))
    for kind, day, suffix in variants:
        codes: dict[str, dict[str, int]] = {}
        rows = build_rows(feed, day, scale, variant=kind, codes=codes)
        counts: dict[str, int] = {}
        malformed: dict[int, str] = {}
        if faults:
            rows, counts, malformed = _inject(
                feed.contract, feed.spec.format, rows, _rng("inject", feed.key, day, kind)
            )
        data = render(feed, rows, malformed)
        name = file_name(feed, day, suffix)
        store.write_bytes(f"{landing}/{name}", data)
        reports.append(
            FileReport(
                feed.unit.unit,
                feed.spec.feed,
                f"{landing}/{name}",
                kind,
                len(rows),
                counts,
                sorted(i + 1 for i in malformed),
                codes,
            )
        )
        if kind == "main" and faults and rng.random() < FILE_FAULT_RATES["resend"]:
            resend = f"{landing}/{file_name(feed, day, '_resend')}"
            store.write_bytes(resend, data)
            reports.append(FileReport(feed.unit.unit, feed.spec.feed, resend, "resend", len(rows), {}, []))
    return reports


def generate(
    registry: Registry,
    date: dt.date,
    scale: float = 1.0,
    units: Iterable[str] | None = None,
    lake: Lake | None = None,
    faults: bool = True,
    progress: Any = None,
) -> list[FileReport]:
    """Write one day of every selected unit's feeds; returns what was written, faults counted."""
    lake = lake or Lake.from_settings()
    store = store_for(lake.root)
    wanted = set(units) if units else None
    if wanted:
        unknown = wanted - set(registry.units)
        if unknown:
            raise ValueError(f"unknown units: {', '.join(sorted(unknown))}")
    feeds = [f for f in registry.feeds() if wanted is None or f.unit.unit in wanted]
    reports: list[FileReport] = []
    for feed in feeds:
        reports += generate_feed(feed, date, scale, lake, store, faults)
        if progress:
            progress(feed)
    summary = {
        "date": date.isoformat(),
        "scale": scale,
        "faults": faults,
        "files": [asdict(r) for r in reports],
    }
    store.write_bytes(
        f"{lake.zone('_system')}/generated/{date.isoformat()}.json", json.dumps(summary, indent=1).encode()
    )
    return reports
