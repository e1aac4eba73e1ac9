"""The suppression list keeps erased and restricted subjects out of silver, by reference only.

Tiny frames and one tiny lake: the references agree between Python and the JVM, the split puts
each row where its subject's mode says, and silver's own run quarantines an erased subject's
record with no payload and keeps a restricted one's in the restricted store, once. Then
``restrict`` moves a subject already in silver out of it by MERGE.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from citylake.config.settings import REPO_ROOT
from citylake.domain import pii
from citylake.engine import delta_io, delta_log
from citylake.lake import Lake, catalog, ledger, progress, suppression
from citylake.lake.subjects import Subject, reference, reference_key
from jobs import silver_conform, silver_suppress
from jobs.bronze_transform import bronze_schema
from jobs.context import JobRun

pytestmark = pytest.mark.spark

KEY = b"citylake-tests-only-not-a-secret"
DAY = dt.date(2026, 11, 20)
CONTRACT = "ev_charging_sessions"
ERASED = Subject(1, {"licence_plate": "沪a 12345"})  # as the DPO typed it: normalised before hashing
RESTRICTED = Subject(2, {"mobile": "13900000002"})
LATER = Subject(3, {"mobile": "13700000003"})  # restricted after it reached silver


def _session(sid: str, plate: str | None, mobile: str | None) -> dict:
    return {"session_id": sid, "station_id": "CS-1", "connector_id": "C1",
            "start_time": dt.datetime(2026, 11, 20, 8), "end_time": dt.datetime(2026, 11, 20, 9),
            "energy_kwh": 12.5, "fee_yuan": 9.0, "plate_no": plate, "user_mobile": mobile,
            "district_code": "310104"}  # fmt: skip


SESSIONS = [
    _session("S1", "沪A12345", "13800000001"),  # the erased subject, by plate
    _session("S2", "沪B00002", "13900000002"),  # the restricted subject, by mobile
    _session("S3", "沪C00003", "13700000003"),  # LATER
    _session("S4", "沪D00004", None),
]


def test_references_agree_between_python_and_the_jvm(spark):
    from pyspark.sql import functions as F

    values = ["沪A12345", " 11010519491231002x ", "13800138000"]
    df = spark.createDataFrame([(v,) for v in values], "v string").withColumn("h", pii.hmac_hex(F.col("v"), KEY))
    got = df.withColumn("r", pii.hmac_hex(F.col("h"), reference_key(KEY))).collect()
    for row in got:
        assert row["h"] == pii.hmac_hex_py(row["v"], KEY)  # silver's hash: lower-case hex
        assert row["r"] == reference(row["h"], KEY)  # both upper-case the hash before the HMAC
    assert Subject(9, {"mobile": values[2]}).references(KEY)["mobile"] == got[2]["r"]


def _silver_shaped(spark, rows):
    from pyspark.sql import functions as F

    df = spark.createDataFrame(rows, "session_id string, plate_no string, user_mobile string")
    return df.select(
        "session_id",
        pii.hmac_hex(F.col("plate_no"), KEY).alias("plate_no_hash"),
        pii.hmac_hex(F.col("user_mobile"), KEY).alias("user_mobile_hash"),
    )


def test_split_puts_each_row_where_its_subjects_mode_says(spark, registry):
    contract = registry.contracts[CONTRACT]
    df = _silver_shaped(spark, [("S1", "沪A12345", "13800000001"), ("S2", "沪B00002", "13900000002"),
                                ("S3", "沪A12345", "13900000002"), ("S4", "沪D00004", None), ("S5", None, None)])  # fmt: skip
    listed = {
        suppression.ERASE: set(ERASED.references(KEY).values()),
        suppression.RESTRICT: set(RESTRICTED.references(KEY).values()),
    }
    kept, erased, restricted = suppression.split_suppressed(df, contract, KEY, listed)
    ids = lambda d: sorted(r["session_id"] for r in d.collect())  # noqa: E731
    # S3 is both subjects' record: erasure wins
    assert (ids(kept), ids(erased), ids(restricted)) == (["S4", "S5"], ["S1", "S3"], ["S2"])
    assert kept.columns == df.columns
    plan = kept._jdf.queryExecution().optimizedPlan().toString()
    assert "BroadcastHint" in plan or "broadcast" in plan.lower()
    # the plan holds references, never a silver hash of a subject
    assert pii.hmac_hex_py("沪A12345", KEY) not in plan

    nothing = {suppression.ERASE: set(), suppression.RESTRICT: set()}
    kept, erased, restricted = suppression.split_suppressed(df, contract, KEY, nothing)
    assert kept is df and erased.isEmpty() and restricted.isEmpty()


def test_the_list_refuses_anything_but_a_reference(lake):
    row = {"kind": "mobile", "ref": "13800138000", "mode": "erase", "request_id": "R1"}
    with pytest.raises(suppression.SuppressionError):
        suppression.add(lake, [row])
    assert suppression.add_subjects(lake, [ERASED], KEY, "erase", "R1") == 1
    assert suppression.add_subjects(lake, [ERASED], KEY, "erase", "R1") == 0  # listed once
    assert suppression.refs(lake)["erase"] == set(ERASED.references(KEY).values())
    assert delta_log.configuration(suppression.path(lake)).get("delta.appendOnly") == "true"
    # a list made under another key would let its subjects back in: silver stops instead
    assert suppression.stale_requests(lake, b"another key") == ["R1"]
    with pytest.raises(suppression.SuppressionError, match="R1"):
        suppression.refs(lake, b"another key")


@pytest.fixture(scope="module")
def promoted(spark, registry, module_lake: Lake):
    """One bronze batch of four sessions (one erased, one restricted subject), promoted by silver's run."""
    contract = registry.contracts[CONTRACT]
    rows = [{**s, "_unit": "op_test", "_feed": "sessions", "_source_file": "b1/sessions.csv", "_record_no": i + 1,
             "_ingested_at": dt.datetime(2026, 11, 20, 10), "_run_id": "run-b", "_batch_id": "b1",
             "_logical_date": DAY, "_dq_failed": []} for i, s in enumerate(SESSIONS)]  # fmt: skip
    bronze = spark.createDataFrame(rows, bronze_schema(contract))
    delta_io.append(bronze, module_lake.table("bronze", CONTRACT), partition_by=("_logical_date",),
                    user_metadata={"batch_id": "b1", "date": DAY.isoformat(), "held": []})  # fmt: skip
    ledger.ensure_system_tables(spark, module_lake)
    suppression.add_subjects(module_lake, [ERASED], KEY, "erase", "R-erase")
    suppression.add_subjects(module_lake, [RESTRICTED], KEY, "restrict", "R-restrict")
    job = JobRun(spark, module_lake, registry, DAY, "run-s1")
    checks = {CONTRACT: []}
    silver_conform.run(job, KEY, checks, REPO_ROOT / "expectations", contracts=[CONTRACT])
    return module_lake, job, checks


def _rows(spark, path):
    return [r.asDict() for r in spark.read.format("delta").load(path).collect()]


def test_silver_quarantines_an_erased_subject_without_payload(spark, promoted):
    lake, _, _ = promoted
    silver = {r["session_id"] for r in _rows(spark, lake.table("silver", CONTRACT))}
    assert silver == {"S3", "S4"}
    dq = _rows(spark, lake.table("quarantine", "dq_rows"))
    assert len(dq) == 1
    (row,) = dq
    assert row["reason"] == suppression.ERASED_REASON
    assert row["record"] is None and row["failed_expectations"] is None
    assert (row["unit"], row["feed"], row["source_file"], row["record_no"], row["batch_id"], row["contract"]) == (
        "op_test", "sessions", "b1/sessions.csv", 1, "b1", CONTRACT)  # fmt: skip
    text = json.dumps(dq, default=str)
    for needle in [*ERASED.values.values(), *ERASED.normalised().values(), *ERASED.hashes(KEY).values()]:
        assert needle not in text


def test_silver_keeps_a_restricted_subject_in_the_restricted_store(spark, promoted):
    lake, _, _ = promoted
    kept = _rows(spark, silver_suppress.restricted_path(lake, CONTRACT))
    assert [(r["session_id"], r["_source_file"], r["_record_no"], r["_batch_id"]) for r in kept] == [
        ("S2", "b1/sessions.csv", 2, "b1")
    ]
    assert kept[0]["user_mobile_hash"] == RESTRICTED.hashes(KEY)["mobile"]
    # every bronze record ends somewhere, with a reason where it is not in silver
    ends = [lake.table("silver", CONTRACT), lake.table("quarantine", "dq_rows")]
    assert sum(len(_rows(spark, p)) for p in ends) + len(kept) == len(_rows(spark, lake.table("bronze", CONTRACT)))
    # no catalog, query or SQL endpoint sees the restricted zone
    assert all(t.zone != "restricted" for t in catalog.lake_tables(lake))
    assert "restricted" not in catalog.DATABASE


def test_a_repeated_promotion_writes_nothing_twice(spark, promoted):
    lake, job, checks = promoted
    # as if the first run had died before recording its progress
    silver_conform.run(job, KEY, checks, REPO_ROOT / "expectations", contracts=[CONTRACT], state=progress.Progress())
    assert len(_rows(spark, lake.table("quarantine", "dq_rows"))) == 1
    assert len(_rows(spark, silver_suppress.restricted_path(lake, CONTRACT))) == 1
    assert {r["session_id"] for r in _rows(spark, lake.table("silver", CONTRACT))} == {"S3", "S4"}


def test_restrict_moves_silver_rows_by_merge_and_owes_their_days(spark, registry, promoted, monkeypatch):
    from citylake.privacy.restrict import affected_marts, restrict

    lake, _, _ = promoted
    path = lake.table("silver", CONTRACT)
    before = delta_log.latest_version(path)

    def stopped(*_a, **_k):
        raise RuntimeError("stopped before recording its progress")

    with monkeypatch.context() as m:
        m.setattr(progress, "record", stopped)
        with pytest.raises(RuntimeError):
            restrict(spark, lake, registry, [LATER], KEY, "R-later")
    assert {r["session_id"] for r in _rows(spark, path)} == {"S4"}
    assert {r["session_id"] for r in _rows(spark, silver_suppress.restricted_path(lake, CONTRACT))} == {"S2", "S3"}
    # run again: nothing left to move, and the days the stopped attempt moved are still owed
    out = restrict(spark, lake, registry, [LATER], KEY, "R-later")
    assert out["tables"][f"silver.{CONTRACT}"] == 0 and out["days"] == [(CONTRACT, DAY)]
    assert restrict(spark, lake, registry, [LATER], KEY, "R-later")["days"] == []  # recorded now
    assert len(_rows(spark, silver_suppress.restricted_path(lake, CONTRACT))) == 2
    # the MERGE's commit holds no value or hash: its predicate joins a key table
    log = "".join(
        json.dumps(delta_log.commit_info(path, v)) for v in range(before + 1, delta_log.latest_version(path) + 1)
    )
    for needle in [*LATER.values.values(), LATER.hashes(KEY)["mobile"], LATER.hashes(KEY)["mobile"][:32]]:
        assert needle not in log
    # the marts on this contract owe the day
    state = progress.load(lake)
    assert any(r.target == f"silver.{CONTRACT}" and DAY in r.days and r.run_id.startswith("restrict-")
               for r in state.rows)  # fmt: skip
    assert affected_marts(registry, [CONTRACT])
    # silver is copy-on-write: no deletion vectors, no change data feed
    from deltalake import DeltaTable

    table = DeltaTable(path)
    assert table.protocol().min_reader_version == 1
    conf = table.metadata().configuration
    assert conf.get("delta.enableDeletionVectors") != "true" and conf.get("delta.enableChangeDataFeed") != "true"
