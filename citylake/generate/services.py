"""Builders for the service contracts: lockers, retail, 12345 requests, medical visits,
enterprise cloud adoption and the civil-affairs register."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

from citylake.domain.districts import seed_register
from citylake.generate import common
from citylake.generate.common import Ctx
from citylake.generate.values import (
    CATEGORIES,
    DEPARTMENTS,
    INDUSTRIES,
    mobile,
    person_name,
    resident_id,
    street_address,
    uscc,
)


def lockers(c: Ctx) -> dict[str, list[Any]]:
    e = common.entities(c.feed, "delivery_lockers", c.scale)
    n = len(e.ids)
    comp = np.array([common.stable_seed("comp", i) % 150 + 30 for i in e.ids])
    return {
        "locker_id": e.ids,
        "operator_name": [c.feed.unit.name_zh] * n,
        **common.placed(c, e),
        "compartment_count": comp.tolist(),
        "occupied_count": np.round(comp * c.rng.uniform(0.2, 0.95, n)).astype(int).tolist(),
        "status": common.daily_status(e.ids, c.date, "operating", ["offline"]),
        "updated_at": c.updated(n),
    }


def retail(c: Ctx) -> dict[str, list[Any]]:
    e = common.entities(c.feed, "retail_terminals", c.scale)
    n = len(e.ids)
    types = ["vending_machine", "micro_market", "smart_store", "recycling_station"]
    recycling = "recycl" in c.feed.spec.feed or "xiaohuanggou" in c.feed.unit.unit
    return {
        "terminal_id": e.ids,
        "terminal_type": [
            "recycling_station" if recycling else types[common.stable_seed("t", i) % 3] for i in e.ids
        ],
        "operator_name": [c.feed.unit.name_zh] * n,
        **common.placed(c, e),
        "daily_sales_yuan": np.round(c.rng.gamma(2.0, 400.0, n), 2).tolist(),
        "status": common.daily_status(e.ids, c.date, "operating", ["offline"]),
        "updated_at": c.updated(n),
    }


def service_requests(c: Ctx) -> dict[str, list[Any]]:
    n, r = c.n, c.rng
    districts = common.districts_for(c.feed, n, r)
    received = c.seconds(n)
    status = [["received", "dispatched", "resolved", "closed"][int(i)] for i in r.integers(0, 4, n)]
    closed = [
        common.timestamps(c.midnight, np.array([s + int(r.integers(600, 20000))]))[0]
        if st in ("resolved", "closed")
        else None
        for s, st in zip(received, status, strict=True)
    ]
    channels = ["hotline_12345", "app", "web", "window"]
    return {
        "request_id": [f"GD{c.date:%Y%m%d}{c.feed.unit.unit[-8:].upper()}{i:06d}" for i in range(n)],
        "received_at": common.timestamps(c.midnight, received),
        "channel": [channels[int(i)] for i in r.choice(4, n, p=[0.55, 0.25, 0.1, 0.1])],
        "category": [CATEGORIES[int(i)] for i in r.integers(0, len(CATEGORIES), n)],
        "district_code": districts,
        "street_code": [
            common.pick_street(d, int(k)) for d, k in zip(districts, r.integers(0, 20, n), strict=True)
        ],
        "citizen_name": [person_name(r) for _ in range(n)],
        "citizen_id_no": [resident_id(r, d) for d in districts],
        "citizen_mobile": [mobile(r) for _ in range(n)],
        "address": [street_address(r, d) for d in districts],
        "status": status,
        "closed_at": closed,
        "satisfaction": [int(r.integers(1, 6)) if st == "closed" else None for st in status],
    }


def medical(c: Ctx) -> dict[str, list[Any]]:
    n, r = c.n, c.rng
    districts = common.districts_for(c.feed, n, r)
    types = ["outpatient", "emergency", "inpatient", "online_consult"]
    online = c.feed.unit.unit in ("op_wedoctor", "op_pingan_gooddoctor")
    return {
        "visit_id": [f"V{c.date:%Y%m%d}{c.feed.unit.unit[-8:].upper()}{i:07d}" for i in range(n)],
        "hospital_code": [f"H{common.stable_seed(c.feed.unit.unit) % 10**8:08d}"] * n,
        "department": [DEPARTMENTS[int(i)] for i in r.integers(0, len(DEPARTMENTS), n)],
        "visit_at": common.timestamps(c.midnight, c.seconds(n)),
        "visit_type": [
            "online_consult" if online else types[int(i)] for i in r.choice(3, n, p=[0.8, 0.15, 0.05])
        ],
        "patient_id_no": [resident_id(r, d) for d in districts],
        "patient_name": [person_name(r) for _ in range(n)],
        "patient_mobile": [mobile(r) for _ in range(n)],
        "district_code": districts,
        "fee_yuan": np.round(r.gamma(2.0, 150.0, n), 2).tolist(),
    }


def enterprise(c: Ctx) -> dict[str, list[Any]]:
    n, r = c.n, c.rng
    districts = common.districts_for(c.feed, n, r)
    platforms = ["阿里云", "华为云", "腾讯云", "宝信xIn3Plat", "优刻得UCloud", "上海电气星云智汇"]
    levels = ["iaas", "paas", "saas", "industrial_internet"]
    return {
        "uscc": [uscc(r, d) for d in districts],
        "enterprise_name": [
            f"上海{person_name(r)}{INDUSTRIES[int(r.integers(0, 10))][:2]}有限公司" for _ in range(n)
        ],
        "industry": [INDUSTRIES[int(i)] for i in r.integers(0, len(INDUSTRIES), n)],
        "district_code": districts,
        "platform": [platforms[int(i)] for i in r.integers(0, len(platforms), n)],
        "cloud_level": [levels[int(i)] for i in r.integers(0, 4, n)],
        "adopted_on": [(c.date - dt.timedelta(days=int(d))).isoformat() for d in r.integers(0, 900, n)],
        "reported_at": common.timestamps(c.midnight, c.seconds(n)),
        "employees": r.integers(5, 5000, n).tolist(),
        "annual_cloud_spend_wan": np.round(r.gamma(2.0, 20.0, n), 2).tolist(),
    }


def admin_divisions(c: Ctx) -> dict[str, list[Any]]:
    """The civil-affairs unit's register: the shipped NBS 2023 table, as it is (no faults)."""
    rows = seed_register()
    return {"code": [d.code for d in rows], "name": [d.name for d in rows],
            "level": [d.level for d in rows], "parent_code": [d.parent_code for d in rows]}  # fmt: skip
