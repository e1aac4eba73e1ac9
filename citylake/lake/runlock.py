"""One writer at a time: the lake's run lock.

A manual `citylake run` beside the Airflow task, or a retry beside a run that is still going,
would write the same tables at once: Delta appends would race on table creation, two silver
steps would promote the same bronze commits, and on S3 the single-driver log store is only
safe with one driver per table. So every run that writes (run, marts, maintain) holds the lock;
the second one waits, or stops at once with an error naming the run that holds it.

The lock is a file per generation, ``_system/locks/pipeline/<generation>.json``, holding the
holder's run id, date, host, pid and a heartbeat. The newest generation is the holder, unless
it was released, its process is gone (a holder on this host), or its heartbeat is older than
``STALE_S`` (a holder on another host, which may have died with its machine). Taking the lock creates the next generation with an
exclusive create (``O_EXCL`` locally, a conditional PUT on S3), so two runs cannot both win.
A run killed with SIGKILL leaves its generation behind; the next run sees its process is gone.
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

from citylake.lake import Lake
from citylake.engine.storage import Store, store_for

log = logging.getLogger(__name__)
HEARTBEAT_S = 10.0
STALE_S = 120.0
POLL_S = 2.0


class LakeBusy(Exception):
    """Another run holds the lake's lock."""

    def __init__(self, holder: dict[str, Any], path: str):
        self.holder, self.path = holder, path
        age = time.time() - float(holder.get("heartbeat", 0))
        super().__init__(
            f"the lake is busy: run {holder.get('run_id')} for {holder.get('date')} holds it "
            f"({holder.get('what', 'run')}, pid {holder.get('pid')} on {holder.get('host')}, started "
            f"{holder.get('started_at')}, last heartbeat {age:.0f} s ago; lock {path}). "
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


def is_live(holder: dict[str, Any], now: float | None = None) -> bool:
    """A holder on this host lives as long as its process; one elsewhere while it beats."""
    if holder.get("released"):
        return False
    if holder.get("host") == socket.gethostname():
        return _pid_alive(int(holder.get("pid", -1)))
    return (now or time.time()) - float(holder.get("heartbeat", 0)) < STALE_S


@dataclass
class _Held:
    store: Store
    path: str
    record: dict[str, Any]
    stop: threading.Event

    def write(self) -> None:
        self.record["heartbeat"] = time.time()
        self.store.write_bytes(self.path, json.dumps(self.record).encode())


def _dir(lake: Lake) -> str:
    return f"{lake.zone('_system')}/locks/pipeline"


def _generations(store: Store, base: str) -> list[int]:
    return sorted(int(n[:-5]) for n in store.list_names(base) if n.endswith(".json") and n[:-5].isdigit())


def holder(lake: Lake, store: Store | None = None) -> dict[str, Any] | None:
    """The live holder of the lake's lock, or None."""
    store = store or store_for(lake.root)
    gens = _generations(store, _dir(lake))
    if not gens:
        return None
    try:
        record: dict[str, Any] = json.loads(store.read_bytes(f"{_dir(lake)}/{gens[-1]:010d}.json"))
    except (FileNotFoundError, ValueError):
        return None  # being written right now, or torn by a crash: the next look decides
    return record if is_live(record) else None


TORN_S = 5.0  # a lock file still unreadable after this long was torn by a crash, not being written


def _try_take(
    store: Store, base: str, record: dict[str, Any], torn_ok: bool
) -> tuple[str | None, dict[str, Any] | None]:
    """(our lock path, None) if taken, else (None, the live holder, or None to look again)."""
    gens = _generations(store, base)
    top = gens[-1] if gens else 0
    if gens:
        try:
            current = json.loads(store.read_bytes(f"{base}/{top:010d}.json"))
        except FileNotFoundError:
            return None, None
        except ValueError:  # being written this instant, or torn by a crash mid-write
            if not torn_ok:
                return None, None
            current = {"released": True}
        if is_live(current):
            return None, current
    path = f"{base}/{top + 1:010d}.json"
    record["heartbeat"] = time.time()
    if not store.create_exclusive(path, json.dumps(record).encode()):
        return None, None  # another run took this generation first: look again
    for old in gens[:-1]:
        store.delete(f"{base}/{old:010d}.json")
    return path, None


@contextmanager
def hold(lake: Lake, run_id: str, date: dt.date, wait_s: float = 0.0, what: str = "run") -> Iterator[None]:
    """Hold the lake's lock for the body; wait up to ``wait_s`` for another holder, then raise LakeBusy."""
    store = store_for(lake.root)
    base = _dir(lake)
    record = {"run_id": run_id, "date": date.isoformat(), "what": what, "host": socket.gethostname(),
              "pid": os.getpid(), "started_at": dt.datetime.now().isoformat(timespec="seconds")}  # fmt: skip
    start = time.monotonic()
    deadline = start + wait_s
    while True:
        path, current = _try_take(store, base, record, torn_ok=time.monotonic() - start > TORN_S)
        if path:
            break
        if current is not None and time.monotonic() >= deadline:
            raise LakeBusy(current, base)
        time.sleep(POLL_S if current is not None else 0.1)
    held = _Held(store, path, record, threading.Event())

    def beat() -> None:
        while not held.stop.wait(HEARTBEAT_S):
            try:
                held.write()
            except Exception:  # a storage hiccup must not kill the run; a long outage makes it stale
                log.warning("lock heartbeat failed", exc_info=True)

    thread = threading.Thread(target=beat, name="citylake-lock-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        held.stop.set()
        thread.join(timeout=5)
        held.record["released"] = True
        try:
            held.write()
        except Exception:
            log.warning("could not release the lake lock %s; it goes stale in %.0f s", path, STALE_S)
