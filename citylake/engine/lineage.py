"""OpenLineage: where run events go, what the Spark listener is told, and citylake's own events.

Three producers write run events about the same datasets, named by OpenLineage's naming spec
(a local path is namespace ``file`` and its absolute path; ``s3a://b/k`` is ``s3://b`` and ``k``):

- Airflow (``apache-airflow-providers-openlineage``): a job per task, its inputs and outputs
  from the task's inlets, outlets and the tables a run changed (dags/citylake_dags.py);
- Spark (the ``openlineage-spark`` listener, jar cached by ``citylake setup``): a job per action;
- citylake (this module): a job per step and table, ``citylake.bronze.<contract>``,
  ``citylake.silver.<contract>``, ``citylake.gold.<mart>``, naming the landing files read and
  the Delta versions written. The listener cannot: it misses silver's MERGE, and silver and gold
  read their inputs as Parquet files under a table's partition folders, so it names folders, not
  tables (OpenLineage #3183, #3613, #3942). Each carries a parent facet: the Airflow task run
  that ran it.

Events go to ``OPENLINEAGE_URL`` (Marquez, DataHub, ...) when it is set, else one JSON event per
line in files under ``Settings.lineage_path``. Emitting never fails a run.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from citylake.config.settings import Settings
from citylake.config.variables import read

log = logging.getLogger(__name__)

SPARK_COORDINATE = "io.openlineage:openlineage-spark_2.13:1.53.0"  # Scala 2.13, as Spark 4
NAMESPACE = "citylake"  # the job namespace of Spark's and citylake's events
PRODUCER = "urn:citylake:0.1.0"
SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
# the provider's macro format (lineage_parent_id): "<namespace>/<job name>/<run id>"
PARENT_ENV, ROOT_ENV = "OPENLINEAGE_PARENT_ID", "OPENLINEAGE_ROOT_PARENT_ID"


def dataset(path: str) -> tuple[str, str]:
    """A lake or landing path as an OpenLineage (namespace, name)."""
    for scheme in ("s3a://", "s3://"):
        if path.startswith(scheme):
            bucket, _, key = path[len(scheme) :].partition("/")
            return f"s3://{bucket}", key
    return "file", os.path.abspath(path.removeprefix("file://"))


def asset_uri(path: str) -> str:
    """The Airflow asset URI of a lake path; the provider turns it into the same dataset."""
    namespace, name = dataset(path)
    return f"file://{name}" if namespace == "file" else f"{namespace}/{name}"


@dataclass(frozen=True)
class RunRef:
    namespace: str
    name: str
    run_id: str

    @classmethod
    def parse(cls, value: str) -> RunRef | None:
        namespace, _, rest = value.partition("/")
        name, _, run_id = rest.rpartition("/")
        return cls(namespace, name, run_id) if namespace and name and run_id else None


def parent_from_env() -> tuple[RunRef | None, RunRef | None]:
    """The run that started this process (an Airflow task) and its root (the DAG run)."""
    parent = RunRef.parse(read(PARENT_ENV))
    return parent, RunRef.parse(read(ROOT_ENV)) or parent


@contextmanager
def parent_run(parent_id: str, root_id: str) -> Iterator[None]:
    """Make ``parent_id`` the parent of the Spark and citylake events started inside."""
    saved = {k: os.environ.get(k) for k in (PARENT_ENV, ROOT_ENV)}
    os.environ[PARENT_ENV], os.environ[ROOT_ENV] = parent_id, root_id
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def spark_conf(settings: Settings, app_name: str) -> dict[str, str]:
    """The listener's settings for a session: transport, namespace and parent run."""
    if not settings.lineage:
        return {}
    conf = {
        "spark.extraListeners": "io.openlineage.spark.agent.OpenLineageSparkListener",
        "spark.openlineage.namespace": NAMESPACE,
        # the serialized plan is large and says nothing the datasets do not
        "spark.openlineage.facets.disabled": "[spark_unknown;spark.logicalPlan]",
        "spark.redaction.regex": "(?i)secret|password|token|access[.]?key|apikey",
    }
    url = read("OPENLINEAGE_URL").strip()
    if url:
        conf["spark.openlineage.transport.type"] = "http"
        conf["spark.openlineage.transport.url"] = url
        conf["spark.openlineage.transport.endpoint"] = read("OPENLINEAGE_ENDPOINT")
        if read("OPENLINEAGE_API_KEY"):
            conf["spark.openlineage.transport.auth.type"] = "api_key"
            conf["spark.openlineage.transport.auth.apiKey"] = read("OPENLINEAGE_API_KEY")
    else:
        os.makedirs(settings.lineage_path, exist_ok=True)
        conf["spark.openlineage.transport.type"] = "file"
        conf["spark.openlineage.transport.location"] = _file(settings, f"spark-{app_name}")
    parent, root = parent_from_env()
    if parent:
        conf["spark.openlineage.parentJobNamespace"] = parent.namespace
        conf["spark.openlineage.parentJobName"] = parent.name
        conf["spark.openlineage.parentRunId"] = parent.run_id
    if root:
        conf["spark.openlineage.rootParentJobNamespace"] = root.namespace
        conf["spark.openlineage.rootParentJobName"] = root.name
        conf["spark.openlineage.rootParentRunId"] = root.run_id
    return conf


def airflow_env(settings: Settings) -> dict[str, str]:
    """The provider's settings for Airflow processes (`make airflow`, tests): file or HTTP."""
    if not settings.lineage:
        return {"AIRFLOW__OPENLINEAGE__DISABLED": "true"}
    # Emit from a thread, not a fork: a task holds a JVM and its threads, and a forked copy of
    # that can hang on a lock it inherited (apache/airflow#47160).
    env = {"AIRFLOW__OPENLINEAGE__NAMESPACE": NAMESPACE, "AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD": "True"}
    if not read("OPENLINEAGE_URL").strip():  # else the client reads OPENLINEAGE_URL
        os.makedirs(settings.lineage_path, exist_ok=True)
        transport = {
            "type": "file",
            "log_file_path": f"{settings.lineage_path}/airflow.jsonl",
            "append": True,
        }
        env["AIRFLOW__OPENLINEAGE__TRANSPORT"] = json.dumps(transport, separators=(",", ":"))
    return env


def destination(settings: Settings) -> str | None:
    """Where this process's events go: the OpenLineage server, or the folder of event files."""
    if not settings.lineage:
        return None
    return read("OPENLINEAGE_URL").strip() or settings.lineage_path


def _file(settings: Settings, producer: str) -> str:
    """One file per process and producer: concurrent writers never share a file."""
    stamp = dt.datetime.now().strftime("%Y%m%dT%H%M%S")
    return f"{settings.lineage_path}/{producer}-{stamp}-{os.getpid()}.jsonl"


def read_events(directory: str) -> list[dict[str, Any]]:
    """Every event the file transports wrote under ``directory``."""
    events = []
    for name in sorted(os.listdir(directory)) if os.path.isdir(directory) else []:
        if name.endswith(".jsonl"):
            with open(os.path.join(directory, name), encoding="utf-8") as fh:
                for n, line in enumerate(fh, 1):
                    if not line.strip():
                        continue
                    try:
                        events.append(json.loads(line))
                    except json.JSONDecodeError:  # a process killed mid-write leaves half a line
                        log.warning("%s line %d: not a whole event, skipped", name, n)
    return events


class Emitter:
    """citylake's own run events for one run: the run's job, and a job per step and table."""

    def __init__(self, settings: Settings, kind: str, run_id: str, date: dt.date) -> None:
        self.settings, self.date = settings, date
        self.job = f"{NAMESPACE}.{kind}"
        self.run = RunRef(NAMESPACE, self.job, str(uuid.uuid5(uuid.NAMESPACE_URL, f"citylake:{run_id}")))
        self.parent, self.root = parent_from_env()

    def start(self) -> None:
        self._send("START", self.run, self._parents(self.parent, self.root), [], [])

    def finish(self, error: BaseException | None = None) -> None:
        facets = self._parents(self.parent, self.root)
        if error is not None:
            facets["errorMessage"] = {**_facet("ErrorMessageRunFacet"), "message": str(error)[:2000],
                                      "programmingLanguage": "python"}  # fmt: skip
        self._send("FAIL" if error else "COMPLETE", self.run, facets, [], [])

    def step(self, name: str, started: dt.datetime, inputs: list[dict[str, Any]],
             outputs: list[dict[str, Any]], error: str | None = None) -> None:  # fmt: skip
        """START and COMPLETE (or FAIL) of one step's job; the run is its parent."""
        job = f"{self.job.rsplit('.', 1)[0]}.{name}"
        ref = RunRef(NAMESPACE, job, str(uuid.uuid5(uuid.UUID(self.run.run_id), job)))
        facets = self._parents(self.run, self.root or self.run)
        self._send("START", ref, facets, inputs, [], started)
        if error:
            facets = {**facets, "errorMessage": {**_facet("ErrorMessageRunFacet"), "message": error[:2000],
                                                 "programmingLanguage": "python"}}  # fmt: skip
        self._send("FAIL" if error else "COMPLETE", ref, facets, inputs, outputs)

    def _parents(self, parent: RunRef | None, root: RunRef | None) -> dict[str, Any]:
        facets: dict[str, Any] = {
            "nominalTime": {**_facet("NominalTimeRunFacet"),
                            "nominalStartTime": f"{self.date.isoformat()}T00:00:00+08:00"},
        }  # fmt: skip
        if parent is None:
            return facets
        facet = {**_facet("ParentRunFacet"), "run": {"runId": parent.run_id},
                 "job": {"namespace": parent.namespace, "name": parent.name}}  # fmt: skip
        if root is not None:
            facet["root"] = {
                "run": {"runId": root.run_id},
                "job": {"namespace": root.namespace, "name": root.name},
            }
        return {**facets, "parent": facet}

    def _send(self, kind: str, ref: RunRef, run_facets: dict[str, Any], inputs: list[dict[str, Any]],
              outputs: list[dict[str, Any]], at: dt.datetime | None = None) -> None:  # fmt: skip
        if not self.settings.lineage:
            return
        event = {
            "eventType": kind,
            "eventTime": (at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).isoformat(),
            "run": {"runId": ref.run_id, "facets": run_facets},
            "job": {"namespace": ref.namespace, "name": ref.name, "facets": {"jobType": {
                **_facet("JobTypeJobFacet"), "processingType": "BATCH", "integration": "CITYLAKE",
                "jobType": "JOB" if ref is not self.run else "RUN"}}},
            "inputs": inputs,
            "outputs": outputs,
            "producer": PRODUCER,
            "schemaURL": SCHEMA_URL,
        }  # fmt: skip
        try:
            self._transport_emit(event)
        except Exception as exc:  # lineage observes the run; it never stops it
            log.warning("OpenLineage event not sent: %s", exc)

    def _transport_emit(self, event: dict[str, Any]) -> None:
        _client(self.settings).transport.emit(event)  # the client's serializer takes plain dicts


_CLIENTS: dict[str, Any] = {}


def _client(settings: Settings) -> Any:
    """One client per process and destination (one events file per process)."""
    from openlineage.client import OpenLineageClient

    url = read("OPENLINEAGE_URL").strip()
    key = url or settings.lineage_path
    if key not in _CLIENTS:
        if url:
            _CLIENTS[key] = OpenLineageClient()  # HTTP, from OPENLINEAGE_URL and OPENLINEAGE_API_KEY
        else:
            from openlineage.client.transport.file import FileConfig, FileTransport

            os.makedirs(settings.lineage_path, exist_ok=True)
            config = FileConfig(log_file_path=_file(settings, "citylake"), append=True)
            _CLIENTS[key] = OpenLineageClient(transport=FileTransport(config))
    return _CLIENTS[key]


# the facet versions of the spec in ../shared/openlineage-spec (their $id)
FACET_VERSIONS = {"ParentRunFacet": "1-2-0", "NominalTimeRunFacet": "1-0-1", "JobTypeJobFacet": "2-0-4",
                  "ErrorMessageRunFacet": "1-0-1", "DatasetVersionDatasetFacet": "1-0-1",
                  "OutputStatisticsOutputDatasetFacet": "1-0-2"}  # fmt: skip


def _facet(name: str) -> dict[str, str]:
    return {"_producer": PRODUCER,
            "_schemaURL": f"https://openlineage.io/spec/facets/{FACET_VERSIONS[name]}/{name}.json#/$defs/{name}"}  # fmt: skip


def input_ds(path: str, version: int | None = None) -> dict[str, Any]:
    namespace, name = dataset(path)
    facets = {} if version is None else {"version": {**_facet("DatasetVersionDatasetFacet"),
                                                     "datasetVersion": str(version)}}  # fmt: skip
    return {"namespace": namespace, "name": name, "facets": facets}


def output_ds(path: str, version: int | None = None, rows: int | None = None) -> dict[str, Any]:
    out = input_ds(path, version)
    if rows is not None:
        out["outputFacets"] = {
            "outputStatistics": {**_facet("OutputStatisticsOutputDatasetFacet"), "rowCount": rows}
        }
    return out


def unique(datasets: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for d in datasets:
        seen.setdefault((d["namespace"], d["name"]), d)
    return list(seen.values())


def emit_bronze(em: Emitter, lake: Any, bronze: Any, started: dt.datetime) -> None:
    """``citylake.bronze.<contract>``: the landing files a run read, into bronze and quarantine."""
    by_contract: dict[str, list[Any]] = {}
    for f in bronze.files:
        if f.contract and f.status not in ("skipped", "waiting"):  # an earlier run loaded it; not read yet
            by_contract.setdefault(f.contract, []).append(f)
    for contract, files in sorted(by_contract.items()):
        loaded = [f for f in files if f.bronze_version is not None]
        outputs = [output_ds(lake.table("bronze", contract), max(f.bronze_version for f in loaded),
                             sum(f.rows_bronze for f in loaded))] if loaded else []  # fmt: skip
        if quarantined := sum(f.rows_quarantined for f in files):
            outputs.append(output_ds(lake.table("quarantine", "bronze_records"), rows=quarantined))
        if rejected := sum(f.status == "rejected" for f in files):
            outputs.append(output_ds(lake.table("quarantine", "rejected_files"), rows=rejected))
        failed = [f"{f.file}: {f.reason}" for f in files if f.status == "failed"]
        em.step(f"bronze.{contract}", started, [input_ds(f"{lake.zone('landing')}/{f.file}") for f in files],
                outputs, "; ".join(failed) or None)  # fmt: skip


def emit_publications(
    em: Emitter, lake: Any, registry: Any, publications: list[Any], started: dt.datetime
) -> None:
    """``citylake.silver.<contract>``, ``citylake.gold.<mart>`` and ``citylake.publish.<mart>``:
    what each table was built from, and the gold version each export serves."""
    for p in publications:
        if p.status not in ("published", "failed"):  # empty or unchanged: nothing written
            continue
        zone, name = p.dataset.split(".", 1)
        if zone == "silver":
            inputs = [input_ds(lake.table("bronze", name))]
        else:
            refs = [i.split(".", 1) for i in registry.marts[name].inputs if not i.startswith("registry.")]
            inputs = [input_ds(lake.table(z, n)) for z, n in refs]
        outputs = [output_ds(p.path, p.delta_version, p.rows)] if p.status == "published" else []
        em.step(f"{zone}.{name}", started, inputs, outputs, p.reason if p.status == "failed" else None)
        if p.status == "published" and p.published_path:  # the Parquet export readers without Delta take
            em.step(f"publish.{name}", started, [input_ds(p.path, p.delta_version)],
                    [output_ds(f"{lake.zone('published')}/{name}", p.delta_version)])  # fmt: skip


if __name__ == "__main__":  # `make airflow`: the provider's settings as KEY=VALUE words for env(1)
    from citylake.config.settings import load_settings

    print(" ".join(f"{k}={v}" for k, v in airflow_env(load_settings()).items()))
