"""Shared fixtures: one SparkSession with Delta for the whole run, a fresh lake per test module."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest

from citylake.config.registry import Registry, load_registry
from citylake.config.settings import REPO_ROOT, Settings
from citylake.lake import Lake

DAY = dt.date(2026, 11, 20)
# A fixed, test-only HMAC key (never a real one): subprocesses inherit it, hashes are reproducible.
os.environ.setdefault("CITYLAKE_PII_KEY", "citylake-tests-only-not-a-secret")
# Tests land files and load them at once: no settling time unless a test asks for one.
os.environ.setdefault("CITYLAKE_LANDING_SETTLE_S", "0")
# The CLI's JVMs here are short-lived and read little: C1 alone compiles what they run for about
# a third less CPU than tiered C1+C2, which pays off only on long jobs. This process's own session
# lives the whole session and keeps the default, as the benchmarks do.
# C1 alone sizes its code cache for a small program (48 MB): Spark fills that, and a full cache
# stops compiling (the tiered default is 240 MB)
os.environ.setdefault("CITYLAKE_JVM_OPTIONS", "-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=240m")
FIGURES: list[str] = []


@pytest.fixture(scope="session")
def figure():
    """Report a measured figure (a timing, a size): CI prints them all at the end of the run."""

    def record(test: str, **values: float) -> None:
        FIGURES.append(f"{test}: " + ", ".join(f"{k}={v:.2f}" for k, v in values.items()))

    return record


def pytest_sessionfinish(session) -> None:
    # an xdist worker hands its figures to the controller, which prints them all
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["figures"] = list(FIGURES)


@pytest.hookimpl(optionalhook=True)  # xdist's hook (called in the controller): absent without xdist
def pytest_testnodedown(node, error) -> None:
    FIGURES.extend(getattr(node, "workeroutput", {}).get("figures", []))


# `make test` runs two xdist workers. Each module's tests stay in one worker (its module fixtures
# are built once), and the modules sharing the session's demo lake stay in one too, so it is
# built once. The list is checked against the tests' fixtures at collection.
DEMO_MODULES = frozenset({
    "tests/docs/test_readme.py", "tests/engine/test_lineage.py", "tests/jobs/test_pii_key.py",
    "tests/lake/test_sql_endpoint.py", "tests/pages/test_run_report.py", "tests/quality/test_data_docs_offline.py", "tests/test_cli_e2e.py",
    "tests/test_published.py",
})  # fmt: skip
# the modules that share the session's Airflow-built day (tests/airflow_day.py), in one worker too
AIRFLOW_DAY_MODULES = frozenset({"tests/test_airflow_e2e.py", "tests/test_cluster.py"})
# worker group -> (its shared session fixtures, the modules allowed to use them)
GROUPS = {"demo-lake": (("demo_lake", "demo_sql"), DEMO_MODULES),
          "airflow-day": (("airflow_day",), AIRFLOW_DAY_MODULES)}  # fmt: skip
# the longest modules start first, so neither worker is left with one at the end (the scheduler
# would otherwise order modules by their number of tests)
LONGEST_FIRST = (
    "tests/test_airflow_e2e.py", "tests/test_cluster.py", "tests/quality/test_wap.py", "tests/test_crash_safety.py",
    *sorted(DEMO_MODULES), "tests/test_concurrent_runs.py", "tests/privacy/test_subject_requests.py",
    "tests/runs/test_tasks.py", "tests/test_hostile_deliveries.py",
)  # fmt: skip


@pytest.hookimpl(optionalhook=True)  # xdist's hook (in the controller): absent without xdist
def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    config.option.loadscopereorder = False  # keep the collection's order (LONGEST_FIRST)

    class ByModule(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::")[0]
            return next((group for group, (_, modules) in GROUPS.items() if module in modules), module)

    return ByModule(config, log)


def pytest_collection_modifyitems(config, items) -> None:
    rank = {m: i for i, m in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))  # stable: a module keeps its order
    for group, (fixtures, modules) in GROUPS.items():
        using = {item.nodeid.split("::")[0] for item in items
                 if any(f in getattr(item, "fixturenames", ()) for f in fixtures)}  # fmt: skip
        if using - modules:
            raise pytest.UsageError(f"tests/conftest.py: add {sorted(using - modules)} to the {group} group's modules")


def pytest_terminal_summary(terminalreporter) -> None:
    if FIGURES:
        terminalreporter.section("measured figures (not gates; `make bench` has the targets)")
        for line in FIGURES:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def registry() -> Registry:
    return load_registry(REPO_ROOT / "schemas")


@pytest.fixture(scope="session")
def spark():
    from citylake.engine.spark import get_spark

    session = get_spark("citylake-tests", Settings(shuffle_partitions=2))
    yield session
    session.stop()


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(str(tmp_path / "lake"))


@pytest.fixture(scope="module")
def module_lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    return Lake(str(tmp_path_factory.mktemp("lake")))


def cli(lake_root, *args, check_codes=(0,), env=None):
    """Run `citylake <args>` in a subprocess against ``lake_root``, as a user would (``env``:
    variables to set besides)."""
    env = {**os.environ, **(env or {}), "CITYLAKE_LAKE_ROOT": str(lake_root)}
    proc = subprocess.run(
        [sys.executable, "-m", "citylake.cli", *args], capture_output=True, text=True, env=env, timeout=900
    )
    assert proc.returncode in check_codes, proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="session")
def demo_lake(tmp_path_factory):
    """One `citylake demo` lake, shared by the end-to-end modules (re-runs in them change nothing)."""
    root = tmp_path_factory.mktemp("demo") / "lake"
    # with Spark's event log on, so tests can prove what the plans it records leave out (the PII key)
    events = root.parent / "spark-events"
    events.mkdir()
    conf = f"spark.eventLog.enabled=true,spark.eventLog.compress=false,spark.eventLog.dir={events.as_uri()}"
    logs = root.parent / "logs"  # Spark's log, apart from the run's (shared) default
    proc = cli(root, "demo", "--scale", "0.02", env={"CITYLAKE_SPARK_CONF": conf, "CITYLAKE_LOG_DIR": str(logs)})
    return root, proc


@pytest.fixture(scope="session")
def airflow_day(tmp_path_factory, registry):
    """One day run by Airflow's DAGs (tests/airflow_day.py), shared by the Airflow and cluster tests."""
    from airflow_day import build

    return build(tmp_path_factory.mktemp("airflow"), registry)


@pytest.fixture(scope="session")
def directory(tmp_path_factory):
    """A real LDAP directory (slapd on loopback): analyst1 in analysts, steward1 in stewards."""
    from directory import slapd

    with slapd(tmp_path_factory.mktemp("ldap"), {"analysts": ["analyst1"], "stewards": ["steward1"]}) as d:
        yield d


@pytest.fixture(scope="session")
def demo_sql(demo_lake, directory, tmp_path_factory):
    """The SQL endpoint (`citylake serve-sql`, analyst role) over the demo lake, logging users
    in against the directory; hive_query logs in as analyst1: (lake root, port)."""
    from servers import sql_endpoint

    root, _ = demo_lake
    login = ("analyst1", directory.passwords["analyst1"])
    with sql_endpoint(root, tmp_path_factory.mktemp("sql"), env=directory.env(), login=login) as port:
        yield root, port
