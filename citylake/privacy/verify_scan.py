"""The verifier's search of one object's bytes: needles compiled once, containers opened, Parquet
read cell by cell, text decoded, unescaped and normalised. Kept beside verify.py and apart from
the eraser; it names a subject only by number and a needle only by kind."""

from __future__ import annotations

import bz2
import html
import io
import lzma
import re
import struct
import urllib.parse
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from typing import Any

from citylake.lake.subjects import Subject, normalise

# In binary data (compressed pages, bitmaps) a short needle turns up by chance: 4 given bytes are
# expected about once in 4 GB. There only needles this long are searched; shorter ones still are
# in decoded content (Parquet cells, decompressed and text data), where values live.
BINARY_MIN_NEEDLE = 6
RE2_FROM = 16 * 1024  # smaller data: Python's re, since Arrow compiles RE2 anew on each call (~2 ms)
RE2_GROUP = 200  # needles per RE2 pattern: past its memory budget RE2 refuses a pattern
MAX_WINDOWS = 256  # matches in one blob settled one by one before a single pass over all of it
FLUSH_BYTES = 16 << 20  # decoded data held back for one batch of RE2 calls (per worker thread)
TEXT_SNIFF = 8192  # a NUL in the first this many bytes marks binary data, as git and grep decide
MAX_DEPTH = 4  # containers inside containers (a zip of gzips...) before giving up
SEP = b"\x00"  # between Parquet cells: no needle holds a NUL, so no match spans two cells
_X_ESCAPE = re.compile(rb"\\x([0-9a-fA-F]{2})")
_U_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")
_PERCENT = re.compile(r"%[0-9a-fA-F]{2}")
# escapes worth decoding; one pattern each, as each starting with a literal is searched fast
_ESCAPES = [
    re.compile(rb"\\u[0-9a-fA-F]{4}"),
    re.compile(rb"&#?[0-9A-Za-z]+;"),
    re.compile(rb"%[0-9a-fA-F]{2}"),
]
ASCII_SPACE = b" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"  # what str.split() drops, among ASCII

Hit = tuple[int, str]  # (subject number, needle kind)


def _trie(needles: list[bytes]) -> bytes:
    """One regex over many literals, factored by common prefix: each position costs one walk down
    a tree instead of one try per needle (Python's re has no Aho-Corasick)."""
    root: dict[int, Any] = {}
    for needle in needles:
        node = root
        for b in needle:
            node = node.setdefault(b, {})
        node[-1] = {}  # a needle ends here

    def rx(node: dict[int, Any]) -> bytes:
        alts = [re.escape(bytes([b])) + rx(child) for b, child in sorted(node.items()) if b >= 0]
        if not alts:
            return b""
        body = alts[0] if len(alts) == 1 else b"(?:" + b"|".join(alts) + b")"
        return b"(?:" + body + b")?" if -1 in node else body

    return rx(root)


def _re2_literal(needle: bytes) -> str:
    # RE2 wants text: every byte but ASCII letters and digits as \xNN, so the pattern is ASCII
    return "".join(chr(b) if chr(b).isalnum() and b < 128 else f"\\x{b:02x}" for b in needle)


def _re2(kernel: str, pattern: str, blobs: list[bytes], start: int = 0) -> list[Any] | None:
    """Arrow's RE2 kernel ``kernel`` (a DFA, linear in the data, matching binary byte for byte)
    over ``blobs`` in one call, the first read from ``start``; None if Arrow refuses the pattern."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if len(blobs) == 1:  # a view of the bytes, no copy
        offsets = pa.py_buffer(struct.pack("<2q", start, len(blobs[0])))
        arr = pa.LargeBinaryArray.from_buffers(pa.large_binary(), 1, [None, offsets, pa.py_buffer(blobs[0])])
    else:
        arr = pa.array(blobs, pa.large_binary())
    try:
        return list(getattr(pc, kernel)(arr, pattern).to_pylist())
    except pa.ArrowException:
        return None


class _Matcher:
    """The needles of one way of searching, and which of them some data holds."""

    def __init__(self, table: dict[bytes, set[Hit]]):
        self.table = table
        self.regex = re.compile(_trie(list(table))) if table else None

    def exact(self, data: bytes) -> set[Hit]:
        return {h for needle, hits in self.table.items() if needle in data for h in hits}

    def small(self, data: bytes) -> set[Hit]:
        """One pass of Python's re first: most data holds none."""
        return self.exact(data) if self.regex is not None and self.regex.search(data) else set()


class Needles:
    """All subjects' needles, by how they are searched: raw bytes (every encoding), raw bytes in
    binary data (long ones only), and normalised text as UTF-8 (silver's normalisation of values
    and of hashes, which upper-cases the hex)."""

    def __init__(self, subjects: Iterable[Subject], key: bytes):
        raw: dict[bytes, set[Hit]] = {}
        norm: dict[bytes, set[Hit]] = {}
        for s in subjects:
            hashes = {p for h in s.hashes(key).values() for p in (h, h[:32])}
            hashed = {h.encode() for h in hashes}
            for needle in s.needles(key):
                raw.setdefault(needle, set()).add((s.number, "hash" if needle in hashed else "value"))
            for value in (*s.values.values(), *s.normalised().values()):
                norm.setdefault(normalise(value).encode(), set()).add((s.number, "value"))
            for h in hashes:
                norm.setdefault(normalise(h).encode(), set()).add((s.number, "hash"))
        self.raw = _Matcher(raw)
        self.binary = _Matcher({n: h for n, h in raw.items() if len(n) >= BINARY_MIN_NEEDLE})
        self.norm = _Matcher(norm)
        # RE2 patterns over every needle of every kind, so one call serves all of an object's data
        every = sorted(set(raw) | set(norm))
        self.patterns = [
            "|".join(map(_re2_literal, every[i : i + RE2_GROUP])) for i in range(0, len(every), RE2_GROUP)
        ]
        self.longest = max(map(len, every), default=0)

    def settle(self, probes: list[tuple[bytes, _Matcher]]) -> list[set[Hit]]:
        """The hits of each (data, matcher). All of it goes to RE2 together, one call per pattern
        (Arrow compiles RE2 anew on each call); only when there is little, to Python's re."""
        if sum(len(d) for d, _ in probes) < RE2_FROM:
            return [m.small(d) for d, m in probes]
        out: list[set[Hit]] = [set() for _ in probes]
        big = [i for i, (d, m) in enumerate(probes) if m.table]  # small ones ride along for free
        flagged: set[int] = set()
        for pattern in self.patterns if big else []:
            found = _re2("match_substring_regex", pattern, [probes[i][0] for i in big])
            flagged |= set(big) if found is None else {i for i, f in zip(big, found, strict=True) if f}
        for i in flagged:
            out[i] = self._walk(*probes[i])
        return out

    def _walk(self, data: bytes, matcher: _Matcher) -> set[Hit]:
        """Which needles, exactly: RE2 walks from match to match (each search resumes just past the
        last start, so every needle's start is visited); the needles are checked in a window there."""
        out: set[Hit] = set()
        for pattern in self.patterns:
            at, walked = 0, False
            for _ in range(MAX_WINDOWS):
                found = _re2("find_substring_regex", pattern, [data], at)
                if found is None:
                    return matcher.exact(data)  # RE2 refused the pattern: one full pass
                if found[0] < 0:
                    walked = True
                    break
                hit = at + int(found[0])
                out |= matcher.exact(data[max(0, hit - self.longest) : hit + 2 * self.longest])
                at = hit + 1
            if not walked:
                return matcher.exact(data)  # too many matches to walk one by one: one full pass
        return out


def _container(data: bytes) -> str | None:
    if data.startswith(b"PAR1"):
        return "parquet"  # a truncated one too: its footer is then reported unreadable
    for magic, name in ((b"\x1f\x8b", "gzip"), (b"BZh", "bz2"), (b"\xfd7zXZ\x00", "xz"),
                        (b"\x28\xb5\x2f\xfd", "zstd"), (b"\x04\x22\x4d\x18", "lz4"), (b"PK\x03\x04", "zip")):  # fmt: skip
        if data.startswith(magic):
            return name
    return None


def _gunzip(data: bytes) -> tuple[bytes, bool]:
    """Every member of a (concatenated) gzip stream; False when it ends early or breaks."""
    out, rest = [], data
    while rest.startswith(b"\x1f\x8b"):
        d = zlib.decompressobj(wbits=31)
        try:
            out.append(d.decompress(rest))
        except zlib.error:
            return b"".join(out), False
        if not d.eof:
            return b"".join(out), False
        rest = d.unused_data.lstrip(b"\x00")  # some writers pad between members
    return b"".join(out), True


def _decompress(kind: str, data: bytes) -> list[tuple[str, bytes]]:
    """(layer, bytes) of what a compressed blob holds; raises on a broken one."""
    if kind == "gzip":
        out, whole = _gunzip(data)
        if not whole:
            raise EOFError("gzip stream ends early or is corrupt")
        return [("gzip", out)]
    if kind == "bz2":
        return [("bz2", bz2.decompress(data))]
    if kind == "xz":
        return [("xz", lzma.decompress(data))]
    if kind == "zip":
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            return [("zip", z.read(info)) for info in z.infolist() if not info.is_dir()]
    import pyarrow as pa

    with pa.input_stream(pa.BufferReader(data), compression=kind) as stream:  # zstd, lz4 frames
        return [(kind, stream.read())]


def _unescape(text: str) -> str:
    """JSON ``\\uXXXX`` (surrogate pairs joined), HTML entities and URL escapes, decoded."""
    if "\\u" in text:
        text = _U_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
        text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    if "&" in text:
        text = html.unescape(text)
    if _PERCENT.search(text):
        text = urllib.parse.unquote(text, errors="ignore")
    return text


def _leaves(arr: Any) -> Iterator[Any]:
    """The searchable leaf arrays of an Arrow array: nested types walked, dictionaries by their
    dictionary, numbers as text (a mobile may be stored as an integer); times and booleans skipped."""
    import pyarrow as pa

    t = arr.type
    if pa.types.is_dictionary(t):
        yield from _leaves(arr.dictionary)
    elif pa.types.is_struct(t) or pa.types.is_union(t):
        for i in range(t.num_fields):
            yield from _leaves(arr.field(i))
    elif pa.types.is_map(t):
        yield from _leaves(arr.keys)
        yield from _leaves(arr.items)
    elif pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        yield from _leaves(arr.values)
    elif (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t)
          or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t)
          or str(t) in ("string_view", "binary_view")):  # fmt: skip
        yield arr
    elif pa.types.is_integer(t) or pa.types.is_decimal(t) or pa.types.is_floating(t):
        yield arr.cast(pa.string())


def _joined(arr: Any) -> bytes:
    """A leaf array's cells as one byte string, NUL between cells, computed in Arrow."""
    import pyarrow as pa
    import pyarrow.compute as pc

    values = pc.fill_null(arr.cast(pa.large_binary()), b"")
    lists = pa.LargeListArray.from_arrays(pa.array([0, len(values)], pa.int64()), values)
    joined = pc.binary_join(lists, pa.scalar(SEP, pa.large_binary()))[0].as_py()
    return bytes(joined or b"")


def _decodings(data: bytes) -> list[str]:
    """The text data may be: valid UTF-8 is taken as UTF-8 only (as GB18030 it is mojibake, and a
    GB18030 value's bytes are not valid UTF-8); anything else is read both ways, skipping errors."""
    try:
        return [data.decode("utf-8")]
    except UnicodeDecodeError:
        return [data.decode("utf-8", "ignore"), data.decode("gb18030", "ignore")]


def _stat_bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode("utf-8")


class Scan:
    """The scan of one object version: hits with the layers they were found in, and problems.
    Data to search is queued and searched in batches (``flush``), so RE2 is compiled seldom."""

    def __init__(self, needles: Needles):
        self.n = needles
        self.hits: dict[Hit, set[str]] = {}
        self.problems: list[str] = []
        self._queue: list[tuple[bytes, _Matcher, str]] = []
        self._queued = 0

    def _probe(self, data: bytes, matcher: _Matcher, layer: str) -> None:
        self._queue.append((data, matcher, layer))
        self._queued += len(data)
        if self._queued >= FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        queue, self._queue, self._queued = self._queue, [], 0
        for (_, _, layer), hits in zip(queue, self.n.settle([(d, m) for d, m, _ in queue]), strict=True):
            for h in hits:
                self.hits.setdefault(h, set()).add(layer)

    def blob(self, data: bytes, layer: str, depth: int = 0) -> None:
        kind = _container(data)
        binary = kind is not None or SEP in data[:TEXT_SNIFF]
        self._probe(data, self.n.binary if binary else self.n.raw, layer)
        if kind is not None and depth >= MAX_DEPTH:
            self.problems.append(f"{layer}: {kind} nested deeper than {MAX_DEPTH}")
        elif kind == "parquet":
            self.parquet(data, f"{layer}/parquet")
        elif kind is not None:
            try:
                parts = _decompress(kind, data)
            except Exception as exc:  # a broken stream: what it hides cannot be searched
                self.problems.append(f"{layer}: {kind} not readable ({type(exc).__name__})")
                if kind != "gzip":
                    return
                parts = [("gzip", _gunzip(data)[0])]  # still search what came before the break
            for sub, content in parts:
                self.blob(content, f"{layer}/{sub}", depth + 1)
        elif not binary:
            self.text(data, layer)

    def normalised(self, data: bytes, layer: str, utf8: bool = False) -> None:
        """The text in data, each way it may be encoded, normalised; unescaped too if it has escapes."""
        escaped = any(e.search(data) for e in _ESCAPES)
        if data.isascii():  # upper() and dropping the spaces is all normalise() does to ASCII, fast
            self._probe(data.upper().translate(None, ASCII_SPACE), self.n.norm, f"{layer}/text")
            texts = [data.decode("ascii")] if escaped else []
        else:
            texts = [data.decode("utf-8", "ignore")] if utf8 else _decodings(data)
            for t in texts:
                self._probe(normalise(t).encode("utf-8"), self.n.norm, f"{layer}/text")
        for t in texts if escaped else []:
            self._probe(
                normalise(_unescape(t)).encode("utf-8", "surrogatepass"), self.n.norm, f"{layer}/unescaped"
            )

    def text(self, data: bytes, layer: str, escapes: bool = True) -> None:
        """Decoded (UTF-8, GB18030), unescaped and normalised text."""
        self.normalised(data, layer)
        if escapes and b"\\x" in data:  # Python reprs of bytes in error texts
            raw = _X_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), data)
            self._probe(raw, self.n.raw, f"{layer}/unescaped")
            self.text(raw, f"{layer}/unescaped", escapes=False)

    def cells(self, data: bytes, layer: str, utf8: bool) -> None:
        """Cells joined by NUL: every needle, however short, since this is content, not noise."""
        self._probe(data, self.n.raw, layer)
        self.normalised(data, layer, utf8)

    def parquet(self, data: bytes, layer: str) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(pa.BufferReader(data))
        except Exception as exc:
            self.problems.append(f"{layer}: footer not readable ({type(exc).__name__})")
            if SEP not in data[:TEXT_SNIFF]:  # text that merely starts with PAR1
                self.text(data, layer)
            return
        md = pf.metadata
        footer = [k + SEP + v for k, v in (md.metadata or {}).items()]
        for rg in range(md.num_row_groups):
            group = md.row_group(rg)
            for c in range(group.num_columns):
                stats = group.column(c).statistics
                if stats is not None and stats.has_min_max:  # raw: a truncated UTF-8 min still counts
                    footer += [_stat_bytes(stats.min_raw), _stat_bytes(stats.max_raw)]
        self.cells(SEP.join(footer), f"{layer}/footer", utf8=False)
        for rg in range(md.num_row_groups):
            try:
                table = pf.read_row_group(rg)
            except Exception as exc:
                self.problems.append(f"{layer}: row group {rg} not readable ({type(exc).__name__})")
                continue
            for column in table.columns:
                for chunk in column.chunks:
                    for leaf in _leaves(chunk):
                        utf8 = pa.types.is_string(leaf.type) or pa.types.is_large_string(leaf.type)
                        self.cells(_joined(leaf), f"{layer}/cells", utf8)
