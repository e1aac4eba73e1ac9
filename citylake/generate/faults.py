"""Faults in records and codes, injected on disjoint records and counted exactly."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

from citylake.config.registry import Feed, FeedContract
from citylake.domain.districts import STATUSES, crosswalk
from citylake.generate.common import seeded_rng, stable_seed

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


def inject(
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


LEGACY_CODES = {"310101": "310103", "310106": "310108", "310151": "310230"}
LEGACY_UNIT_SHARE = 0.25  # units whose systems predate the district mergers
LEGACY_ID_SHARE = 0.03  # resident IDs still in the 15-digit form


INVALID_STREET_SHARE = 0.01  # street codes no register holds: <district>999, as if keyed in by hand


def legacy_codes(feed: Feed, columns: dict[str, list[Any]]) -> dict[str, dict[str, int]]:
    """Codes as older and careless systems send them, in place, counted by what silver must make
    of them. A legacy unit sends retired district codes (LEGACY_CODES) and, for streets that
    have one, the street's retired NBS code (the shipped crosswalk, read backwards): both
    ``remapped``. INVALID_STREET_SHARE of street codes, chosen by record key, are ``unknown``.
    Every other code is a current register code."""
    legacy = stable_seed("legacy-codes", feed.unit.unit) % 100 < LEGACY_UNIT_SHARE * 100
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
                and stable_seed("bad-street", feed.key, key) % 10_000 < INVALID_STREET_SHARE * 10_000
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


def legacy_ids(feed: Feed, date: dt.date, variant: str, columns: dict[str, list[Any]]) -> None:
    """Quirks of older source systems, in place: 15-digit resident IDs."""
    rng = seeded_rng("legacy-ids", feed.key, date.isoformat(), variant)
    for c in feed.contract.columns:
        if c.pii == "resident_id":
            # 18 -> 15: drop the century and the check character
            columns[c.name] = [
                v[:6] + v[8:17] if v and len(v) == 18 and rng.random() < LEGACY_ID_SHARE else v
                for v in columns[c.name]
            ]
