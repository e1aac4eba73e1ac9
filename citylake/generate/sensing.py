"""Builders for the sensing contracts: IoT nodes and readings, air quality, 5G sites and load."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

from citylake.domain.districts import districts as district_names
from citylake.generate import common
from citylake.generate.common import Ctx
from citylake.generate.values import CARRIERS

METRICS = {
    "noise": ("noise_db", 35, 85),
    "water_level": ("water_level_m", 0.5, 4.0),
    "manhole": ("manhole_tilt_deg", 0, 5),
    "weather": ("temperature_c", -2, 36),
    "smoke": ("smoke_ppm", 0, 30),
}
NODE_TYPES = list(METRICS)


def iot_readings(c: Ctx) -> dict[str, list[Any]]:
    nodes = common.entities(c.feed, "iot_sensor_nodes", c.scale)
    n, r = c.n, c.rng
    pick = r.integers(0, len(nodes.ids), n)
    kinds = [NODE_TYPES[common.stable_seed("nt", nodes.ids[i]) % 5] for i in pick]
    lo = np.array([METRICS[k][1] for k in kinds])
    hi = np.array([METRICS[k][2] for k in kinds])
    return {
        "node_id": [nodes.ids[i] for i in pick],
        "metric": [METRICS[k][0] for k in kinds],
        "value": np.round(lo + (hi - lo) * r.random(n), 3).tolist(),
        "read_at": common.timestamps(c.midnight, c.seconds(n)),
        "battery_pct": np.round(r.uniform(5, 100, n), 1).tolist(),
    }


def iot_nodes(c: Ctx) -> dict[str, list[Any]]:
    e = common.entities(c.feed, "iot_sensor_nodes", c.scale)
    n = len(e.ids)
    return {
        "node_id": e.ids,
        "node_type": [NODE_TYPES[common.stable_seed("nt", i) % 5] for i in e.ids],
        "vendor": [["华为", "海康威视", "大华", "移远通信"][common.stable_seed("v", i) % 4] for i in e.ids],
        **common.placed(c, e),
        "installed_on": [
            (dt.date(2021, 1, 1) + dt.timedelta(days=common.stable_seed("inst", i) % 1000)).isoformat()
            for i in e.ids
        ],
        "status": common.daily_status(e.ids, c.date, "online", ["offline"]),
        "updated_at": c.updated(n),
    }


def air_quality(c: Ctx) -> dict[str, list[Any]]:
    r = c.rng
    stations = max(1, c.n // 24)
    sr = common.seeded_rng("aq-stations", c.feed.unit.unit)
    districts = common.districts_for(c.feed, stations, sr)
    slon, slat = common.positions(districts, sr)
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
        "measured_at": common.timestamps(c.midnight, hours),
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


def cell_load(c: Ctx) -> dict[str, list[Any]]:
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
        "measured_at": common.timestamps(c.midnight, hours * 3600),
        "prb_util_pct": np.round(util, 2).tolist(),
        "active_users": np.round(util * r.uniform(3, 8, m)).astype(int).tolist(),
        "dl_throughput_mbps": np.round(util * r.uniform(8, 20, m), 1).tolist(),
        "ul_throughput_mbps": np.round(util * r.uniform(1, 3, m), 1).tolist(),
    }


def cell_sites(c: Ctx) -> dict[str, list[Any]]:
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
    r = common.seeded_rng("sites", *carriers)
    wlon, wlat = common.positions(districts, r)
    lon, lat = c.coords(wlon, wlat)
    bands = ["n41", "n78", "n79", "n28", "n1"]
    return {
        "site_id": ids,
        "site_name": [f"{district_names()[d]}{i[-4:]}站" for i, d in zip(ids, districts, strict=True)],
        "carrier": owners,
        "district_code": districts,
        "street_code": [
            common.pick_street(d, common.stable_seed(i)) for i, d in zip(ids, districts, strict=True)
        ],
        "lon": lon,
        "lat": lat,
        "band": [bands[common.stable_seed("b", i) % 5] for i in ids],
        "cell_count": [3] * len(ids),
        "commissioned_on": [
            (dt.date(2020, 1, 1) + dt.timedelta(days=common.stable_seed("c", i) % 1500)).isoformat()
            for i in ids
        ],
        "status": common.daily_status(ids, c.date, "active", ["planned"]),
        "updated_at": c.updated(len(ids)),
    }
