"""The containers of raw deliveries, opened and closed again as delivered: gzip and Parquet.

An erasure rewrites a delivered file without some records; what is not a record stays as the
unit sent it. A gzip file keeps its header byte for byte (name, mtime, OS, extra fields,
comment) and its compression level when the deflate stream shows it; a Parquet file keeps its
Arrow schema (time zones included), codecs, dictionary and statistics choices, format version,
row-group size and key-value metadata. Errors name the problem, never content.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass
from typing import Any

GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"
DEFAULT_LEVEL = 6  # zlib's and gzip(1)'s default
# enough deflate output to tell levels apart without compressing a large file nine times
PROBE = 1 << 20
# gzip's XFL byte: 2 = slowest (level 9), 4 = fastest (level 1); anything else says nothing
_XFL_HINT = {2: 9, 4: 1}
_FEXTRA, _FNAME, _FCOMMENT, _FHCRC = 4, 8, 16, 2


class RawFileError(ValueError):
    """A raw file that cannot be opened as its layout says (corrupt or truncated gzip, not
    Parquet): it cannot be rewritten record by record. The message never holds content."""


@dataclass(frozen=True)
class Gzip:
    """A gzip file opened: the first member's header as delivered, the level its deflate stream
    was written at (DEFAULT_LEVEL when it cannot be told), how many members, the content."""

    header: bytes
    level: int
    members: int
    content: bytes


def _header_end(data: bytes, pos: int) -> int:
    if data[pos : pos + 2] != GZIP_MAGIC or data[pos + 2 : pos + 3] != b"\x08":
        raise RawFileError(f"not gzip at byte {pos} (a gzip member starts with 1f 8b 08)")
    if len(data) < pos + 10:
        raise RawFileError("gzip header is truncated")
    flags, p = data[pos + 3], pos + 10
    try:
        if flags & _FEXTRA:
            p += 2 + int.from_bytes(data[p : p + 2], "little")
        if flags & _FNAME:
            p = data.index(b"\0", p) + 1
        if flags & _FCOMMENT:
            p = data.index(b"\0", p) + 1
    except ValueError:
        raise RawFileError("gzip header is truncated (name or comment not terminated)") from None
    if flags & _FHCRC:
        p += 2
    if p > len(data):
        raise RawFileError("gzip header is truncated")
    return p


def gunzip(data: bytes) -> Gzip:
    """Every member inflated (Hadoop's codec reads concatenated members, so Spark saw them all)."""
    pos, header, level = 0, b"", DEFAULT_LEVEL
    parts: list[bytes] = []
    while pos < len(data):
        start = _header_end(data, pos)
        d = zlib.decompressobj(-zlib.MAX_WBITS)
        try:
            out = d.decompress(data[start:])
        except zlib.error as exc:
            raise RawFileError(f"gzip data is corrupt: {exc}") from None
        rest = d.unused_data
        if not d.eof or len(rest) < 8:
            raise RawFileError("gzip stream is truncated")
        crc, size = struct.unpack("<II", rest[:8])
        if crc != zlib.crc32(out) or size != len(out) & 0xFFFFFFFF:
            raise RawFileError(f"gzip member {len(parts) + 1}: checksum or length does not match")
        end = len(data) - len(rest)
        if not parts:
            header = data[pos:start]
            level = detect_level(out, data[start:end], header[8])
        parts.append(out)
        pos = end + 8
    if not parts:
        raise RawFileError("empty gzip file")
    return Gzip(header, level, len(parts), b"".join(parts))


def _deflate(content: bytes, level: int) -> bytes:
    c = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
    return c.compress(content) + c.flush()


def detect_level(content: bytes, deflated: bytes, xfl: int) -> int:
    """The zlib level that reproduces the delivered deflate stream (its first PROBE bytes of
    input, for a large file); else the XFL byte's hint; else DEFAULT_LEVEL. Another deflate
    implementation (pigz, Java) may match no level: only the compression ratio then differs."""
    hint = _XFL_HINT.get(xfl)
    order = ([hint] if hint else []) + [DEFAULT_LEVEL, 9, 1, 5, 7, 8, 4, 3, 2]
    for level in dict.fromkeys(order):
        if len(content) <= PROBE:
            if _deflate(content, level) == deflated:
                return level
            continue
        c = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
        out = c.compress(content[:PROBE])  # blocks emitted so far, without a flush
        if out and deflated.startswith(out):
            return level
    return hint or DEFAULT_LEVEL


def regzip(g: Gzip, content: bytes) -> bytes:
    """``content`` as one gzip member under the delivered header, at the delivered level. The
    header is copied whole: its optional CRC16 covers only the header, so it still holds."""
    trailer = struct.pack("<II", zlib.crc32(content), len(content) & 0xFFFFFFFF)
    return g.header + _deflate(content, g.level) + trailer


def salvage(data: bytes) -> bytes:
    """What can be inflated of a damaged gzip file (a search still finds what it holds)."""
    out, pos = [], 0
    while data[pos : pos + 2] == GZIP_MAGIC:
        d = zlib.decompressobj(zlib.MAX_WBITS | 16)
        try:
            out.append(d.decompress(data[pos:]))
        except zlib.error:
            break
        if not d.eof:
            break
        pos = len(data) - len(d.unused_data)
    return b"".join(out) if out else data


# --- Parquet ------------------------------------------------------------------------------

_CODECS = {"UNCOMPRESSED": "none", "SNAPPY": "snappy", "GZIP": "gzip", "BROTLI": "brotli",
           "ZSTD": "zstd", "LZ4": "lz4", "LZ4_RAW": "lz4"}  # fmt: skip


def parquet_file(data: bytes) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not (data[:4] == PARQUET_MAGIC and data[-4:] == PARQUET_MAGIC):
        raise RawFileError("not a Parquet file (no PAR1 magic at both ends)")
    try:
        return pq.ParquetFile(io.BytesIO(data))
    except (pa.ArrowException, OSError) as exc:
        raise RawFileError(f"Parquet footer cannot be read: {type(exc).__name__}") from None


def parquet_rows(data: bytes, batch_rows: int = 65536) -> Any:
    """The file's rows in order as lists of cell values (bronze numbers them in this order)."""
    import pyarrow as pa

    pf = parquet_file(data)
    try:
        for batch in pf.iter_batches(batch_size=batch_rows):
            columns = [c.to_pylist() for c in batch.columns]
            yield from zip(*columns, strict=True) if columns else ()
    except (pa.ArrowException, OSError) as exc:
        raise RawFileError(f"Parquet data cannot be read: {type(exc).__name__}") from None


def parquet_without(data: bytes, drop: set[int]) -> bytes:
    """The Parquet file without rows ``drop`` (0-based), written as it was written."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pf = parquet_file(data)
    meta = pf.metadata
    try:
        table = pf.read()  # the stored Arrow schema (zones, metadata) when the writer kept one
    except (pa.ArrowException, OSError) as exc:
        raise RawFileError(f"Parquet data cannot be read: {type(exc).__name__}") from None
    keep = pa.array([i for i in range(table.num_rows) if i not in drop], type=pa.int64())
    table = table.take(keep)
    chunks = [meta.row_group(0).column(j) for j in range(meta.num_columns)] if meta.num_row_groups else []
    codecs = {c.path_in_schema: _CODECS.get(c.compression, "snappy") for c in chunks}
    kv = meta.metadata or {}
    largest = max((meta.row_group(i).num_rows for i in range(meta.num_row_groups)), default=0)
    buf = io.BytesIO()
    pq.write_table(
        table,
        buf,
        compression=(next(iter(codecs.values())) if len(set(codecs.values())) == 1 else codecs) or "snappy",
        version=meta.format_version if meta.format_version in ("1.0", "2.4", "2.6") else "2.6",
        row_group_size=largest or None,
        use_dictionary=[c.path_in_schema for c in chunks if c.has_dictionary_page] or False,
        write_statistics=[c.path_in_schema for c in chunks if c.is_stats_set] or False,
        use_deprecated_int96_timestamps=any(c.physical_type == "INT96" for c in chunks),
        store_schema=b"ARROW:schema" in kv,
    )
    return buf.getvalue()
