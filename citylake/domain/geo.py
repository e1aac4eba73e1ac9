"""Chinese map datums: WGS-84 <-> GCJ-02 <-> BD-09, on numpy arrays and on Spark columns.

GCJ-02 offsets WGS-84 on the Krasovsky ellipsoid inside a box around China; BD-09 adds Baidu's
further rotation. The formulas are written once over a small math namespace, so the generator
(numpy) and silver (Spark column expressions, no UDF) use the very same arithmetic.

The inverse has no closed form. The common one-step GCJ-02 -> WGS-84 inverse is 1-2 m off, so
silver iterates ``w <- w - (forward(w) - target)``, which converges to millimetres in 3 steps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

A = 6378245.0
EE = 0.00669342162296594323
PI = float(np.pi)
X_PI = PI * 3000.0 / 180.0
# The box inside which GCJ-02 applies its offset.
CHINA_LON = (72.004, 137.8347)
CHINA_LAT = (0.8293, 55.8271)
SYSTEMS = ("wgs84", "gcj02", "bd09")
INVERSE_STEPS = 3


class _Numpy:
    sin, cos, sqrt, abs, atan2 = np.sin, np.cos, np.sqrt, np.abs, np.arctan2

    @staticmethod
    def where(cond: Any, a: Any, b: Any) -> Any:
        return np.where(cond, a, b)


class _Spark:
    def __getattr__(self, name: str) -> Any:
        from pyspark.sql import functions as F

        if name == "where":
            return lambda cond, a, b: F.when(cond, a).otherwise(b)
        return getattr(F, name)


NP, SPARK = _Numpy(), _Spark()


def in_china(lon: Any, lat: Any) -> Any:
    return (lon >= CHINA_LON[0]) & (lon <= CHINA_LON[1]) & (lat >= CHINA_LAT[0]) & (lat <= CHINA_LAT[1])


def _dlat(x: Any, y: Any, m: Any) -> Any:
    r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * m.sqrt(m.abs(x))
    r += (20.0 * m.sin(6.0 * x * PI) + 20.0 * m.sin(2.0 * x * PI)) * 2.0 / 3.0
    r += (20.0 * m.sin(y * PI) + 40.0 * m.sin(y / 3.0 * PI)) * 2.0 / 3.0
    r += (160.0 * m.sin(y / 12.0 * PI) + 320 * m.sin(y * PI / 30.0)) * 2.0 / 3.0
    return r


def _dlon(x: Any, y: Any, m: Any) -> Any:
    r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * m.sqrt(m.abs(x))
    r += (20.0 * m.sin(6.0 * x * PI) + 20.0 * m.sin(2.0 * x * PI)) * 2.0 / 3.0
    r += (20.0 * m.sin(x * PI) + 40.0 * m.sin(x / 3.0 * PI)) * 2.0 / 3.0
    r += (150.0 * m.sin(x / 12.0 * PI) + 300.0 * m.sin(x / 30.0 * PI)) * 2.0 / 3.0
    return r


def _gcj(lon: Any, lat: Any, m: Any) -> tuple[Any, Any]:
    """WGS-84 -> GCJ-02 inside the box; outside it GCJ-02 is WGS-84."""
    dlat = _dlat(lon - 105.0, lat - 35.0, m)
    dlon = _dlon(lon - 105.0, lat - 35.0, m)
    radlat = lat / 180.0 * PI
    sinlat = m.sin(radlat)
    magic = 1 - EE * sinlat * sinlat
    sqrtmagic = m.sqrt(magic)
    dlat = (dlat * 180.0) / ((A * (1 - EE)) / (magic * sqrtmagic) * PI)
    dlon = (dlon * 180.0) / (A / sqrtmagic * m.cos(radlat) * PI)
    inside = in_china(lon, lat)
    return m.where(inside, lon + dlon, lon), m.where(inside, lat + dlat, lat)


def _bd(lon: Any, lat: Any, m: Any) -> tuple[Any, Any]:
    """GCJ-02 -> BD-09."""
    z = m.sqrt(lon * lon + lat * lat) + 0.00002 * m.sin(lat * X_PI)
    theta = m.atan2(lat, lon) + 0.000003 * m.cos(lon * X_PI)
    return z * m.cos(theta) + 0.0065, z * m.sin(theta) + 0.006


def wgs84_to_gcj02(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return _gcj(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float), NP)


def gcj02_to_bd09(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return _bd(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float), NP)


def wgs84_to(system: str, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if system == "wgs84":
        return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    glon, glat = wgs84_to_gcj02(lon, lat)
    if system == "gcj02":
        return glon, glat
    if system == "bd09":
        return gcj02_to_bd09(glon, glat)
    raise ValueError(f"unknown coordinate system {system!r}")


def to_wgs84(
    system: str, lon: np.ndarray, lat: np.ndarray, steps: int = INVERSE_STEPS
) -> tuple[np.ndarray, np.ndarray]:
    """The iterative inverse on numpy arrays (steps=1 is the common one-step inverse)."""
    tlon, tlat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    if system == "wgs84":
        return tlon, tlat
    wlon, wlat = tlon.copy(), tlat.copy()
    for _ in range(steps):
        flon, flat = wgs84_to(system, wlon, wlat)
        wlon, wlat = wlon - (flon - tlon), wlat - (flat - tlat)
    inside = in_china(tlon, tlat)
    return np.where(inside, wlon, tlon), np.where(inside, wlat, tlat)


def with_wgs84(
    df: DataFrame, lon: str, lat: str, system: Column, out_lon: str, out_lat: str, status: str
) -> DataFrame:
    """Add WGS-84 ``out_lon``/``out_lat`` converted from ``lon``/``lat`` in ``system`` (per row).

    Each step of each iteration is its own projection over plain columns, so the generated
    code grows linearly with the steps instead of repeating the GCJ-02 series inside BD-09's
    formula inside every iteration. Points outside China are left as sent and flagged
    ``outside_china`` in ``status``.
    """
    from pyspark.sql import functions as F

    tlon, tlat = F.col(lon), F.col(lat)
    w, g, b = ("__w_lon", "__w_lat"), ("__g_lon", "__g_lat"), ("__b_lon", "__b_lat")
    df = df.withColumns({w[0]: tlon, w[1]: tlat})
    for _ in range(INVERSE_STEPS):
        glon, glat = _gcj(F.col(w[0]), F.col(w[1]), SPARK)
        df = df.withColumns({g[0]: glon, g[1]: glat})
        blon, blat = _bd(F.col(g[0]), F.col(g[1]), SPARK)
        df = df.withColumns({b[0]: blon, b[1]: blat})
        fwd = [F.when(system == "bd09", F.col(b[i])).otherwise(F.col(g[i])) for i in (0, 1)]
        df = df.withColumns({w[0]: F.col(w[0]) - (fwd[0] - tlon), w[1]: F.col(w[1]) - (fwd[1] - tlat)})
    inside = in_china(tlon, tlat)
    convert = inside & system.isin("gcj02", "bd09")
    flag = (
        F.when(tlon.isNull() | tlat.isNull(), F.lit(None))
        .when(~inside, F.lit("outside_china"))
        .when(system.isin("gcj02", "bd09"), F.concat(F.lit("converted_from_"), system))
        .otherwise(F.lit("wgs84"))
    )
    return df.withColumns(
        {
            out_lon: F.when(convert, F.col(w[0])).otherwise(tlon),
            out_lat: F.when(convert, F.col(w[1])).otherwise(tlat),
            status: flag,
        }
    ).drop(*w, *g, *b)


def haversine_m(lon1: np.ndarray, lat1: np.ndarray, lon2: np.ndarray, lat2: np.ndarray) -> np.ndarray:
    r = 6371008.8
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi = p2 - p1
    dl = np.radians(np.asarray(lon2) - np.asarray(lon1))
    h = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return np.asarray(2 * r * np.arcsin(np.sqrt(h)))
