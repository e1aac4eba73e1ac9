"""DAG integrity: the DagBag over dags/ imports cleanly and matches the registry; parse time at 250 units."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.dag_parse import parse_dags
from benchmarks.synthetic import registry_with_units
from citylake.config.settings import REPO_ROOT


def _parse(tmp_path: Path, registry_dir: Path) -> dict:
    return parse_dags(tmp_path / "airflow", registry_dir)


@pytest.fixture(scope="module")
def bag(tmp_path_factory) -> dict:
    return _parse(tmp_path_factory.mktemp("dagbag"), REPO_ROOT / "schemas")


def test_dagbag_imports_without_errors_and_matches_the_registry(bag, registry):
    assert bag["errors"] == {}
    dags = bag["dags"]
    marts = {d for d in dags if d.startswith("citylake_mart__")}
    assert marts == {f"citylake_mart__{m}" for m in registry.marts}
    assert set(dags) == {"citylake_ingest", "citylake_maintenance"} | marts
    # one ingest DAG for every unit: its `units` param offers exactly the registry's units
    assert dags["citylake_ingest"]["tasks"] == ["bronze_silver", "check_units"]
    assert dags["citylake_ingest"]["units"] == sorted(registry.units)
    assert dags["citylake_ingest"]["contracts"] == sorted(c.contract for c in registry.contracts_in_use())
    assert all(dags[d]["tasks"] == ["build_publish"] for d in marts)
    for dag_id, d in dags.items():
        assert d["owners"] == ["citylake-data-eng"], dag_id
        assert d["retries"] and min(d["retries"]) >= 1, dag_id
        assert "citylake" in d["tags"] and len(d["tags"]) >= 2, dag_id


def test_marts_are_scheduled_by_their_input_assets(bag, registry):
    for mart, doc in registry.marts.items():
        wanted = {i for i in doc.inputs if i.split(".")[0] in ("silver", "gold")}
        if any(i.startswith("_system.") for i in doc.inputs):
            wanted.add("_system.run_ledger")
        assert set(bag["dags"][f"citylake_mart__{mart}"]["schedule_assets"]) == wanted, mart


def test_dag_folder_parse_time_at_250_units(tmp_path, figure):
    schemas = registry_with_units(250, tmp_path / "schemas")
    assert len(list((schemas / "units").glob("*.yaml"))) == 250
    parsed = _parse(tmp_path, schemas)
    assert parsed["errors"] == {} and parsed["dags"]
    assert len(parsed["dags"]["citylake_ingest"]["units"]) == 250
    figure("dags/ parse at 250 units", seconds=parsed["seconds"])
