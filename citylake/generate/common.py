"""Seeds, the units' stable entities and the per-file context every contract builder takes."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from citylake.config.registry import Feed
from citylake.domain import geo
from citylake.domain.districts import districts as district_names
from citylake.domain.districts import seed_register, streets_of

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


def stable_seed(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:8], "little")


def seeded_rng(*parts: object) -> np.random.Generator:
    return np.random.default_rng(stable_seed(*parts))


def timestamps(base: dt.datetime, seconds: np.ndarray) -> list[str]:
    return [(base + dt.timedelta(seconds=int(s))).strftime("%Y-%m-%d %H:%M:%S") for s in seconds]


def districts_for(feed: Feed, n: int, rng: np.random.Generator) -> list[str]:
    if feed.unit.district_code:
        return [feed.unit.district_code] * n
    codes = list(district_names())
    return [codes[i] for i in rng.integers(0, len(codes), n)]


def pick_street(district: str, i: int) -> str:
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


def positions(districts: list[str], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    cx = np.array([CENTROIDS[d][0] for d in districts])
    cy = np.array([CENTROIDS[d][1] for d in districts])
    return cx + rng.normal(0, 0.025, len(districts)), cy + rng.normal(0, 0.02, len(districts))


@dataclass
class Entities:
    ids: list[str]
    districts: list[str]
    lon: np.ndarray  # true WGS-84
    lat: np.ndarray


def entities(feed: Feed, contract: str, scale: float) -> Entities:
    """The unit's stable objects for a contract: same ids and places on every date."""
    n = max(3, round(BASE_ROWS[contract] * scale))
    rng = seeded_rng("entities", feed.unit.unit, contract)
    prefix = {
        "ev_charging_stations": "CS",
        "parking_lots": "PL",
        "iot_sensor_nodes": "N",
        "delivery_lockers": "LK",
        "retail_terminals": "RT",
    }[contract]
    districts = districts_for(feed, n, rng)
    lon, lat = positions(districts, rng)
    tag = feed.unit.unit.upper().replace("_", "")[:10]
    return Entities([f"{prefix}-{tag}-{i:05d}" for i in range(n)], districts, lon, lat)


def day_index(date: dt.date) -> int:
    return (date - dt.date(2024, 1, 1)).days


def daily_status(ids: list[str], date: dt.date, normal: str, other: list[str]) -> list[str]:
    """Mostly `normal`; a few objects are in another state on a given day (SCD2 churn)."""
    out = []
    for i in ids:
        h = stable_seed("status", i, date.isoformat()) % 100
        out.append(other[h % len(other)] if h < 3 else normal)
    return out


class Ctx:
    def __init__(self, feed: Feed, date: dt.date, scale: float, variant: str = "main"):
        self.feed = feed
        self.date = date
        self.scale = scale
        self.rng = seeded_rng(feed.unit.unit, feed.spec.feed, date.isoformat(), variant)
        self.midnight = dt.datetime.combine(date, dt.time())
        self.n = max(1, round(BASE_ROWS[feed.contract.contract] * scale))

    def seconds(self, n: int) -> np.ndarray:
        return self.rng.integers(0, 86400, n)

    def coords(self, lon: np.ndarray, lat: np.ndarray) -> tuple[list[float], list[float]]:
        x, y = geo.wgs84_to(self.feed.spec.coord_system or "wgs84", lon, lat)
        return [round(float(v), 7) for v in x], [round(float(v), 7) for v in y]

    def updated(self, n: int) -> list[str]:
        return timestamps(self.midnight, self.rng.integers(0, 6 * 3600, n))


def placed(c: Ctx, e: Entities) -> dict[str, list[Any]]:
    """Where each entity is: its district, a street of it, and its coordinates in the feed's system."""
    lon, lat = c.coords(e.lon, e.lat)
    streets = [pick_street(d, stable_seed(i)) for i, d in zip(e.ids, e.districts, strict=True)]
    return {"district_code": e.districts, "street_code": streets, "lon": lon, "lat": lat}
