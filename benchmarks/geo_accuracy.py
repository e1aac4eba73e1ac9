"""How far the WGS-84 inverse lands from the truth, per datum and number of iterations.

Random true points over Shanghai are pushed forward to GCJ-02 / BD-09 and brought back; prints
the largest error in metres. `python benchmarks/geo_accuracy.py [--points N]`.
"""

from __future__ import annotations

import argparse

import numpy as np

from citylake.domain import geo


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=100_000)
    args = ap.parse_args()
    rng = np.random.default_rng(1)
    lon, lat = rng.uniform(120.8, 122.5, args.points), rng.uniform(30.6, 32.0, args.points)
    for system in ("gcj02", "bd09"):
        x, y = geo.wgs84_to(system, lon, lat)
        for steps in (1, 2, 3):
            err = geo.haversine_m(lon, lat, *geo.to_wgs84(system, x, y, steps))
            print(f"{system} steps={steps}: max error {err.max():.6f} m over {args.points} points")


if __name__ == "__main__":
    main()
