"""Every citylake DAG, generated from the registry: nobody writes a DAG per unit.

- ``citylake_ingest``: daily, bronze + silver for every unit in one Spark application (one JVM
  per day, not per unit or contract). Trigger it with ``{"units": ["op_teld"]}`` to re-run one
  unit's day without touching the others. It emits an event, with the logical date, for each
  silver table that changed.
- ``citylake_mart__<mart>``: scheduled by its input assets; rebuilds the days the triggering
  deliveries touched, behind the mart's quality gate, and emits the gold asset.
- ``citylake_maintenance``: daily compaction, VACUUM and housekeeping.

Parse cost: this file imports only the Airflow SDK and citylake's registry (YAML + pydantic);
no pyspark, GX or boto3, and no lake I/O (ruff TID253 enforces the imports).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.sdk import DAG, Asset, AssetAlias, Param, task
from airflow.sdk.definitions.asset import BaseAsset
from airflow.timetables.interval import CronDataIntervalTimetable

from citylake.config.registry import MartDoc, Registry, load_registry
from citylake.config.settings import load_settings
from citylake.engine.lineage import asset_uri
from citylake.lake import Lake
from citylake.runs import tasks

SETTINGS = load_settings()
LAKE = Lake(SETTINGS.lake_root)

OWNER = "citylake-data-eng"
SHANGHAI = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")  # no daylight saving
START = dt.datetime(2026, 1, 1, tzinfo=SHANGHAI)
# deliveries of day D are complete by 02:00 on D+1 (Asia/Shanghai); the run's interval is day D
DAILY = CronDataIntervalTimetable("0 2 * * *", timezone="Asia/Shanghai")
# what every citylake DAG shares
COMMON: dict[str, Any] = {"start_date": START, "catchup": False, "max_active_runs": 1}
DEFAULT_ARGS: dict[str, Any] = {
    "owner": OWNER,
    "retries": 3,
    "retry_delay": dt.timedelta(minutes=2),
    "retry_exponential_backoff": True,
    "max_retry_delay": dt.timedelta(minutes=30),
    "pool": tasks.SPARK_POOL,
    "on_failure_callback": tasks.on_failure,
}


def delivery_date(data_interval_start: Any) -> str:
    """The delivery day a run covers: its interval starts at 02:00 of that day, Shanghai time."""
    return str(data_interval_start.astimezone(SHANGHAI).date().isoformat())


def asset(ref: str) -> Asset:
    """The asset of a lake table, e.g. "silver.parking_occupancy", at its place in the lake: the
    OpenLineage provider reports it as the dataset Spark's and citylake's events name."""
    zone, name = ref.split(".", 1)
    return Asset(name=ref, uri=asset_uri(LAKE.table(zone, name)))


def landing(unit: str, feed: str) -> Asset:
    """Where a unit delivers a feed: the ingest task's inlet."""
    return Asset(name=f"landing.{unit}.{feed}", uri=asset_uri(f"{LAKE.zone('landing')}/{unit}/{feed}"))


LEDGER = asset("_system.run_ledger")
# the ingest task adds the silver assets it changed to this alias, with the logical date
SILVER_CHANGED = AssetAlias("citylake_silver_changed")
BRONZE_CHANGED = AssetAlias("citylake_bronze_changed")  # lineage only: no DAG is scheduled on bronze


def ingest_dag(registry: Registry) -> DAG:
    by_contract: dict[str, list[str]] = {}
    for f in registry.feeds():
        by_contract.setdefault(f.contract.contract, []).append(f.unit.unit)
    units = sorted({u for us in by_contract.values() for u in us})
    contracts = sorted(by_contract)
    table = "\n".join(f"| {c} | {', '.join(sorted(set(by_contract[c])))} |" for c in contracts)
    with DAG(
        dag_id="citylake_ingest",
        description=f"bronze and silver for {len(units)} units, {len(contracts)} feed contracts",
        schedule=DAILY,
        **COMMON,  # max_active_runs=1: one writer of the lake's tables at a time
        default_args=DEFAULT_ARGS,
        tags=["citylake", "ingest"],
        params={
            "units": Param(
                [],
                type="array",
                items={"type": "string", "enum": units},
                description="only these units (default: all); re-runs one unit's day",
            ),
            "contracts": Param(
                [],
                type="array",
                items={"type": "string", "enum": contracts},
                description="only these feed contracts (default: all)",
            ),
        },  # fmt: skip
        doc_md="Ingests every unit's deliveries of the day, one Spark application.\n\n"
        "| contract | units |\n| --- | --- |\n" + table,
    ) as dag:

        @task(
            task_id="bronze_silver",
            inlets=[landing(f.unit.unit, f.spec.feed) for f in registry.feeds()],
            outlets=[SILVER_CHANGED, BRONZE_CHANGED, LEDGER],
        )
        def bronze_silver(
            data_interval_start: Any = None,
            params: dict[str, Any] | None = None,
            outlet_events: Any = None,
            ti: Any = None,
        ) -> dict[str, Any]:
            ds = delivery_date(data_interval_start)
            p = params or {}
            parent = tasks.lineage_parent(ti)
            result = tasks.ingest(ds, p.get("units") or (), p.get("contracts") or (), parent)
            # an event only for the silver tables that changed: only their marts rebuild
            for ref in result["changed"]:
                outlet_events[SILVER_CHANGED].add(asset(ref), extra={"logical_date": ds})
            for ref in result["bronze_changed"]:
                outlet_events[BRONZE_CHANGED].add(asset(ref), extra={"logical_date": ds})
            outlet_events[LEDGER].extra = {"logical_date": ds}
            return result

        @task(task_id="check_units", retries=0, pool="default_pool")
        def check_units(result: dict[str, Any]) -> None:
            tasks.check(result)

        check_units(bronze_silver())  # type: ignore[arg-type]  # an XComArg at parse time
    return dag


def _dates(events: Any, params: dict[str, Any] | None) -> list[str]:
    """Logical dates to rebuild: from the triggering asset events, or the `date` param."""
    found = {ev.extra["logical_date"] for evs in (events or {}).values() for ev in evs
             if (ev.extra or {}).get("logical_date")}  # fmt: skip
    if not found and (params or {}).get("date"):
        found.add(params["date"])  # type: ignore[index]
    return sorted(found)


def mart_dag(doc: MartDoc) -> DAG:
    # _system inputs change with every ingest run: the run ledger's asset stands for them
    refs = dict.fromkeys("_system.run_ledger" if i.startswith("_system.") else i
                         for i in doc.inputs if not i.startswith("registry."))  # fmt: skip
    inputs = [asset(i) for i in refs]
    schedule: BaseAsset = inputs[0]
    for a in inputs[1:]:
        schedule = schedule | a  # any changed input rebuilds the mart
    with DAG(
        dag_id=f"citylake_mart__{doc.mart}",
        description=f"{doc.title}: {doc.grain}",
        schedule=schedule,
        **COMMON,
        default_args=DEFAULT_ARGS,
        tags=["citylake", "mart", *doc.audience],
        params={
            "date": Param(
                None, type=["null", "string"], description="rebuild this logical date (manual runs)"
            )
        },
        doc_md=f"**{doc.mart}**: {doc.grain}. Owner: {doc.owner}.",
    ) as dag:

        @task(task_id="build_publish", inlets=inputs, outlets=[asset(f"gold.{doc.mart}")])
        def build_publish(
            triggering_asset_events: Any = None,
            params: dict[str, Any] | None = None,
            outlet_events: Any = None,
            ti: Any = None,
        ) -> list[dict[str, Any]]:
            dates = _dates(triggering_asset_events, params)
            out = [tasks.build_marts([doc.mart], ds, tasks.lineage_parent(ti)) for ds in dates]
            if dates:
                outlet_events[asset(f"gold.{doc.mart}")].extra = {"logical_date": dates[-1]}
            return out

        build_publish()
    return dag


def maintenance_dag() -> DAG:
    with DAG(
        dag_id="citylake_maintenance",
        description="OPTIMIZE / layout compaction, VACUUM (7 days; bronze and quarantine FULL) and ledger housekeeping",
        schedule=CronDataIntervalTimetable("0 5 * * *", timezone="Asia/Shanghai"),
        **COMMON,
        default_args=DEFAULT_ARGS,
        tags=["citylake", "maintenance"],
    ) as dag:

        @task(task_id="optimize_vacuum")
        def optimize_vacuum(data_interval_start: Any = None) -> dict[str, Any]:
            return tasks.maintenance(delivery_date(data_interval_start))

        optimize_vacuum()
    return dag


def build_all(registry: Registry) -> dict[str, DAG]:
    dags = [ingest_dag(registry)]
    dags += [mart_dag(doc) for doc in registry.marts.values()]
    dags.append(maintenance_dag())
    return {d.dag_id: d for d in dags}


globals().update(build_all(load_registry(SETTINGS.registry_dir)))
