"""Storage faults are told from bad data by the error's structure, never by text a unit could send."""

from __future__ import annotations

import errno

import pytest

from citylake.engine.faults import StorageFailure, WatchedStore, storage_fault


@pytest.mark.parametrize(
    ("exc", "fault"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), "disk full"),
        (PermissionError(errno.EACCES, "Permission denied"), "permission denied"),
        (OSError(errno.EROFS, "Read-only file system"), "read-only file system"),
        (FileNotFoundError(errno.ENOENT, "gone"), None),  # a file that went away is no outage
        (ValueError("java.io.IOException: No space left on device"), None),  # text alone never counts
        (StorageFailure("disk full: batch x"), "disk full: batch x"),
    ],
)
def test_python_errors(exc, fault):
    assert storage_fault(exc) == fault


def test_a_fault_is_found_behind_the_error_raised_from_it():
    try:
        try:
            raise OSError(errno.EIO, "Input/output error")
        except OSError as inner:
            raise RuntimeError("the batch failed") from inner
    except RuntimeError as exc:
        assert storage_fault(exc) == "I/O error"


def test_object_store_errors():
    from botocore.exceptions import ClientError, EndpointConnectionError

    def client_error(status: int, code: str) -> ClientError:
        return ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "PutObject")

    assert storage_fault(client_error(503, "SlowDown")) == "object store 503"
    assert storage_fault(client_error(500, "InternalError")) == "object store 500"
    assert storage_fault(client_error(403, "AccessDenied")) == "permission denied"
    assert storage_fault(client_error(404, "NoSuchKey")) is None
    assert storage_fault(EndpointConnectionError(endpoint_url="http://minio:9000")) == "object store unreachable"


def test_delta_rs_errors_carry_the_os_error_number():
    from deltalake.exceptions import DeltaError

    assert storage_fault(DeltaError("Generic LocalFileSystem error: No space left on device (os error 28)")) == (
        "disk full"
    )
    assert storage_fault(DeltaError("Schema error: cannot cast (os error 2 pretended)")) is None


def test_a_watched_store_remembers_what_the_storage_failed():
    class Broken:
        def open(self, path):
            raise PermissionError(errno.EACCES, "Permission denied", path)

    store = WatchedStore(Broken())
    with pytest.raises(PermissionError):
        store.open("/landing/u/f/d/x.csv")  # preflight would reject the file for this...
    with pytest.raises(StorageFailure, match="permission denied"):
        store.raise_if_faulted("reading landed files")  # ...and the run stops before it does


@pytest.mark.spark
def test_a_spark_error_quoting_a_record_is_not_a_storage_fault(spark):
    """A unit's value in an error message (here raise_error's) must not pass for an outage."""
    with pytest.raises(Exception) as err:
        spark.sql("SELECT raise_error('java.io.IOException: No space left on device')").collect()
    assert storage_fault(err.value) is None
