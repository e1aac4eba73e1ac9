"""How a feed's deliveries are taken in: preflight's limits on one file, and when a delivery
counts as complete. Both are set per feed in its unit file (``limits:``, ``complete_when:``)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, model_validator

from citylake.config.registry.base import Strict as _Strict

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
_SIZE = re.compile(r"^\s*(\d+)\s*(B|KiB|MiB|GiB)?\s*$")
_UNITS = {None: 1, "B": 1, "KiB": KiB, "MiB": MiB, "GiB": GiB}


def _size(v: object) -> object:
    """A size in bytes, as a number or as a string such as "16 MiB"."""
    if isinstance(v, str):
        m = _SIZE.match(v)
        if not m:
            raise ValueError(f"size {v!r} must be a number of bytes or '<n> KiB', '<n> MiB', '<n> GiB'")
        return int(m[1]) * _UNITS[m[2]]
    return v


Size = Annotated[int, BeforeValidator(_size)]
# preflight holds one line at a time: its memory grows with the line limit, hence a ceiling
LINE_CEILING = 32 * MiB


class FeedLimits(_Strict):
    """What preflight takes from one feed's files, so that no file can exhaust the driver: a
    file over a limit is rejected with a reason naming the limit and its value. The defaults
    suit every feed so far; a unit file raises one for a feed that needs it (docs/landing_limits.md)."""

    # the content after gzip decompression (a plain file: its size; Parquet: its row groups' uncompressed size)
    max_decompressed_bytes: Size = Field(default=4 * GiB, ge=1)
    # one line (a JSON lines record; a CSV line, or a CSV record spanning lines in a multiline feed)
    max_line_bytes: Size = Field(default=8 * MiB, ge=KiB, le=LINE_CEILING)
    # one CSV field, in bytes as delivered
    max_field_bytes: Size = Field(default=1 * MiB, ge=1, le=LINE_CEILING)
    # nesting of objects and arrays in a JSON lines record; Spark's parser refuses more than 1000,
    # Python's more than about 900, so overrides stop at 500
    max_json_depth: int = Field(default=64, ge=1, le=500)

    @model_validator(mode="after")
    def _field_fits_line(self) -> FeedLimits:
        if self.max_field_bytes > self.max_line_bytes:
            raise ValueError("max_field_bytes: a field cannot be longer than max_line_bytes")
        return self


class Completeness(_Strict):
    """How a delivery of a feed is known to be complete; until it is, its files wait in landing
    (not read, not rejected) for a later run. Names starting with "." or "_" or ending ".tmp",
    ".part" or ".filepart" are never picked up, whatever the rule."""

    # settled: unchanged for settle_s (the default, which asks nothing of the unit); marker: a
    # done-marker file the unit writes after the data; rename: the unit uploads under a hidden
    # name and renames the file when it is complete, so every visible file is complete
    rule: Literal["settled", "marker", "rename"] = "settled"
    # settled: seconds without a change; unset: the platform's CITYLAKE_LANDING_SETTLE_S
    settle_s: int | None = Field(default=None, ge=0)
    # marker: "{name}.done" (one beside each file, {name} the file's name) or one name for the
    # whole date folder, such as "_SUCCESS"; marker files are never loaded
    marker: str = "{name}.done"

    @model_validator(mode="after")
    def _rule_fields(self) -> Completeness:
        if "/" in self.marker or not self.marker.strip() or self.marker == "{name}":
            raise ValueError(
                f"marker: {self.marker!r} must be a file name, such as '{{name}}.done' or '_SUCCESS'"
            )
        if self.settle_s is not None and self.rule != "settled":
            raise ValueError(f"settle_s: applies to rule 'settled', not {self.rule!r}")
        if "marker" in self.model_fields_set and self.rule != "marker":
            raise ValueError(f"marker: applies to rule 'marker', not {self.rule!r}")
        return self
