"""Airflow end to end: `dag.test()` of the generated DAGs for one logical date on a fresh lake.

Runs in a subprocess with its own AIRFLOW_HOME (SQLite) and lake: the ingest DAG over two units'
deliveries, then every mart DAG for that date; then the same again, which must change no data
table's version and emit no silver asset event.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import cli

from citylake.settings import REPO_ROOT

pytestmark = pytest.mark.slow

UNITS = ["op_teld", "d310115_parking"]
DAY = "2026-11-20"
# run after 02:00 on the next day, Shanghai time: the interval is the delivery day
LOGICAL = "2026-11-20T18:00:00+00:00"

RUN = """
import datetime as dt, json, sys
sys.path.insert(0, sys.argv[1])
import citylake_dags as m
from collections import Counter
from airflow.models.asset import AssetEvent
from airflow.utils.session import create_session
states = {}
for dag_id in json.loads(sys.argv[2]):
    dag = m.__dict__[dag_id]
    if dag_id == "citylake_ingest":
        run = dag.test(logical_date=dt.datetime.fromisoformat(sys.argv[3]))
    else:
        run = dag.test(run_conf={"date": sys.argv[4]})
    states[dag_id] = str(run.state)
with create_session() as session:
    events = Counter(e.asset.name for e in session.query(AssetEvent).all())
print("STATES " + json.dumps({"states": states, "events": events}))
"""


def _versions(root) -> dict[str, int]:
    from deltalake import DeltaTable

    out = {}
    for zone in ("bronze", "silver", "gold"):
        for table in sorted((root / zone).iterdir()):
            out[f"{zone}.{table.name}"] = DeltaTable(str(table)).version()
    return out


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory, registry):
    home = tmp_path_factory.mktemp("airflow")
    root = home / "lake"
    env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"), "CITYLAKE_LAKE_ROOT": str(root)}  # fmt: skip
    for args in (["db", "migrate"], ["dags", "reserialize"]):
        proc = subprocess.run(
            [sys.executable, "-m", "airflow", *args], env=env, capture_output=True, text=True
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
    cli(root, "generate", "--date", DAY, "--scale", "0.02", "--units", *UNITS)
    dag_ids = ["citylake_ingest"] + [f"citylake_mart__{m}" for m in registry.marts]
    return env, root, dag_ids


def _run(env, dag_ids) -> dict:
    """Run the DAGs; the DAG run states and the asset events recorded so far, per asset."""
    proc = subprocess.run(
        [sys.executable, "-c", RUN, str(REPO_ROOT / "dags"), json.dumps(dag_ids), LOGICAL, DAY],
        env=env, capture_output=True, text=True, timeout=1500,
    )  # fmt: skip
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("STATES "))
    return json.loads(line[len("STATES ") :])


def test_dag_test_builds_the_lake_and_a_second_run_changes_nothing(airflow_env, registry):
    env, root, dag_ids = airflow_env
    first = _run(env, dag_ids)
    assert first["states"] == {d: "success" for d in dag_ids}
    # bronze and silver for the two units' contracts, every mart in gold and published
    ingested = sorted({f.contract.contract for u in UNITS for f in registry.feeds() if f.unit.unit == u})
    versions = _versions(root)
    # the ingest run announced exactly the silver tables it changed, so only their marts rebuild
    silver_events = {a: n for a, n in first["events"].items() if a.startswith("silver.")}
    assert silver_events == {f"silver.{c}": 1 for c in ingested}
    assert first["events"]["_system.run_ledger"] == 1
    for c in ingested:
        assert versions[f"bronze.{c}"] >= 1 and versions[f"silver.{c}"] >= 1, c
    fed = {f"silver.{c}" for c in ingested}
    touched = {m for m, doc in registry.marts.items()
               if fed & set(doc.inputs) or any(i.startswith("_system.") for i in doc.inputs)}  # fmt: skip
    assert {"mart_ev_charging_daily", "mart_parking_daily", "dt_city_objects", "ai_district_hourly_features",
            "mart_source_unit_health"} <= touched  # fmt: skip
    for mart in registry.marts:
        if mart not in touched:  # no input of it was delivered: nothing to build
            assert f"gold.{mart}" not in versions, mart
            continue
        manifest = json.loads((root / "published" / mart / "_manifest.json").read_text())
        assert manifest["delta_version"] == versions[f"gold.{mart}"] >= 1, mart
    ledger = json.loads(cli(root, "query", "SELECT DISTINCT unit FROM ops.run_ledger", "--json").stdout)
    assert {r["unit"] for r in ledger} == set(UNITS)
    # the same date again: retries, clears and backfills are idempotent
    second = _run(env, dag_ids)
    assert second["states"] == {d: "success" for d in dag_ids}
    assert _versions(root) == versions
    assert {a: n for a, n in second["events"].items() if a.startswith("silver.")} == silver_events
