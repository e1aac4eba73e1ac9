"""After `citylake demo`: every mart in gold and published, readable without a JVM, and no clear PII.

The readers AI teams use (pyarrow, delta-rs through the `deltalake` package, DuckDB) must see
exactly the rows Spark sees; the PII scan reads every string column of silver, gold and the
published snapshots for resident-ID and mobile-number patterns.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

# Boundaries exclude letters and digits, so a 64-hex hash that happens to hold 11 digits in a row
# is not a phone number.
RESIDENT_ID = (
    r"(^|[^0-9A-Za-z])[1-9][0-9]{5}(18|19|20)[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9Xx]"
    r"([^0-9A-Za-z]|$)"
)
RESIDENT_ID_15 = (
    r"(^|[^0-9A-Za-z])[1-9][0-9]{5}[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])[0-9]{3}([^0-9A-Za-z]|$)"
)
MOBILE = r"(^|[^0-9A-Za-z])1[3-9][0-9]{9}([^0-9A-Za-z]|$)"
PATTERNS = {"resident_id": RESIDENT_ID, "resident_id_15": RESIDENT_ID_15, "mobile": MOBILE}


def _canon(value: Any) -> Any:
    """One comparable form across readers: instants as epoch microseconds, dates as ISO."""
    if isinstance(value, dt.datetime):
        # Spark hands back naive local time, pyarrow and DuckDB aware UTC: both are instants
        return round(value.timestamp() * 1_000_000)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _rows(records: list[dict[str, Any]], columns: list[str]) -> list[tuple]:
    return sorted((tuple(_canon(r[c]) for c in columns) for r in records), key=repr)


def _manifest(root: Path, mart: str) -> dict[str, Any]:
    return json.loads((root / "published" / mart / "_manifest.json").read_text())


def test_every_mart_is_in_gold_and_published_with_a_matching_manifest(demo_lake, registry):
    import pyarrow.parquet as pq
    from deltalake import DeltaTable

    root, _ = demo_lake
    assert {"dt_city_objects", "dt_object_state_hourly", "ai_district_hourly_features"} <= set(registry.marts)
    for mart, doc in registry.marts.items():
        gold = DeltaTable(str(root / "gold" / mart))
        m = _manifest(root, mart)
        assert m["delta_version"] == gold.version() and m["mart"] == mart and m["grain"] == doc.grain
        assert m["validation_id"] and m["files"]
        assert [c["name"] for c in m["schema"]] == [c.name for c in doc.columns]
        rows = 0
        for f in m["files"]:
            data = (root / "published" / mart / f["path"]).read_bytes()
            assert (len(data), hashlib.sha256(data).hexdigest()) == (f["bytes"], f["sha256"]), f["path"]
            rows += pq.ParquetFile(root / "published" / mart / f["path"]).metadata.num_rows
        assert rows == m["row_count"] == gold.to_pyarrow_table().num_rows > 0, mart
        # nothing in the snapshot directory that the manifest does not list
        snapshot = {
            p.name for p in (root / "published" / mart / m["files"][0]["path"]).parent.glob("*.parquet")
        }
        assert snapshot == {Path(f["path"]).name for f in m["files"]}


def test_jvm_free_readers_see_the_same_rows_as_spark(demo_lake, registry, spark):
    import duckdb
    import pyarrow.parquet as pq
    from deltalake import DeltaTable

    root, _ = demo_lake
    for mart, doc in registry.marts.items():
        m = _manifest(root, mart)
        cols = [c.name for c in doc.columns]
        spark_rows = _rows(
            [
                r.asDict()
                for r in spark.read.format("delta")
                .option("versionAsOf", m["delta_version"])
                .load(str(root / "gold" / mart))
                .collect()
            ],
            cols,
        )
        files = [str(root / "published" / mart / f["path"]) for f in m["files"]]
        arrow = pq.ParquetDataset(files).read().to_pylist()
        assert _rows(arrow, cols) == spark_rows, f"pyarrow on published/{mart}"
        delta_rs = (
            DeltaTable(str(root / "gold" / mart), version=m["delta_version"]).to_pyarrow_table().to_pylist()
        )
        assert _rows(delta_rs, cols) == spark_rows, f"delta-rs on gold/{mart}"
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        rel = con.sql(f"SELECT {', '.join(cols)} FROM read_parquet({files!r})")
        ducks = [dict(zip(cols, r, strict=True)) for r in rel.fetchall()]
        assert _rows(ducks, cols) == spark_rows, f"DuckDB on published/{mart}"


def test_ai_features_skip_other_districts_files(demo_lake, registry):
    import pyarrow.dataset as ds

    root, _ = demo_lake
    m = _manifest(root, "ai_district_hourly_features")
    files = [str(root / "published" / "ai_district_hourly_features" / f["path"]) for f in m["files"]]
    dataset = ds.dataset(files, format="parquet")
    district = ds.field("district_code") == "310115"
    # files whose Parquet statistics admit the filter: the only ones a reader opens
    read = [f.path for f in dataset.get_fragments() if f.subset(filter=district).num_row_groups]
    # one file group per district: a district filter reads its own file only
    assert len(files) == 16 and len(read) == 1
    table = dataset.to_table(filter=district)
    assert table.num_rows > 0 and set(table.column("district_code").to_pylist()) == {"310115"}


def _scan(table: Any) -> dict[str, int]:
    import pyarrow as pa
    import pyarrow.compute as pc

    hits = {k: 0 for k in PATTERNS}
    for name in table.column_names:
        col = table.column(name)
        if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
            continue
        for kind, pattern in PATTERNS.items():
            hits[kind] += int(pc.sum(pc.match_substring_regex(col, pattern)).as_py() or 0)
    return hits


def test_no_clear_resident_ids_or_mobiles_in_silver_gold_or_published(demo_lake):
    import pyarrow.parquet as pq
    from deltalake import DeltaTable

    root, _ = demo_lake
    # the scanner finds what bronze legitimately holds, so a zero below means something
    bronze = _scan(DeltaTable(str(root / "bronze" / "medical_visits")).to_pyarrow_table())
    assert bronze["resident_id"] > 0 and bronze["resident_id_15"] > 0 and bronze["mobile"] > 0
    scanned = []
    for zone in ("silver", "gold"):
        for table in sorted((root / zone).iterdir()):
            hits = _scan(DeltaTable(str(table)).to_pyarrow_table())
            assert hits == {k: 0 for k in PATTERNS}, f"{zone}.{table.name}: {hits}"
            scanned.append(f"{zone}.{table.name}")
    for parquet in sorted((root / "published").rglob("*.parquet")):
        hits = _scan(pq.read_table(parquet))
        assert hits == {k: 0 for k in PATTERNS}, f"{parquet}: {hits}"
        scanned.append(str(parquet))
    assert len([s for s in scanned if s.startswith("silver.")]) == 16  # admin_divisions among them
    assert re.search(r"gold\.dt_city_objects", " ".join(scanned))
