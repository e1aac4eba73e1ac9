"""OpenLineage settings and citylake's own events, without Spark or Airflow.

The end-to-end proof (Airflow, the Spark listener and these events through a DAG run, every
event against the spec, a landing file followed to its published mart) is in test_airflow_e2e.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest
from openlineage_schema import errors

from citylake.config.settings import Settings
from citylake.engine import lineage
from citylake.lake import Lake

PARENT = "citylake/citylake_ingest.bronze_silver/01932f5e-4a4b-7c3d-9e8f-0123456789ab"
ROOT = "citylake/citylake_ingest/01932f5e-4a4b-7c3d-9e8f-0123456789ac"


@pytest.fixture
def settings(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENLINEAGE_URL", raising=False)
    monkeypatch.setattr(lineage, "_CLIENTS", {})
    return Settings(lake_root=str(tmp_path / "lake"))


def test_datasets_are_named_as_the_spark_listener_names_them():
    assert lineage.dataset("/data/lake/silver/parking_occupancy") == (
        "file",
        "/data/lake/silver/parking_occupancy",
    )
    assert lineage.dataset("s3a://citylake-prod-silver/parking_occupancy") == (
        "s3://citylake-prod-silver", "parking_occupancy")  # fmt: skip
    assert lineage.asset_uri("/data/lake/gold/m") == "file:///data/lake/gold/m"
    assert lineage.asset_uri("s3a://b/gold/m") == "s3://b/gold/m"


def test_spark_writes_to_the_lake_by_default_and_to_openlineage_url_when_set(settings, monkeypatch):
    conf = lineage.spark_conf(settings, "citylake-daily")
    assert conf["spark.extraListeners"] == "io.openlineage.spark.agent.OpenLineageSparkListener"
    assert conf["spark.openlineage.transport.type"] == "file"
    assert conf["spark.openlineage.transport.location"].startswith(
        f"{settings.lake_root}/_system/lineage/spark-"
    )
    assert "spark.openlineage.parentRunId" not in conf
    with lineage.parent_run(PARENT, ROOT):
        monkeypatch.setenv("OPENLINEAGE_URL", "http://marquez:5000")
        monkeypatch.setenv("OPENLINEAGE_API_KEY", "k3y")
        conf = lineage.spark_conf(settings, "citylake-daily")
    assert conf["spark.openlineage.transport.type"] == "http"
    assert conf["spark.openlineage.transport.url"] == "http://marquez:5000"
    assert conf["spark.openlineage.transport.auth.apiKey"] == "k3y"
    assert "apikey" in conf["spark.redaction.regex"]  # the key never shows in Spark's UI
    assert conf["spark.openlineage.parentJobName"] == "citylake_ingest.bronze_silver"
    assert conf["spark.openlineage.parentRunId"] == PARENT.rsplit("/", 1)[1]
    assert conf["spark.openlineage.rootParentJobName"] == "citylake_ingest"
    assert lineage.parent_from_env() == (None, None)  # restored on leaving
    assert lineage.spark_conf(Settings(lake_root=settings.lake_root, lineage=False), "x") == {}


def test_airflow_gets_a_file_transport_unless_openlineage_url_is_set(settings, monkeypatch):
    env = lineage.airflow_env(settings)
    assert env["AIRFLOW__OPENLINEAGE__NAMESPACE"] == "citylake"
    transport = json.loads(env["AIRFLOW__OPENLINEAGE__TRANSPORT"])
    assert transport == {"type": "file", "log_file_path": f"{settings.lake_root}/_system/lineage/airflow.jsonl",
                         "append": True}  # fmt: skip
    monkeypatch.setenv("OPENLINEAGE_URL", "http://marquez:5000")
    assert "AIRFLOW__OPENLINEAGE__TRANSPORT" not in lineage.airflow_env(settings)


def _run_events(settings: Settings) -> None:
    """A run's events as the pipeline emits them, from results shaped like the jobs' own."""
    lake = Lake(settings.lake_root)
    files = [SimpleNamespace(contract="parking_occupancy", status="loaded", file="u/f/2026-11-20/a.csv",
                             bronze_version=3, rows_bronze=90, rows_quarantined=10, reason=None),
             SimpleNamespace(contract="parking_occupancy", status="failed", file="u/f/2026-11-20/b.csv",
                             bronze_version=None, rows_bronze=0, rows_quarantined=0, reason="disk full"),
             SimpleNamespace(contract="parking_occupancy", status="skipped", file="u/f/2026-11-19/c.csv",
                             bronze_version=None, rows_bronze=0, rows_quarantined=0, reason=None)]  # fmt: skip
    pubs = [SimpleNamespace(dataset="silver.parking_occupancy", status="published", path=lake.table("silver", "parking_occupancy"),
                            delta_version=5, rows=90, reason=None, published_path=None),
            SimpleNamespace(dataset="gold.mart_parking_daily", status="published", path=lake.table("gold", "mart_parking_daily"),
                            delta_version=2, rows=4, reason=None, published_path="x/_manifest.json")]  # fmt: skip
    registry = SimpleNamespace(marts={"mart_parking_daily": SimpleNamespace(inputs=["silver.parking_occupancy",
                                                                                    "registry.units"])})  # fmt: skip
    em = lineage.Emitter(settings, "daily", "run-20261120-abc", dt.date(2026, 11, 20))
    em.start()
    started = dt.datetime.now()
    lineage.emit_bronze(em, lake, SimpleNamespace(files=files), started)
    lineage.emit_publications(em, lake, registry, pubs, started)
    em.finish()


def test_citylake_step_events_are_valid_and_name_files_tables_and_versions(settings):
    with lineage.parent_run(PARENT, ROOT):
        _run_events(settings)
    events = lineage.read_events(settings.lineage_path)
    assert [(e["job"]["name"], e["eventType"]) for e in events] == [
        ("citylake.daily", "START"),
        ("citylake.bronze.parking_occupancy", "START"), ("citylake.bronze.parking_occupancy", "FAIL"),
        ("citylake.silver.parking_occupancy", "START"), ("citylake.silver.parking_occupancy", "COMPLETE"),
        ("citylake.gold.mart_parking_daily", "START"), ("citylake.gold.mart_parking_daily", "COMPLETE"),
        ("citylake.publish.mart_parking_daily", "START"), ("citylake.publish.mart_parking_daily", "COMPLETE"),
        ("citylake.daily", "COMPLETE"),
    ]  # fmt: skip
    assert all(not errors(e) for e in events), [errors(e) for e in events]
    run, bronze = events[0], events[2]
    assert run["run"]["facets"]["parent"]["job"]["name"] == "citylake_ingest.bronze_silver"
    assert run["run"]["facets"]["parent"]["root"]["job"]["name"] == "citylake_ingest"
    assert bronze["run"]["facets"]["parent"]["run"]["runId"] == run["run"]["runId"]
    # the files this run read (not the one an earlier run loaded), into bronze and quarantine
    landing = f"{settings.lake_root}/landing/u/f/2026-11-20"
    assert [i["name"] for i in bronze["inputs"]] == [f"{landing}/a.csv", f"{landing}/b.csv"]
    out = {o["name"].rsplit("/", 2)[-2] + "/" + o["name"].rsplit("/", 1)[-1]: o for o in bronze["outputs"]}
    assert out["bronze/parking_occupancy"]["facets"]["version"]["datasetVersion"] == "3"
    assert out["bronze/parking_occupancy"]["outputFacets"]["outputStatistics"]["rowCount"] == 90
    assert out["quarantine/bronze_records"]["outputFacets"]["outputStatistics"]["rowCount"] == 10
    assert "b.csv: disk full" in bronze["run"]["facets"]["errorMessage"]["message"]
    gold = events[6]
    assert [i["name"] for i in gold["inputs"]] == [f"{settings.lake_root}/silver/parking_occupancy"]
    assert events[8]["outputs"][0]["name"] == f"{settings.lake_root}/published/mart_parking_daily"
    # the validator is not vacuous: a broken event is refused
    broken = {**run, "run": {"runId": "not-a-uuid", "facets": {"parent": {"_producer": "x", "_schemaURL": run[
        "run"]["facets"]["parent"]["_schemaURL"], "job": {"namespace": "a"}}}}}  # fmt: skip
    assert len(errors(broken)) >= 2


def test_events_go_to_openlineage_url_when_it_is_set(settings, monkeypatch):
    received: list[dict] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(201)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("OPENLINEAGE_URL", f"http://127.0.0.1:{server.server_port}")
        _run_events(settings)
    finally:
        server.shutdown()
    assert [e["job"]["name"] for e in received][:2] == ["citylake.daily", "citylake.bronze.parking_occupancy"]
    assert len(received) == 10 and all(not errors(e) for e in received)
    assert lineage.read_events(settings.lineage_path) == []  # nothing to files when a URL is set


@pytest.mark.slow
def test_the_demo_says_where_its_lineage_went_and_each_published_mart_traces_back_to_landed_files(
    demo_lake, registry
):
    root, proc = demo_lake
    shown = re.search(r"Lineage events: (\S+)", proc.stdout)
    assert shown, proc.stdout[-2000:]
    assert Path(shown.group(1)) == Path(root).resolve() / "_system" / "lineage"
    events = lineage.read_events(shown.group(1))
    assert {"spark" in e["producer"] for e in events} == {True, False}  # the listener's and citylake's
    assert [e for e in events if errors(e)] == []
    done = [e for e in events if e["eventType"] == "COMPLETE"]
    upstream: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for e in done:
        for o in e["outputs"]:
            upstream.setdefault((o["namespace"], o["name"]), set()).update(
                (i["namespace"], i["name"]) for i in e["inputs"]
            )
    published = {p.parent.name for p in (Path(root) / "published").glob("*/_manifest.json")}
    assert published and published == {e["job"]["name"].rsplit(".", 1)[1] for e in done
                                        if e["job"]["name"].startswith("citylake.publish.")}  # fmt: skip
    for mart in published:
        if not any(i.startswith("silver.") for i in registry.marts[mart].inputs):
            continue  # built from the ops tables only
        seen, todo = set(), [lineage.dataset(f"{Path(root).resolve()}/published/{mart}")]
        while todo:
            node = todo.pop()
            seen.add(node)
            todo += [n for n in upstream.get(node, ()) if n not in seen]
        # citylake's steps name each file; the listener names a unit/feed's folder when it reads many
        landed = [Path(name) for _, name in seen if "/landing/" in name]
        assert all(p.exists() for p in landed) and any(p.is_file() for p in landed), mart
