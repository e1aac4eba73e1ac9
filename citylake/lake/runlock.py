"""One writer at a time: the lake's run lock, fenced.

A manual `citylake run` beside the Airflow task, or a retry beside a run that is still going,
would write the same tables at once: Delta appends would race on table creation, two silver
steps would promote the same bronze commits, and on S3 the single-driver log store is only
safe with one driver per table. So every run that writes (run, marts, maintain) holds the lock;
the second one waits, or stops at once with an error naming the run that holds it.

The lock is a file per generation, ``_system/locks/pipeline/<generation>.json``, holding the
holder's run id, date, host, pid, a beat counter and its lease. Taking the lock creates the
next generation with an exclusive create (``O_EXCL`` locally, a conditional PUT on S3), so two
runs cannot both win. The newest generation is the holder unless it was released, its process
is gone (a holder on this host; a run killed with SIGKILL frees the lake at once), or, for a
holder on another host, its beat counter has not moved for its lease as measured on the
observer's own clock: no wall clock is ever compared across hosts.

Fencing: the generation is the holder's token. Before every commit (citylake.engine.fence)
the holder checks that no newer generation exists and that its lease cannot have lapsed: its
last beat, on its own clock, is younger than the lease less a guard. A holder that stalled
past its lease (a paused VM, a stopped process) stops at its next commit without writing, even
if nobody took the lake meanwhile, since from outside it could not be told from a dead one.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from citylake.engine import fence
from citylake.engine.fence import LockLost
from citylake.engine.storage import Store, store_for
from citylake.lake import Lake

log = logging.getLogger(__name__)
HEARTBEAT_S = 10.0
LEASE_S = 120.0  # a holder elsewhere whose beat stood still this long, on the observer's clock, is gone
GUARD_S = 20.0  # the holder stops committing this long before its lease could lapse
POLL_S = 2.0

__all__ = ["LakeBusy", "LockLost", "hold", "holder"]


def _host() -> str:
    return socket.gethostname()


def _clock() -> float:
    """Seconds on this machine's own clock, for durations only. CLOCK_BOOTTIME, unlike the
    monotonic clock, counts time the machine was suspended: a holder that slept must know."""
    return time.clock_gettime(time.CLOCK_BOOTTIME) if hasattr(time, "CLOCK_BOOTTIME") else time.monotonic()


class LakeBusy(Exception):
    """Another run holds the lake's lock."""

    def __init__(self, holder: dict[str, Any], path: str):
        self.holder, self.path = holder, path
        if holder.get("host") == _host():  # the same clock wrote the stamp: its age means something
            beat = f"last heartbeat {time.time() - float(holder.get('heartbeat', 0)):.0f} s ago"
        else:  # another host's clock: only its beat counter, which we saw moving
            beat = f"heartbeat #{holder.get('beat', '?')}, still beating"
        super().__init__(
            f"the lake is busy: run {holder.get('run_id')} for {holder.get('date')} holds it "
            f"({holder.get('what', 'run')}, pid {holder.get('pid')} on {holder.get('host')}, started "
            f"{holder.get('started_at')}, {beat}; lock {path}). "
            "Wait for it to finish, or pass --wait SECONDS (CITYLAKE_LOCK_WAIT) to queue behind it."
        )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed child its parent has not reaped yet is a zombie: gone for our purposes
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True


@dataclass
class _Seen:
    beat: Any
    since: float  # when we first saw this beat value, on our clock
    moved: bool  # the counter changed while we watched: the holder was alive then


def _liveness(record: dict[str, Any], path: str, watch: dict[str, _Seen]) -> bool | None:
    """True: the holder lives; False: it is gone; None: a holder elsewhere not watched long enough.

    A holder on this host lives as long as its process. One elsewhere is judged by its beat
    counter alone, on our own clock: alive once the counter moves, gone once it has stood still
    for the lease it declares. The wall-clock stamps it writes are never compared with ours.
    """
    if record.get("released"):
        return False
    if record.get("host") == _host():
        return _pid_alive(int(record.get("pid", -1)))
    now, seen, beat = _clock(), watch.get(path), record.get("beat")
    if seen is None or seen.beat != beat:
        watch[path] = _Seen(beat, now, moved=seen is not None)
        return True if seen is not None else None
    if now - seen.since >= float(record.get("lease_s", LEASE_S)):
        return False
    return True if seen.moved else None


@dataclass
class _Held:
    """The lock as its holder sees it: its generation (the fencing token) and its lease."""

    store: Store
    base: str
    generation: int
    record: dict[str, Any]
    confirmed: float  # our clock before the newest beat we wrote: the lease runs from there
    stop: threading.Event
    lost: str | None = None

    @property
    def path(self) -> str:
        return f"{self.base}/{self.generation:010d}.json"

    def verify(self, what: str) -> None:
        """The fence (citylake.engine.fence): raise LockLost unless we still hold the lake."""
        if self.lost is None:
            idle = _clock() - self.confirmed
            lease = float(self.record["lease_s"])
            if idle > lease - GUARD_S:
                self.lost = (f"its lease lapsed: its newest heartbeat is {idle:.0f} s old, lease {lease:.0f} s, "
                             "so another run may have taken the lake")  # fmt: skip
            elif newer := [g for g in _generations(self.store, self.base) if g > self.generation]:
                self.lost = f"another run took generation {newer[-1]}"
        if self.lost is not None:
            raise LockLost(
                f"run {self.record['run_id']} lost the lake's lock (generation {self.generation}, {self.path}): "
                f"{self.lost}; it stopped before {what}, without writing"
            )

    def beat(self) -> None:
        """Write the next beat, unless the lock is lost (then LockLost, and nothing is written)."""
        t = _clock()
        self.verify("its heartbeat")
        self.record["beat"] += 1
        self.record["heartbeat"] = time.time()  # for people reading the file; no run compares it
        self.store.write_bytes(self.path, json.dumps(self.record).encode())
        self.confirmed = t


def _dir(lake: Lake) -> str:
    return f"{lake.zone('_system')}/locks/pipeline"


def _generations(store: Store, base: str) -> list[int]:
    return sorted(int(n[:-5]) for n in store.list_names(base) if n.endswith(".json") and n[:-5].isdigit())


def holder(lake: Lake, store: Store | None = None) -> dict[str, Any] | None:
    """The holder of the lake's lock, or None. One look: a holder on another host is presumed
    alive until it releases (only watching its beat over its lease could tell otherwise)."""
    store = store or store_for(lake.root)
    gens = _generations(store, _dir(lake))
    if not gens:
        return None
    path = f"{_dir(lake)}/{gens[-1]:010d}.json"
    try:
        record: dict[str, Any] = json.loads(store.read_bytes(path))
    except (FileNotFoundError, ValueError):
        return None  # being written right now, or torn by a crash: the next look decides
    return None if _liveness(record, path, {}) is False else record


TORN_S = 5.0  # a lock file still unreadable after this long was torn by a crash, not being written


def _try_take(
    store: Store, base: str, record: dict[str, Any], torn_ok: bool, watch: dict[str, _Seen]
) -> tuple[int | None, dict[str, Any] | None, bool | None]:
    """(our generation, None, None) if taken; else (None, the holder, its liveness: True or
    None while a holder elsewhere is still being watched), or (None, None, None) to look again."""
    gens = _generations(store, base)
    top = gens[-1] if gens else 0
    if gens:
        path = f"{base}/{top:010d}.json"
        try:
            current = json.loads(store.read_bytes(path))
        except FileNotFoundError:
            return None, None, None
        except ValueError:  # being written this instant, or torn by a crash mid-write
            if not torn_ok:
                return None, None, None
            current = {"released": True}
        live = _liveness(current, path, watch)
        if live is not False:
            return None, current, live
    record |= {"generation": top + 1, "beat": 0, "lease_s": LEASE_S, "heartbeat": time.time()}
    if not store.create_exclusive(f"{base}/{top + 1:010d}.json", json.dumps(record).encode()):
        return None, None, None  # another run took this generation first: look again
    for old in gens[:-1]:
        store.delete(f"{base}/{old:010d}.json")
    return top + 1, None, None


@contextmanager
def hold(lake: Lake, run_id: str, date: dt.date, wait_s: float = 0.0, what: str = "run") -> Iterator[None]:
    """Hold the lake's lock for the body; wait up to ``wait_s`` for another holder, then raise LakeBusy.

    A holder on another host is watched until its beat moves (then it is busy) or stands still
    for its lease (then it is gone), whatever ``wait_s``. Inside the body every commit is fenced:
    once the lock is lost, the next one raises LockLost.
    """
    store = store_for(lake.root)
    base = _dir(lake)
    record: dict[str, Any] = {"run_id": run_id, "date": date.isoformat(), "what": what, "host": _host(),
                              "pid": os.getpid(), "started_at": dt.datetime.now().isoformat(timespec="seconds")}  # fmt: skip
    start = _clock()
    deadline = start + wait_s
    watch: dict[str, _Seen] = {}
    while True:
        taken_at = _clock()
        generation, current, live = _try_take(store, base, record, _clock() - start > TORN_S, watch)
        if generation is not None:
            break
        if current is not None and live and _clock() >= deadline:
            raise LakeBusy(current, base)
        time.sleep(POLL_S if current is not None else 0.1)
    held = _Held(store, base, generation, record, taken_at, threading.Event())

    def beat() -> None:
        while not held.stop.wait(HEARTBEAT_S):
            try:
                held.beat()
            except LockLost as exc:
                log.error("%s", exc)
                return
            except Exception:  # a storage hiccup must not kill the run; a long one lapses the lease
                log.warning("lock heartbeat failed", exc_info=True)

    thread = threading.Thread(target=beat, name="citylake-lock-heartbeat", daemon=True)
    thread.start()
    try:
        with fence.guarded(held.verify):
            yield
    finally:
        held.stop.set()
        thread.join(timeout=5)
        if held.lost is None:  # a lost lock is somebody else's now: leave its files alone
            held.record["released"] = True
            try:
                held.store.write_bytes(held.path, json.dumps(held.record).encode())
            except Exception:
                log.warning("could not release the lake lock %s; others take it once its beat stands "
                            "still for %.0f s", held.path, LEASE_S)  # fmt: skip
