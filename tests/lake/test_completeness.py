"""Complete deliveries only: each feed's rule decides when a landed file may be read (no Spark)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from citylake.config.registry import Completeness
from citylake.engine.storage import FileInfo, LocalStore
from citylake.lake import Lake, completeness, preflight

DAY = dt.date(2026, 11, 20)
UNIT, FEED = "d310101_parking", "parking_occupancy"


def _with_rule(registry, **rule):
    unit = registry.units[UNIT]
    feeds = tuple(f.model_copy(update={"complete_when": Completeness(**rule)}) if f.feed == FEED else f
                  for f in unit.feeds)  # fmt: skip
    return dataclasses.replace(registry, units={**registry.units, UNIT: unit.model_copy(update={"feeds": feeds})})


def _land(lake: Lake, name: str, age_s: float = 0.0) -> Path:
    p = Path(lake.landing_dir(UNIT, FEED, DAY.isoformat())) / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(b"x\n")
    if age_s:
        t = time.time() - age_s
        os.utime(p, (t, t))
    return p


def _found(lake: Lake, registry, settle_s: float = 60) -> dict[str, str | None]:
    return {lf.rel.rsplit("/", 1)[-1]: lf.waiting
            for lf in preflight.discover(lake, LocalStore(), registry, DAY.isoformat(), settle_s=settle_s)}  # fmt: skip


def test_settled_is_the_default_and_waits_until_the_file_stops_changing(lake, registry):
    assert registry.feed(UNIT, FEED).spec.complete_when.rule == "settled"
    _land(lake, "uploading.csv")
    _land(lake, "done.csv", age_s=61)
    found = _found(lake, registry)
    assert found["done.csv"] is None
    assert "still being delivered: changed 0 s ago; loaded once unchanged for 60 s" in found["uploading.csv"]
    # a unit's own settling time beats the platform's
    assert _found(lake, _with_rule(registry, settle_s=0))["uploading.csv"] is None


def test_in_progress_names_are_never_picked_up(lake, registry):
    for name in (".x.csv", "_x.csv", "x.csv.tmp", "x.csv.part", "x.csv.filepart", ".x.csv.AbC123"):
        _land(lake, name, age_s=3600)
    _land(lake, "x.csv", age_s=3600)
    assert _found(lake, registry) == {"x.csv": None}


def test_a_done_marker_per_file(lake, registry):
    reg = _with_rule(registry, rule="marker")
    _land(lake, "a.csv", age_s=3600)
    _land(lake, "b.csv")
    _land(lake, "b.csv.done")
    found = _found(lake, reg)
    assert found == {"a.csv": "waiting for its done-marker a.csv.done (complete_when: marker)", "b.csv": None}


def test_one_done_marker_for_the_date_folder(lake, registry):
    reg = _with_rule(registry, rule="marker", marker="_SUCCESS")
    _land(lake, "a.csv")
    assert "waiting for the delivery's done-marker" in (_found(lake, reg)["a.csv"] or "")
    _land(lake, "_SUCCESS")
    assert _found(lake, reg) == {"a.csv": None}


def test_rename_takes_every_visible_file_at_once(lake, registry):
    _land(lake, "a.csv")
    assert _found(lake, _with_rule(registry, rule="rename")) == {"a.csv": None}


def test_an_object_store_object_is_complete_once_listed():
    """A PUT, or a multipart upload, is visible only once it completed."""
    obj = FileInfo("s3a://landing/u/f/d/a.csv", 10, age_s=None)
    assert completeness.waiting(obj, set(), Completeness(), 600, "u/f/d") is None


@pytest.mark.parametrize(
    ("rule", "error"),
    [
        ({"rule": "marker", "settle_s": 5}, "settle_s: applies to rule 'settled', not 'marker'"),
        ({"rule": "settled", "marker": "x.ok"}, "marker: applies to rule 'marker'"),
        ({"rule": "marker", "marker": "a/b"}, "must be a file name"),
        ({"rule": "eventually"}, "rule"),
        ({"rule": "settled", "settle_s": -1}, "settle_s"),
    ],
)
def test_a_wrong_rule_is_a_registry_error_naming_the_field(rule, error):
    with pytest.raises(ValidationError, match=error):
        Completeness(**rule)
