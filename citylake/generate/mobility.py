"""Builders for the mobility contracts: EV charging, parking and traffic detectors."""

from __future__ import annotations

from typing import Any

import numpy as np

from citylake.domain.districts import districts as district_names
from citylake.generate import common
from citylake.generate.common import Ctx
from citylake.generate.values import ROADS, mobile, plate


def ev_sessions(c: Ctx) -> dict[str, list[Any]]:
    st = common.entities(c.feed, "ev_charging_stations", c.scale)
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
        "start_time": common.timestamps(c.midnight, start),
        "end_time": common.timestamps(c.midnight, start + dur),
        "energy_kwh": energy.tolist(),
        "fee_yuan": np.round(energy * r.uniform(1.0, 2.2, n), 2).tolist(),
        "plate_no": [plate(r) for _ in range(n)],
        "user_mobile": [mobile(r) for _ in range(n)],
        "district_code": [st.districts[i] for i in pick],
    }


def ev_stations(c: Ctx) -> dict[str, list[Any]]:
    e = common.entities(c.feed, "ev_charging_stations", c.scale)
    n = len(e.ids)
    base = np.array([common.stable_seed("cc", i) % 20 + 2 for i in e.ids])
    grown = np.array(
        [
            1 if common.stable_seed("grow", i) % 60 < (common.day_index(c.date) % 60) // 20 else 0
            for i in e.ids
        ]
    )
    return {
        "station_id": e.ids,
        "station_name": [
            f"{district_names()[d]}{ROADS[common.stable_seed(i) % len(ROADS)]}充电站{k}"
            for k, (i, d) in enumerate(zip(e.ids, e.districts, strict=True))
        ],
        "operator_name": [c.feed.unit.name_zh] * n,
        **common.placed(c, e),
        "address": [
            f"上海市{district_names()[d]}{ROADS[common.stable_seed(i) % len(ROADS)]}{common.stable_seed(i) % 999 + 1}号"
            for i, d in zip(e.ids, e.districts, strict=True)
        ],
        "connector_count": (base + grown * 2).tolist(),
        "power_kw": ((base + grown * 2) * 60.0).tolist(),
        "status": common.daily_status(e.ids, c.date, "operating", ["maintenance", "closed"]),
        "updated_at": c.updated(n),
    }


def parking_occupancy(c: Ctx) -> dict[str, list[Any]]:
    lots = common.entities(c.feed, "parking_lots", c.scale)
    slots = max(1, c.n // len(lots.ids))
    idx = np.repeat(np.arange(len(lots.ids)), slots)
    t = np.tile(np.arange(slots) * (86400 // slots), len(lots.ids))
    total = np.array([common.stable_seed("cap", lots.ids[i]) % 400 + 50 for i in idx])
    hour = t / 3600.0
    busy = 0.5 + 0.35 * np.sin((hour - 8) / 24 * 2 * np.pi)
    free = np.clip(np.round(total * (1 - busy + c.rng.normal(0, 0.05, len(idx)))), 0, total).astype(int)
    return {
        "lot_id": [lots.ids[i] for i in idx],
        "observed_at": common.timestamps(c.midnight, t),
        "total_spaces": total.tolist(),
        "free_spaces": free.tolist(),
        "district_code": [lots.districts[i] for i in idx],
    }


def parking_lots(c: Ctx) -> dict[str, list[Any]]:
    e = common.entities(c.feed, "parking_lots", c.scale)
    n = len(e.ids)
    types = ["public", "commercial", "residential", "on_street"]
    return {
        "lot_id": e.ids,
        "lot_name": [
            f"{district_names()[d]}{ROADS[common.stable_seed(i) % len(ROADS)]}停车场"
            for i, d in zip(e.ids, e.districts, strict=True)
        ],
        "lot_type": [types[common.stable_seed("t", i) % 4] for i in e.ids],
        **common.placed(c, e),
        "total_spaces": [common.stable_seed("cap", i) % 400 + 50 for i in e.ids],
        "hourly_rate_yuan": [float(5 + common.stable_seed("rate", i) % 11) for i in e.ids],
        "status": common.daily_status(e.ids, c.date, "operating", ["closed"]),
        "updated_at": c.updated(n),
    }


def traffic(c: Ctx) -> dict[str, list[Any]]:
    detectors = max(1, c.n // 288)
    r = c.rng
    dr = common.seeded_rng("detectors", c.feed.unit.unit)
    districts = common.districts_for(c.feed, detectors, dr)
    idx = np.repeat(np.arange(detectors), 288)
    t = np.tile(np.arange(288) * 300, detectors)
    m = len(idx)
    peak = 1 + 0.8 * np.exp(-(((t / 3600) - 8) ** 2) / 2) + 0.8 * np.exp(-(((t / 3600) - 18) ** 2) / 2)
    return {
        "detector_id": [f"TD{c.feed.unit.unit[-6:].upper()}{i:05d}" for i in idx],
        "road_name": [ROADS[i % len(ROADS)] for i in idx],
        "district_code": [districts[i] for i in idx],
        "interval_start": common.timestamps(c.midnight, t),
        "vehicle_count": np.round(peak * r.uniform(10, 60, m)).astype(int).tolist(),
        "avg_speed_kmh": np.round(np.clip(60 / peak + r.normal(0, 5, m), 3, 120), 1).tolist(),
        "occupancy_pct": np.round(np.clip(peak * 12 + r.normal(0, 3, m), 0, 100), 1).tolist(),
    }
