"""Preflight's peak memory on gzip bombs and on a realistic 256 MiB CSV: under 200 MB each.

Each check runs in a child process that reports its own peak RSS (VmHWM): the figure a driver
would see, imports included. Not ``ru_maxrss``: on Linux a child's starts at its parent's peak (the
kernel carries the high-water mark across exec), here the pytest process's. Reading a whole file into memory, as preflight once did,
took 2.4 GB for the 256 MiB bomb and 1.16 GB for the CSV.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from citylake.generate import build_rows, render

LIMIT_MB = 200
SIZE = 256 << 20
CHILD = """
import json, sys, time
from citylake.config.registry import load_registry
from citylake.config.settings import REPO_ROOT
from citylake.engine.storage import LocalStore
from citylake.lake import preflight


def peak_mb():
    # this process's own high-water mark (ru_maxrss would include the parent's, carried across exec)
    with open("/proc/self/status") as f:
        return next(int(x.split()[1]) for x in f if x.startswith("VmHWM:")) / 1024


unit, feed, path = sys.argv[1:4]
ref = load_registry(REPO_ROOT / "schemas").feed(unit, feed)
lf = preflight.LandedFile(path, f"{unit}/{feed}/2026-11-20/x", unit, feed, "2026-11-20", 0, feed_ref=ref)
baseline, t = peak_mb(), time.perf_counter()
preflight.check(lf, LocalStore())
print(json.dumps({"ok": lf.ok, "records": lf.records, "reason": lf.reason, "seconds": time.perf_counter() - t,
                  "baseline_mb": baseline, "peak_mb": peak_mb()}))
"""


def _rows(registry, unit: str) -> tuple[bytes, bytes]:
    """(header, a block of realistic records) of medical_visits as ``unit`` sends it, decompressed."""
    feed = registry.feed(unit, "medical_visits")
    data = render(feed, build_rows(feed, dt.date(2026, 11, 20), 0.5), {})
    if feed.spec.compression == "gzip":
        data = zlib.decompress(data, wbits=31)
    header, body = data.split(b"\n", 1)
    return header + b"\n", body


@pytest.fixture(scope="module")
def files(registry, tmp_path_factory) -> dict[str, tuple[str, Path, int]]:
    """name -> (unit, path, records): written a block at a time, never held whole."""
    root = tmp_path_factory.mktemp("big")
    out: dict[str, tuple[str, Path, int]] = {}
    header, body = _rows(registry, "d310106_health")  # plain GB18030 CSV
    path, written, records = root / "visits.csv", len(header), 0
    with path.open("wb") as fh:
        fh.write(header)
        while written < SIZE:
            fh.write(body)
            written, records = written + len(body), records + body.count(b"\n")
    out["csv_256mib"] = ("d310106_health", path, records)
    header, body = _rows(registry, "d310101_health")  # gzip GB18030 CSV
    line = body.split(b"\n", 1)[0] + b"\n"
    block = line * ((1 << 20) // len(line))
    path, inflated, records = root / "bomb.csv.gz", 0, 0
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    with path.open("wb") as fh:
        fh.write(z.compress(header))
        while inflated < SIZE:  # one record over and over: about 300x smaller gzipped
            fh.write(z.compress(block))
            inflated, records = inflated + len(block), records + block.count(b"\n")
        fh.write(z.flush())
    assert path.stat().st_size < 1 << 20  # a bomb: under 1 MiB on disk, 256 MiB inside
    out["gzip_bomb_256mib"] = ("d310101_health", path, records)
    path = root / "nul_bomb.csv.gz"
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    with path.open("wb") as fh:
        zeros = bytes(1 << 20)
        for _ in range(SIZE >> 20):
            fh.write(z.compress(zeros))
        fh.write(z.flush())
    out["nul_bomb_256mib"] = ("d310101_health", path, 0)
    return out


@pytest.mark.parametrize("name", ["csv_256mib", "gzip_bomb_256mib", "nul_bomb_256mib"])
def test_preflight_peak_memory_is_bounded(files, name, figure):
    unit, path, records = files[name]
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, unit, "medical_visits", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    figure(
        f"preflight {name}",
        peak_mb=got["peak_mb"],
        before_check_mb=got["baseline_mb"],
        seconds=got["seconds"],
    )
    assert got["peak_mb"] < LIMIT_MB, got
    if name == "nul_bomb_256mib":  # one 256 MiB line of NULs: rejected at the line limit, nothing loaded
        assert not got["ok"] and got["reason"].startswith("line 1: longer than max_line_bytes = 8 MiB"), got
    else:  # checked whole, every record counted
        assert got["ok"] and got["records"] == records, got
