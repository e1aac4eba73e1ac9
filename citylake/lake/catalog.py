"""The Spark catalog over the lake: one database per zone, one table per Delta directory.

The lake is the source of truth; the catalog is rebuilt from it in each session (cheaply: one
CREATE TABLE ... LOCATION per table), so `SELECT * FROM bronze.<table>` works in `citylake query`
without a metastore service. On AWS the Glue catalog plays this part (infra/terraform).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from citylake.engine.storage import Store, store_for
from citylake.lake import TABLE_ZONES, Lake

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

DATABASE = {
    "bronze": "bronze",
    "silver": "silver",
    "gold": "gold",
    "quarantine": "quarantine",
    "_system": "ops",
}


@dataclass(frozen=True)
class TableRef:
    zone: str
    name: str
    path: str

    @property
    def qualified(self) -> str:
        return f"{DATABASE[self.zone]}.{self.name}"


def lake_tables(lake: Lake, store: Store | None = None) -> list[TableRef]:
    store = store or store_for(lake.root)
    out = []
    for zone in TABLE_ZONES:
        base = lake.zone(zone)
        for name in store.list_dirs(base):
            if store.list_dirs(f"{base}/{name}").count("_delta_log"):
                out.append(TableRef(zone, name, f"{base}/{name}"))
    return out


def register_all(spark: SparkSession, lake: Lake) -> list[TableRef]:
    return register(spark, lake_tables(lake))


def named_in(sql: str, tables: list[TableRef]) -> list[TableRef]:
    """The tables ``sql`` names as ``<database>.<table>``; all of them when it names a database
    any other way (``SHOW TABLES IN silver``), so such a statement still sees every table.
    Registering a table reads its log, about 0.2 s each: a query pays only for its own."""
    dbs = "|".join(sorted(set(DATABASE.values())))
    qualified = re.findall(rf"(?<![\w.])`?({dbs})`?\s*\.\s*`?(\w+)`?", sql, flags=re.IGNORECASE)
    if len(qualified) != len(re.findall(rf"(?<![\w.])`?({dbs})\b", sql, flags=re.IGNORECASE)):
        return tables
    wanted = {(db.lower(), name.lower()) for db, name in qualified}
    return [t for t in tables if (DATABASE[t.zone], t.name.lower()) in wanted]


def register(spark: SparkSession, tables: list[TableRef]) -> list[TableRef]:
    for db in sorted({DATABASE[t.zone] for t in tables}):
        spark.sql(f"CREATE DATABASE IF NOT EXISTS {db}")
    for t in tables:
        spark.sql(f"CREATE TABLE IF NOT EXISTS {t.qualified} USING DELTA LOCATION '{t.path}'")
    return tables


def describe(tables: list[TableRef]) -> list[dict[str, Any]]:
    """`citylake catalog --json`: name, layer, path, format, version, row count and when the
    newest version was committed (the lake's time zone, with its offset) per table.

    Read from each table's log with delta-rs: the version is the newest commit, and the rows
    are the sum of its files' record counts (every writer here records them), so no JVM runs.
    """
    import datetime as dt

    import pyarrow as pa
    from deltalake import DeltaTable

    from citylake.engine import delta_log
    from citylake.engine.clock import lake_time
    from citylake.engine.storage import delta_rs_location

    out = []
    for t in tables:
        uri, options = delta_rs_location(t.path)
        table = DeltaTable(uri, storage_options=options)
        adds = pa.table(table.get_add_actions(flatten=True))
        stamp = (table.history(1) or [{}])[0].get("timestamp")
        rows = sum(n or 0 for n in adds.column("num_records").to_pylist()) if adds.num_rows else 0
        out.append(
            {
                "name": t.qualified,
                "layer": t.zone.lstrip("_"),
                "path": t.path,
                "format": "delta",
                "version": delta_log.latest_version(t.path),
                "rows": int(rows),
                "updated_at": lake_time(dt.datetime.fromtimestamp(stamp / 1000, dt.UTC)) if stamp else None,
            }
        )
    return out
