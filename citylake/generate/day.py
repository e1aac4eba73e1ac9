"""One day of deliveries: each feed's files written to landing, with the report of their faults."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from citylake.config.registry import Feed, Registry
from citylake.engine.storage import Store, store_for
from citylake.generate import mobility, sensing, services
from citylake.generate.common import Ctx, seeded_rng
from citylake.generate.faults import FILE_FAULT_RATES, inject, legacy_codes, legacy_ids
from citylake.generate.render import render
from citylake.lake import Lake


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


BUILDERS = {
    "admin_divisions": services.admin_divisions,
    "ev_charging_sessions": mobility.ev_sessions,
    "ev_charging_stations": mobility.ev_stations,
    "parking_occupancy": mobility.parking_occupancy,
    "parking_lots": mobility.parking_lots,
    "iot_sensor_readings": sensing.iot_readings,
    "iot_sensor_nodes": sensing.iot_nodes,
    "air_quality": sensing.air_quality,
    "cell_5g_load": sensing.cell_load,
    "cell_5g_sites": sensing.cell_sites,
    "traffic_flow": mobility.traffic,
    "delivery_lockers": services.lockers,
    "retail_terminals": services.retail,
    "service_requests": services.service_requests,
    "medical_visits": services.medical,
    "enterprise_cloud_adoption": services.enterprise,
}


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
    legacy_ids(feed, date, variant, columns)
    tally = legacy_codes(feed, columns)
    if codes is not None:
        codes.update(tally)
    return [list(r) for r in zip(*(columns[n] for n in names), strict=True)]


def file_name(feed: Feed, date: dt.date, suffix: str = "") -> str:
    return f"{feed.unit.unit}_{feed.spec.feed}_{date:%Y%m%d}{suffix}{feed.spec.extension}"


def generate_feed(
    feed: Feed, date: dt.date, scale: float, lake: Lake, store: Store, faults: bool = True
) -> list[FileReport]:
    reports = []
    landing = lake.landing_dir(feed.unit.unit, feed.spec.feed, date.isoformat())
    rng = seeded_rng("faults", feed.key, date.isoformat())
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
            rows, counts, malformed = inject(
                feed.contract, feed.spec.format, rows, seeded_rng("inject", feed.key, day, kind)
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
