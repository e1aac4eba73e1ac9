"""Preflight's checks per format, on the stream preflight_stream gives: the header (or first
record's keys) against the contract, the records as Spark will count them,
and the feed's limits.

Reasons name lines, positions, columns and kinds of problem, never a value: a header that is
really the first record of a header-less file would otherwise copy personal data into every
table and page that shows reasons.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass

from citylake.config.registry import Feed, FeedContract
from citylake.config.registry.delivery import LINE_CEILING
from citylake.lake.preflight_stream import Limits, Lines, Rejected, decode_block

_ENDS = {b"\n": "LF", b"\r\n": "CRLF", b"\r": "CR"}
# the csv module's own cap (128 Ki chars) would raise on a long field; the feed's limits decide
csv.field_size_limit(max(csv.field_size_limit(), LINE_CEILING))
JAVA_TRIM = "".join(map(chr, range(0x21)))  # what Spark's CSV reader trims off a line to find it blank


class NoHeader(Rejected):
    """Line 1 names no column of the contract: it is most likely a record, and counts as one."""


@dataclass
class Checked:
    records: int
    source_columns: list[tuple[str, str]]


def spans(numbers: list[int]) -> str:
    """[1, 2, 3, 7] -> "1-3, 7"."""
    out: list[str] = []
    for n in numbers:
        if out and n == int(out[-1].rsplit("-", 1)[-1]) + 1:
            out[-1] = f"{out[-1].split('-')[0]}-{n}"
        else:
            out.append(str(n))
    return ", ".join(out)


def map_names(
    names: list[str], contract: FeedContract, what: str, cells: str
) -> tuple[list[tuple[str, str]], str | None]:
    """(source name, canonical column) for the names the contract knows, and what is wrong.

    An unknown name is given by position only: it may be a value (a file without its header
    row has a record where the header should be). Missing and repeated ones are the contract's.
    """
    mapped: list[tuple[str, str]] = []
    unknown: list[int] = []
    for i, n in enumerate(names, start=1):
        canonical = contract.header_map.get(n.strip())
        if canonical is None:
            unknown.append(i)
        else:
            mapped.append((n, canonical))
    seen = [c for _, c in mapped]
    repeated = sorted({c for c in seen if seen.count(c) > 1})
    missing = [c.name for c in contract.columns if c.name not in seen]
    problems = []
    if unknown:
        problems.append(
            f"unexpected {what} at position(s) {spans(unknown)} of {len(names)} ({cells} not shown)"
        )
    if missing:
        problems.append(f"missing {what} {missing}")
    if repeated:
        problems.append(f"{what} given twice {repeated}")
    if not problems:
        return mapped, None
    err = "; ".join(problems) + f" (contract {contract.contract} v{contract.version})"
    if not mapped:
        err += f"; none of them names a {what[:-1]} of the contract" + (
            ": is the header row missing?" if what == "columns" else ""
        )
    return mapped, err


class _Cursor:
    """Decoded lines of a Lines stream, block by block: runs of lines without a quote for checks
    in bulk, single lines for the csv module (records with quotes)."""

    def __init__(self, lines: Lines, encoding: str, odd_only: bool):
        self._blocks, self._encoding = lines.blocks(), encoding
        # Only a line with an odd number of quotes can open a field that spans lines; one with
        # an even number is a record of its own but for pathological quoting (x"y,"z). Where a
        # miss would change the count (multiline feeds), the csv module reads every quote.
        self._odd_only = odd_only
        self.text: list[str] = []
        self.raw: list[bytes] = []
        self.ends: list[bytes] | None = None
        self.i, self.start = 0, 1
        self._quoted: Iterator[int] = iter(())
        self._next_quoted = -1

    def _fill(self) -> bool:
        while self.i >= len(self.text):
            block = next(self._blocks, None)
            if block is None:
                return False
            self.text, self.raw, self.ends = decode_block(block, self._encoding), block.lines, block.ends
            self.i, self.start = 0, block.start
            # '"' is one byte in every encoding a feed may declare (no GBK or UTF-8 trail byte is 0x22)
            quoted = [] if b'"' not in block.text else (
                [k for k, x in enumerate(block.lines) if x.count(b'"') % 2] if self._odd_only
                else [k for k, x in enumerate(block.lines) if b'"' in x])  # fmt: skip
            self._quoted = iter(quoted)
            self._next_quoted = next(self._quoted, len(self.text))
        return True

    @property
    def lineno(self) -> int:
        """The number of the line taken last."""
        return self.start + self.i - 1

    def end(self) -> bytes:
        """How the line taken last ends (b"" at the end of the file)."""
        assert self.ends is not None
        return self.ends[self.i - 1]

    def line(self) -> tuple[str, int] | None:
        """The next line and its size in bytes; None at the end."""
        if not self._fill():
            return None
        self.i += 1
        return self.text[self.i - 1], len(self.raw[self.i - 1])

    def run(self) -> tuple[int, list[str], list[bytes] | None] | None:
        """(first line number, lines, their ends) up to the next line with a quote, in this block;
        an empty run when the next line has one; None at the end."""
        if not self._fill():
            return None
        while self._next_quoted < self.i:
            self._next_quoted = next(self._quoted, len(self.text))
        j = self._next_quoted
        got = (
            self.start + self.i,
            self.text[self.i : j],
            self.ends[self.i : j] if self.ends is not None else None,
        )
        self.i = j
        return got


class _TooLong(Exception):
    pass


class _Feeder:
    """Lines for the csv module, with their line ends, at most ``cap`` bytes per record."""

    def __init__(self, cursor: _Cursor, cap: int):
        self.cursor, self.cap, self.size = cursor, cap, 0

    def __iter__(self) -> _Feeder:
        return self

    def __next__(self) -> str:
        got = self.cursor.line()
        if got is None:
            raise StopIteration
        self.size += got[1] + 1
        if self.size > self.cap:
            raise _TooLong
        return got[0] + "\n"


class _CsvCheck:
    def __init__(self, feed: Feed, lines: Lines, limits: Limits):
        self.spec, self.contract, self.lines, self.limits = feed.spec, feed.contract, lines, limits
        # Lines drops a UTF-8 BOM whatever the declared encoding (Spark drops the header line anyway)
        self.encoding = "utf-8" if self.spec.encoding == "utf-8-sig" else self.spec.encoding
        self.cursor = _Cursor(lines, self.encoding, odd_only=not self.spec.multiline)
        self.columns: list[str] = []
        self.records = 0  # multiline feeds: records as the CSV parser finds them
        self.sep = b""

    def check(self) -> Checked:
        first = self.cursor.line()
        if first is None:
            raise Rejected("empty file")
        if not first[0].strip(JAVA_TRIM):
            for _ in iter(self.cursor.line, None):  # an empty file, or a header that is not on line 1
                pass
            raise Rejected("empty file" if not self.lines.content else "line 1: header row is empty")
        header = next(csv.reader([first[0]], delimiter=self.spec.delimiter))
        mapped, err = map_names(header, self.contract, "columns", "their text is")
        if err:
            missing = NoHeader if not mapped else Rejected
            hint = (
                ""
                if self.encoding.startswith("utf")
                else f"; if the header looks garbled the file is not {self.encoding}"
            )
            raise missing(f"line 1 (header): {err}{hint}")
        self.columns = [canonical for _, canonical in mapped]
        self._sizes(header, 1)
        if self.spec.multiline:
            self.sep = self.cursor.end()
        spans = self._body(len(header))
        if spans and not self.spec.multiline:
            raise Rejected(
                f"line {spans[0]}: a quoted field holds a line break (RFC 4180 quoted newline; "
                f"{len(spans)} record(s) in the file), and this feed is read line by line, which would "
                f"split them: declare `multiline: true` for feed {self.spec.feed} in schemas/units/"
                f"{self.limits.unit}.yaml to read such files whole"
            )
        records = self.records if self.spec.multiline else self.lines.nonblank - 1
        if records == 0:
            raise Rejected("header only: the file has no records")
        return Checked(records, mapped)

    def _body(self, fields: int) -> list[int]:
        """Every line after the header; the first lines of well-formed records that span lines.

        A record only counts as spanning when it has the header's field count: a stray opening
        quote that swallows the following lines is a broken record, quarantined line by line.
        """
        spans: list[int] = []
        feeder = _Feeder(self.cursor, self.limits.max_line_bytes)
        reader = csv.reader(feeder, delimiter=self.spec.delimiter)
        while (got := self.cursor.run()) is not None:
            start, run, ends = got
            if run:
                self._plain(start, run, ends)
                continue
            first, feeder.size = self.cursor.lineno + 1, 0
            try:
                row = next(reader)
            except StopIteration:
                break
            except (_TooLong, csv.Error) as exc:
                if self.spec.multiline:
                    what = "is longer than " + self.limits.name("max_line_bytes") if isinstance(exc, _TooLong) else (
                        f"is malformed ({exc})")  # fmt: skip
                    raise Rejected(f"line {first}: a record (quoted fields spanning lines) {what}") from None
                # read line by line, Spark quarantines the lines of a broken record one by one
                reader = csv.reader(feeder, delimiter=self.spec.delimiter)
                continue
            last = self.cursor.lineno
            self._sizes(row, first)
            if self.spec.multiline:
                self.records += 1 if row else 0
                self._ends(last, [self.cursor.end()])
            elif last > first and len(row) == fields and any("\n" in c for c in row):
                spans.append(first)
        return spans

    def _plain(self, start: int, run: list[str], ends: list[bytes] | None) -> None:
        """Lines that are one record each (see _Cursor on quotes)."""
        if self.spec.multiline:
            self.records += len(run) - run.count("")  # the parser skips empty lines only
            assert ends is not None
            self._ends(start, ends)
        if max(map(len, run)) * 4 > self.limits.max_field_bytes:  # a char is at most 4 bytes
            for k, line in enumerate(run):
                if len(line) * 4 > self.limits.max_field_bytes:
                    quoted = '"' in line
                    cells = next(csv.reader([line], delimiter=self.spec.delimiter)) if quoted else None
                    self._sizes(cells or line.split(self.spec.delimiter), start + k)

    def _ends(self, start: int, ends: list[bytes]) -> None:
        """A multiline file is read with the line end of its first line (Spark's parser detects
        it there), so any other end outside quotes would merge records."""
        if not (set(ends) - {self.sep, b""}):
            return
        at = next(k for k, e in enumerate(ends) if e and e != self.sep)
        raise Rejected(
            f"line {start + at}: ends with {_ENDS[ends[at]]}, but the header ends with {_ENDS.get(self.sep)}: a "
            "multiline feed's file is read with its first line's line end, so records would merge; deliver "
            "one kind of line end (a quoted field may hold any)"
        )

    def _sizes(self, cells: list[str], line: int) -> None:
        cap = self.limits.max_field_bytes
        for k, cell in enumerate(cells):
            if len(cell) * 4 > cap and len(cell.encode(self.encoding, "replace")) > cap:
                name = f" ({self.columns[k]})" if k < len(self.columns) else ""
                raise Rejected(
                    f"line {line}, field {k + 1}{name}: longer than {self.limits.name('max_field_bytes')}"
                )


def check_csv(feed: Feed, lines: Lines, limits: Limits) -> Checked:
    return _CsvCheck(feed, lines, limits).check()


def json_depth(line: bytes, stop: int) -> int:
    """How deep objects and arrays nest in a JSON text (brackets inside strings do not count);
    stops counting once past ``stop``."""
    depth = deepest = 0
    in_string = escaped = False
    for c in line:
        if in_string:
            if escaped:
                escaped = False
            elif c == 0x5C:  # backslash
                escaped = True
            elif c == 0x22:
                in_string = False
        elif c == 0x22:
            in_string = True
        elif c in (0x7B, 0x5B):  # { [
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > stop:
                    break
        elif c in (0x7D, 0x5D):
            depth -= 1
    return deepest


def check_jsonl(feed: Feed, lines: Lines, limits: Limits) -> Checked:
    """Every line: UTF-8, within the size and depth limits; the first object's keys against the
    contract (a later record's new keys are schema drift, reported by the bronze job)."""
    mapped: list[tuple[str, str]] | None = None
    depth = limits.max_json_depth
    for block in lines.blocks():
        text = decode_block(block, "utf-8")
        for k, raw in enumerate(block.lines):
            # a record can only nest as deep as it has brackets: the exact count is for the few that may
            if raw.count(b"{") + raw.count(b"[") > depth and json_depth(raw, depth) > depth:
                raise Rejected(
                    f"line {block.start + k}: objects and arrays nest deeper than {limits.name('max_json_depth')}"
                )
        for k, line in enumerate(text if mapped is None else ()):
            lineno = block.start + k
            if lineno > 50:
                raise Rejected("no parseable JSON object in the first 50 lines")
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                continue  # a broken record is quarantined later, row by row
            if not isinstance(rec, dict):
                raise Rejected(
                    f"line {lineno}: a JSON lines record must be an object, got {type(rec).__name__}"
                )
            mapped, err = map_names(list(rec), feed.contract, "fields", "their keys are")
            if err:
                raise Rejected(f"line {lineno}: {err}")
            break
    if mapped is None:
        raise Rejected(
            "empty file" if not lines.content else "no parseable JSON object in the first 50 lines"
        )
    return Checked(lines.nonblank, mapped)
