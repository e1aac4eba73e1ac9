"""`citylake subject locate`: every place each subject's data lives, with row or record counts.

Tables: every Delta table of every zone (the restricted store too), current version, by
citylake.privacy.tables' rule. Files: every other object under the lake root
(citylake.privacy.files). Nothing here prints or stores a value: places are named by table or
path, subjects by their line in the subjects file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from citylake.config.registry import Registry
from citylake.engine.storage import store_for
from citylake.lake import Lake
from citylake.lake.catalog import TableRef, lake_tables
from citylake.lake.subjects import Subject
from citylake.privacy import files, tables

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

RESTRICTED = "restricted"


def all_tables(lake: Lake) -> list[TableRef]:
    """The catalog's tables and the restricted store's (which the catalog never registers)."""
    out = lake_tables(lake)
    store = store_for(lake.root)
    try:
        base = lake.zone(RESTRICTED)
    except ValueError:  # a lake layout without the restricted zone
        return out
    for name in store.list_dirs(base):
        if "_delta_log" in store.list_dirs(f"{base}/{name}"):
            out.append(TableRef(RESTRICTED, name, f"{base}/{name}"))
    return out


def qualified(t: TableRef) -> str:
    return f"restricted.{t.name}" if t.zone == RESTRICTED else t.qualified


@dataclass
class Found:
    tables: list[tables.TableHit]
    files: list[files.FileHit]
    scanned_tables: int

    def json(self, subjects: list[Subject]) -> dict[str, Any]:
        per: dict[int, dict[str, Any]] = {
            s.number: {"subject": s.number, "tables": [], "files": []} for s in subjects
        }
        for h in self.tables:
            per[h.subject]["tables"].append(
                {"table": qualified(h.table), "zone": h.table.zone, "rows": h.rows}
            )
        for f in self.files:
            per[f.subject]["files"].append(
                {
                    "path": f.rel,
                    "kind": "raw" if f.raw else "text",
                    "records" if f.raw else "occurrences": f.count,
                    "bytes": f.size,
                }  # fmt: skip
            )
        for p in per.values():
            p["rows"] = sum(t["rows"] for t in p["tables"])
            p["places"] = len(p["tables"]) + len(p["files"])
        return {"tables_scanned": self.scanned_tables, "subjects": list(per.values())}

    def text(self, subjects: list[Subject]) -> str:
        lines = []
        for p in self.json(subjects)["subjects"]:
            lines.append(f"subject {p['subject']}: {p['places']} place(s), {p['rows']} table row(s)")
            lines += [f"  table {t['table']}: {t['rows']} row(s)" for t in p["tables"]]
            for f in p["files"]:
                n = f.get("records", f.get("occurrences"))
                lines.append(
                    f"  file  {f['path']}: {n} {'record(s)' if f['kind'] == 'raw' else 'occurrence(s)'}"
                )
        return "\n".join(lines)


def locate(spark: SparkSession, lake: Lake, registry: Registry, subjects: list[Subject], key: bytes) -> Found:
    refs = all_tables(lake)
    table_hits = tables.count_rows(spark, refs, tables.register_finder(spark, subjects, key))
    file_hits = files.scan(lake, registry, subjects, key, refs)
    return Found(table_hits, file_hits, len(refs))
