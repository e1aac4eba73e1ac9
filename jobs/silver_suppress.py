"""Silver's side of the suppression list (citylake.lake.suppression): the restricted store.

A restricted subject's rows (PIPL Art. 47(2)) are kept, silver-shaped and with their lineage,
in ``lake.table("restricted", contract)``: a zone neither the catalog, ``citylake query`` nor the
SQL endpoint registers, read only on the data-protection officer's path. Erased subjects' rows
go to ``quarantine.dq_rows`` without their record (``suppression.erased_rows``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from citylake.config.layers import silver_columns
from citylake.config.registry import FeedContract
from citylake.engine import delta_io
from citylake.lake import Lake
from jobs.silver_transform import silver_properties, silver_schema

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

RESTRICTED = "restricted"


def restricted_path(lake: Lake, contract: str) -> str:
    return lake.table(RESTRICTED, contract)


def app_id(contract: str) -> str:
    """The Delta transaction of silver's writes to the restricted store; its version is the
    bronze version silver reached, so a promotion that is repeated writes its rows once."""
    return f"restricted-silver:{contract}"


def restricted_mark(lake: Lake, contract: str) -> int:
    """The bronze version the restricted store holds silver's rows through (-1: none)."""
    version = txn_version(lake, contract, app_id(contract))
    return -1 if version is None else version


def txn_version(lake: Lake, contract: str, txn_app_id: str) -> int | None:
    """The version of the restricted store's Delta transaction ``txn_app_id`` (None: none)."""
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    from citylake.engine.storage import delta_rs_location

    uri, options = delta_rs_location(restricted_path(lake, contract))
    try:
        version = DeltaTable(uri, storage_options=options).transaction_version(txn_app_id)
    except TableNotFoundError:
        return None
    return None if version is None else int(version)


def ensure_restricted(spark: SparkSession, lake: Lake, contract: FeedContract) -> str:
    """Declare the contract's restricted store (silver's columns and statistics settings)."""
    where = restricted_path(lake, contract.contract)
    delta_io.ensure_table(
        spark, where, silver_schema(contract), properties=silver_properties(contract),
        comment=f"restricted (PIPL 47(2)): silver rows of {contract.title} held for restricted subjects; "
        "not in any catalog",
    )  # fmt: skip
    return where


def keep_restricted(
    spark: SparkSession, lake: Lake, contract: FeedContract, rows: DataFrame, upto: int
) -> int:
    """Append ``rows`` (silver-shaped, with ``_bronze_version``) not yet kept, as bronze version
    ``upto``'s transaction; returns the mark it read (rows at or below it were kept before)."""
    from pyspark.sql import functions as F

    mark = restricted_mark(lake, contract.contract)
    if upto <= mark:
        return mark
    where = ensure_restricted(spark, lake, contract)
    fresh = rows.where(F.col("_bronze_version") > mark).select(*[n for n, _ in silver_columns(contract)])
    delta_io.append(fresh.repartition(1), where, txn_app_id=app_id(contract.contract), txn_version=upto)
    return mark
