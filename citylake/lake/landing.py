"""Landing-zone operations without Spark: what is new, tidying processed files, upload URLs.

The landing contract: a unit delivers ``landing/<unit>/<feed>/<date>/<file>``. These run on the
local filesystem or on S3 through boto3 (citylake.engine.storage), and read the file manifest with
delta-rs, so an operator's `citylake landing ...` never starts a JVM.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from citylake.config.registry import Registry
from citylake.engine.storage import split_s3, store_for
from citylake.lake import FILE_MANIFEST, Lake, ledger
from citylake.lake.preflight import LandedFile, Scope, discover

# the states after which a landed file is never read again
DONE = (ledger.LOADED, ledger.DUPLICATE, ledger.REJECTED, ledger.CONFLICT)


def file_states(lake: Lake, date: str) -> dict[str, str]:
    """Newest manifest status per landed file of delivery day ``date`` (rel path -> status)."""
    from citylake.engine import delta_log

    rows = delta_log.rows(lake.table("_system", FILE_MANIFEST), ["file", "status", "recorded_at"])
    newest: dict[str, tuple[Any, int, str]] = {}
    for f, status, at in ((r["file"], r["status"], r["recorded_at"]) for r in rows):
        if f.split("/")[2] != date:
            continue
        rank = (at, status != ledger.PENDING)  # on a tie the final state beats the pending intent
        if f not in newest or rank > newest[f][:2]:
            newest[f] = (at, status != ledger.PENDING, status)
    return {f: v[2] for f, v in newest.items()}


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

    def json(self) -> dict[str, Any]:
        return {"archived": self.archived, "set_aside": self.set_aside, "left": self.left}


def archive_path(lake: Lake, rel: str) -> str:
    return f"{lake.zone('bronze')}/_landed/{rel}"


def tidy(lake: Lake, registry: Registry, date: str) -> Tidied:
    """Move the files of ``date`` that runs have finished with out of landing.

    Loaded files (and resends of them) go beside bronze under ``bronze/_landed/`` with the same
    ``<unit>/<feed>/<date>/<file>`` path that bronze rows carry as lineage. Rejected and
    conflicting files go to their quarantine copy, where the run already put them. Anything
    else stays, so a crashed run can still replay it.
    """
    store = store_for(lake.root)
    states = file_states(lake, date)
    out = Tidied([], [], [])
    for lf in discover(lake, store, registry, date):
        status = states.get(lf.rel)
        if status in (ledger.LOADED, ledger.DUPLICATE):
            store.move(lf.path, archive_path(lake, lf.rel))
            out.archived.append(lf.rel)
        elif status in (ledger.REJECTED, ledger.CONFLICT):
            unit, feed, day, name = lf.rel.split("/")
            store.move(lf.path, lake.rejected_file_copy(day, unit, feed, name))
            out.set_aside.append(lf.rel)
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
