"""Landing-zone discovery and per-file checks, on the driver, before any Spark work.

One streaming pass over each delivered file computes its checksum, proves it decompresses and
decodes in the declared encoding, checks its header against the feed contract, and counts its
records independently of Spark (the ``landed`` side of the ledger invariant). A file that fails
here is rejected with a reason naming the file, line and field; it never reaches a Spark job, so
one unit's broken delivery cannot fail the read of the others.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import zlib
from dataclasses import dataclass, field

from citylake.lake import Lake
from citylake.config.registry import Feed, FeedContract, Registry
from citylake.engine.storage import FileInfo, Store

CHUNK = 1 << 20
ARROW_COMPATIBLE = {
    "string": ("string", "large_string"),
    "int": ("int8", "int16", "int32", "uint8", "uint16"),
    "long": ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32"),
    "double": ("float", "double", "halffloat", "float32", "float64", "float16"),
    "boolean": ("bool",),
    "date": ("date32[day]", "date32", "date64"),
    "timestamp": ("timestamp",),
}


@dataclass
class LandedFile:
    path: str  # full path or URI
    rel: str  # <unit>/<feed>/<date>/<name>, the id the ledger and manifest use
    unit: str
    feed: str
    date: str
    size: int
    feed_ref: Feed | None = None
    sha256: str = ""
    records: int = 0
    ok: bool = False
    reason: str | None = None
    # Canonical column names in the order (or under the keys) the file carries them.
    source_columns: list[tuple[str, str]] = field(default_factory=list)

    @property
    def contract(self) -> str | None:
        return self.feed_ref.contract.contract if self.feed_ref else None

    def reject(self, reason: str) -> LandedFile:
        self.ok = False
        self.reason = reason
        return self


@dataclass(frozen=True)
class Scope:
    """Which units and contracts a run covers; empty means all.

    A scoped run (re-running one unit's day, one contract's backfill) sees only the files of
    the feeds it covers, so it never judges, loads or rejects anybody else's deliveries.
    """

    units: frozenset[str] = frozenset()
    contracts: frozenset[str] = frozenset()

    @property
    def everything(self) -> bool:
        return not self.units and not self.contracts

    def covers(self, unit: str, contract: str | None) -> bool:
        if self.units and unit not in self.units:
            return False
        return not self.contracts or contract in self.contracts

    def contracts_of(self, registry: Registry) -> list[str]:
        """The contracts the run covers: every one in use, or those the scope's units deliver."""
        return sorted(
            {f.contract.contract for f in registry.feeds() if self.covers(f.unit.unit, f.contract.contract)}
        )


def discover(
    lake: Lake, store: Store, registry: Registry, date: str, scope: Scope | None = None
) -> list[LandedFile]:
    """Every file delivered under landing/<unit>/<feed>/<date>/, known units or not (scoped runs:
    only the feeds the scope covers; unknown units are left to the full run)."""
    root = lake.zone("landing")
    scope = scope or Scope()
    found: list[LandedFile] = []
    for unit in store.list_dirs(root):
        if scope.units and unit not in scope.units:
            continue
        for feed in store.list_dirs(f"{root}/{unit}"):
            ref = registry.feed(unit, feed)
            if not scope.everything and (ref is None or not scope.covers(unit, ref.contract.contract)):
                continue
            for info in store.list_files(f"{root}/{unit}/{feed}/{date}"):
                found.append(_landed(info, unit, feed, date, registry))
    return found


def _landed(info: FileInfo, unit: str, feed: str, date: str, registry: Registry) -> LandedFile:
    name = info.path.rsplit("/", 1)[-1]
    lf = LandedFile(info.path, f"{unit}/{feed}/{date}/{name}", unit, feed, date, info.size)
    lf.feed_ref = registry.feed(unit, feed)
    return lf


def count_lines(data: bytes) -> int:
    """Non-blank lines, the way Spark's line readers count records (they skip blank lines)."""
    return sum(1 for line in data.split(b"\n") if line.strip(b" \t\r"))


def _read_all(store: Store, lf: LandedFile) -> tuple[bytes, str | None]:
    """Raw bytes -> (decompressed bytes, error). Hashes the raw bytes on the way."""
    digest = hashlib.sha256()
    raw = io.BytesIO()
    with store.open(lf.path) as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            raw.write(chunk)
    lf.sha256 = digest.hexdigest()
    data = raw.getvalue()
    if lf.feed_ref and lf.feed_ref.spec.compression == "gzip" or lf.path.endswith(".gz"):
        d = zlib.decompressobj(wbits=31)
        try:
            out = d.decompress(data) + d.flush()
        except zlib.error as exc:
            return b"", f"gzip data is corrupt: {exc}"
        if not d.eof:
            return (
                out,
                f"gzip stream is truncated: ends after {len(data)} bytes before the end-of-stream marker",
            )
        return out, None
    return data, None


def _decode(data: bytes, encoding: str) -> tuple[str | None, str | None]:
    try:
        return codecs.decode(data, encoding), None
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return None, f"not valid {encoding} at line {line}, byte {exc.start}: {exc.reason} (wrong encoding?)"


def _map_names(
    names: list[str], contract: FeedContract, what: str
) -> tuple[list[tuple[str, str]], str | None]:
    mapped: list[tuple[str, str]] = []
    unknown: list[str] = []
    for n in names:
        canonical = contract.header_map.get(n.strip())
        if canonical is None:
            unknown.append(n)
        else:
            mapped.append((n, canonical))
    seen = [c for _, c in mapped]
    repeated = sorted({c for c in seen if seen.count(c) > 1})
    missing = [c.name for c in contract.columns if c.name not in seen]
    problems = []
    if unknown:
        problems.append(f"unexpected {what} {unknown}")
    if missing:
        problems.append(f"missing {what} {missing}")
    if repeated:
        problems.append(f"{what} given twice {repeated}")
    if problems:
        return mapped, "; ".join(problems) + f" (contract {contract.contract} v{contract.version})"
    return mapped, None


def _check_csv(lf: LandedFile, data: bytes) -> LandedFile:
    assert lf.feed_ref is not None
    spec, contract = lf.feed_ref.spec, lf.feed_ref.contract
    text, err = _decode(data, spec.encoding)
    if err or text is None:
        return lf.reject(err or "undecodable")
    text = text.removeprefix("\ufeff")  # a BOM is tolerated whatever the declared encoding
    first_nl = text.find("\n")
    header_line = text if first_nl < 0 else text[:first_nl]
    if not header_line.strip():
        return lf.reject("line 1: header row is empty")
    header = next(csv.reader([header_line.rstrip("\r")], delimiter=spec.delimiter))
    mapped, err = _map_names(header, contract, "columns")
    if err:
        hint = (
            ""
            if spec.encoding.startswith("utf")
            else f"; if the header looks garbled the file is not {spec.encoding}"
        )
        return lf.reject(f"line 1 (header): {err}{hint}")
    lf.source_columns = mapped
    lf.records = max(0, count_lines(data) - 1)
    if '"' in text:  # only a quoted field can hold a line break; most files have no quotes at all
        records, spans = _csv_records(text, spec.delimiter, len(header))
        if spans and not spec.multiline:
            return lf.reject(
                f"line {spans[0]}: a quoted field holds a line break (RFC 4180 quoted newline; "
                f"{len(spans)} record(s) in the file), and this feed is read line by line, which would "
                f"split them: declare `multiline: true` for feed {lf.feed} in schemas/units/{lf.unit}.yaml "
                "to read such files whole"
            )
        if spec.multiline:
            lf.records = records
    if lf.records == 0:
        return lf.reject("header only: the file has no records")
    lf.ok = True
    return lf


def _csv_records(text: str, delimiter: str, fields: int) -> tuple[int, list[int]]:
    """(records after the header, first lines of well-formed records that span several lines).

    A record only counts as spanning when it has the header's field count: a stray opening
    quote that swallows the following lines is a broken record, quarantined line by line.
    """
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    records, spans, line = -1, [], 0
    try:
        for row in reader:
            start, line = line + 1, reader.line_num
            if line > start and len(row) == fields and any("\n" in c or "\r" in c for c in row):
                spans.append(start)
            if row:  # a blank line is no record (Spark skips it too)
                records += 1
    except csv.Error:
        return max(records, 0), []
    return max(records, 0), spans


def _check_jsonl(lf: LandedFile, data: bytes) -> LandedFile:
    assert lf.feed_ref is not None
    contract = lf.feed_ref.contract
    text, err = _decode(data, "utf-8")
    if err or text is None:
        return lf.reject(err or "undecodable")
    keys: list[str] | None = None
    for lineno, line in enumerate(text.split("\n", 50)[:50], start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue  # a broken record is quarantined later, row by row
        if not isinstance(rec, dict):
            return lf.reject(
                f"line {lineno}: a JSON lines record must be an object, got {type(rec).__name__}"
            )
        keys = list(rec)
        break
    if keys is None:
        return lf.reject("no parseable JSON object in the first 50 lines")
    mapped, err = _map_names(keys, contract, "fields")
    if err:
        return lf.reject(f"line {lineno}: {err}")
    lf.source_columns = mapped
    lf.records = count_lines(data)
    lf.ok = True
    return lf


def _check_parquet(lf: LandedFile, data: bytes) -> LandedFile:
    import pyarrow.parquet as pq

    assert lf.feed_ref is not None
    contract = lf.feed_ref.contract
    try:
        meta = pq.ParquetFile(io.BytesIO(data))
    except Exception as exc:  # pyarrow raises several types for a bad footer
        return lf.reject(f"not a readable Parquet file: {exc}")
    schema = meta.schema_arrow
    mapped, err = _map_names(list(schema.names), contract, "fields")
    if err:
        return lf.reject(err)
    wrong = []
    for source, canonical in mapped:
        want = contract.by_name[canonical].type
        got = str(schema.field(source).type)
        if not any(got == t or got.startswith(t + "[") for t in ARROW_COMPATIBLE[want]):
            wrong.append(f"field '{source}': expected {want}, found {got}")
    if wrong:
        return lf.reject("wrong types: " + "; ".join(wrong))
    lf.source_columns = mapped
    lf.records = meta.metadata.num_rows
    if lf.records == 0:
        # one rule for every format: a delivery without records is set aside, never "loaded"
        return lf.reject("no records: the Parquet file has a schema but 0 rows")
    lf.ok = True
    return lf


def check(lf: LandedFile, store: Store) -> LandedFile:
    """Run every driver-side check on one landed file; sets ok/reason/records/sha256."""
    if lf.feed_ref is None:
        try:
            data, _ = _read_all(store, lf)
        except OSError as exc:
            return lf.reject(f"cannot read file: {exc}")
        if ".parquet" not in lf.path:
            lf.records = max(0, count_lines(data) - (1 if ".csv" in lf.path else 0))
        return lf.reject(
            f"unknown unit/feed {lf.unit}/{lf.feed}: not in the registry (onboard the unit first)"
        )
    try:
        data, err = _read_all(store, lf)
    except OSError as exc:
        return lf.reject(f"cannot read file: {exc}")
    if err:
        # Whatever could be decompressed still counts as landed, so the ledger shows what was lost.
        lf.records = max(0, count_lines(data) - (1 if lf.feed_ref.spec.format == "csv" else 0))
        return lf.reject(err)
    if not data.strip():
        return lf.reject("empty file")
    fmt = lf.feed_ref.spec.format
    if fmt == "csv":
        return _check_csv(lf, data)
    if fmt == "jsonl":
        return _check_jsonl(lf, data)
    return _check_parquet(lf, data)
