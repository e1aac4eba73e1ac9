"""Landing-zone operations without Spark: what is new, tidying processed files, upload URLs.

The landing contract: a unit delivers ``landing/<unit>/<feed>/<date>/<file>``. These run on the
local filesystem or on S3 through boto3 (citylake.engine.storage), and read the file manifest with
delta-rs, so an operator's `citylake landing ...` never starts a JVM.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Any

from citylake.config.registry import Registry
from citylake.engine.storage import Store, split_s3, store_for
from citylake.lake import FILE_MANIFEST, Lake, ledger
from citylake.lake.preflight import LandedFile, Scope, discover

# the states after which a landed file is never read again
DONE = (ledger.LOADED, ledger.DUPLICATE, ledger.REJECTED, ledger.CONFLICT)


def file_events(lake: Lake, date: str) -> dict[str, tuple[str, str]]:
    """Newest manifest event per landed file of delivery day ``date``: rel path -> (status,
    sha256 of the bytes that run judged)."""
    from citylake.engine import delta_log

    rows = delta_log.rows(lake.table("_system", FILE_MANIFEST), ["file", "status", "sha256", "recorded_at"])
    newest: dict[str, tuple[Any, int, str, str]] = {}
    for r in rows:
        f, status, at = r["file"], r["status"], r["recorded_at"]
        if f.split("/")[2] != date:
            continue
        rank = (at, status != ledger.PENDING)  # on a tie the final state beats the pending intent
        if f not in newest or rank > newest[f][:2]:
            newest[f] = (at, status != ledger.PENDING, status, r["sha256"] or "")
    return {f: (v[2], v[3]) for f, v in newest.items()}


def file_states(lake: Lake, date: str) -> dict[str, str]:
    """Newest manifest status per landed file of delivery day ``date`` (rel path -> status)."""
    return {f: status for f, (status, _) in file_events(lake, date).items()}


def new_deliveries(lake: Lake, registry: Registry, date: str, scope: Scope | None = None) -> list[LandedFile]:
    """Files delivered for ``date`` that no run has finished with (never seen, or pending)."""
    store = store_for(lake.root)
    states = file_states(lake, date)
    return [lf for lf in discover(lake, store, registry, date, scope) if states.get(lf.rel) not in DONE]


@dataclass
class Tidied:
    archived: list[str]
    set_aside: list[str]
    left: list[str]  # not finished with yet: a later run still reads them
    # duplicates and re-sends of a file already kept: recorded by sha256 in the manifest, deleted
    removed: list[str] = field(default_factory=list)

    def json(self) -> dict[str, Any]:
        return {"archived": self.archived, "set_aside": self.set_aside, "removed": self.removed,
                "left": self.left}  # fmt: skip


def archive_path(lake: Lake, rel: str) -> str:
    return f"{lake.zone('bronze')}/_landed/{rel}"


def _sha256(store: Store, path: str) -> str:
    digest = hashlib.sha256()
    with store.open(path) as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def tidy(lake: Lake, registry: Registry, date: str) -> Tidied:
    """Take the files of ``date`` that runs have finished with out of landing, keeping one copy
    of each delivered content and never a second.

    A loaded file goes beside bronze under ``bronze/_landed/`` with the same
    ``<unit>/<feed>/<date>/<file>`` path that bronze rows carry as lineage. A rejected or
    conflicting file already has its quarantine copy (the run made it), and a duplicate is its
    original's bytes: both are deleted, as is a re-send of a file already archived. The manifest
    keeps their sha256, which is what recognises a later re-send (never the kept copy's bytes,
    which an erasure may have rewritten; nor is a kept copy ever overwritten). A file is deleted
    only when its bytes are those the run judged; changed since, it stays for the next run, as
    does anything a crashed run may still replay.
    """
    store = store_for(lake.root)
    events = file_events(lake, date)
    out = Tidied([], [], [])
    for lf in discover(lake, store, registry, date):
        status, sha256 = events.get(lf.rel, ("", ""))
        archive = archive_path(lake, lf.rel)
        if status == ledger.LOADED and not store.exists(archive):
            store.move(lf.path, archive)
            out.archived.append(lf.rel)
        elif status in (ledger.LOADED, ledger.DUPLICATE, ledger.REJECTED, ledger.CONFLICT):
            if _sha256(store, lf.path) != sha256:
                out.left.append(lf.rel)  # delivered again with other bytes: not judged yet
                continue
            store.delete(lf.path)
            (out.set_aside if status in (ledger.REJECTED, ledger.CONFLICT) else out.removed).append(lf.rel)
        else:
            out.left.append(lf.rel)
    return out


def presigned_upload(
    lake: Lake, registry: Registry, unit: str, feed: str, date: dt.date, name: str, expires_s: int = 3600
) -> str:
    """A URL the unit can PUT one file to, inside its own landing prefix only (S3 lakes).

    The key is built here from a registered unit and one of its own feeds, so the URL cannot
    point anywhere else; the unit needs no credentials of ours.
    """
    if not lake.is_s3:
        raise ValueError("presigned uploads need an S3 lake (CITYLAKE_LAKE_ROOT=s3a://...)")
    if registry.feed(unit, feed) is None:
        raise ValueError(f"unit {unit!r} has no feed {feed!r} in the registry")
    if "/" in name or name.startswith((".", "_")) or not name:
        raise ValueError(f"file name {name!r}: a plain name, without '/' or a leading '.' or '_'")
    bucket, key = split_s3(f"{lake.landing_dir(unit, feed, date.isoformat())}/{name}")
    import boto3
    from botocore.config import Config

    # SigV4: boto3 otherwise presigns with SigV2, which MinIO and newer AWS regions refuse
    client = boto3.client("s3", config=Config(signature_version="s3v4"))
    url: str = client.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires_s
    )
    return url
