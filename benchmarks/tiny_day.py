"""dag_overhead.py's setup: every registered feed delivers one tiny file."""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from citylake.config.registry import Registry, load_registry
from citylake.generate import generate
from citylake.lake import Lake

DAY = dt.date(2026, 11, 20)


@contextmanager
def tiny_day(scale: float) -> Iterator[tuple[Registry, Lake, list[Any]]]:
    """A throw-away lake with one fault-free file per feed for DAY; yields (registry, lake, reports)."""
    reg = load_registry()
    with tempfile.TemporaryDirectory() as tmp:
        lake = Lake(tmp)
        yield reg, lake, generate(reg, DAY, scale, None, lake, faults=False)
