"""One generated day run by Airflow: `dag.test()` of the ingest DAG and every mart DAG, embedded.

test_airflow_e2e checks what the DAGs did; test_cluster runs the same tasks on a standalone
cluster over MinIO and compares its tables with this lake's, so the day is built once
(tests/conftest.py's ``airflow_day`` keeps both modules in one worker).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conftest import cli

from citylake.config.registry import Registry
from citylake.config.settings import REPO_ROOT, Settings
from citylake.engine import lineage

UNITS = ["op_teld", "d310115_parking"]
DAY = "2026-11-20"
SCALE = "0.02"
# run after 02:00 on the next day, Shanghai time: the interval is the delivery day
LOGICAL = "2026-11-20T18:00:00+00:00"

RUN = """
import datetime as dt, faulthandler, json, sys
faulthandler.dump_traceback_later(1380, exit=True)  # a hang shows its stacks before the test's timeout
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


@dataclass
class AirflowDay:
    env: dict[str, str]
    root: Path
    dag_ids: list[str]
    first: dict[str, Any]  # the first pass's DAG run states and asset events


def run_dags(env: dict[str, str], dag_ids: list[str]) -> dict[str, Any]:
    """Run the DAGs; the DAG run states and the asset events recorded so far, per asset."""
    proc = subprocess.run(
        [sys.executable, "-c", RUN, str(REPO_ROOT / "dags"), json.dumps(dag_ids), LOGICAL, DAY],
        env=env, capture_output=True, text=True, timeout=1500,
    )  # fmt: skip
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("STATES "))
    result: dict[str, Any] = json.loads(line[len("STATES ") :])
    return result


def build(home: Path, registry: Registry) -> AirflowDay:
    """A fresh AIRFLOW_HOME (SQLite) and lake; the day generated, then every DAG run once."""
    root = home / "lake"
    env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"), "CITYLAKE_LAKE_ROOT": str(root)}  # fmt: skip
    env.pop("OPENLINEAGE_URL", None)  # lineage to the lake's files, as `make airflow` does
    env.update(lineage.airflow_env(Settings(lake_root=str(root))))
    for args in (["db", "migrate"], ["dags", "reserialize"]):
        proc = subprocess.run([sys.executable, "-m", "airflow", *args], env=env, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr[-2000:]
    cli(root, "generate", "--date", DAY, "--scale", SCALE, "--units", *UNITS)
    dag_ids = ["citylake_ingest"] + [f"citylake_mart__{m}" for m in registry.marts]
    return AirflowDay(env, root, dag_ids, run_dags(env, dag_ids))
