"""Every object under the lake, and removing one for good.

An erasure must reach what neither Spark nor Delta lists: raw deliveries, pages, results. On a
versioned bucket a DELETE or an overwrite only hides the old bytes behind a new version, so
"gone" here means every version of the key is deleted, by version id.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from citylake.engine.storage import S3Store, split_s3, store_for
from citylake.lake import ZONES, Lake


@dataclass(frozen=True)
class Obj:
    path: str  # full path or s3a:// URI
    rel: str  # lake-relative: <zone>/<rest>
    size: int


def zone_roots(lake: Lake) -> list[tuple[str, str]]:
    """(zone, its root) for every zone; on a one-bucket-per-zone lake each is a bucket."""
    return [(z, lake.zone(z)) for z in ZONES]


def walk(lake: Lake) -> Iterator[Obj]:
    """Every current object under every zone, hidden names included (logs, markers)."""
    for zone, root in zone_roots(lake):
        if lake.is_s3:
            store = store_for(lake.root)
            assert isinstance(store, S3Store)
            bucket, prefix = split_s3(root.rstrip("/") + "/")
            scheme = root.split("://", 1)[0]
            for page in store.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                for o in page.get("Contents", []):
                    rest = o["Key"][len(prefix):]
                    yield Obj(f"{scheme}://{bucket}/{o['Key']}", f"{zone}/{rest}", int(o["Size"]))
            continue
        base = Path(root.removeprefix("file://"))
        if not base.is_dir():
            continue
        for dirpath, _dirs, files in os.walk(base):
            for name in sorted(files):
                p = Path(dirpath) / name
                try:
                    size = p.stat().st_size
                except FileNotFoundError:
                    continue
                yield Obj(str(p), f"{zone}/{p.relative_to(base).as_posix()}", size)


def _versions(client: Any, bucket: str, key: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=key):
        for v in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
            if v["Key"] == key:
                out.append(v)
    return out


def purge(lake: Lake, path: str) -> int:
    """Delete ``path`` and, on S3, every version and delete marker of its key; returns how many
    objects (versions) went."""
    if not lake.is_s3:
        p = Path(path.removeprefix("file://"))
        if p.exists():
            p.unlink()
            return 1
        return 0
    store = store_for(lake.root)
    assert isinstance(store, S3Store)
    bucket, key = split_s3(path)
    versions = _versions(store.s3, bucket, key)
    if not versions:  # an unversioned bucket lists no versions: a plain delete
        store.delete(path)
        return 1
    for v in versions:
        store.s3.delete_object(Bucket=bucket, Key=key, VersionId=v["VersionId"])
    return len(versions)


def walk_prefix(lake: Lake, prefix: str) -> list[str]:
    """Every path under ``prefix``; on S3 every key that has any version, current or not (a
    deleted object's old versions still hold its bytes)."""
    if not lake.is_s3:
        base = Path(prefix.removeprefix("file://"))
        return sorted(str(Path(d) / n) for d, _, files in os.walk(base) for n in files)
    store = store_for(lake.root)
    assert isinstance(store, S3Store)
    bucket, key = split_s3(prefix)
    scheme = prefix.split("://", 1)[0]
    keys: set[str] = set()
    for page in store.s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=key):
        keys |= {v["Key"] for v in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]}
    return sorted(f"{scheme}://{bucket}/{k}" for k in keys)


def drop_old_versions(lake: Lake, path: str) -> int:
    """Remove every noncurrent version of ``path`` (S3); the current one stays."""
    if not lake.is_s3:
        return 0
    store = store_for(lake.root)
    assert isinstance(store, S3Store)
    bucket, key = split_s3(path)
    old = [v for v in _versions(store.s3, bucket, key) if not v.get("IsLatest")]
    for v in old:
        store.s3.delete_object(Bucket=bucket, Key=key, VersionId=v["VersionId"])
    return len(old)


def noncurrent(lake: Lake) -> Iterator[tuple[str, str, bytes]]:
    """(path, version id, bytes) of every noncurrent version under the lake (S3 only): what an
    overwrite, a move or a delete left behind on a versioned bucket."""
    if not lake.is_s3:
        return
    store = store_for(lake.root)
    assert isinstance(store, S3Store)
    for _zone, root in zone_roots(lake):
        bucket, prefix = split_s3(root.rstrip("/") + "/")
        scheme = root.split("://", 1)[0]
        for page in store.s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
            for v in page.get("Versions", []):
                if not v.get("IsLatest"):
                    body = store.s3.get_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])["Body"].read()
                    yield f"{scheme}://{bucket}/{v['Key']}", v["VersionId"], body


def delete_version(lake: Lake, path: str, version_id: str) -> None:
    store = store_for(lake.root)
    assert isinstance(store, S3Store)
    bucket, key = split_s3(path)
    store.s3.delete_object(Bucket=bucket, Key=key, VersionId=version_id)


def replace(lake: Lake, path: str, data: bytes) -> int:
    """Write ``data`` at ``path`` and remove every older version of it; returns versions removed."""
    store_for(lake.root).write_bytes(path, data)
    return drop_old_versions(lake, path)


def read(lake: Lake, path: str) -> bytes:
    return store_for(lake.root).read_bytes(path)
