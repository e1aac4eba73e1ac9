"""Storage faults: telling a broken disk or object store from a unit's bad data.

A batch that fails because the disk is full, a permission is missing or the object store
answers 5xx says nothing about the files in it. Recording such a failure as the unit's (a
rejected or failed file, set aside with a reason) would blame the unit and hide the outage, so
a storage fault stops the run as an infrastructure failure instead; its files stay pending and
the next run replays them.

The fault is read from the error's structure where there is one (an OSError's errno, the class
and message of each Java throwable in the cause chain), not from its whole text: a unit's
record or file name quoted in an error message must never pass for an outage.
"""

from __future__ import annotations

import errno
import re
from collections.abc import Iterator
from typing import IO, Any

# errno -> what to tell the operator
_ERRNO = {
    errno.ENOSPC: "disk full",
    errno.EDQUOT: "disk quota exceeded",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EROFS: "read-only file system",
    errno.EIO: "I/O error",
    errno.ECONNREFUSED: "storage unreachable",
    errno.ECONNRESET: "storage unreachable",
    errno.EHOSTUNREACH: "storage unreachable",
    errno.ENETUNREACH: "storage unreachable",
    errno.ETIMEDOUT: "storage timed out",
}
# the exact strerror texts the JVM's IOExceptions carry for the same errnos
_JAVA_MESSAGES = {
    "no space left on device": "disk full",
    "disk quota exceeded": "disk quota exceeded",
    "read-only file system": "read-only file system",
    "input/output error": "I/O error",
    "permission denied": "permission denied",
}
# Java throwables whose class alone says the storage failed (S3A's AWS*Exception family, NIO)
_JAVA_CLASSES = {
    "java.nio.file.AccessDeniedException": "permission denied",
    "java.nio.file.ReadOnlyFileSystemException": "read-only file system",
    "org.apache.hadoop.security.AccessControlException": "permission denied",
    "org.apache.hadoop.fs.s3a.AWSStatus500Exception": "object store 5xx",
    "org.apache.hadoop.fs.s3a.AWSServiceThrottledException": "object store throttling (503)",
    "org.apache.hadoop.fs.s3a.AWSNoResponseException": "object store unreachable",
    "org.apache.hadoop.fs.s3a.AWSClientIOException": "object store unreachable",
    "org.apache.hadoop.fs.s3a.AWSApiCallTimeoutException": "object store timed out",
    "java.net.ConnectException": "storage unreachable",
    "java.net.UnknownHostException": "storage unreachable",
    "java.net.NoRouteToHostException": "storage unreachable",
    "java.net.SocketTimeoutException": "storage timed out",
}
# delta-rs and object_store (Rust) put the OS error number or the HTTP status in a fixed form
_RUST_OS_ERROR = re.compile(r"\(os error (\d+)\)")
_HTTP_5XX = re.compile(r"(?:status code|status|HTTP status server error)[: (]+(5\d\d)\b", re.IGNORECASE)


class StorageFailure(Exception):
    """The lake's storage failed under the run: an infrastructure failure, not the units' data."""


def storage_fault(exc: BaseException) -> str | None:
    """What storage fault ``exc`` (or an error it was raised from) is, or None if it is none."""
    found = _find(exc)
    return found[0] if found else None


def fault_evidence(exc: BaseException) -> str:
    """The error that shows the fault (a Java cause deep in a Spark error, say), for the message."""
    found = _find(exc)
    return found[1] if found else f"{type(exc).__name__}: {exc}"


def _find(exc: BaseException) -> tuple[str, str] | None:
    for e in _chain(exc):
        if isinstance(e, StorageFailure):
            return str(e), str(e)
        shown = f"{type(e).__name__}: {str(e).strip()[:300]}"
        if isinstance(e, OSError) and not isinstance(e, FileNotFoundError) and e.errno in _ERRNO:
            return _ERRNO[e.errno], shown
        label = _boto(e) or _rust(e)
        if label:
            return label, shown
        for cls, message in _java_chain(e):
            shown = f"{cls}: {message.strip()[:300]}"
            if cls in _JAVA_CLASSES:
                return _JAVA_CLASSES[cls], shown
            if cls in ("java.io.IOException", "org.apache.hadoop.fs.FSError", "java.nio.file.FileSystemException"):
                text = message.removeprefix("java.io.IOException: ").strip().lower()
                if text in _JAVA_MESSAGES:
                    return _JAVA_MESSAGES[text], shown
    return None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        yield e
        e = e.__cause__ or e.__context__


def _java_chain(e: BaseException) -> Iterator[tuple[str, str]]:
    """(class, message) of the Java throwable behind a Spark error and each of its causes."""
    j = getattr(e, "java_exception", None) or getattr(e, "_origin", None)
    for _ in range(30):
        if j is None:
            return
        try:
            yield str(j.getClass().getName()), str(j.getMessage() or "")
            j = j.getCause()
        except Exception:  # the JVM is gone, or not a throwable: nothing more to read
            return


def _boto(e: BaseException) -> str | None:
    module = type(e).__module__ or ""
    if not module.startswith("botocore"):
        return None
    name = type(e).__name__
    if name in ("EndpointConnectionError", "ConnectionClosedError", "ReadTimeoutError", "ConnectTimeoutError"):
        return "object store unreachable"
    response: dict[str, Any] = getattr(e, "response", None) or {}
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    if status >= 500:
        return f"object store {status}"
    if response.get("Error", {}).get("Code") in ("AccessDenied", "AllAccessDisabled", "InvalidAccessKeyId"):
        return "permission denied"
    return None


def _rust(e: BaseException) -> str | None:
    # delta-rs raises its errors from its native module (_internal.DeltaError) or as OSError
    if not (type(e).__module__ or "").startswith(("deltalake", "_internal", "builtins")):
        return None
    text = str(e)
    m = _RUST_OS_ERROR.search(text)
    if m and int(m.group(1)) in _ERRNO:
        return _ERRNO[int(m.group(1))]
    m = _HTTP_5XX.search(text)
    if m and ("S3" in text or "object store" in text.lower() or "Generic" in text):
        return f"object store {m.group(1)}"
    return None


class WatchedStore:
    """A store that remembers the storage faults its reads hit.

    Preflight turns an unreadable file into that file's rejection; read through this wrapper,
    the run learns afterwards that the read failed because of the storage, and stops as an
    infrastructure failure before anything is recorded against the unit.
    """

    def __init__(self, store: Any):
        self._store = store
        self.faults: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def _noted(self, exc: BaseException) -> None:
        fault = storage_fault(exc)
        if fault:
            self.faults.append(f"{fault}: {type(exc).__name__}: {str(exc)[:300]}")

    def open(self, path: str) -> IO[bytes]:
        try:
            return _WatchedReader(self._store.open(path), self)  # type: ignore[return-value]
        except BaseException as exc:
            self._noted(exc)
            raise

    def read_bytes(self, path: str) -> bytes:
        with self.open(path) as fh:
            return fh.read()

    def raise_if_faulted(self, what: str) -> None:
        if self.faults:
            raise StorageFailure(f"{what}: {self.faults[0]}" + (f" (and {len(self.faults) - 1} more)"
                                                                 if len(self.faults) > 1 else ""))  # fmt: skip


class _WatchedReader:
    def __init__(self, fh: IO[bytes], store: WatchedStore):
        self._fh, self._store = fh, store

    def read(self, n: int = -1) -> bytes:
        try:
            return self._fh.read(n)
        except BaseException as exc:
            self._store._noted(exc)
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fh, name)

    def __enter__(self) -> _WatchedReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self._fh.close()
