"""The published layout as readers meet it: files per mart, and what one district-month reads."""

from __future__ import annotations

import datetime as dt
import json
import statistics
from pathlib import Path
from typing import Any

from citylake.config.registry import Registry
from citylake.lake import Lake

FEATURES = "ai_district_hourly_features"
DISTRICT = "310115"  # Pudong, the largest district


def _files(lake: Lake, mart: str) -> tuple[dict[str, Any], list[Path]] | None:
    base = Path(lake.zone("published")) / mart
    manifest_path = base / "_manifest.json"
    if not manifest_path.exists():
        return None
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    return manifest, [base / f["path"] for f in manifest["files"]]


def skip_fraction(files: list[Path], district: str, month: dt.date) -> dict[str, Any]:
    """Files pyarrow leaves unread for ``district_code == district`` and ``date`` in ``month``
    (Parquet row-group statistics, no partitioning), and the rows it returns."""
    import pyarrow.dataset as ds

    start = month.replace(day=1)
    end = (start + dt.timedelta(days=32)).replace(day=1)
    dataset = ds.dataset([str(f) for f in files], format="parquet")
    flt = (ds.field("district_code") == district) & (ds.field("date") >= start) & (ds.field("date") < end)
    read = sum(
        1 for frag in dataset.get_fragments() if frag.split_by_row_group(filter=flt, schema=dataset.schema)
    )
    rows = dataset.to_table(filter=flt).num_rows
    return {
        "files": len(files),
        "files_read": read,
        "rows": rows,
        "skip_fraction": round(1 - read / len(files), 3),
    }


def skip_fraction_gold(lake: Lake, district: str, month: dt.date) -> dict[str, Any]:
    """The same filter on the gold Delta table, by delta-rs file statistics (no partition on district)."""
    import pyarrow as pa
    from deltalake import DeltaTable

    start = month.replace(day=1)
    end = (start + dt.timedelta(days=32)).replace(day=1)
    table = DeltaTable(lake.table("gold", FEATURES))
    adds = pa.table(table.get_add_actions(flatten=True)).to_pylist()

    def may_match(a: dict[str, Any]) -> bool:
        lo_d, hi_d = a.get("min.district_code"), a.get("max.district_code")
        lo_t, hi_t = a.get("min.date"), a.get("max.date")
        if lo_d is not None and hi_d is not None and not lo_d <= district <= hi_d:
            return False
        return not (lo_t is not None and hi_t is not None and (hi_t < start or lo_t >= end))

    read = sum(1 for a in adds if may_match(a))
    return {
        "files": len(adds),
        "files_read": read,
        "skip_fraction": round(1 - read / len(adds), 3) if adds else 0.0,
    }


def measure(lake: Lake, registry: Registry, day: dt.date) -> dict[str, Any]:
    marts: dict[str, Any] = {}
    for mart in sorted(registry.marts):
        found = _files(lake, mart)
        if found is None:
            marts[mart] = {"published": False}
            continue
        manifest, files = found
        sizes = [f.stat().st_size for f in files]
        marts[mart] = {
            "published": True,
            "rows": manifest["row_count"],
            "files": len(files),
            "median_file_bytes": int(statistics.median(sizes)) if sizes else 0,
            "total_bytes": sum(sizes),
        }
    out: dict[str, Any] = {"marts": marts, "district": DISTRICT, "month": day.strftime("%Y-%m")}
    found = _files(lake, FEATURES)
    if found is not None:
        out["published_read"] = skip_fraction(found[1], DISTRICT, day)
        out["gold_read"] = skip_fraction_gold(lake, DISTRICT, day)
        out["skip_fraction"] = out["published_read"]["skip_fraction"]
    return out
