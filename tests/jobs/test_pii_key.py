"""The PII key stays out of every plan, event log and lineage event, and one key writes silver."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

import pytest

from citylake.domain import pii
from citylake.lake import Lake, keyguard
from jobs import silver_conform
from tests.conftest import cli

pytestmark = pytest.mark.spark

KEY = os.environ["CITYLAKE_PII_KEY"].encode()  # what conftest gives every run, the demo's too


def _secrets(key: bytes) -> dict[str, bytes]:
    """The key and the HMAC pads derived from it, as text a leak would print them in."""
    block = key.ljust(64, b"\0")
    ipad, opad = bytes(b ^ 0x36 for b in block), bytes(b ^ 0x5C for b in block)
    forms: dict[str, bytes] = {}
    for name, raw in (("key", key), ("ipad", ipad), ("opad", opad)):
        forms[f"{name} hex"] = raw.hex().encode()
        forms[f"{name} base64"] = base64.b64encode(raw)
    forms["key"] = key
    return forms


def _leaks(blob: bytes, key: bytes) -> list[str]:
    low = blob.lower()
    return [name for name, form in _secrets(key).items() if form.lower() in low]


def test_the_key_is_in_no_plan_of_silver_conform(spark, registry, lake):
    from citylake.lake import reference
    from tests.jobs.test_silver_conform import NOW, _bronze, _session

    contract = registry.contracts["ev_charging_sessions"]
    bronze = _bronze(spark, contract, [_session("S1", 10.0, "2026-11-20 08:00:00")], NOW.date(), "b1")
    register, _ = reference.division_lookup(spark, lake)
    out = silver_conform.conform(bronze, contract, KEY, "run-1", NOW, register=register)
    plan = out._jdf.queryExecution().toString().encode()  # explain(extended): all four plans
    function = pii.FUNCTION_PREFIX + pii.fingerprint(KEY)
    assert plan.count(function.encode()) >= 2, "both personal columns are hashed in the plan, by name"
    assert _leaks(plan, KEY) == []
    # the function computes the standard HMAC
    row = out.select("plate_no_hash", "user_mobile_hash").first()
    assert row is not None
    assert tuple(row) == (pii.hmac_hex_py("沪A12345", KEY), pii.hmac_hex_py("13812345678", KEY))


def test_the_demo_runs_event_log_and_lineage_events_carry_no_key(demo_lake):
    root, _ = demo_lake
    events = [p for p in (Path(root).parent / "spark-events").rglob("*") if p.is_file()]
    lineage = [p for p in (Path(root) / "_system" / "lineage").rglob("*") if p.is_file()]
    assert events and lineage, "the demo ran with an event log and lineage files"
    logged = b"".join(p.read_bytes() for p in events)
    # the event log did record silver's plans: the keyed function is named in them
    assert (pii.FUNCTION_PREFIX + pii.fingerprint(KEY)).encode() in logged
    assert _leaks(logged, KEY) == []
    for path in lineage:
        assert _leaks(path.read_bytes(), KEY) == [], path


def _lake_files(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}  # fmt: skip


def test_a_run_under_another_key_stops_before_writing(demo_lake, tmp_path):
    root, _ = demo_lake
    lake = Lake(str(root))
    recorded = keyguard.recorded(lake, ["medical_visits", "service_requests"])
    assert set(recorded.values()) == {pii.fingerprint(KEY)}, "silver records the key that wrote it"
    before = _lake_files(Path(root))
    proc = cli(root, "run", "--date", "2026-11-20", check_codes=(2,),
               env={"CITYLAKE_PII_KEY": "another-key-of-another-machine"})  # fmt: skip
    other = pii.fingerprint(b"another-key-of-another-machine")
    assert (
        other in proc.stderr
        and pii.fingerprint(KEY) in proc.stderr
        and "silver.medical_visits" in proc.stderr
    )
    assert "another-key-of-another-machine" not in proc.stderr + proc.stdout
    assert _lake_files(Path(root)) == before, "nothing in the lake changed"
