"""One day of deliveries: each feed's files written to landing, with the report of their faults."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from citylake.config.registry import Feed, Registry
from citylake.engine.storage import Store, store_for
from citylake.generate import mobility, planting, sensing, services
from citylake.generate.common import Ctx, seeded_rng
from citylake.generate.faults import FILE_FAULT_RATES, inject, legacy_codes, legacy_ids
from citylake.generate.render import render
from citylake.generate.subjects import FeedPlan, make_subjects, plan_subjects
from citylake.lake import Lake


@dataclass
class FileReport:
    unit: str
    feed: str
    path: str
    kind: str  # main | resend | late_file | rejected (a planted subject's file preflight rejects)
    records: int
    faults: dict[str, int] = field(default_factory=dict)
    malformed_records: list[int] = field(default_factory=list)
    # per code column: codes silver conforms as current, remapped, unknown (before record faults)
    codes: dict[str, dict[str, int]] = field(default_factory=dict)
    # planted data subjects: records per subject number (never a value); absent from the summary when empty
    subjects: dict[str, int] = field(default_factory=dict)


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
    feed: Feed,
    date: dt.date,
    scale: float,
    lake: Lake,
    store: Store,
    faults: bool = True,
    subjects: FeedPlan | None = None,
) -> list[FileReport]:
    """One feed's files of the day; ``subjects``: what its main file carries of planted data
    subjects (citylake.generate.subjects), and whether it is re-sent and gets a rejected twin."""
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
        plan = subjects if kind == "main" else None
        before = [tuple(r) for r in rows] if plan else []  # inject corrupts rows in place
        if faults:
            rows, counts, malformed = inject(
                feed.contract, feed.spec.format, rows, seeded_rng("inject", feed.key, day, kind)
            )
        carried: dict[str, int] = {}
        if plan:
            carried, spare = planting.plant(feed, day, rows, before, malformed, counts, plan)
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
                carried,
            )
        )
        resent = kind == "main" and faults and rng.random() < FILE_FAULT_RATES["resend"]
        if resent or (plan and plan.resend):
            resend = f"{landing}/{file_name(feed, day, '_resend')}"
            store.write_bytes(resend, data)
            reports.append(
                FileReport(
                    feed.unit.unit, feed.spec.feed, resend, "resend", len(rows), {}, [], {}, dict(carried)
                )
            )
        if plan and plan.rejected:
            bad = planting.rejected_rows(feed, spare, rows, plan)
            path = f"{landing}/{file_name(feed, day, planting.REJECTED_SUFFIX)}"
            store.write_bytes(path, planting.rejected_file(feed, bad))
            reports.append(FileReport(feed.unit.unit, feed.spec.feed, path, "rejected", len(bad), {}, [], {},
                                      planting.tally(plan.rejected)))  # fmt: skip
    return reports


def generate(
    registry: Registry,
    date: dt.date,
    scale: float = 1.0,
    units: Iterable[str] | None = None,
    lake: Lake | None = None,
    faults: bool = True,
    progress: Any = None,
    subjects: int = 0,
    notes: list[str] | None = None,
) -> list[FileReport]:
    """Write one day of every selected unit's feeds; returns what was written, faults counted.

    ``subjects``: plant that many data subjects (``make_subjects``) in the selected feeds with
    personal data; ``notes`` receives what the selection could not offer them."""
    lake = lake or Lake.from_settings()
    store = store_for(lake.root)
    wanted = set(units) if units else None
    if wanted:
        unknown = wanted - set(registry.units)
        if unknown:
            raise ValueError(f"unknown units: {', '.join(sorted(unknown))}")
    feeds = [f for f in registry.feeds() if wanted is None or f.unit.unit in wanted]
    plan = plan_subjects(feeds, make_subjects(subjects)) if subjects else None
    reports: list[FileReport] = []
    for feed in feeds:
        reports += generate_feed(
            feed, date, scale, lake, store, faults, plan.feeds.get(feed.key) if plan else None
        )
        if progress:
            progress(feed)
    summary: dict[str, Any] = {
        "date": date.isoformat(),
        "scale": scale,
        "faults": faults,
        # no planted subject: no key, so the summary reads as it always has
        "files": [{k: v for k, v in asdict(r).items() if k != "subjects" or v} for r in reports],
    }
    if plan:
        # counts and notes, never a value
        carrying = sum(1 for r in reports if r.subjects)
        summary["subjects"] = {"requested": subjects, "files_carrying": carrying, "notes": plan.notes_after()}
        if notes is not None:
            notes += plan.notes_after()
    store.write_bytes(
        f"{lake.zone('_system')}/generated/{date.isoformat()}.json", json.dumps(summary, indent=1).encode()
    )
    return reports
