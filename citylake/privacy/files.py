"""A subject's data in files outside Delta: raw deliveries by record, everything else by text.

Raw deliveries (``landing/``, ``bronze/_landed/``, ``quarantine/files/``) are read as their feed
delivered them (compression, encoding, format) and counted by record, so an erasure can drop
exactly those records (citylake.privacy.rawfiles). Any other object outside a table (GX results
and Data Docs, reports, lineage events, generator summaries, published Parquet) is searched as
text: decompressed, Parquet cells read, decoded as UTF-8 and GB18030, normalised.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import zlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from citylake.config.registry import Registry
from citylake.lake import Lake
from citylake.lake.catalog import TableRef
from citylake.lake.subjects import Subject, normalise
from citylake.privacy import objects, rawfiles

RAW_PREFIXES = ("landing/", "bronze/_landed/", "quarantine/files/")


@dataclass(frozen=True)
class FileHit:
    rel: str  # lake-relative path
    path: str
    subject: int
    count: int  # records (raw deliveries) or occurrences (other files)
    raw: bool
    size: int


def is_raw(rel: str) -> bool:
    return rel.startswith(RAW_PREFIXES)


def text_needles(subjects: Iterable[Subject], key: bytes) -> dict[int, list[str]]:
    """subject -> normalised values and upper-cased hashes (what normalised text may hold)."""
    out: dict[int, list[str]] = {}
    for s in subjects:
        vals = set(s.normalised().values()) | {h.upper() for h in s.hashes(key).values()}
        out[s.number] = sorted(vals)
    return out


def decoded_texts(data: bytes) -> list[str]:
    """The object's content as normalised text, in each way it might be encoded."""
    if data[:2] == b"\x1f\x8b":
        with contextlib.suppress(OSError, EOFError, zlib.error):  # a truncated gzip: search the raw bytes
            data = gzip.decompress(data)
    if data[:4] == b"PAR1":
        with contextlib.suppress(Exception):  # an unreadable Parquet file: its raw bytes are searched
            data = _parquet_text(data).encode("utf-8")
    texts = {data.decode("utf-8", errors="ignore"), data.decode("gb18030", errors="ignore")}
    return [normalise(t) for t in texts]


def _parquet_text(data: bytes) -> str:
    import pyarrow.parquet as pq

    table = pq.read_table(io.BytesIO(data))
    parts = []
    for col in table.columns:
        parts += ["" if v is None else str(v) for v in col.to_pylist()]
    return "\n".join(parts)


def count_in_text(data: bytes, needles: dict[int, list[str]]) -> Counter[int]:
    out: Counter[int] = Counter()
    texts = decoded_texts(data)
    for subject, values in needles.items():
        n = max(sum(t.count(v) for v in values) for t in texts)
        if n:
            out[subject] = n
    return out


def redact(data: bytes, subjects: list[Subject], key: bytes) -> bytes:
    """A text object with every occurrence of the subjects' values and hashes replaced; gzip
    stays gzip. Only pages, results and logs get here: deliveries are rewritten by record."""
    if data[:2] == b"\x1f\x8b":
        return gzip.compress(redact(gzip.decompress(data), subjects, key), mtime=0)
    if data[:4] == b"PAR1":
        raise ValueError("a Parquet file outside the tables holds a subject: rebuild it from the tables instead")
    for s in subjects:
        for needle in sorted(s.needles(key), key=len, reverse=True):  # whole hashes before their prefixes
            data = data.replace(needle, b"[erased]")
    return data


def table_prefixes(tables: list[TableRef]) -> tuple[str, ...]:
    return tuple(t.path.rstrip("/") + "/" for t in tables)


def scan(lake: Lake, registry: Registry, subjects: list[Subject], key: bytes, tables: list[TableRef]) -> list[FileHit]:
    """Every object outside the tables that holds a subject, with counts per subject."""
    needles = text_needles(subjects, key)
    inside = table_prefixes(tables)
    hits: list[FileHit] = []
    for o in objects.walk(lake):
        if o.path.startswith(inside) or o.rel.startswith("_system/locks/"):
            continue
        data = objects.read(lake, o.path)
        if is_raw(o.rel):
            counts = rawfiles.subject_records(data, o.rel, registry, needles)
        else:
            counts = count_in_text(data, needles)
        hits += [FileHit(o.rel, o.path, s, n, is_raw(o.rel), o.size) for s, n in sorted(counts.items())]
    return hits
