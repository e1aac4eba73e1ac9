"""When a batch fails: replay it, retry it file by file, or stop the run as a storage failure.

- A storage fault (full disk, permission, object store 5xx, storage not answering) says nothing
  about the files: the run stops with StorageFailure, nothing is recorded against the units,
  the files stay pending and the next run replays the batch.
- Any other failure: if the batch committed part of itself (its quarantine, not yet bronze), it
  is replayed whole under the same batch id with the same replay check as after a crash; if it
  committed nothing, or the replay fails too, its files are retried one by one, so one bad
  delivery fails alone.
- Every attempt after the first looks for what earlier attempts committed, file by file
  (jobs/bronze_replay.py), from the first attempt's start: nothing is written twice.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING

from citylake.config.registry import FeedContract
from citylake.engine.faults import StorageFailure, fault_evidence, storage_fault
from citylake.engine.storage import Store
from citylake.lake import BRONZE_RECORDS, Lake, ledger, preflight
from citylake.quality.gate import Expectation
from citylake.quality.gx_runner import GxProject
from citylake.quality.rowchecks import RowCheck
from jobs import bronze_replay
from jobs.bronze_batch import BatchResult, ingest_batch
from jobs.bronze_record import FileOutcome
from jobs.bronze_transform import batch_id_for

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)


def _storage_answers(lake: Lake, store: Store, files: list[preflight.LandedFile]) -> bool:
    """After a batch failed: is the lake's storage there? If not, no file is to blame."""
    try:
        store.list_names(lake.zone("landing"))
        return all(store.exists(lf.path) for lf in files[:1])
    except Exception:
        return False


def _blameless(
    lake: Lake, store: Store, contract: str, batch_id: str, files: list[preflight.LandedFile], exc: Exception
) -> Exception:
    """``exc`` back if the files may be to blame; StorageFailure raised if the storage is."""
    fault = storage_fault(exc)
    if fault is None and not _storage_answers(lake, store, files):
        fault = "the lake's storage does not answer"
    if fault is not None:
        raise StorageFailure(
            f"storage failure while loading bronze.{contract} (batch {batch_id}, {len(files)} file(s)): "
            f"{fault}: {fault_evidence(exc) if storage_fault(exc) else ledger.short_error(exc)}"
        ) from exc
    return exc


def _began(lake: Lake, contract: str, batch_id: str, files: list[preflight.LandedFile], since_ms: int) -> bool:
    """Whether a failed attempt committed part of the batch (its quarantine, or even bronze)."""
    return any(
        bronze_replay.committed(path, batch_id, files, since_ms)
        for path in (lake.table("quarantine", BRONZE_RECORDS), lake.table("bronze", contract))
    )


def ingest_isolated(
    spark: SparkSession,
    lake: Lake,
    store: Store,
    contract: FeedContract,
    files: list[preflight.LandedFile],
    batch_id: str,
    run_id: str,
    date: dt.date,
    checks: list[RowCheck],
    exps: list[Expectation],
    gx: GxProject | None,
    replay_since_ms: int | None = None,
) -> BatchResult:
    """Ingest a batch; on failure replay it or retry it file by file (see the module doc).

    ``replay_since_ms``: the batch (or some of its files) may have been begun before, by a run
    that stopped or an earlier attempt; what was committed since then is not written again.
    """
    ingested_at = dt.datetime.now()
    since = replay_since_ms if replay_since_ms is not None else bronze_replay.since_now_ms()

    def attempt(replay: int | None) -> BatchResult:
        return ingest_batch(spark, lake, contract, files, batch_id, run_id, date, ingested_at, checks, exps, gx,
                            replay)  # fmt: skip

    try:
        return attempt(replay_since_ms)
    except Exception as exc:  # a Spark failure of any kind must not stop the other units
        error = _blameless(lake, store, contract.contract, batch_id, files, exc)
    if _began(lake, contract.contract, batch_id, files, since):
        log.warning("batch %s failed after committing part of itself (%s); replaying it",
                    batch_id, ledger.short_error(error))  # fmt: skip
        try:
            return attempt(since)
        except Exception as exc:
            error = _blameless(lake, store, contract.contract, batch_id, files, exc)
    if len(files) == 1:
        lf = files[0]
        # set aside whole (copied to quarantine/files); the next run retries it, with the replay check
        failed = FileOutcome(lf.unit, lf.feed, lf.rel, ledger.FAILED, contract.contract,
                             f"ingest failed: {ledger.short_error(error)}", lf.records, 0, lf.records, lf.size,
                             lf.sha256, batch_id)  # fmt: skip
        return BatchResult({lf.rel: failed}, {}, [])
    log.warning("batch %s failed (%s); retrying its %d files one by one",
                batch_id, ledger.short_error(error), len(files))  # fmt: skip
    merged = BatchResult({}, {}, [])
    for lf in files:
        merged.merge(ingest_isolated(spark, lake, store, contract, [lf], batch_id_for(contract.contract, date, [lf]),
                                      run_id, date, checks, exps, gx, since))  # fmt: skip
    return merged
