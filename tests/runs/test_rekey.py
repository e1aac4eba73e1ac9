"""Key rotation: `citylake rekey` empties silver's hashed tables, and the next run derives every
hash again from bronze under the new key, with the same rows as before."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from citylake.config.settings import load_settings
from citylake.domain import pii
from citylake.generate import generate
from citylake.lake import Lake, keyguard
from citylake.lake.preflight import Scope

pytestmark = pytest.mark.spark

DAY = dt.date(2026, 11, 20)
UNIT = "d310101_health"  # medical visits: resident IDs, names and mobiles
OLD, NEW = b"rekey-test-old-key", b"rekey-test-new-key"


def _silver(spark, lake: Lake) -> dict[str, tuple]:
    rows = spark.read.format("delta").load(lake.table("silver", "medical_visits")).collect()
    return {r["visit_id"]: (r["patient_id_no_hash"], r["patient_name_hash"], r["event_date"]) for r in rows}


def test_rekey_rebuilds_silver_under_the_new_key(spark, registry, lake, monkeypatch):
    from citylake.runs.pipeline import run_daily
    from citylake.runs.rekey import rekey

    settings = dataclasses.replace(load_settings(), lake_root=lake.root)
    generate(registry, DAY, 0.02, [UNIT], lake, faults=False)
    scope = Scope(frozenset({UNIT}))
    monkeypatch.setenv("CITYLAKE_PII_KEY", OLD.decode())
    run_daily(DAY, settings, spark, registry, scope=scope, marts=False)
    before = _silver(spark, lake)
    assert before and keyguard.recorded(lake, ["medical_visits"]) == {"medical_visits": pii.fingerprint(OLD)}
    bronze = spark.read.format("delta").load(lake.table("bronze", "medical_visits"))
    visit = bronze.select("visit_id", "patient_id_no").where("patient_id_no IS NOT NULL").first()
    assert before[visit["visit_id"]][0] == pii.hmac_hex_py(visit["patient_id_no"], OLD)

    monkeypatch.setenv("CITYLAKE_PII_KEY", NEW.decode())
    with pytest.raises(keyguard.KeyMismatch):  # not without the rotation
        run_daily(DAY, settings, spark, registry, scope=scope, marts=False)
    assert rekey(settings, registry, spark, say=lambda _m: None) == ["medical_visits"]
    assert _silver(spark, lake) == {}
    assert rekey(settings, registry, spark, say=lambda _m: None) == []  # done: a second call changes nothing
    run_daily(DAY, settings, spark, registry, scope=scope, marts=False)

    after = _silver(spark, lake)
    assert set(after) == set(before), "the same visits, every one derived again from bronze"
    assert after[visit["visit_id"]][0] == pii.hmac_hex_py(visit["patient_id_no"], NEW)
    assert all(a[2] == before[v][2] for v, a in after.items())
    assert not {h for t in before.values() for h in t[:2] if h} & {h for t in after.values() for h in t[:2] if h}
    assert keyguard.recorded(lake, ["medical_visits"]) == {"medical_visits": pii.fingerprint(NEW)}
