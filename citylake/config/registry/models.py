"""The registry's models: feed contracts, source units and their feeds, mart docs.

Each model validates its own fields and cross-field rules; loading.py reads the YAML and reports
every problem with its file and field.
"""

from __future__ import annotations

import codecs
import dataclasses
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    Field,
    field_validator,
    model_validator,
)

from citylake.config.registry.base import Strict as _Strict
from citylake.config.registry.delivery import Completeness, FeedLimits
from citylake.domain.districts import districts

FIELD_PREFIX = re.compile(r"^([a-z_]+): ")
SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")
UNIT_ID = re.compile(r"^[a-z][a-z0-9_]{2,63}$")


def _matching(pattern: re.Pattern[str], what: str, rule: str) -> AfterValidator:
    """A name field's check: the value must match ``pattern``; the error names the value."""

    def check(v: str) -> str:
        if not pattern.match(v):
            raise ValueError(f"{what} {v!r} must {rule}")
        return v

    return AfterValidator(check)


ColumnName = Annotated[str, _matching(SNAKE, "column name", "be snake_case ASCII")]
FeedName = Annotated[str, _matching(SNAKE, "feed name", "be snake_case ASCII")]
UnitId = Annotated[str, _matching(UNIT_ID, "unit id", f"match {UNIT_ID.pattern}")]

ColumnType = Literal["string", "int", "long", "double", "boolean", "timestamp", "date"]
PiiKind = Literal["resident_id", "mobile", "name", "address", "licence_plate"]
Role = Literal["district_code", "street_code", "lon", "lat", "uscc", "object_id"]
ActionArea = Literal["new_networks", "new_facilities", "new_platforms", "new_terminals"]
Cadence = Literal["15min", "hourly", "daily", "weekly"]
Derived = Literal["birth_year", "gender", "region"]


class Column(_Strict):
    name: ColumnName
    type: ColumnType
    nullable: bool = True
    description: str = ""
    aliases: tuple[str, ...] = ()
    pii: PiiKind | None = None
    role: Role | None = None
    min: float | None = None
    max: float | None = None
    allowed: tuple[str, ...] | None = None
    # non-identifying fields silver derives from a resident ID before hashing it
    derive: tuple[Derived, ...] = ()
    # entity feeds: false for a measure the snapshot carries (sales, occupancy); it is kept up
    # to date in the current version instead of opening a new SCD2 version every day
    track: bool = True

    @model_validator(mode="after")
    def _derive_needs_id(self) -> Column:
        if self.derive and self.pii != "resident_id":
            raise ValueError(f"derive: column {self.name!r}: derived fields come from resident IDs only")
        return self

    def header_names(self) -> tuple[str, ...]:
        """Every header a source may use for this column, canonical name first."""
        return (self.name, *self.aliases)


class Coordinates(_Strict):
    lon: str
    lat: str


class FeedContract(_Strict):
    contract: str
    version: int = Field(ge=1)
    title: str
    description: str
    # event: records in time; entity: snapshots of objects, dated by the source's update time;
    # reference: full snapshots of a register (no event time), dated by their delivery
    kind: Literal["event", "entity", "reference"]
    action_area: ActionArea
    owner: str
    cadence: Cadence
    event_time: str | None = None
    business_keys: tuple[str, ...] = Field(min_length=1)
    timestamp_format: str = "yyyy-MM-dd HH:mm:ss"
    # values a unit writes for "no value" (NA, NULL, \N, -, /, 无): null in CSV and JSON lines
    null_values: tuple[str, ...] = ()
    coordinates: Coordinates | None = None
    columns: tuple[Column, ...] = Field(min_length=1)
    suites: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _references(self) -> FeedContract:
        names = [c.name for c in self.columns]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise ValueError(f"columns: duplicate column names: {sorted(dupes)}")
        headers: dict[str, str] = {}
        for col in self.columns:
            for h in col.header_names():
                if h in headers and headers[h] != col.name:
                    raise ValueError(
                        f"columns: header alias {h!r} maps to both {headers[h]!r} and {col.name!r}"
                    )
                headers[h] = col.name
        by_name = {c.name: c for c in self.columns}
        if self.kind == "reference":
            if self.event_time is not None:
                raise ValueError("event_time: a reference contract has no event time; "
                                 "each delivery is a snapshot dated by its delivery date")  # fmt: skip
        elif self.event_time is None:
            raise ValueError(f"event_time: required for a contract of kind {self.kind}")
        elif self.event_time not in by_name:
            raise ValueError(f"event_time: event_time {self.event_time!r} is not a column")
        elif by_name[self.event_time].type != "timestamp":
            raise ValueError(f"event_time: event_time {self.event_time!r} must have type timestamp")
        missing = [k for k in self.business_keys if k not in by_name]
        if missing:
            raise ValueError(f"business_keys: business_keys {missing} are not columns")
        if self.coordinates:
            for axis in (self.coordinates.lon, self.coordinates.lat):
                if axis not in by_name or by_name[axis].type != "double":
                    raise ValueError(f"coordinates: coordinates column {axis!r} must be a double column")
        return self

    @property
    def scd2(self) -> bool:
        """Kept in silver as an SCD type 2 dimension (entities and reference registers)."""
        return self.kind != "event"

    @cached_property
    def by_name(self) -> dict[str, Column]:
        return {c.name: c for c in self.columns}

    @cached_property
    def header_map(self) -> dict[str, str]:
        """Source header (canonical, English or Chinese alias) -> canonical column name."""
        return {h: c.name for c in self.columns for h in c.header_names()}

    def suites_for(self, layer: str) -> tuple[str, ...]:
        """This contract's suites for one layer ("bronze/<x>" files check bronze, "silver/<x>" silver)."""
        return tuple(s for s in self.suites if s.split("/", 1)[0] == layer)

    @property
    def pii_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.pii)

    @property
    def bronze_table(self) -> str:
        return f"bronze_{self.contract}"


# what a CSV may be sent in (docs/units/landing-contract.md); JSON lines and Parquet: utf-8
ENCODINGS = ("utf-8", "utf-8-sig", "gbk", "gb18030")


class FeedSpec(_Strict):
    feed: FeedName
    contract: str
    format: Literal["csv", "jsonl", "parquet"]
    encoding: str = "utf-8"
    compression: Literal["none", "gzip"] = "none"
    header_language: Literal["en", "zh"] = "en"
    delimiter: str = ","
    coord_system: Literal["wgs84", "gcj02", "bd09"] | None = None
    cadence: Cadence | None = None
    timestamp_format: str | None = None
    # this unit's own "no value" markers, instead of the contract's (csv and jsonl)
    null_values: tuple[str, ...] | None = None
    # csv only: fields may hold quoted line breaks (RFC 4180); each file is then read whole
    multiline: bool = False
    # what preflight accepts from this feed's files (sizes, depth); the defaults unless raised here
    limits: FeedLimits = FeedLimits()
    # how a delivery is known to be complete (citylake/lake/completeness.py)
    complete_when: Completeness = Completeness()

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, v: str) -> str:
        # the landing contract's encodings only: Python's preflight and Spark's (Java) reader
        # must decode alike, and a codec only Python knows (rot13, utf-16 with its own BOMs)
        # would pass preflight and fail or garble in Spark
        try:
            name = codecs.lookup(v).name
        except LookupError as exc:
            raise ValueError(f"unknown encoding {v!r}; use one of {', '.join(ENCODINGS)}") from exc
        if name not in ENCODINGS:
            raise ValueError(f"encoding {v!r} is not one the landing contract allows: {', '.join(ENCODINGS)}")
        return name

    @model_validator(mode="after")
    def _format_rules(self) -> FeedSpec:
        if self.format != "csv" and self.header_language != "en":
            raise ValueError("header_language: header_language applies to csv only")
        if self.format in ("jsonl", "parquet") and self.encoding not in ("utf-8", "utf8"):
            raise ValueError(
                f"encoding: {self.format} is always UTF-8; encoding {self.encoding!r} is not possible"
            )
        if self.format == "parquet" and self.compression != "none":
            raise ValueError("compression: parquet compresses internally; compression must be none")
        if self.multiline and self.format != "csv":
            raise ValueError("multiline: applies to csv only (a JSON lines record is one line)")
        if len(self.delimiter) != 1:
            raise ValueError("delimiter: delimiter must be one character")
        if self.null_values is not None and self.format == "parquet":
            raise ValueError("null_values: applies to csv and jsonl (a Parquet file has real nulls)")
        return self

    @property
    def extension(self) -> str:
        ext = {"csv": ".csv", "jsonl": ".jsonl", "parquet": ".parquet"}[self.format]
        return ext + (".gz" if self.compression == "gzip" else "")


class SourceUnit(_Strict):
    unit: UnitId
    name: str
    name_zh: str
    kind: Literal["commission", "district_bureau", "operator"]
    action_area: ActionArea
    district_code: str | None = None
    owner: str
    contact: str
    feeds: tuple[FeedSpec, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _district(self) -> SourceUnit:
        if self.kind == "district_bureau" and not self.district_code:
            raise ValueError("district_code: district_code is required for a district_bureau")
        if self.district_code is not None and self.district_code not in districts():
            raise ValueError(
                f"district_code: district_code {self.district_code!r} is not a current GB/T 2260 district code"
            )
        names = [f.feed for f in self.feeds]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise ValueError(f"feeds: feed names repeat: {sorted(dupes)}")
        return self


class MartColumn(_Strict):
    name: ColumnName
    type: ColumnType
    description: str


class MartLayout(_Strict):
    """How a mart's files are laid out for its readers."""

    # columns readers filter by: files are range-partitioned and sorted on them, and OPTIMIZE
    # Z-orders on them
    cluster_by: tuple[str, ...] = ()
    # one file group per value of this column (e.g. one per district), so a filter on it
    # skips every other file
    files_by: str | None = None
    max_rows_per_file: int = Field(default=1_000_000, ge=1000)


class MartDoc(_Strict):
    """A gold mart's contract with its readers: grain, columns, owner, inputs and checks."""

    mart: str
    title: str
    description: str
    grain: str
    owner: str
    audience: tuple[Literal["digital_twin", "ai", "analysts", "operations"], ...] = Field(min_length=1)
    # the day column a run replaces; none: the mart is rebuilt whole (e.g. SCD2 dimensions)
    date_column: str | None = None
    inputs: tuple[str, ...] = Field(min_length=1)
    suites: tuple[str, ...] = Field(min_length=1)
    columns: tuple[MartColumn, ...] = Field(min_length=1)
    layout: MartLayout = MartLayout()

    @model_validator(mode="after")
    def _references(self) -> MartDoc:
        if not self.grain.lower().startswith("one row per "):
            raise ValueError("grain: the grain must read 'one row per ...'")
        names = [c.name for c in self.columns]
        if self.date_column is not None and self.date_column not in names:
            raise ValueError(f"date_column: {self.date_column!r} is not a column")
        unknown = [c for c in (*self.layout.cluster_by, self.layout.files_by) if c and c not in names]
        if unknown:
            raise ValueError(f"layout: {unknown} are not columns")
        for ref in self.inputs:
            if ref.split(".", 1)[0] not in ("silver", "gold", "_system", "registry"):
                raise ValueError(
                    f"inputs: {ref!r} must be silver.<table>, gold.<mart>, _system.<table> or registry.units"
                )
        return self


@dataclass(frozen=True)
class Feed:
    """One unit's feed bound to its contract: what a job needs to ingest it."""

    unit: SourceUnit
    spec: FeedSpec
    contract: FeedContract

    @property
    def key(self) -> str:
        return f"{self.unit.unit}/{self.spec.feed}"

    @property
    def cadence(self) -> str:
        return self.spec.cadence or self.contract.cadence

    @property
    def timestamp_format(self) -> str:
        return self.spec.timestamp_format or self.contract.timestamp_format

    @property
    def null_values(self) -> tuple[str, ...]:
        """The markers read as null in this feed: the unit's own, else the contract's; none
        for Parquet, whose nulls are nulls."""
        if self.spec.format == "parquet":
            return ()
        return self.contract.null_values if self.spec.null_values is None else self.spec.null_values


@dataclass(frozen=True)
class Registry:
    contracts: dict[str, FeedContract]
    units: dict[str, SourceUnit]
    root: Path
    marts: dict[str, MartDoc] = dataclasses.field(default_factory=dict)

    def feeds(self) -> Iterator[Feed]:
        for unit in self.units.values():
            for spec in unit.feeds:
                yield Feed(unit, spec, self.contracts[spec.contract])

    def feed(self, unit: str, feed: str) -> Feed | None:
        u = self.units.get(unit)
        if u is None:
            return None
        for spec in u.feeds:
            if spec.feed == feed:
                return Feed(u, spec, self.contracts[spec.contract])
        return None

    def contracts_in_use(self) -> list[FeedContract]:
        used = {spec.contract for u in self.units.values() for spec in u.feeds}
        return [c for name, c in sorted(self.contracts.items()) if name in used]
