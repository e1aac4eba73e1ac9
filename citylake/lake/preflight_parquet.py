"""Preflight's Parquet check: the footer against the contract (names, types, row count), read
from the end of the file without its data. Reasons follow preflight_formats' rule: no values."""

from __future__ import annotations

from citylake.config.registry import Feed
from citylake.lake.preflight_formats import Checked, map_names
from citylake.lake.preflight_stream import Limits, Rejected, human

# the Arrow types a Parquet writer may use for each contract type
ARROW_COMPATIBLE = {
    "string": ("string", "large_string"),
    "int": ("int8", "int16", "int32", "uint8", "uint16"),
    "long": ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32"),
    "double": ("float", "double", "halffloat", "float32", "float64", "float16"),
    "boolean": ("bool",),
    "date": ("date32[day]", "date32", "date64"),
    "timestamp": ("timestamp",),
}


def check_parquet(feed: Feed, path: str, limits: Limits) -> Checked:
    """The footer only (schema, row groups): pyarrow reads it from the end of the file."""
    import pyarrow.parquet as pq

    contract = feed.contract
    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several types for a bad footer
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise Rejected(f"not a readable Parquet file: {first}") from None
    try:
        meta, schema = pf.metadata, pf.schema_arrow
        groups = [meta.row_group(i) for i in range(meta.num_row_groups)]
        size = sum(g.total_byte_size for g in groups)
        if size > limits.max_decompressed_bytes:
            raise Rejected(
                f"row groups hold {human(size)} uncompressed, more than {limits.name('max_decompressed_bytes')}"
            )
        if sum(g.num_rows for g in groups) != meta.num_rows or meta.num_rows < 0:
            raise Rejected("the footer is inconsistent: its row count is not the sum of its row groups'")
        mapped, err = map_names(list(schema.names), contract, "fields", "their names are")
        if err:
            raise Rejected(err)
        wrong = []
        for source, canonical in mapped:
            want = contract.by_name[canonical].type
            got = str(schema.field(source).type)
            if not any(got == t or got.startswith(t + "[") for t in ARROW_COMPATIBLE[want]):
                wrong.append(f"field '{source}': expected {want}, found {got}")
        if wrong:
            raise Rejected("wrong types: " + "; ".join(wrong))
        if meta.num_rows == 0:
            # one rule for every format: a delivery without records is set aside, never "loaded"
            raise Rejected("no records: the Parquet file has a schema but 0 rows")
        return Checked(meta.num_rows, mapped)
    finally:
        pf.close()
