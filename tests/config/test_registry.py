from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from citylake.config.registry import RegistryError, load_registry
from citylake.config.settings import REPO_ROOT
from citylake.domain.districts import districts

FIXTURES = Path(__file__).parents[1] / "fixtures"


def test_registry_size_and_spread(registry):
    assert len(registry.units) >= 200
    assert len(registry.contracts) >= 12
    kinds = {u.kind for u in registry.units.values()}
    assert kinds == {"commission", "district_bureau", "operator"}
    areas = {u.action_area for u in registry.units.values()}
    assert areas == {"new_networks", "new_facilities", "new_platforms", "new_terminals"}
    # every one of the 16 districts has bureaus
    assert {u.district_code for u in registry.units.values() if u.kind == "district_bureau"} == set(
        districts()
    )


def test_contracts_declare_what_ingestion_needs(registry):
    for c in registry.contracts.values():
        assert c.business_keys and c.owner and c.cadence
        assert (c.event_time is None) == (c.kind == "reference"), (
            c.contract
        )  # a register is dated by delivery
        assert any(
            a for col in c.columns for a in col.aliases if any("\u4e00" <= ch <= "\u9fff" for ch in a)
        ), c.contract
    pii = {c.contract for c in registry.contracts.values() if c.pii_columns}
    assert {"service_requests", "medical_visits"} <= pii
    assert registry.contracts["enterprise_cloud_adoption"].business_keys[0] == "uscc"


def test_header_aliases_map_chinese_headers(registry):
    c = registry.contracts["parking_occupancy"]
    assert c.header_map["停车场编号"] == "lot_id"
    assert c.header_map["free_spaces"] == "free_spaces"


def _copy_registry(tmp_path: Path) -> Path:
    root = tmp_path / "schemas"
    shutil.copytree(REPO_ROOT / "schemas", root)
    return root


def test_onboarding_is_one_file(tmp_path):
    root = _copy_registry(tmp_path)
    (root / "units" / "op_new_charger.yaml").write_text(
        (FIXTURES / "op_new_charger.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    reg = load_registry(root)
    feed = reg.feed("op_new_charger", "ev_charging_sessions")
    assert feed is not None and feed.contract.contract == "ev_charging_sessions"


@pytest.mark.parametrize(
    ("fixture", "field", "reason"),
    [
        (
            "bad_contract_ref.yaml",
            "feeds[parking_occupancy].contract",
            "unknown contract 'parking_occupancy_v9'",
        ),
        ("bad_district.yaml", "district_code", "'310199' is not a current GB/T 2260 district code"),
        ("bad_typo.yaml", "feeds[air_quality].encodng", "unknown field"),
        ("bad_encoding.yaml", "feeds[air_quality].encoding", "unknown encoding 'big-five-ish'"),
        # codecs Python knows and the landing contract does not: preflight would decode them and
        # Spark's reader would not (rot13 is no charset at all)
        ("bad_python_codec.yaml", "feeds[air_quality].encoding", "encoding 'rot13' is not one the landing"),
        ("bad_utf16.yaml", "feeds[air_quality].encoding", "utf-8, utf-8-sig, gbk, gb18030"),
        ("bad_yaml.yaml", "line 5, column 12", "invalid YAML: expected ',' or ']'"),
        ("bad_coords.yaml", "feeds[parking_lots].coord_system", "must declare wgs84, gcj02 or bd09"),
    ],
)
def test_broken_unit_gets_a_precise_error(tmp_path, fixture, field, reason):
    root = _copy_registry(tmp_path)
    target = root / "units" / fixture
    shutil.copy(FIXTURES / "broken" / fixture, target)
    with pytest.raises(RegistryError) as err:
        load_registry(root)
    problems = [p for p in err.value.problems if p.file == str(target)]
    assert problems, err.value
    assert any(field in p.field and reason in p.reason for p in problems), problems


def test_libyaml_and_python_parsers_load_the_same_registry(monkeypatch):
    """The registry is parsed by libyaml for speed; PyYAML's own parser must read it identically."""
    import yaml

    from citylake.config.registry import loading

    assert loading.FAST_LOADER is yaml.CSafeLoader  # the speed-up is in effect here
    fast = load_registry(REPO_ROOT / "schemas")
    monkeypatch.setattr(loading, "FAST_LOADER", yaml.SafeLoader)
    pure = load_registry(REPO_ROOT / "schemas")
    assert len(fast.units) >= 200
    assert fast.units == pure.units
    assert fast.contracts == pure.contracts
    assert fast.marts == pure.marts


def test_broken_contract_names_field(tmp_path):
    root = _copy_registry(tmp_path)
    path = root / "contracts" / "air_quality.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace("event_time: measured_at", "event_time: measured_when"),
        encoding="utf-8",
    )
    with pytest.raises(RegistryError) as err:
        load_registry(root)
    assert any(
        p.file == str(path) and "event_time 'measured_when' is not a column" in p.reason
        for p in err.value.problems
    )


def test_cli_validate_exits_2_and_names_file(tmp_path):
    root = _copy_registry(tmp_path)
    shutil.copy(FIXTURES / "broken" / "bad_district.yaml", root / "units" / "bad_district.yaml")
    proc = subprocess.run(
        [sys.executable, "-m", "citylake.cli", "registry", "validate", "--root", str(root)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "bad_district.yaml: district_code:" in proc.stderr
    ok = subprocess.run(
        [sys.executable, "-m", "citylake.cli", "registry", "validate"], capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stderr
    assert "206 units" in ok.stdout or "units" in ok.stdout


def test_null_markers_a_unit_overrides_and_parquet_refuses():
    import pydantic

    from citylake.config.registry import Feed, FeedSpec

    reg = load_registry(REPO_ROOT / "schemas")
    contract = next(iter(reg.contracts.values())).model_copy(update={"null_values": ("NA", "\\N")})
    unit = next(iter(reg.units.values()))
    own = FeedSpec(feed="f", contract=contract.contract, format="csv", null_values=("无", "-"))
    assert Feed(unit, own, contract).null_values == ("无", "-")
    inherited = FeedSpec(feed="f", contract=contract.contract, format="jsonl")
    assert Feed(unit, inherited, contract).null_values == ("NA", "\\N")
    # a Parquet file has real nulls: the contract's markers do not apply, and a unit may not set its own
    assert (
        Feed(unit, FeedSpec(feed="f", contract=contract.contract, format="parquet"), contract).null_values
        == ()
    )
    with pytest.raises(pydantic.ValidationError, match="null_values: applies to csv and jsonl"):
        FeedSpec(feed="f", contract=contract.contract, format="parquet", null_values=("NA",))


def test_a_reference_contract_has_no_event_time_and_others_must():
    import pydantic

    from citylake.config.registry import FeedContract

    reg = load_registry(REPO_ROOT / "schemas")
    divisions = reg.contracts["admin_divisions"]
    assert divisions.kind == "reference" and divisions.event_time is None and divisions.scd2
    assert [u.unit for u in reg.units.values() if any(f.contract == "admin_divisions" for f in u.feeds)] == [
        "mc_civil_affairs"
    ]
    doc = divisions.model_dump()
    with pytest.raises(pydantic.ValidationError, match="event_time: a reference contract has no event time"):
        FeedContract(**{**doc, "event_time": "code"})
    with pytest.raises(pydantic.ValidationError, match="event_time: required for a contract of kind entity"):
        FeedContract(**{**doc, "kind": "entity"})


def test_citylake_query_registers_only_the_tables_its_sql_names():
    from citylake.lake.catalog import TableRef, named_in

    tables = [TableRef("silver", "admin_divisions", "p"), TableRef("gold", "mart_parking_daily", "p"),
              TableRef("_system", "run_ledger", "p"), TableRef("bronze", "ev_charging_sessions", "p")]  # fmt: skip
    names = lambda sql: [t.qualified for t in named_in(sql, tables)]  # noqa: E731
    assert names("SELECT * FROM silver.admin_divisions d JOIN `gold`.`mart_parking_daily` g ON 1=1") == [
        "silver.admin_divisions", "gold.mart_parking_daily"]  # fmt: skip
    assert names("SELECT count(*) FROM ops.run_ledger") == ["ops.run_ledger"]
    assert names("SELECT 1") == []
    # a database named any other way: every table, so the statement still sees them all
    assert len(names("SHOW TABLES IN silver")) == len(tables)
    assert len(names("SELECT * FROM ops.run_ledger WHERE unit = 'silver'")) == len(tables)
