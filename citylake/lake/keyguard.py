"""Which PII key wrote silver: one key per lake, checked before any hash is written.

Silver's hashes join across tables and days only while one key writes them all. A second
worker with its own ``citylake setup`` key, or a lost ``.cache``, would otherwise write hashes
that silently never match. Each silver table records the fingerprint of the key that wrote it
(``pii.KEY_PROPERTY``, never the key), and a run under another key stops before it writes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from citylake.config.registry import Registry
from citylake.config.settings import ConfigError
from citylake.domain import pii
from citylake.engine import delta_io, delta_log
from citylake.lake import Lake

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


class KeyMismatch(ConfigError):
    """The run's PII key is not the one that wrote the lake's silver tables."""


def hashed_contracts(registry: Registry) -> list[str]:
    """The contracts in use whose silver tables hold keyed hashes (those with personal data)."""
    return sorted(c.contract for c in registry.contracts_in_use() if c.pii_columns)


def recorded(lake: Lake, contracts: list[str]) -> dict[str, str]:
    """contract -> fingerprint recorded by its silver table (tables without one are left out)."""
    found = {}
    for name in contracts:
        path = lake.table("silver", name)
        if delta_log.latest_version(path) is None:
            continue
        value = delta_log.configuration(path).get(pii.KEY_PROPERTY)
        if value:
            found[name] = value
    return found


def check(lake: Lake, contracts: list[str], key: bytes) -> str:
    """The run key's fingerprint, once every existing silver table of ``contracts`` (see
    ``hashed_contracts``) was written under it."""
    mine = pii.fingerprint(key)
    other = {name: fp for name, fp in recorded(lake, contracts).items() if fp != mine}
    if other:
        tables = ", ".join(f"silver.{n} ({fp})" for n, fp in sorted(other.items()))
        raise KeyMismatch(
            f"the PII key of this run (fingerprint {mine}) is not the key that wrote {tables}: hashes "
            "written now would never join the ones there. Set CITYLAKE_PII_KEY (or the key file) to the "
            "lake's key; to change keys on purpose, follow docs/runbooks/rotate-the-pii-key.md"
        )
    return mine


def stamp(spark: SparkSession, lake: Lake, contract: str, fingerprint: str) -> None:
    """Record the key's fingerprint on a silver table that lacks it (a table property: delta-rs,
    which creates the tables, accepts only Delta's own properties, so Spark sets it, once)."""
    path = lake.table("silver", contract)
    if delta_log.configuration(path).get(pii.KEY_PROPERTY) != fingerprint:
        delta_io.set_properties(spark, path, {pii.KEY_PROPERTY: fingerprint})
