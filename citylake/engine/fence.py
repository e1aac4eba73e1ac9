"""Fencing: no commit from a run that no longer holds the lake.

The lake's run lock (citylake.lake.runlock) installs a guard while a run holds it. Every commit
point calls ``check`` just before it commits (Delta appends, MERGEs and replaces, table
creation and schema changes, the bookkeeping tables, quarantine copies, published snapshots),
and the guard raises LockLost once the holder has lost the lock: its lease lapsed while it
stalled, or a newer generation exists. The run then stops without writing; the run that holds
the lake now, or the next one, finishes its work from what the lake holds.

LockLost is a BaseException, like SystemExit: the per-unit and per-table ``except Exception``
that keep one failure from stopping the others must not catch it and carry on writing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Guard = Callable[[str], None]
_guards: list[Guard] = []
_mutex = threading.Lock()


class LockLost(BaseException):
    """This run no longer holds the lake's lock: it must not write."""


def check(what: str) -> None:
    """Raise LockLost if the run is about to commit ``what`` without holding the lake."""
    for guard in list(_guards):
        guard(what)


@contextmanager
def guarded(guard: Guard) -> Iterator[None]:
    """Every ``check`` inside the block asks ``guard`` (process-wide: a run's worker threads too)."""
    with _mutex:
        _guards.append(guard)
    try:
        yield
    finally:
        with _mutex:
            _guards.remove(guard)
