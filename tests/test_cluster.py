"""The cluster profile: the same Airflow tasks on a Spark standalone cluster over MinIO (S3).

A master and a worker start from the pyspark installation (`spark-class`), MinIO serves one
bucket per zone on loopback, and `tasks.ingest` + `tasks.build_marts` run in submit mode, as
the DAGs do with CITYLAKE_EXECUTION=submit. The same generated day run embedded by Airflow's
DAGs (the session's ``airflow_day``, tests/airflow_day.py) must hold the same silver and gold
contents. Landing operations (boto3) are tested on the same MinIO. Timings are printed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time

import pytest
from airflow_day import DAY, SCALE, UNITS
from servers import Minio, SparkStandalone, minio_server

from citylake.lake import ZONES, Lake

pytestmark = pytest.mark.slow

BUCKET = "citylake-ci-{zone}"
# columns that say when or by which run a row was written, not what it holds
RUN_COLUMNS = {"_run_id", "_ingested_at", "_updated_at", "_batch_id", "_published_at", "_source_path",
               "run_id", "quarantined_at", "recorded_at", "batch_id"}  # fmt: skip
# where a quarantined file's copy is: the same relative place, in another lake
LOCATION_COLUMNS = {"copy_path"}
TIMINGS: dict[str, float] = {}


@pytest.fixture(scope="module")
def s3_env(tmp_path_factory):
    """MinIO on loopback with one bucket per zone; the environment a cluster host would have."""
    with minio_server(tmp_path_factory.mktemp("minio")) as (endpoint, user, password, started_s):
        TIMINGS["minio_start_s"] = started_s
        env = {**os.environ, "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": user,
               "AWS_SECRET_ACCESS_KEY": password, "AWS_REGION": "us-east-1",
               "CITYLAKE_LAKE_ROOT": f"s3a://{BUCKET}/lake"}  # fmt: skip
        import boto3

        s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=user, aws_secret_access_key=password,
                          region_name="us-east-1")  # fmt: skip
        for zone in ZONES:
            s3.create_bucket(Bucket=BUCKET.format(zone=zone.lstrip("_")))
            # versioned, as a production lake should be: an erasure must reach every old version too
            s3.put_bucket_versioning(Bucket=BUCKET.format(zone=zone.lstrip("_")),
                                     VersioningConfiguration={"Status": "Enabled"})  # fmt: skip
        yield env, s3


def _python(env: dict[str, str], code: str, *args: str) -> str:
    proc = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True,
                          timeout=1200)  # fmt: skip
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    return proc.stdout


def _table(uri: str, env: dict[str, str], skip: set[str] = frozenset()):
    """A Delta table's rows without the run columns, sorted, read with delta-rs (no JVM)."""
    from deltalake import DeltaTable

    from citylake.engine.storage import delta_rs_location

    options: dict[str, str] = {}
    if uri.startswith("s3a://"):
        uri, options = delta_rs_location(uri)
        options |= {"aws_access_key_id": env["AWS_ACCESS_KEY_ID"], "aws_secret_access_key": env["AWS_SECRET_ACCESS_KEY"],
                    "region": "us-east-1", "endpoint_url": env["AWS_ENDPOINT_URL"], "allow_http": "true"}  # fmt: skip
    t = DeltaTable(uri, storage_options=options).to_pyarrow_table()
    t = t.select(sorted(c for c in t.column_names if c not in RUN_COLUMNS | skip))
    return sorted(map(repr, t.to_pylist()))


@pytest.fixture(scope="module")
def lakes(s3_env, airflow_day, tmp_path_factory, figure):
    """The same day on the cluster over MinIO, and embedded on local disk by Airflow's DAGs
    (the PII key, as every test's, from the environment: the hashes compare)."""
    env, _ = s3_env
    s3_lake = Lake(env["CITYLAKE_LAKE_ROOT"])
    _python(env, "import sys; from citylake.cli import main; sys.exit(main(sys.argv[1:]))",
            "generate", "--date", DAY, "--scale", SCALE, "--units", *UNITS)  # fmt: skip
    with SparkStandalone(tmp_path_factory.mktemp("spark"), worker_env=env) as cluster:
        TIMINGS["cluster_start_s"] = cluster.started_s
        submit = {**env, "CITYLAKE_EXECUTION": "submit", "CITYLAKE_SPARK_MASTER": cluster.master_url,
                  "CITYLAKE_SPARK_CONF": "spark.driver.host=127.0.0.1,spark.driver.bindAddress=127.0.0.1,"
                                         "spark.executor.memory=2g,spark.cores.max=2"}  # fmt: skip
        t = time.perf_counter()
        out = _python(submit, "import json, sys; from citylake.runs import tasks; "
                      "print('RESULT', json.dumps(tasks.ingest(sys.argv[1])))", DAY)  # fmt: skip
        TIMINGS["cluster_ingest_s"] = time.perf_counter() - t
        ingest = json.loads(out.split("RESULT ", 1)[1])
        t = time.perf_counter()
        _python(submit, "import sys; from citylake.runs import tasks; from citylake.config.registry import load_registry; "
                "tasks.build_marts(sorted(load_registry().marts), sys.argv[1])", DAY)  # fmt: skip
        TIMINGS["cluster_marts_s"] = time.perf_counter() - t
    figure("cluster test timings (s)", **TIMINGS)
    return env, s3_lake, Lake(str(airflow_day.root)), ingest


def test_cluster_run_matches_the_embedded_run(lakes):
    env, s3_lake, local, ingest = lakes
    assert ingest["status"] == "ok" and set(ingest["units"]) == set(UNITS)
    compared = []
    for zone in ("silver", "gold"):
        for name in sorted(os.listdir(local.zone(zone))):
            embedded = _table(local.table(zone, name), env)
            on_cluster = _table(s3_lake.table(zone, name), env)
            assert on_cluster == embedded, f"{zone}.{name} differs between the cluster and the embedded run"
            if embedded:  # tables of contracts nobody delivered exist empty in both
                compared.append(f"{zone}.{name}")
    assert {"silver.ev_charging_sessions", "gold.mart_parking_daily", "gold.dt_city_objects"} <= set(compared)


def _s3_env(server: Minio, bucket: str) -> dict[str, str]:
    return {**os.environ, "AWS_ENDPOINT_URL": server.endpoint, "AWS_ACCESS_KEY_ID": server.user,
            "AWS_SECRET_ACCESS_KEY": server.password, "AWS_REGION": "us-east-1",
            "CITYLAKE_LAKE_ROOT": f"s3a://{bucket}/lake"}  # fmt: skip


def test_object_store_down_mid_run_then_a_rerun_gives_the_same_tables(lakes, tmp_path_factory, figure):
    """MinIO stops in the middle of a run and comes back; the run fails or finishes, and the
    next run leaves every table equal to an uninterrupted run's."""
    import boto3

    _, _, local, _ = lakes
    server = Minio(tmp_path_factory.mktemp("minio-outage"))
    server.start()
    bucket = "citylake-outage-{zone}"
    # give up on the store after one retry, as a long outage would make it, so the run breaks
    quick = ("spark.hadoop.fs.s3a.retry.limit=1,spark.hadoop.fs.s3a.attempts.maximum=1,"
             "spark.hadoop.fs.s3a.connection.establish.timeout=2000,spark.task.maxFailures=1")  # fmt: skip
    env = {**_s3_env(server, bucket), "CITYLAKE_PII_KEY": lakes[0]["CITYLAKE_PII_KEY"],
           "AWS_MAX_ATTEMPTS": "2"}  # fmt: skip
    outage_env = {**env, "CITYLAKE_SPARK_CONF": quick}
    try:
        s3 = boto3.client("s3", endpoint_url=server.endpoint, aws_access_key_id=server.user,
                          aws_secret_access_key=server.password, region_name="us-east-1")  # fmt: skip
        for zone in ZONES:
            s3.create_bucket(Bucket=bucket.format(zone=zone.lstrip("_")))
        _python(env, "import sys; from citylake.cli import main; sys.exit(main(sys.argv[1:]))",
                "generate", "--date", DAY, "--scale", "0.02", "--units", *UNITS)  # fmt: skip
        run = subprocess.Popen([sys.executable, "-m", "citylake.cli", "run", "--date", DAY], env=outage_env,
                               text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
        assert run.stdout is not None
        out = []
        for line in run.stdout:
            out.append(line)
            if "bronze 1/" in line:  # the first batch is being written
                break
        t = time.perf_counter()
        server.stop()
        time.sleep(8)
        server.start()
        outage = time.perf_counter() - t
        out += run.stdout.readlines()
        first = run.wait(timeout=1200)
        assert first != 0, "".join(out)[-3000:]  # the outage broke the run
        rerun = subprocess.run([sys.executable, "-m", "citylake.cli", "run", "--date", DAY], env=env,
                               capture_output=True, text=True, timeout=1200)  # fmt: skip
        assert rerun.returncode == 0, (rerun.stdout + rerun.stderr)[-4000:]
        figure("object store outage", outage_s=outage, first_run_exit=first)
        s3_lake = Lake(env["CITYLAKE_LAKE_ROOT"])
        compared = []
        for zone in ("bronze", "silver", "gold", "quarantine"):
            for name in sorted(os.listdir(local.zone(zone))):
                if not os.path.isdir(f"{local.table(zone, name)}/_delta_log"):
                    continue
                want = _table(local.table(zone, name), env, LOCATION_COLUMNS)
                got = _table(s3_lake.table(zone, name), env, LOCATION_COLUMNS)
                assert got == want, f"{zone}.{name} differs after the outage"
                compared += [f"{zone}.{name}"] if want else []
        assert {"bronze.ev_charging_sessions", "silver.parking_occupancy", "gold.mart_parking_daily"} <= set(
            compared
        )
    finally:
        server.stop()


def test_landing_operations_on_s3(lakes, monkeypatch):
    """List what is new, tidy what runs finished with, and give a unit an upload URL of its own."""
    import urllib.request

    from citylake.config.registry import load_registry
    from citylake.lake import landing

    env, s3_lake, _, _ = lakes
    for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"):
        monkeypatch.setenv(k, env[k])
    reg = load_registry()
    # the day is loaded: nothing new; tidying moves every file beside bronze
    assert landing.new_deliveries(s3_lake, reg, DAY) == []
    tidied = landing.tidy(s3_lake, reg, DAY)
    assert tidied.archived and not tidied.left
    from citylake.engine.storage import store_for

    store = store_for(s3_lake.root)
    assert all(store.exists(landing.archive_path(s3_lake, rel)) for rel in tidied.archived)
    # a unit uploads tomorrow's file with a presigned URL: it lands in its own prefix, and is new
    tomorrow = dt.date(2026, 11, 21)
    url = landing.presigned_upload(s3_lake, reg, "op_teld", "ev_charging_sessions", tomorrow, "sessions.csv")
    body = b"session_id,station_id\n"
    req = urllib.request.Request(url, data=body, method="PUT")
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 200
    new = landing.new_deliveries(s3_lake, reg, tomorrow.isoformat())
    assert [lf.rel for lf in new] == ["op_teld/ev_charging_sessions/2026-11-21/sessions.csv"]
    with pytest.raises(ValueError, match="no feed"):
        landing.presigned_upload(s3_lake, reg, "op_teld", "parking_occupancy", tomorrow, "x.csv")
    with pytest.raises(ValueError, match="plain name"):
        landing.presigned_upload(s3_lake, reg, "op_teld", "ev_charging_sessions", tomorrow, "../x.csv")


def test_the_sql_endpoint_serves_the_s3_lake(lakes, tmp_path, monkeypatch):
    """On the cluster profile the same SQL endpoint serves the S3 lake: a BI client (PyHive) gets
    the rows of a gold mart that `citylake query` gets there, and bronze is not served."""
    from servers import hive_query, sql_endpoint

    env, s3_lake, _, _ = lakes
    for k in (
        "AWS_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_REGION",
        "CITYLAKE_PII_KEY",
    ):
        monkeypatch.setenv(k, env[k])
    sql = ("SELECT date, reporting_unit, lot_id, district_code, snapshots, total_spaces, "
           "round(avg_occupancy_rate, 6) AS avg_rate FROM gold.mart_parking_daily "
           "ORDER BY reporting_unit, lot_id, date")  # fmt: skip
    ours = json.loads(_python(env, "import sys; from citylake.cli import main; sys.exit(main(sys.argv[1:]))",
                              "query", sql, "--json", "--limit", "100000"))  # fmt: skip
    with sql_endpoint(s3_lake.root, tmp_path) as port:
        rows = hive_query(port, sql)
        databases = {r["namespace"] for r in hive_query(port, "SHOW DATABASES")}
    assert rows and rows == ours
    assert {"silver", "gold", "ops"} <= databases and "bronze" not in databases


def test_an_erasure_on_the_versioned_s3_lake_leaves_no_version_holding_the_subjects(lakes, tmp_path):
    """Erase two people of the S3 lake's charging sessions (by plate and mobile), then verify:
    every version of every object in every zone bucket is read, and none holds them."""
    from citylake.engine.storage import delta_rs_location

    env, s3_lake, _, _ = lakes
    uri, options = delta_rs_location(s3_lake.table("bronze", "ev_charging_sessions"))
    options |= {"aws_access_key_id": env["AWS_ACCESS_KEY_ID"], "aws_secret_access_key": env["AWS_SECRET_ACCESS_KEY"],
                "region": "us-east-1", "endpoint_url": env["AWS_ENDPOINT_URL"], "allow_http": "true"}  # fmt: skip
    from deltalake import DeltaTable

    rows = [r for r in DeltaTable(uri, storage_options=options).to_pyarrow_table().to_pylist() if r["plate_no"]]
    people = [{"licence_plate": r["plate_no"], "mobile": r["user_mobile"]} for r in rows[:2]]
    subjects = tmp_path / "subjects.jsonl"
    subjects.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in people), encoding="utf-8")
    out = _python(env, "import sys; from citylake.cli import main\n"
                  "for argv in (['landing', 'tidy', '--date', sys.argv[2]], ['subject', 'erase', '--request', 'DSR-S3-1',"
                  " '--subjects', sys.argv[1]], ['subject', 'verify', '--request', 'DSR-S3-1', '--subjects', sys.argv[1],"
                  " '--json']):\n"
                  "    code = main(argv)\n"
                  "    print('EXIT', argv[1], code, flush=True)", str(subjects), DAY)  # fmt: skip
    assert "EXIT erase 0" in out and "EXIT verify 0" in out, out[-3000:]
    report = json.loads(out[out.index("{"):out.rindex("}") + 1])
    assert report["clean"] and report["findings_count"] == 0
    assert report["versions"] > report["objects"], "the buckets are versioned: older versions were read too"
