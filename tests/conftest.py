"""Shared fixtures: one SparkSession with Delta for the whole run, a fresh lake per test module."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from citylake.lake import Lake
from citylake.registry import Registry, load_registry
from citylake.settings import REPO_ROOT, Settings

DAY = dt.date(2026, 11, 20)
# A fixed, test-only HMAC key (never a real one): subprocesses inherit it, hashes are reproducible.
os.environ.setdefault("CITYLAKE_PII_KEY", "citylake-tests-only-not-a-secret")


@pytest.fixture(scope="session")
def registry() -> Registry:
    return load_registry(REPO_ROOT / "schemas")


@pytest.fixture(scope="session")
def spark():
    from citylake.spark import get_spark

    session = get_spark("citylake-tests", Settings(shuffle_partitions=2))
    yield session
    session.stop()


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(str(tmp_path / "lake"))


@pytest.fixture(scope="module")
def module_lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    return Lake(str(tmp_path_factory.mktemp("lake")))
