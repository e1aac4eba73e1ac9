"""The SQL endpoint, as an analyst's BI tool meets it: `citylake serve-sql` over the demo lake,
queried by a standard HiveServer2 client (PyHive, the driver Superset uses for Hive and Spark)."""

from __future__ import annotations

import json

import pytest
from conftest import cli
from servers import hive_query

pytestmark = pytest.mark.slow

MART_SQL = (
    "SELECT date, reporting_unit, lot_id, district_code, snapshots, total_spaces, "
    "round(avg_occupancy_rate, 6) AS avg_rate, round(peak_occupancy_rate, 6) AS peak_rate "
    "FROM gold.mart_parking_daily ORDER BY reporting_unit, lot_id, date"
)


def test_a_bi_client_gets_the_same_mart_rows_as_citylake_query(demo_sql):
    root, port = demo_sql
    rows = hive_query(port, MART_SQL)
    ours = json.loads(cli(root, "query", MART_SQL, "--json", "--limit", "100000").stdout)
    assert rows and rows == ours


def test_zones_are_databases_and_bronze_is_not_served(demo_sql):
    from pyhive.exc import OperationalError

    _, port = demo_sql
    databases = {r["namespace"] for r in hive_query(port, "SHOW DATABASES")}
    assert {"silver", "gold", "quarantine", "ops"} <= databases and "bronze" not in databases
    with pytest.raises(OperationalError, match="TABLE_OR_VIEW_NOT_FOUND"):
        hive_query(port, "SELECT count(*) FROM bronze.medical_visits")
