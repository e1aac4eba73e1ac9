"""An independent brute-force search for data subjects in a local lake, written for the tests
(it shares no code with citylake.privacy): every Delta table read whole with delta-rs, every
delivered file decoded by its extension, every byte of every file searched."""

from __future__ import annotations

import gzip
import hashlib
import hmac
import io
import json
import os
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
from deltalake import DeltaTable


def norm(text: str) -> str:
    return "".join(text.upper().split())


def needles(subjects: list[dict], key: bytes) -> dict[int, list[str]]:
    """subject (1-based line) -> normalised values and upper-case HMACs of them."""
    out = {}
    for i, s in enumerate(subjects, start=1):
        vals = {norm(v) for v in s.values()}
        out[i] = sorted(vals | {hmac.new(key, v.encode(), hashlib.sha256).hexdigest().upper() for v in vals})
    return out


def byte_needles(subjects: list[dict], key: bytes) -> list[bytes]:
    out: set[bytes] = set()
    for s in subjects:
        for v in s.values():
            for form in (v, norm(v)):
                out |= {form.encode("utf-8"), form.encode("gb18030")}
            h = hmac.new(key, norm(v).encode(), hashlib.sha256).hexdigest()
            out |= {h.encode(), h[:32].encode()}
    return sorted(out)


def table_dirs(root: Path) -> list[Path]:
    return sorted(p.parent for p in root.rglob("_delta_log"))


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, list | dict):
        return json.dumps(v, ensure_ascii=False, default=str)
    return str(v)


def table_rows(root: Path, subjects: list[dict], key: bytes) -> dict[tuple[str, int], int]:
    """(zone/table, subject) -> rows of the current version holding any of its needles."""
    ns = needles(subjects, key)
    out: dict[tuple[str, int], int] = {}
    for d in table_dirs(root):
        t = DeltaTable(str(d)).to_pyarrow_table()
        strings = [c for c, f in zip(t.column_names, t.schema, strict=True) if str(f.type) in ("string", "large_string")
                   or str(f.type).startswith(("struct", "list", "map"))]  # fmt: skip
        counts: Counter[int] = Counter()
        for row in t.select(strings).to_pylist():
            text = [norm(_cell(v)) for v in row.values()]
            for s, vals in ns.items():
                if any(v in cell for cell in text for v in vals):
                    counts[s] += 1
        for s, n in counts.items():
            out[(d.relative_to(root).as_posix(), s)] = n
    return out


def _decoded(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("gb18030")


def file_records(root: Path, subjects: list[dict], key: bytes) -> dict[tuple[str, int], int]:
    """(lake-relative path, subject) -> records (lines after a header; Parquet rows) of raw
    deliveries holding its needles."""
    ns = needles(subjects, key)
    out: dict[tuple[str, int], int] = {}
    for zone in ("landing", "bronze/_landed", "quarantine/files"):
        base = root / zone
        for p in sorted(base.rglob("*")) if base.is_dir() else []:
            if not p.is_file():
                continue
            data = p.read_bytes()
            if p.name.endswith(".gz"):
                data = gzip.decompress(data)
            if data[:4] == b"PAR1":
                records = ["\x01".join(_cell(v) for v in r.values()) for r in pq.read_table(io.BytesIO(data)).to_pylist()]
            else:
                lines = _decoded(data).splitlines()
                records = lines if ".jsonl" in p.name else lines[1:]
            for s, vals in ns.items():
                n = sum(1 for r in records if any(v in norm(r) for v in vals))
                if n:
                    out[(p.relative_to(root).as_posix(), s)] = n
    return out


def _parquet_strings(data: bytes) -> list[str]:
    f = pq.ParquetFile(io.BytesIO(data))
    out = [_cell(v) for col in f.read().columns for v in col.to_pylist()]
    meta = f.metadata
    for i in range(meta.num_row_groups):
        for j in range(meta.num_columns):
            st = meta.row_group(i).column(j).statistics
            if st is not None and st.has_min_max:
                out += [_cell(st.min), _cell(st.max)]
    return out


def byte_scan(root: Path, subjects: list[dict], key: bytes) -> tuple[list[str], int, int]:
    """Every file under ``root``: (paths holding any needle, files scanned, bytes scanned). Raw
    bytes, gunzipped bytes, Parquet cells and footer statistics, each also normalised."""
    bn = byte_needles(subjects, key)
    tn = sorted({v for vals in needles(subjects, key).values() for v in vals} | {n[:32] for vals in needles(subjects, key).values()
                 for n in vals if len(n) == 64})  # fmt: skip
    hits, files, size = [], 0, 0
    for dirpath, _, names in os.walk(root):
        for name in names:
            p = Path(dirpath) / name
            data = p.read_bytes()
            files, size = files + 1, size + len(data)
            blobs = [data]
            if data[:2] == b"\x1f\x8b":
                blobs.append(gzip.decompress(data))
            texts = []
            for b in blobs:
                if b[:4] == b"PAR1":
                    texts += _parquet_strings(b)
                texts += [b.decode("utf-8", "ignore"), b.decode("gb18030", "ignore")]
            if any(n in b for b in blobs for n in bn) or any(n in norm(t) for t in texts for n in tn):
                hits.append(p.relative_to(root).as_posix())
    return sorted(hits), files, size
