"""Raw deliveries read record by record, the way bronze read them. No Spark.

Record numbers are bronze's ``_record_no`` (and ``quarantine.bronze_records.record_no``):
1-based, per file, the CSV header and blank lines not counted. Lines end at LF, CRLF or a lone
CR (Hadoop's line reader). A CSV line is blank when it holds only bytes up to 0x20 (Spark trims
them), a JSON line when it holds only spaces; a multiline feed's parser skips only empty lines.
A CSV record is found quote-aware: in a multiline feed a quoted line break never ends a record;
in any other feed a record spanning lines is one only when it has the header's field count (a
stray quote would otherwise swallow the file). Spark reads such a feed line by line and numbers
each line, so a spanning record covers the numbers ``number`` to ``last``. A UTF-8 BOM opening
the content belongs to no record.
"""

from __future__ import annotations

import codecs
import csv
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from citylake.config.registry import FeedSpec
from citylake.config.registry.delivery import LINE_CEILING, FeedLimits
from citylake.lake.preflight_stream import CSV_BLANK
from citylake.privacy import rawcodec

BOM = b"\xef\xbb\xbf"
# joins a Parquet row's cells and a JSON line's unescaped values: not whitespace, so
# normalising never runs two cells together into one identifier
SEP = "|"
_END = re.compile(rb"\r\n|\r|\n")
csv.field_size_limit(max(csv.field_size_limit(), LINE_CEILING))
Format = Literal["csv", "jsonl", "parquet", "lines"]


@dataclass(frozen=True)
class Layout:
    """How a file's records are laid out. ``lines``: a file of no known format, a record a line."""

    format: Format
    encoding: str = "utf-8"
    gzip: bool = False
    delimiter: str = ","
    multiline: bool = False
    max_record_bytes: int = FeedLimits().max_line_bytes

    @classmethod
    def of(cls, spec: FeedSpec) -> Layout:
        return cls(spec.format, spec.encoding, spec.compression == "gzip", spec.delimiter, spec.multiline,
                   spec.limits.max_line_bytes)  # fmt: skip


@dataclass(frozen=True)
class Record:
    """One record. ``number``..``last``: the bronze record numbers it covers (one, unless Spark
    read a spanning record line by line); 0 is the CSV header. ``start``/``end``: its bytes in
    the decompressed content, line end included (Parquet: its row index and the next).
    ``text``: what is searched: the decoded record; a JSON line with escapes also gets its
    unescaped values, a Parquet row is its cells joined by SEP."""

    number: int
    start: int
    end: int
    text: str
    last: int

    @property
    def numbers(self) -> range:
        return range(self.number, self.last + 1)


def layout_of(how: FeedSpec | Layout) -> Layout:
    return how if isinstance(how, Layout) else Layout.of(how)


def content_of(data: bytes, layout: Layout) -> bytes:
    return rawcodec.gunzip(data).content if layout.gzip else data


def text_codec(encoding: str) -> str:
    # the BOM is cut off before decoding, whatever the declared encoding (as preflight does)
    name = codecs.lookup(encoding).name
    return "utf-8" if name == "utf-8-sig" else name


def _lines(content: bytes, start: int) -> list[tuple[int, int, int]]:
    """(start, end of text, end after the line end) of each physical line from ``start``."""
    out, pos = [], start
    for m in _END.finditer(content, start):
        out.append((pos, m.start(), m.end()))
        pos = m.end()
    if pos < len(content):
        out.append((pos, len(content), len(content)))
    return out


class _Csv:
    """CSV records of one file's content (see the module doc)."""

    def __init__(self, content: bytes, layout: Layout):
        self.content, self.layout = content, layout
        self.offset = len(BOM) if content.startswith(BOM) else 0
        self.lines = _lines(content, self.offset)
        self.codec = text_codec(layout.encoding)

    def text(self, a: int, b: int) -> str:
        return self.content[a:b].decode(self.codec, "replace")

    def blank(self, k: int) -> bool:
        s, te, _ = self.lines[k]
        return s == te if self.layout.multiline else not self.content[s:te].strip(CSV_BLANK)

    def span(self, i: int, fields: int | None) -> int:
        """The last physical line of the record starting at line ``i``."""
        s, te, _ = self.lines[i]
        if b'"' not in self.content[s:te]:
            return i
        if not self.layout.multiline and self.content.count(b'"', s, te) % 2 == 0:
            return i  # only an odd number of quotes leaves a field open (preflight's rule too)
        taken, cut = 0, False

        def feed() -> Iterator[str]:
            nonlocal taken, cut
            size = 0
            for k in range(i, len(self.lines)):
                a, _, b = self.lines[k]
                size += b - a
                if taken and size > self.layout.max_record_bytes:
                    cut = True  # longer than a record may be: a stray quote, not a record
                    return
                taken += 1
                yield self.text(a, b)

        try:
            row = next(csv.reader(feed(), delimiter=self.layout.delimiter))
        except (csv.Error, StopIteration):
            return i
        if taken <= 1 or cut:
            return i
        if self.layout.multiline:
            return i + taken - 1
        spans = fields is not None and len(row) == fields and any("\n" in c or "\r" in c for c in row)
        return i + taken - 1 if spans else i

    def records(self, header: bool) -> Iterator[Record]:
        i, n, fields, number = 0, len(self.lines), None, 0
        while i < n:
            if self.blank(i):
                i += 1
                continue
            # the header is the first line that is not blank (never a span in a line-read feed)
            j = self.span(i, fields) if fields is not None or self.layout.multiline else i
            s, (_, te, e) = self.lines[i][0], self.lines[j]
            text = self.text(s, te)
            if fields is None:
                fields = len(next(csv.reader([text], delimiter=self.layout.delimiter), []))
                if header:
                    yield Record(0, s, e, text, 0)
            else:
                count = 1 if self.layout.multiline else sum(1 for k in range(i, j + 1) if not self.blank(k))
                yield Record(number + 1, s, e, text, number + count)
                number += count
            i = j + 1


def _unescaped(line: str) -> str:
    """A JSON line's string values, when it escapes characters (``\\u5f20``): the raw line
    would not show them."""
    out: list[str] = []

    def walk(v: Any) -> None:
        if isinstance(v, dict):
            for k, x in v.items():
                out.append(str(k))
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
        elif v is not None:
            out.append(str(v))

    try:
        walk(json.loads(line))
    except (ValueError, RecursionError):  # broken, or nested deeper than Python recurses
        return SEP.join(out)
    return SEP.join(out)


def _line_records(content: bytes, layout: Layout) -> Iterator[Record]:
    codec = text_codec(layout.encoding)
    offset = len(BOM) if content.startswith(BOM) else 0
    number = 0
    for s, te, e in _lines(content, offset):
        raw = content[s:te]
        if layout.format == "jsonl":
            # Spark's text reader trims spaces only, and a BOM is not one
            blank = not raw.strip(b" ") and not (offset and s == offset)
        else:
            blank = not raw.strip()
        if blank:
            continue
        number += 1
        text = raw.decode(codec, "replace")
        if layout.format == "jsonl" and "\\" in text:
            text = f"{text}\n{SEP}{_unescaped(text)}"
        yield Record(number, s, e, text, number)


def _cell(v: Any) -> str:
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)


def records(data: bytes, how: FeedSpec | Layout, header: bool = False) -> Iterator[Record]:
    """The file's records in order (``data`` as delivered, compressed or not); ``header``: the
    CSV header too, as number 0 (a file without its header row has a record there)."""
    layout = layout_of(how)
    if layout.format == "parquet":
        for i, row in enumerate(rawcodec.parquet_rows(data)):
            yield Record(i + 1, i, i + 1, SEP.join(_cell(v) for v in row if v is not None), i + 1)
        return
    content = content_of(data, layout)
    if layout.format == "csv":
        yield from _Csv(content, layout).records(header)
    else:
        yield from _line_records(content, layout)
