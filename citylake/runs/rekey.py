"""Rotating the PII key: silver's hashes are derived again, from bronze, under the new key.

An HMAC cannot be re-keyed from its output, and hashes under two keys never join, so a rotation
empties the silver table of every contract with personal data, forgets how far silver had
consumed bronze (a ``reset`` progress row), and records the new key's fingerprint. The next run then promotes every bronze
batch again under the new key, and the marts rebuild the days that changed. Each step can be
repeated: the new fingerprint is written last, so a rotation that stopped half-way is finished
by running it again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING

from citylake.config.registry import Registry, load_registry
from citylake.config.settings import Settings, load_settings
from citylake.domain import pii
from citylake.engine import delta_log, fence
from citylake.lake import Lake, keyguard, progress, runlock

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def rekey(
    settings: Settings | None = None,
    registry: Registry | None = None,
    spark: SparkSession | None = None,
    say: Callable[[str], None] = print,
    wait_s: float = 0.0,
) -> list[str]:
    """Prepare silver for the key in ``settings`` (CITYLAKE_PII_KEY); returns the contracts reset."""
    settings = settings or load_settings()
    registry = registry or load_registry(settings.registry_dir)
    lake = Lake(settings.lake_root)
    new = pii.fingerprint(settings.pii_key())
    stale = {
        c: fp for c, fp in keyguard.recorded(lake, keyguard.hashed_contracts(registry)).items() if fp != new
    }
    if not stale:
        say(f"every silver table with personal data is already under key {new}")
        return []
    run_id = f"rekey-{dt.datetime.now():%Y%m%dT%H%M%S}"
    with runlock.hold(lake, run_id, dt.date.today(), wait_s, what="rekey"):
        if spark is None:
            from citylake.engine.spark import get_spark

            spark = get_spark("citylake-rekey", settings)
        for contract, old in sorted(stale.items()):
            path = lake.table("silver", contract)
            say(
                f"silver.{contract}: hashes under key {old} removed; rebuilt from bronze under {new} by the next run"
            )
            fence.check(f"emptying silver.{contract}")
            spark.sql(f"DELETE FROM delta.`{path}`")
            emptied = delta_log.latest_version(path)
            reset = progress.ProgressRow(progress.RESET, f"silver.{contract}", f"bronze.{contract}", None, emptied,
                                         run_id=run_id)  # fmt: skip
            progress.record(lake, [reset], txn_app_id=f"progress-rekey:{contract}:{emptied}")
            keyguard.stamp(spark, lake, contract, new)  # last: the mark that this contract is done
    return sorted(stale)
