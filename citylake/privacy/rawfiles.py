"""Raw deliveries (``landing/``, ``bronze/_landed/``, ``quarantine/files/``): a subject's records
found, and the file rewritten without them, every other byte as delivered. No Spark.

Records and their numbers (bronze's ``_record_no``) are citylake.privacy.rawrecords; gzip and
Parquet are opened and closed again by citylake.privacy.rawcodec. Matching is on normalised
text (citylake.lake.subjects.normalise: upper case, no whitespace), so ``zhang san`` in a file
is ``ZHANGSAN`` as silver hashes it. Errors name files, record numbers and fields, never a value.
"""

from __future__ import annotations

import dataclasses
import posixpath
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from citylake.config.registry import Feed, FeedSpec, Registry
from citylake.lake.subjects import normalise
from citylake.privacy import rawcodec
from citylake.privacy.rawcodec import GZIP_MAGIC, PARQUET_MAGIC, RawFileError
from citylake.privacy.rawrecords import (
    BOM,
    SEP,
    Format,
    Layout,
    Record,
    content_of,
    layout_of,
    records,
    text_codec,
)

__all__ = ["BOM", "SEP", "Layout", "Needles", "RawFileError", "Record", "Scrubbed", "feed_of", "find", "layout_for",
           "matches", "records", "rewrite_without", "scrub", "sniff", "subject_records", "without_subjects"]  # fmt: skip

_EXTENSIONS: dict[str, Format] = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl",
                                  ".parquet": "parquet"}  # fmt: skip


class Needles:
    """Subjects' normalised values (subject number -> values), compiled for one pass per record."""

    def __init__(self, by_subject: Mapping[int, Iterable[str]]):
        self.by_subject = {
            s: tuple(v for v in {normalise(x) for x in vs} if v) for s, vs in by_subject.items()
        }
        every = sorted({v for vs in self.by_subject.values() for v in vs}, key=len, reverse=True)
        self._any = re.compile("|".join(map(re.escape, every))) if every else None

    def find(self, normalised: str) -> set[int]:
        if self._any is None or not self._any.search(normalised):
            return set()
        return {s for s, vs in self.by_subject.items() if any(v in normalised for v in vs)}


Wanted = Needles | Mapping[int, Iterable[str]]  # subject number -> normalised values


def _needles(wanted: Wanted) -> Needles:
    return wanted if isinstance(wanted, Needles) else Needles(wanted)


def matches(record_text: str, needles: Wanted) -> set[int]:
    """The subjects whose normalised values occur in the record's normalised text."""
    n = _needles(needles)
    return n.find(normalise(record_text))


def find(data: bytes, how: FeedSpec | Layout, needles: Wanted) -> dict[int, set[int]]:
    """Record number -> the subjects it holds, for every record holding one (0: the header)."""
    n = _needles(needles)
    return {r.number: got for r in records(data, how, header=True) if (got := n.find(normalise(r.text)))}


def rewrite_without(data: bytes, how: FeedSpec | Layout, drop: set[int]) -> bytes:
    """The file without the records numbered ``drop``, every other byte as delivered: encoding,
    BOM, delimiter, quoting, line ends, header; gzip and Parquet as rawcodec keeps them. A
    record spanning several numbers goes when any of them is dropped. Nothing to drop: ``data``."""
    if not drop:
        return data
    layout = layout_of(how)
    if layout.format == "parquet":
        rows = rawcodec.parquet_file(data).metadata.num_rows
        _known(drop, set(range(1, rows + 1)))
        return rawcodec.parquet_without(data, {n - 1 for n in drop})
    g = rawcodec.gunzip(data) if layout.gzip else None
    content = g.content if g else data
    found = list(records(content, dataclasses.replace(layout, gzip=False), header=True))
    _known(drop, {n for r in found for n in r.numbers})
    pieces, pos = [], 0
    for r in found:
        if drop.intersection(r.numbers):
            pieces.append(content[pos : r.start])
            pos = r.end
    pieces.append(content[pos:])
    out = b"".join(pieces)
    return rawcodec.regzip(g, out) if g else out


def _known(drop: set[int], numbers: set[int]) -> None:
    unknown = sorted(drop - numbers)
    if unknown:
        raise RawFileError(f"record(s) {unknown[:10]} not in the file ({len(numbers)} numbered)")


# --- files whose feed is unknown or whose bytes are not what the feed declares -------------


def detect_encoding(content: bytes) -> str:
    """BOM -> utf-8-sig; valid UTF-8 -> utf-8; else gb18030 (a superset of GBK and GB2312)."""
    if content.startswith(BOM):
        return "utf-8-sig"
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return "gb18030"
    return "utf-8"


def _decodes(content: bytes, encoding: str) -> bool:
    try:
        content.removeprefix(BOM).decode(text_codec(encoding))
    except (UnicodeDecodeError, LookupError):
        return False
    return True


def sniff(name: str, data: bytes) -> Layout:
    """A file of no known feed (or not as its feed declares): format by magic bytes, else by
    extension (``.gz`` stripped; unknown: ``lines``), encoding detected, comma-delimited."""
    if data[:4] == PARQUET_MAGIC:
        return Layout("parquet")
    gz = data[:2] == GZIP_MAGIC
    fmt = _EXTENSIONS.get(posixpath.splitext(name.lower().removesuffix(".gz"))[1], "lines")
    content = rawcodec.gunzip(data).content if gz else data
    # named .parquet without being Parquet: its bytes are searched line by line
    return Layout("lines" if fmt == "parquet" else fmt, detect_encoding(content), gz)


def layout_for(name: str, data: bytes, spec: FeedSpec | None) -> Layout:
    """The feed's layout when the bytes are what it declares (compression, format, encoding),
    else what ``sniff`` finds: a rejected file is often exactly a file that is not."""
    if spec is None:
        return sniff(name, data)
    layout = Layout.of(spec)
    if layout.gzip != (data[:2] == GZIP_MAGIC) or (layout.format == "parquet") != (data[:4] == PARQUET_MAGIC):
        return sniff(name, data)
    if layout.format == "parquet":
        return layout
    content = content_of(data, layout)
    if _decodes(content, layout.encoding):
        return layout
    return dataclasses.replace(layout, encoding=detect_encoding(content))


# --- lake paths ------------------------------------------------------------------------------


def feed_of(rel: str, registry: Registry) -> Feed | None:
    """The feed of a raw file by its lake-relative path: ``landing/<unit>/<feed>/<date>/<file>``,
    ``bronze/_landed/<unit>/<feed>/<date>/<file>`` or ``quarantine/files/<date>/<unit>/<feed>/<file>``."""
    parts = rel.split("/")
    if parts[:2] == ["bronze", "_landed"] and len(parts) == 6:
        unit, feed = parts[2], parts[3]
    elif parts[:2] == ["quarantine", "files"] and len(parts) == 6:
        unit, feed = parts[3], parts[4]
    elif parts[0] == "landing" and len(parts) == 5:
        unit, feed = parts[1], parts[2]
    else:
        return None
    return registry.feed(unit, feed)


@dataclass(frozen=True)
class Scrubbed:
    """A raw file after its subjects' records were taken out. ``data``: the new bytes (``None``:
    the file cannot be rewritten record by record, a damaged gzip or Parquet file, and holds a
    subject: it must go whole); ``dropped``: record number -> subjects (0: a header line)."""

    data: bytes | None
    dropped: dict[int, set[int]]

    @property
    def changed(self) -> bool:
        return bool(self.dropped)


def _salvaged(data: bytes, needles: Needles) -> dict[int, set[int]]:
    """A damaged file searched line by line in what can be read of it."""
    content = rawcodec.salvage(data)
    return find(content, Layout("lines", detect_encoding(content)), needles)


def scrub(data: bytes, rel: str, registry: Registry, needles: Wanted) -> Scrubbed:
    """The raw file at ``rel`` without any record of the subjects (unchanged when it holds none)."""
    n = _needles(needles)
    feed = feed_of(rel, registry)
    try:
        layout = layout_for(rel, data, feed.spec if feed else None)
        hits = find(data, layout, n)
        return Scrubbed(rewrite_without(data, layout, set(hits)), hits)
    except RawFileError:
        hits = _salvaged(data, n)
        return Scrubbed(None if hits else data, hits)


def subject_records(data: bytes, rel: str, registry: Registry, needles: Wanted) -> Counter[int]:
    """Subject number -> how many records of the raw file at ``rel`` hold that subject."""
    n = _needles(needles)
    feed = feed_of(rel, registry)
    try:
        hits = find(data, layout_for(rel, data, feed.spec if feed else None), n)
    except RawFileError:
        hits = _salvaged(data, n)
    return Counter(s for subjects in hits.values() for s in subjects)


def without_subjects(data: bytes, rel: str, registry: Registry, needles: Wanted) -> bytes:
    """The bytes to put in place of the raw file at ``rel``: ``scrub``'s rewrite, ``data`` itself
    when it holds no subject, and nothing (an empty file) when it is damaged and holds one."""
    done = scrub(data, rel, registry, needles)
    return b"" if done.data is None else done.data
