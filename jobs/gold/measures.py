"""Measures more than one mart computes, defined once."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import Column


def parking_occupancy_rate() -> Column:
    """Share of occupied spaces in an occupancy snapshot, 0 to 1."""
    from pyspark.sql import functions as F

    # a snapshot with more free than total spaces says nothing about occupancy
    return F.when(
        (F.col("total_spaces") > 0) & (F.col("free_spaces") <= F.col("total_spaces")),
        1.0 - F.col("free_spaces") / F.col("total_spaces"),
    )
