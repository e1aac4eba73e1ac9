"""File operations on the lake outside Spark: the local filesystem or S3 (boto3).

The driver uses these for the landing zone (listing deliveries, checksums, preflight, moving
rejected files) and for small JSON artefacts; table data always goes through Spark or Delta.
"""

from __future__ import annotations

import os
import shutil
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol


@dataclass(frozen=True)
class FileInfo:
    path: str
    size: int
    # seconds since its last change, by the clock of the host that changed it (local files:
    # this host's); None on an object store, where an object is visible only once its upload
    # completed, so it never needs to settle
    age_s: float | None = None


# In-progress uploads: hidden names (".x", "_x", rsync's ".x.AbC123") and the temporary suffixes
# of common upload tools (WinSCP's .filepart, browsers' and scripts' .part and .tmp)
TEMPORARY_SUFFIXES = (".tmp", ".part", ".filepart")


def is_hidden(name: str) -> bool:
    """A name discovery never picks up: an upload in progress, or a marker."""
    return name.startswith((".", "_")) or name.lower().endswith(TEMPORARY_SUFFIXES)


class Store(Protocol):
    def list_dirs(self, prefix: str) -> list[str]: ...
    def list_files(self, prefix: str) -> list[FileInfo]: ...
    def list_names(self, prefix: str, start_after: str | None = None) -> list[str]: ...
    def open(self, path: str) -> IO[bytes]: ...
    def read_bytes(self, path: str) -> bytes: ...
    def write_bytes(self, path: str, data: bytes) -> None: ...
    def copy(self, src: str, dst: str) -> None: ...
    def move(self, src: str, dst: str) -> None: ...
    def exists(self, path: str) -> bool: ...
    def create_exclusive(self, path: str, data: bytes) -> bool: ...
    def delete(self, path: str) -> None: ...
    def delete_prefix(self, prefix: str) -> None: ...


class LocalStore:
    def list_dirs(self, prefix: str) -> list[str]:
        p = Path(prefix)
        return sorted(c.name for c in p.iterdir() if c.is_dir()) if p.is_dir() else []

    def list_files(self, prefix: str) -> list[FileInfo]:
        p = Path(prefix)
        if not p.is_dir():
            return []
        now, out = time.time(), []
        for c in sorted(p.iterdir()):
            if is_hidden(c.name):
                continue
            try:
                st = c.stat()
            except FileNotFoundError:
                continue  # renamed or removed since the listing: not there
            if stat.S_ISREG(st.st_mode):
                out.append(FileInfo(str(c), st.st_size, max(0.0, now - st.st_mtime)))
        return out

    def list_names(self, prefix: str, start_after: str | None = None) -> list[str]:
        """Every entry's name under ``prefix`` (hidden ones too), sorted; those after ``start_after``."""
        p = Path(prefix)
        names = sorted(os.listdir(p)) if p.is_dir() else []
        return [n for n in names if start_after is None or n > start_after]

    def open(self, path: str) -> IO[bytes]:
        return open(path, "rb")

    def read_bytes(self, path: str) -> bytes:
        return Path(path).read_bytes()

    def write_bytes(self, path: str, data: bytes) -> None:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(p.name + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(p)  # readers never see half a file

    def copy(self, src: str, dst: str) -> None:
        Path(dst).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)

    def move(self, src: str, dst: str) -> None:
        Path(dst).parent.mkdir(parents=True, exist_ok=True)
        shutil.move(src, dst)

    def exists(self, path: str) -> bool:
        return Path(path).exists()

    def create_exclusive(self, path: str, data: bytes) -> bool:
        """Write a new file; False if it already exists (the check and the create are one step)."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        return True

    def delete(self, path: str) -> None:
        Path(path).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> None:
        shutil.rmtree(prefix, ignore_errors=True)


def split_s3(uri: str) -> tuple[str, str]:
    rest = uri.split("://", 1)[1]
    bucket, _, key = rest.partition("/")
    return bucket, key


class S3Store:
    """Landing-zone operations on S3-compatible storage; endpoint and keys from the environment."""

    def __init__(self, client: Any = None):
        if client is None:
            import boto3

            client = boto3.client("s3")
        self.s3 = client

    def _pages(
        self, prefix: str, delimiter: str | None, start_after: str | None = None
    ) -> Iterator[dict[str, Any]]:
        bucket, key = split_s3(prefix.rstrip("/") + "/")
        kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": key}
        if delimiter:
            kwargs["Delimiter"] = delimiter
        if start_after:
            kwargs["StartAfter"] = key + start_after
        yield from self.s3.get_paginator("list_objects_v2").paginate(**kwargs)

    def list_dirs(self, prefix: str) -> list[str]:
        out = []
        for page in self._pages(prefix, "/"):
            for cp in page.get("CommonPrefixes", []):
                out.append(cp["Prefix"].rstrip("/").rsplit("/", 1)[-1])
        return sorted(out)

    def list_files(self, prefix: str) -> list[FileInfo]:
        bucket, _ = split_s3(prefix)
        scheme = prefix.split("://", 1)[0]
        out = []
        for page in self._pages(prefix, "/"):
            for obj in page.get("Contents", []):
                name = obj["Key"].rsplit("/", 1)[-1]
                if name and not is_hidden(name):
                    out.append(FileInfo(f"{scheme}://{bucket}/{obj['Key']}", int(obj["Size"])))
        return sorted(out, key=lambda f: f.path)

    def list_names(self, prefix: str, start_after: str | None = None) -> list[str]:
        out = []
        for page in self._pages(prefix, "/", start_after):
            out += [o["Key"].rsplit("/", 1)[-1] for o in page.get("Contents", [])]
        return sorted(out)

    def open(self, path: str) -> IO[bytes]:
        bucket, key = split_s3(path)
        try:
            body: IO[bytes] = self.s3.get_object(Bucket=bucket, Key=key)["Body"]
        except self.s3.exceptions.NoSuchKey as exc:
            raise FileNotFoundError(path) from exc
        return body

    def read_bytes(self, path: str) -> bytes:
        with self.open(path) as fh:
            return fh.read()

    def write_bytes(self, path: str, data: bytes) -> None:
        bucket, key = split_s3(path)
        self.s3.put_object(Bucket=bucket, Key=key, Body=data)

    def copy(self, src: str, dst: str) -> None:
        sb, sk = split_s3(src)
        db, dk = split_s3(dst)
        self.s3.copy_object(Bucket=db, Key=dk, CopySource={"Bucket": sb, "Key": sk})

    def move(self, src: str, dst: str) -> None:
        self.copy(src, dst)
        bucket, key = split_s3(src)
        self.s3.delete_object(Bucket=bucket, Key=key)

    def exists(self, path: str) -> bool:
        bucket, key = split_s3(path)
        try:
            self.s3.head_object(Bucket=bucket, Key=key)
            return True
        except self.s3.exceptions.ClientError:
            return False

    def create_exclusive(self, path: str, data: bytes) -> bool:
        """A conditional PUT (If-None-Match: *): False if the key exists. S3 and MinIO honour it."""
        bucket, key = split_s3(path)
        try:
            self.s3.put_object(Bucket=bucket, Key=key, Body=data, IfNoneMatch="*")
        except self.s3.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in (
                "PreconditionFailed",
                "ConditionalRequestConflict",
            ):
                return False
            raise
        return True

    def delete(self, path: str) -> None:
        bucket, key = split_s3(path)
        self.s3.delete_object(Bucket=bucket, Key=key)

    def delete_prefix(self, prefix: str) -> None:
        bucket, _ = split_s3(prefix)
        for page in self._pages(prefix, None):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                self.s3.delete_objects(Bucket=bucket, Delete={"Objects": keys})


def store_for(root: str) -> Store:
    return S3Store() if root.startswith(("s3a://", "s3://")) else LocalStore()


def delta_rs_location(path: str) -> tuple[str, dict[str, str]]:
    """A lake path as delta-rs (the JVM-free readers and writers) wants it: URI and storage options.

    delta-rs speaks s3://, reads the same AWS_* variables as boto3, and needs to be told that
    a plain-http endpoint (MinIO in tests) is allowed and that the server has conditional puts.
    """
    from citylake.config.variables import read

    if not path.startswith(("s3a://", "s3://")):
        return path.removeprefix("file://"), {}
    options = {"conditional_put": "etag"}  # MinIO and S3 both honour If-Match: safe concurrent commits
    endpoint = read("AWS_ENDPOINT_URL_S3") or read("AWS_ENDPOINT_URL")
    if endpoint:
        options |= {"endpoint_url": endpoint, "allow_http": str(endpoint.startswith("http://")).lower()}
    return "s3://" + path.split("://", 1)[1], options
