"""Preflight's reading: one pass over a landed file in bounded memory, whatever the file holds.

The raw bytes are hashed as they are read; gzip is inflated a megabyte at a time (a 382 KiB
bomb never exists as 256 MiB at once); the content is cut into lines the way Hadoop's line
reader, under Spark's text and CSV readers, cuts them: LF, CRLF and a lone CR each end a line.
Nothing holds more than one block of lines, or one line of at most ``max_line_bytes``.

Two kinds of failure stay apart: ``ReadFailed`` (the store did not deliver the bytes: storage,
not the unit's data) and ``Rejected`` (the content breaks a rule: the unit's file is set aside).
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from citylake.config.registry import Feed, FeedLimits
from citylake.engine.storage import Store

CHUNK = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"
# what Spark's CSV reader takes for a blank line (Java's String.trim: every char up to U+0020)
CSV_BLANK = bytes(range(0x21))
# Spark's multiline CSV parser skips only empty lines; its text reader (JSON lines) only lines
# of spaces (the jobs filter on trim(), which trims spaces)
EMPTY, SPACES = b"", b" "
_ENDS = re.compile(rb"(\r\n|\r|\n)")


class Rejected(Exception):
    """The content breaks a rule of the landing contract: the file is set aside with ``reason``."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class StreamRejected(Rejected):
    """The content cannot be read further (corrupt or truncated gzip, over the size limit):
    whatever follows is not counted."""


class OverSize(StreamRejected):
    """The content passed max_decompressed_bytes; Lines adds where."""


class ReadFailed(Exception):
    """The store failed to deliver the bytes (an OSError while reading): storage, not data."""

    def __init__(self, cause: OSError):
        super().__init__(str(cause))
        self.cause = cause


def human(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return f"{n} bytes"


@dataclass(frozen=True)
class Limits:
    """One feed's limits, and how a reason names one."""

    values: FeedLimits
    unit: str

    def __getattr__(self, name: str) -> int:
        return int(getattr(self.values, name))

    def name(self, limit: str) -> str:
        value = getattr(self.values, limit)
        shown = human(value) if limit.endswith("_bytes") else str(value)
        how = "as set for this feed" if limit in self.values.model_fields_set else "the default"
        return (f"{limit} = {shown} ({how}; a feed's limits are set under `limits:` in "
                f"schemas/units/{self.unit}.yaml)")  # fmt: skip

    @classmethod
    def of(cls, feed: Feed | None, unit: str) -> Limits:
        return cls(feed.spec.limits if feed else FeedLimits(), unit)


class RawFile:
    """A landed file's bytes, read once in chunks; sha256 and size of everything read."""

    def __init__(self, store: Store, path: str):
        self._store, self._path = store, path
        self._digest = hashlib.sha256()
        self.size = 0
        self._it = self._read()

    def _read(self) -> Iterator[bytes]:
        try:
            with self._store.open(self._path) as fh:
                while chunk := fh.read(CHUNK):
                    self._digest.update(chunk)
                    self.size += len(chunk)
                    yield chunk
        except OSError as exc:
            raise ReadFailed(exc) from exc

    def __iter__(self) -> Iterator[bytes]:
        return self._it

    def drain(self) -> str:
        """Read what is left (a check may stop early; the checksum is always the whole file's)."""
        for _ in self._it:
            pass
        return self._digest.hexdigest()


def content(raw: RawFile, gzip: bool, limits: Limits) -> Iterator[bytes]:
    """The file's content in chunks of at most CHUNK bytes, inflated if gzip, within
    max_decompressed_bytes."""
    total = 0
    for out in _inflate(raw) if gzip else raw:
        total += len(out)
        if total > limits.max_decompressed_bytes:
            raise OverSize(f"content is larger than {limits.name('max_decompressed_bytes')}")
        yield out


def _inflate(raw: RawFile) -> Iterator[bytes]:
    """gzip members one after another (Hadoop's codec reads concatenated members too)."""
    d = zlib.decompressobj(wbits=31)
    started = False
    for chunk in raw:
        data, more = chunk, False
        while data or more:  # more: output came, so zlib may hold more without new input
            if d.eof:
                if not data:
                    break
                if not GZIP_MAGIC.startswith(data[:2]):  # the next member, or bytes Spark fails on
                    raise StreamRejected(
                        f"bytes after the end of the gzip stream are not gzip (at byte {raw.size - len(data)} "
                        "of the file): Spark's reader fails on them"
                    )
                d = zlib.decompressobj(wbits=31)
            started = True
            try:
                out = d.decompress(data, CHUNK)  # bounded: a bomb inflates one chunk at a time
            except zlib.error as exc:
                raise StreamRejected(f"gzip data is corrupt: {exc}") from exc
            left = d.unused_data if d.eof else d.unconsumed_tail
            if not out and data and left == data and not d.eof:
                raise StreamRejected("gzip data is corrupt: the decompressor takes no more input")
            data, more = left, bool(out)
            if out:
                yield out
    if started and not d.eof:
        raise StreamRejected(
            f"gzip stream is truncated: ends after {raw.size} bytes before the end-of-stream marker"
        )


@dataclass
class Block:
    """Complete lines of the content: ``lines`` without their ends, ``text`` the same joined by
    LF (ready to decode in one call), ``ends`` each line's end (b"" at the end of the file)
    when asked for."""

    start: int  # number of the first line
    lines: list[bytes]
    text: bytes
    ends: list[bytes] | None = None


class Lines:
    """The content as physical lines, in blocks; counts non-blank lines (``blank``: the bytes a
    blank line may hold) as it goes, whoever consumes the blocks and however far.

    ``marks``: byte offsets of the content where Spark starts a split of the file. For each,
    ``before`` gets the non-blank lines that start at or before it: the lines Hadoop's line
    reader gives to the earlier splits (a split skips the line its start falls in, and a split
    reads the line that starts exactly at its end), so a record's number in its file is its
    position in its split plus this count.
    """

    def __init__(
        self,
        chunks: Iterator[bytes],
        limits: Limits,
        blank: bytes,
        ends: bool = False,
        bom: bool = False,
        marks: tuple[int, ...] = (),
    ):
        self._chunks, self._limits, self._blank, self._want_ends = chunks, limits, blank, ends
        self._bom = bom  # drop a UTF-8 BOM that starts the content (any declared encoding)
        self._pending = b""
        self._base = 0  # content offset of the next complete block's first byte
        self._marks = sorted(marks)
        self.before: dict[int, int] = {}
        self.number = 0  # lines cut so far
        self.nonblank = 0
        self.content = False  # any byte that is not ASCII whitespace seen yet

    def blocks(self) -> Iterator[Block]:
        try:
            yield from self._blocks()
        except OverSize as exc:
            raise StreamRejected(f"{exc.reason}: reading stopped at line {self.number + 1}") from None

    def _blocks(self) -> Iterator[Block]:
        first = True
        for chunk in self._chunks:
            if first and self._bom and chunk.startswith(b"\xef\xbb\xbf"):
                chunk, self._base = chunk[3:], 3  # Spark's split offsets count the BOM's bytes
            first = False
            buf = self._pending + chunk if self._pending else chunk
            hold = b""
            if buf.endswith(b"\r"):  # maybe half a CRLF: decide with the next chunk
                buf, hold = buf[:-1], b"\r"
            cut = max(buf.rfind(b"\n"), buf.rfind(b"\r"))
            self._pending = buf[cut + 1 :] + hold
            if cut >= 0:
                yield self._block(buf[: cut + 1], last=False)
                self._base += cut + 1
            if len(self._pending) > self._limits.max_line_bytes:
                raise Rejected(f"line {self.number + 1}: longer than {self._limits.name('max_line_bytes')}")
        if self._pending:
            tail, self._pending = self._pending, b""
            yield self._block(
                tail if tail.endswith((b"\n", b"\r")) else tail + b"\n", last=not tail.endswith(b"\r")
            )

    def _block(self, complete: bytes, last: bool) -> Block:
        norm = complete.replace(b"\r\n", b"\n").replace(b"\r", b"\n") if b"\r" in complete else complete
        lines = norm.split(b"\n")
        lines.pop()  # what follows the final line end
        start = self.number + 1
        while self._marks and self._marks[0] < self._base + len(complete):
            self._mark(self._marks.pop(0), complete, lines)
        self.number += len(lines)
        self.nonblank += (
            sum(1 for x in lines if x.strip(self._blank)) if self._blank else len(lines) - lines.count(b"")
        )
        self.content = self.content or bool(norm.strip())
        if max(map(len, lines)) > self._limits.max_line_bytes:
            at = next(i for i, x in enumerate(lines) if len(x) > self._limits.max_line_bytes)
            raise Rejected(f"line {start + at}: longer than {self._limits.name('max_line_bytes')}")
        ends = None
        if self._want_ends:
            ends = _ENDS.split(complete)[1::2]
            if last:
                ends[-1] = b""
        return Block(start, lines, norm[:-1], ends)

    def _mark(self, at: int, complete: bytes, lines: list[bytes]) -> None:
        """``before[at]``: the non-blank lines starting at or before content offset ``at``, which
        falls in this block (``complete``, cut into ``lines``)."""
        rel = at - self._base
        starting = 1 + sum(1 for m in _ENDS.finditer(complete, 0, rel + 1) if m.end() <= rel)
        head = lines[:starting]
        blank = sum(1 for x in head if not x.strip(self._blank)) if self._blank else head.count(b"")
        self.before[at] = self.nonblank + len(head) - blank

    def count_rest(self) -> None:
        """Count the non-blank lines left, holding none of them: a rejected file's records."""
        has = bool(self._pending.strip(self._blank))
        self._pending = b""
        for chunk in self._chunks:
            # a CRLF cut in two makes an empty line between: blank, so not counted
            parts = chunk.replace(b"\r", b"\n").split(b"\n")
            if len(parts) > 1:
                self.nonblank += int(has or bool(parts[0].strip(self._blank)))
                self.nonblank += sum(1 for p in parts[1:-1] if p.strip(self._blank))
                has = False
            has = has or bool(parts[-1].strip(self._blank))
        self.nonblank += int(has)


def decode_block(block: Block, encoding: str) -> list[str]:
    """A block's lines as text; a byte that is not ``encoding`` rejects the file, naming its line."""
    try:
        text = block.text.decode(encoding)
    except UnicodeDecodeError as exc:
        line = block.start + block.text.count(b"\n", 0, exc.start)
        col = exc.start - block.text.rfind(b"\n", 0, exc.start)  # 1-based byte in its line
        raise Rejected(
            f"not valid {encoding} at line {line}, byte {col}: {exc.reason} (wrong encoding?)"
        ) from None
    return text.split("\n")
