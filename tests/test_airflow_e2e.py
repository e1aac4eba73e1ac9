"""Airflow end to end: `dag.test()` of the generated DAGs for one logical date on a fresh lake.

The session's ``airflow_day`` (tests/airflow_day.py) runs, in a subprocess with its own
AIRFLOW_HOME (SQLite) and lake, the ingest DAG over two units' deliveries, then every mart DAG
for that date. Here the same runs again, which must change no data table's version and emit no
silver asset event.
"""

from __future__ import annotations

import json
import os
from collections import Counter

import pytest
from airflow_day import UNITS, run_dags
from conftest import cli
from openlineage_schema import errors

from citylake.config.settings import Settings
from citylake.engine import lineage
from citylake.lake import Lake

pytestmark = pytest.mark.slow


def _versions(root) -> dict[str, int]:
    from deltalake import DeltaTable

    out = {}
    for zone in ("bronze", "silver", "gold"):
        for table in sorted((root / zone).iterdir()):
            out[f"{zone}.{table.name}"] = DeltaTable(str(table)).version()
    return out


def test_dag_test_builds_the_lake_and_a_second_run_changes_nothing(airflow_day, registry):
    env, root, dag_ids, first = airflow_day.env, airflow_day.root, airflow_day.dag_ids, airflow_day.first
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
    second = run_dags(env, dag_ids)
    assert second["states"] == {d: "success" for d in dag_ids}
    assert _versions(root) == versions
    assert {a: n for a, n in second["events"].items() if a.startswith("silver.")} == silver_events


def _ids(refs) -> set[tuple[str, str]]:
    return {(d["namespace"], d["name"]) for d in refs}


def test_lineage_events_are_valid_and_follow_each_landing_file_to_its_published_mart(airflow_day, registry):
    """Airflow, the Spark listener and citylake's own steps, to the lake's files (file transport)."""
    root = airflow_day.root
    lake = Lake(str(root.resolve()))
    events = lineage.read_events(Settings(lake_root=lake.root).lineage_path)
    # every event of every producer is a valid run event, with valid standard facets
    invalid = {f"{e['job']['name']} {e['eventType']}": err for e in events if (err := errors(e))}
    assert not invalid, list(invalid.items())[:5]
    by_producer = Counter("airflow" if "/airflow" in e["producer"] else "spark" if "spark" in e["producer"]
                          else e["producer"] for e in events)  # fmt: skip
    assert by_producer["airflow"] and by_producer["spark"] and by_producer[lineage.PRODUCER], by_producer
    done = [e for e in events if e["eventType"] == "COMPLETE"]
    ds = lambda zone, name: lineage.dataset(lake.table(zone, name))  # noqa: E731
    ingested = sorted({f.contract.contract for u in UNITS for f in registry.feeds() if f.unit.unit == u})

    # the Airflow tasks name their datasets: landing in, bronze/silver/ledger out; silver in, gold out
    ingest = [e for e in done if e["job"]["name"] == "citylake_ingest.bronze_silver"]
    assert ingest  # one per run of the day
    landing_dirs = {lineage.dataset(f"{lake.zone('landing')}/{f.unit.unit}/{f.spec.feed}")
                    for f in registry.feeds() if f.unit.unit in UNITS}  # fmt: skip
    assert landing_dirs <= _ids(ingest[0]["inputs"])
    wrote = (
        {ds("bronze", c) for c in ingested}
        | {ds("silver", c) for c in ingested}
        | {ds("_system", "run_ledger")}
    )
    assert wrote <= _ids(ingest[0]["outputs"]), _ids(ingest[0]["outputs"])
    for mart, doc in registry.marts.items():
        tasks = [e for e in done if e["job"]["name"] == f"citylake_mart__{mart}.build_publish"]
        assert tasks and all(_ids(t["outputs"]) == {ds("gold", mart)} for t in tasks), mart
        wanted = {ds(*i.split(".", 1)) for i in doc.inputs if i.split(".")[0] in ("silver", "gold")}
        assert wanted <= _ids(tasks[0]["inputs"]), mart

    # citylake's step events hang under the Airflow task that ran them
    task_runs = {e["run"]["runId"]: e["job"]["name"] for e in done if e["job"]["namespace"] == lineage.NAMESPACE
                 and e["job"]["name"].startswith("citylake_")}  # fmt: skip
    runs = {e["run"]["runId"]: e for e in done if e["job"]["name"] in ("citylake.daily", "citylake.marts")}
    assert runs
    for run in runs.values():
        parent = run["run"]["facets"]["parent"]
        expected = (
            "citylake_ingest.bronze_silver" if run["job"]["name"] == "citylake.daily" else "build_publish"
        )
        assert task_runs[parent["run"]["runId"]].endswith(expected), parent
    steps = [e for e in done if e["producer"] == lineage.PRODUCER and e["job"]["name"] not in
             ("citylake.daily", "citylake.marts")]  # fmt: skip
    assert steps and all(s["run"]["facets"]["parent"]["run"]["runId"] in runs for s in steps)

    # the listener works on Spark 4.1: a landing file read into its bronze table, per contract
    spark = [e for e in done if "spark" in e["producer"]]
    for c in ingested:
        assert any(ds("bronze", c) in _ids(e["outputs"]) and any("/landing/" in n for _, n in _ids(e["inputs"]))
                   for e in spark), c  # fmt: skip
    # the chain: every landed file reaches the published export of every mart its contract feeds
    edges: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for e in done:
        for i in _ids(e.get("inputs", [])):
            edges.setdefault(i, set()).update(_ids(e.get("outputs", [])))
    landed = [(s["job"]["name"].split(".")[-1], i) for s in steps if ".bronze." in s["job"]["name"]
              for i in _ids(s["inputs"])]  # fmt: skip
    assert {c for c, _ in landed} == set(ingested)
    for contract, file in landed:
        assert os.path.exists(file[1]), file  # a real landed file
        path = _path(edges, file, lineage.dataset(f"{lake.zone('published')}/mart_parking_daily")
                     if contract == "parking_occupancy" else None)  # fmt: skip
        reached = _reach(edges, file)
        for mart, doc in registry.marts.items():
            if f"silver.{contract}" in doc.inputs:
                assert lineage.dataset(f"{lake.zone('published')}/{mart}") in reached, (file, mart)
                assert {ds("bronze", contract), ds("silver", contract), ds("gold", mart)} <= reached
        if path:  # the whole way down, zone by zone
            zones = [p[1].removeprefix(lake.root + "/").split("/")[0] for p in path]
            assert zones == ["landing", "bronze", "silver", "gold", "published"], zones
    # a published mart's lineage names the Delta version its manifest serves
    manifest = json.loads((root / "published" / "mart_parking_daily" / "_manifest.json").read_text())
    gold = [o for s in steps if s["job"]["name"] == "citylake.gold.mart_parking_daily" for o in s["outputs"]
            if (o["namespace"], o["name"]) == ds("gold", "mart_parking_daily")]  # fmt: skip
    assert gold and gold[-1]["facets"]["version"]["datasetVersion"] == str(manifest["delta_version"])


def _reach(edges, start) -> set[tuple[str, str]]:
    seen, todo = {start}, [start]
    while todo:
        for nxt in edges.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _path(edges, start, goal) -> list[tuple[str, str]] | None:
    """The shortest chain of datasets from ``start`` to ``goal`` (breadth first)."""
    if goal is None:
        return None
    prev, todo = {start: start}, [start]
    while todo:
        node = todo.pop(0)
        if node == goal:
            out = [node]
            while out[-1] != start:
                out.append(prev[out[-1]])
            return out[::-1]
        for nxt in edges.get(node, ()):
            if nxt not in prev:
                prev[nxt] = node
                todo.append(nxt)
    raise AssertionError(f"no lineage path from {start} to {goal}")
