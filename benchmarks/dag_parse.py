"""Parse dags/ as the scheduler's DAG processor does: a fresh interpreter, imports included."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from citylake.config.settings import REPO_ROOT

PARSE = """
import json, sys, time
t = time.perf_counter()
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1], safe_mode=False)
seconds = time.perf_counter() - t
def names(cond):
    if cond is None:
        return set()
    if hasattr(cond, "objects"):  # AssetAny / AssetAll
        return set().union(*(names(o) for o in cond.objects))
    return {cond.name} if hasattr(cond, "name") else set()

dags = {}
for dag_id, dag in bag.dags.items():
    dags[dag_id] = {
        "tasks": sorted(t.task_id for t in dag.tasks),
        "owners": sorted({t.owner for t in dag.tasks}),
        "retries": sorted({t.retries for t in dag.tasks if t.task_id != "check_units"}),
        "tags": sorted(dag.tags),
        "schedule_assets": sorted(names(getattr(dag.timetable, "asset_condition", None))),
        **{p: dag.params.get_param(p).schema["items"]["enum"] for p in ("units", "contracts") if p in dag.params},
    }
print(json.dumps({"seconds": seconds, "errors": {k: str(v) for k, v in bag.import_errors.items()}, "dags": dags}))
"""


def parse_dags(airflow_home: Path, registry_dir: Path) -> dict[str, Any]:
    """DagBag over dags/ with ``registry_dir`` as the registry: seconds, import errors, DAG summaries."""
    env = {**os.environ, "AIRFLOW_HOME": str(airflow_home), "CITYLAKE_REGISTRY_DIR": str(registry_dir),
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-c", PARSE, str(REPO_ROOT / "dags")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"parsing dags/ failed: {proc.stderr[-3000:]}")
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out
