"""Write-audit-publish: staging, the publication record, and JVM-free Parquet snapshots.

A silver, gold or published dataset only changes after its suite passed on the candidate:
- the caller validates the candidate DataFrame it holds (cached), then commits (MERGE or
  replaceWhere) or not;
- ``stage`` writes a refused candidate to ``_system/staging/<layer>/<dataset>``, so an engineer
  can look at exactly what was refused (a candidate that passes is published straight away:
  writing it to staging first would cost a commit per dataset on every run);
- ``record`` appends one row per dataset and run to ``_system/publications``: status, reason,
  the Delta version that is current afterwards and the validation run it passed;
- ``snapshot`` copies a gold version's data files to ``published/<mart>/v<version>/`` and then
  replaces ``published/<mart>/_manifest.json``, the one file readers start from. A failed gate never gets
  here, so the manifest keeps pointing at the last good snapshot.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from citylake.engine import fence
from citylake.engine.storage import delta_rs_location, store_for
from citylake.lake import PUBLICATIONS, Lake, ledger

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

MANIFEST = "_manifest.json"
KEEP_SNAPSHOTS = 3  # readers holding an older manifest can finish; older snapshots are removed


@dataclass
class Publication:
    layer: str
    dataset: str
    status: str  # published | failed | empty | unchanged
    reason: str | None
    rows: int
    delta_version: int | None  # current after this run (unchanged when the gate failed)
    previous_version: int | None
    validation_id: str | None
    path: str
    batch_ids: list[str] = field(default_factory=list)
    published_path: str | None = None

    @classmethod
    def refused(
        cls,
        spark: SparkSession,
        layer: str,
        dataset: str,
        path: str,
        reason: str,
        batch_ids: list[str] | None = None,
    ) -> Publication:
        """A dataset whose job failed before its gate: readers keep the current version."""
        from citylake.engine.delta_log import latest_version

        current = latest_version(path)
        return cls(layer, dataset, "failed", reason[:500], 0, current, current, None, path, batch_ids or [])

    def json(self) -> dict[str, Any]:
        fields = ("dataset", "status", "rows", "delta_version", "validation_id", "reason")
        return ledger.record_of(self, fields, frozenset({"reason"}))


def staging_path(lake: Lake, layer: str, name: str) -> str:
    return lake.table("_system", f"staging/{layer}/{name}")


def stage(df: DataFrame, lake: Lake, layer: str, name: str) -> str:
    """Write the candidate (overwriting the previous candidate) and return where it is."""
    path = staging_path(lake, layer, name)
    fence.check(f"staging {path}")
    df.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(path)
    return path


def record(spark: SparkSession, lake: Lake, pubs: list[Publication], run_id: str, date: dt.date) -> None:
    now = dt.datetime.now()
    rows = [
        {
            "run_id": run_id,
            "logical_date": date,
            "layer": p.layer,
            "dataset": p.dataset,
            "status": p.status,
            "reason": p.reason,
            "rows": p.rows,
            "delta_version": p.delta_version,
            "previous_version": p.previous_version,
            "validation_id": p.validation_id,
            "published_path": p.published_path,
            "recorded_at": now,
        }
        for p in pubs
    ]
    ledger.append_rows(lake, "_system", PUBLICATIONS, rows, txn_app_id=f"publications:{run_id}")


def snapshot(
    lake: Lake,
    mart: str,
    gold_path: str,
    version: int,
    validation_id: str | None,
    run_id: str,
    grain: str,
    schema: StructType,
) -> str:
    """Copy gold ``version``'s data files to a snapshot and point the manifest at it; returns
    the manifest path.

    Gold's files are already Parquet in the mart's layout (written by ``arrange``, rewritten by
    ``compact``), so a publication is a copy, not a Spark export of the whole version: no JVM
    work, and the bytes readers get are the bytes gold validated. The files come from the
    version's log (delta-rs), never from listing the table's folder, which also holds files
    of other versions.
    """
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq
    from deltalake import DeltaTable

    store = store_for(lake.root)
    base = f"{lake.zone('published')}/{mart}"
    target = f"{base}/v{version:06d}"
    uri, options = delta_rs_location(gold_path)
    adds = pa.table(DeltaTable(uri, version=version, storage_options=options).get_add_actions(flatten=True))
    files, rows = [], 0
    for rel in sorted(unquote(p) for p in adds.column("path").to_pylist()):
        name = rel.rsplit("/", 1)[-1]
        data = store.read_bytes(f"{gold_path}/{rel}")
        rows += pq.ParquetFile(io.BytesIO(data)).metadata.num_rows
        fence.check(f"copying {target}/{name}")
        store.write_bytes(f"{target}/{name}", data)
        files.append({"path": f"v{version:06d}/{name}", "bytes": len(data),
                      "sha256": hashlib.sha256(data).hexdigest()})  # fmt: skip
    manifest = {
        "mart": mart,
        "grain": grain,
        "delta_version": version,
        "gold_path": gold_path,
        "validation_id": validation_id,
        "run_id": run_id,
        "published_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "row_count": rows,
        "schema": [
            {"name": f.name, "type": f.dataType.simpleString(), "nullable": f.nullable}
            for f in schema.fields
        ],  # fmt: skip
        "files": files,
    }
    # The manifest is written last and in one PUT/rename: readers see the old or the new snapshot.
    fence.check(f"the manifest of {base}")
    store.write_bytes(
        f"{base}/{MANIFEST}", (json.dumps(manifest, indent=1, ensure_ascii=False) + "\n").encode()
    )
    _prune(store, base, version)
    return f"{base}/{MANIFEST}"


def _prune(store: Any, base: str, current: int) -> None:
    versions = sorted(int(d[1:]) for d in store.list_dirs(base) if d[:1] == "v" and d[1:].isdigit())
    for v in versions[:-KEEP_SNAPSHOTS]:
        if v != current:
            store.delete_prefix(f"{base}/v{v:06d}")
