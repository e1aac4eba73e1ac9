"""The SQL endpoint, as an analyst's BI tool meets it: `citylake serve-sql` over the demo lake,
queried by a standard HiveServer2 client (PyHive, the driver Superset uses for Hive and Spark)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from conftest import cli

pytestmark = pytest.mark.slow

MART_SQL = (
    "SELECT date, reporting_unit, lot_id, district_code, snapshots, total_spaces, "
    "round(avg_occupancy_rate, 6) AS avg_rate, round(peak_occupancy_rate, 6) AS peak_rate "
    "FROM gold.mart_parking_daily ORDER BY reporting_unit, lot_id, date"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def endpoint(demo_lake):
    root, _ = demo_lake
    port = _free_port()
    env = {**os.environ, "CITYLAKE_LAKE_ROOT": str(root)}
    proc = subprocess.Popen([sys.executable, "-m", "citylake.cli", "serve-sql", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)  # fmt: skip
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(1)
    else:
        proc.kill()
        pytest.fail("serve-sql did not listen within 300 s")
    yield root, port, proc
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=120)


def _client(port: int):
    from pyhive import hive

    return hive.connect(host="127.0.0.1", port=port, auth="NONE", username="analyst").cursor()


def test_a_bi_client_gets_the_same_mart_rows_as_citylake_query(endpoint):
    root, port, _ = endpoint
    cur = _client(port)
    cur.execute(MART_SQL)
    header, rows = [d[0] for d in cur.description], [list(r) for r in cur.fetchall()]
    ours = json.loads(cli(root, "query", MART_SQL, "--json", "--limit", "100000").stdout)
    assert rows and header == list(ours[0])
    assert rows == [list(r.values()) for r in ours]


def test_zones_are_databases_and_bronze_is_not_served(endpoint):
    from pyhive.exc import OperationalError

    _, port, _ = endpoint
    cur = _client(port)
    cur.execute("SHOW DATABASES")
    databases = {r[0] for r in cur.fetchall()}
    assert {"silver", "gold", "quarantine", "ops"} <= databases and "bronze" not in databases
    with pytest.raises(OperationalError, match="TABLE_OR_VIEW_NOT_FOUND"):
        cur.execute("SELECT count(*) FROM bronze.medical_visits")
