"""Several tables at once in one Spark application.

Most of what a small table costs is driver work: Delta log replay, planning, the commit and
GX's bookkeeping, while the executors wait. Working on a few tables at once overlaps that
idle time; the executors' slots are still shared by one scheduler. Each item's function must
handle its own failure, as the jobs do (one table's failure stops no other).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def each(items: Sequence[T], fn: Callable[[T], R], workers: int) -> list[R]:
    """``[fn(i) for i in items]``, up to ``workers`` at a time; results in the items' order."""
    if workers <= 1 or len(items) <= 1:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(max_workers=min(workers, len(items)), thread_name_prefix="citylake") as pool:
        return list(pool.map(fn, items))
