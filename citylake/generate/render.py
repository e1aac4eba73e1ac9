"""A file's bytes in its feed's format, encoding and compression, malformed records included."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
from typing import Any

from citylake.config.registry import Feed, FeedContract


def _fmt_value(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)
    return str(v)


def _numeric_positions(contract: FeedContract) -> list[int]:
    return [i for i, c in enumerate(contract.columns) if c.type in ("int", "long", "double")]


def _header(feed: Feed) -> list[str]:
    if feed.spec.header_language == "zh":
        return [c.aliases[0] if c.aliases else c.name for c in feed.contract.columns]
    return [c.name for c in feed.contract.columns]


def _csv_bytes(feed: Feed, rows: list[list[Any]], malformed: dict[int, str]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=feed.spec.delimiter, lineterminator="\n")
    w.writerow(_header(feed))
    numeric = _numeric_positions(feed.contract)
    for i, row in enumerate(rows):
        cells = [_fmt_value(v) for v in row]
        kind = malformed.get(i)
        if kind == "extra_field":
            cells.append("EXTRA")
        elif kind == "missing_field":
            cells = cells[:-1]
        elif kind == "bad_number":
            cells[numeric[i % len(numeric)]] = "12..5#"
        w.writerow(cells)
    text = buf.getvalue()
    encoding = feed.spec.encoding
    return text.encode(encoding)  # utf-8-sig writes the BOM some Excel exports carry


def _jsonl_bytes(feed: Feed, rows: list[list[Any]], malformed: dict[int, str]) -> bytes:
    names = [c.name for c in feed.contract.columns]
    numeric = _numeric_positions(feed.contract)
    lines = []
    for i, row in enumerate(rows):
        rec = dict(zip(names, row, strict=True))
        kind = malformed.get(i)
        if kind == "bad_number":
            rec[names[numeric[i % len(numeric)]]] = "12..5#"
        line = json.dumps(rec, ensure_ascii=False)
        if kind == "broken_json":
            line = line[: len(line) // 2]
        lines.append(line)
    return ("\n".join(lines) + "\n").encode("utf-8")


def _parquet_bytes(feed: Feed, rows: list[list[Any]]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrow_types = {
        "string": pa.string(),
        "int": pa.int32(),
        "long": pa.int64(),
        "double": pa.float64(),
        "boolean": pa.bool_(),
        "date": pa.date32(),
        "timestamp": pa.timestamp("us", tz="Asia/Shanghai"),
    }
    cols = {}
    for j, c in enumerate(feed.contract.columns):
        values = [r[j] for r in rows]
        if c.type == "timestamp":
            values = [
                dt.datetime.strptime(v, "%Y-%m-%d %H:%M:%S").replace(tzinfo=SHANGHAI) if v else None
                for v in values
            ]
        elif c.type == "date":
            values = [dt.date.fromisoformat(v) if v else None for v in values]
        cols[c.name] = pa.array(values, type=arrow_types[c.type])
    buf = io.BytesIO()
    pq.write_table(pa.table(cols), buf)
    return buf.getvalue()


SHANGHAI = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")


def render(feed: Feed, rows: list[list[Any]], malformed: dict[int, str]) -> bytes:
    fmt = feed.spec.format
    if fmt == "csv":
        data = _csv_bytes(feed, rows, malformed)
    elif fmt == "jsonl":
        data = _jsonl_bytes(feed, rows, malformed)
    else:
        data = _parquet_bytes(feed, rows)
    if feed.spec.compression == "gzip":
        data = gzip.compress(data, compresslevel=6, mtime=0)  # mtime=0 keeps bytes deterministic
    return data
