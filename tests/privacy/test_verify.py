"""The verifier finds a subject wherever bytes of it are left, in any encoding, container or
version, and says so by path, version, subject number and kind only; a lake without them is clean."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest

from citylake.domain.pii import hmac_hex_py
from citylake.lake import Lake
from citylake.lake.subjects import Subject
from citylake.privacy.verify import VerifyError, verify_lake
from citylake.privacy.verify_scan import MAX_WINDOWS, RE2_FROM, Needles

KEY = b"citylake-tests-only-verify-key"
SUBJECTS = [
    Subject(1, {"resident_id": "11010519491231002X", "name": "张伟明"}),  # GB18030 CSV, spaced, lower case
    Subject(2, {"mobile": "13812345678"}),  # second member of a gzip JSONL
    Subject(3, {"licence_plate": "京A12345"}),  # nested in a snappy Parquet file
    Subject(4, {"name": "李秀英"}),  # a Delta table written by delta-rs, then overwritten
    Subject(5, {"resident_id": "440301199001011234"}),  # only its hash's 32-char prefix, in a log
    Subject(6, {"name": "赵丽华"}),  # HTML entities in a Data Docs page
    Subject(7, {"mobile": "13987654321"}),  # an int64 Parquet column
    Subject(8, {"resident_id": "310101198001010011", "name": "孙悟空"}),  # nowhere
    Subject(9, {"name": "钱多多"}),  # the Delta table's current row: in its checkpoint's statistics
]
# people who are not subjects: the same files filled with them must be clean
OTHERS = {"resident_id": "120101197001010022", "name": "周杰", "mobile": "13700000000",
          "licence_plate": "粤B99999", "hash_of": "120101197001010022"}  # fmt: skip


def plant(root: Path, p: dict[str, str], mobile_int: int, plate: str, delta_names: tuple[str, str]) -> None:
    """One file of each kind, under the places a lake keeps them."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from deltalake import DeltaTable, write_deltalake

    landed = root / "bronze" / "_landed" / "hospital" / "visits" / "2026-11-20"
    landed.mkdir(parents=True)
    csv = f"id,name,resident_id\n1,{p['csv_name']},{p['csv_id']}\n2,王五,000000000000000000\n"
    (landed / "visits.csv").write_bytes(csv.encode("gb18030"))

    landing = root / "landing" / "hotline" / "calls" / "2026-11-20"
    landing.mkdir(parents=True)
    first = gzip.compress(b'{"caller": "nobody", "mobile": "10000000000"}\n')
    second = gzip.compress(json.dumps({"caller": "x", "mobile": p["gz_mobile"]}).encode() + b"\n")
    (landing / "calls.jsonl.gz").write_bytes(first + second)  # concatenated members

    files = root / "quarantine" / "files" / "2026-11-20" / "charging" / "sessions"
    files.mkdir(parents=True)
    nested = pa.array([[{"plate": plate, "kw": 7.0}], [{"plate": "沪C00000", "kw": 11.0}]],
                      pa.list_(pa.struct([("plate", pa.string()), ("kw", pa.float64())])))  # fmt: skip
    table = pa.table(
        {"session": ["a", "b"], "vehicles": nested, "mobile": pa.array([mobile_int, 1], pa.int64())}
    )
    pq.write_table(table, files / "sessions.parquet", compression="snappy")

    delta = str(root / "bronze" / "hospital_visits")
    write_deltalake(delta, pa.table({"name": [delta_names[0], "陈红"], "n": [1, 2]}))
    write_deltalake(delta, pa.table({"name": [delta_names[1]], "n": [2]}), mode="overwrite")  # old file stays
    DeltaTable(delta).create_checkpoint()  # the log as Parquet, nested: add.stats, maps

    logs = root / "_system" / "logs"
    logs.mkdir(parents=True)
    (logs / "run.jsonl").write_text(json.dumps({"event": "dq", "min": p["hash_prefix"]}) + "\n")

    docs = root / "_system" / "gx" / "data_docs"
    docs.mkdir(parents=True)
    entities = "".join(f"&#x{ord(c):X};" for c in p["html_name"])
    (docs / "index.html").write_text(f"<html><body><td>{entities}</td></body></html>", encoding="utf-8")


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    root = tmp_path_factory.mktemp("planted") / "lake"
    s1, s5 = SUBJECTS[0].values, SUBJECTS[4].values
    plant(root, {"csv_name": "张 伟 明", "csv_id": s1["resident_id"].lower(), "gz_mobile": "13812345678",
                 "hash_prefix": hmac_hex_py(s5["resident_id"], KEY)[:32], "html_name": "赵丽华"},
          mobile_int=13987654321, plate="京A12345", delta_names=("李秀英", "钱多多"))  # fmt: skip
    return root, verify_lake(Lake(str(root)), SUBJECTS, KEY)


def _found(report, suffix: str) -> set[tuple[int, str]]:
    return {(f.subject, f.kind) for f in report.findings if f.path.endswith(suffix)}


@pytest.mark.parametrize(
    ("suffix", "expected"),
    [
        ("_landed/hospital/visits/2026-11-20/visits.csv", {(1, "value")}),
        ("calls.jsonl.gz", {(2, "value")}),
        ("sessions.parquet", {(3, "value"), (7, "value")}),
        ("_system/logs/run.jsonl", {(5, "hash")}),
        ("data_docs/index.html", {(6, "value")}),
    ],
)
def test_each_planted_subject_is_found_in_its_file(planted, suffix, expected):
    _, report = planted
    assert _found(report, suffix) == expected


def test_a_spaced_lower_case_value_in_gb18030_is_found_only_once_decoded_and_normalised(planted):
    _, report = planted
    [csv] = [f for f in report.findings if f.path.endswith("visits.csv")]
    assert csv.layers == ("bytes/text",)  # its raw bytes hold no needle as given


def test_a_delta_table_keeps_the_subject_in_its_replaced_file_and_its_log(planted):
    _, report = planted
    delta = [f for f in report.findings if "/hospital_visits/" in f.path and f.subject == 4]
    parquet = [f for f in delta if f.path.endswith(".parquet")]
    assert len(parquet) == 1 and any("parquet/cells" in layer for layer in parquet[0].layers)
    assert parquet[0].path.endswith("c000.snappy.parquet")  # the replaced data file, not the checkpoint
    assert any(f.path.endswith("0.json") and "/_delta_log/" in f.path for f in delta)  # add's min/max stats


def test_a_delta_checkpoint_is_read_as_parquet(planted):
    _, report = planted
    checkpoint = [f for f in report.findings if f.path.endswith(".checkpoint.parquet")]
    assert [(f.subject, f.kind) for f in checkpoint] == [(9, "value")]  # add.stats, a JSON string in a struct
    assert any("parquet/cells" in layer for layer in checkpoint[0].layers)


def test_findings_name_no_value_and_the_absent_subject_is_not_found(planted):
    _, report = planted
    assert not report.clean and {f.subject for f in report.findings} == {1, 2, 3, 4, 5, 6, 7, 9}
    assert not report.problems
    shown = (json.dumps(report.json(), ensure_ascii=False) + report.text()).encode("utf-8")
    for s in SUBJECTS:
        for needle in s.needles(KEY):
            assert needle not in shown


def test_a_lake_without_the_subjects_is_clean_and_every_object_is_counted(tmp_path):
    root = tmp_path / "lake"
    plant(root, {"csv_name": OTHERS["name"], "csv_id": OTHERS["resident_id"], "gz_mobile": OTHERS["mobile"],
                 "hash_prefix": hmac_hex_py(OTHERS["hash_of"], KEY)[:32], "html_name": OTHERS["name"]},
          mobile_int=13700000000, plate=OTHERS["licence_plate"], delta_names=(OTHERS["name"], "陈红"))  # fmt: skip
    files = [Path(d) / f for d, _, fs in os.walk(root) for f in fs]
    sizes = [os.path.getsize(f) for f in files]
    assert sum("_delta_log" in str(f) for f in files) >= 2  # hidden objects are in the count below
    report = verify_lake(Lake(f"file://{root}"), SUBJECTS, KEY)
    assert report.clean, report.text()
    assert report.objects == report.versions == len(files)
    assert report.bytes_scanned == sum(sizes)
    assert report.json()["clean"] and "clean" in report.text()


def test_a_missing_root_is_an_error_not_a_clean_lake(tmp_path):
    with pytest.raises(VerifyError, match="does not exist"):
        verify_lake(Lake(str(tmp_path / "nowhere")), SUBJECTS, KEY)


def test_a_truncated_parquet_file_leaves_the_lake_unproven(tmp_path):
    root = tmp_path / "lake" / "quarantine" / "files"
    root.mkdir(parents=True)
    (root / "cut.parquet").write_bytes(b"PAR1" + os.urandom(64))
    report = verify_lake(Lake(str(tmp_path / "lake")), SUBJECTS, KEY)
    assert not report.findings and not report.clean
    assert [p.reason.split(":", 1)[1].strip() for p in report.problems] == [
        "footer not readable (ArrowInvalid)"
    ]


# --- S3: every version of every object -----------------------------------------------------------


@pytest.fixture(scope="module")
def minio(tmp_path_factory, figure):
    import boto3
    from servers import minio_server

    with minio_server(tmp_path_factory.mktemp("minio")) as (endpoint, user, password, started_s):
        figure("verify MinIO start (s)", minio_start_s=started_s)
        env = {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": user, "AWS_SECRET_ACCESS_KEY": password,
               "AWS_REGION": "us-east-1"}  # fmt: skip
        s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=user, aws_secret_access_key=password,
                          region_name="us-east-1")  # fmt: skip
        yield s3, env


def test_s3_noncurrent_versions_and_deleted_objects_are_scanned_until_the_version_is_gone(minio):
    s3, _ = minio
    s3.create_bucket(Bucket="verify-versioned")
    s3.put_bucket_versioning(Bucket="verify-versioned", VersioningConfiguration={"Status": "Enabled"})
    lake, key = Lake("s3a://verify-versioned/lake"), "lake/landing/hotline/calls/2026-11-20/calls.csv"
    dirty = s3.put_object(Bucket="verify-versioned", Key=key, Body=b"mobile\n138 1234 5678\n")["VersionId"]
    # beside the root, not under it: not the lake's
    s3.put_object(Bucket="verify-versioned", Key="lake-other/x.csv", Body=b"13812345678")
    s3.put_object(Bucket="verify-versioned", Key=key, Body=b"mobile\n10000000000\n")

    report = verify_lake(lake, SUBJECTS, KEY, s3_client=s3)
    assert (report.objects, report.versions, report.delete_markers) == (1, 2, 0)
    assert [(f.path, f.version_id, f.subject, f.kind) for f in report.findings] == [
        (f"s3a://verify-versioned/{key}", dirty, 2, "value")]  # fmt: skip

    s3.delete_object(Bucket="verify-versioned", Key=key)  # a delete marker hides, it does not erase
    report = verify_lake(lake, SUBJECTS, KEY, s3_client=s3)
    assert report.delete_markers == 1 and [f.version_id for f in report.findings] == [dirty]

    s3.delete_object(Bucket="verify-versioned", Key=key, VersionId=dirty)
    report = verify_lake(lake, SUBJECTS, KEY, s3_client=s3)
    assert report.clean, report.text()
    assert (report.objects, report.versions, report.delete_markers) == (1, 1, 1)


def test_s3_a_lake_of_one_bucket_per_zone_is_scanned_in_every_bucket(minio, monkeypatch):
    import boto3

    s3, env = minio
    for k, v in env.items():
        monkeypatch.setenv(k, v)  # the default client, from the environment as on a cluster host
    # boto3's default session keeps the first credentials it resolved: a fresh one here, and the
    # one before restored afterwards, so no later test in this process signs with this MinIO's keys
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    for zone in ("landing", "system"):  # unversioned buckets: version id "null"; other zones missing
        s3.create_bucket(Bucket=f"verify-zones-{zone}")
    s3.put_object(Bucket="verify-zones-system", Key="gx/results/run.json",
                  Body=json.dumps({"unexpected": ["沪B6789C"]}).encode())  # fmt: skip
    s3.put_object(Bucket="verify-zones-landing", Key="a/b/c.csv", Body=b"nothing here\n")
    report = verify_lake(Lake("s3a://verify-zones-{zone}"), [Subject(1, {"licence_plate": "沪b 6789c"})], KEY)
    assert (report.objects, report.versions, report.problems) == (2, 2, [])
    assert [(f.path, f.version_id, f.kind) for f in report.findings] == [
        ("s3a://verify-zones-system/gx/results/run.json", "null", "value")]  # fmt: skip


@pytest.mark.parametrize("copies", [0, 1, 3, MAX_WINDOWS + 5])
@pytest.mark.parametrize("size", [100, RE2_FROM * 2])
def test_one_pass_over_all_needles_still_tells_each_subject_apart(copies, size):
    """A needle inside another (王伟 in 王伟明) is not hidden by it, in Python's re (small data)
    or RE2 walking match to match (big data), however many matches there are."""
    needles = Needles(
        [Subject(1, {"name": "王伟"}), Subject(2, {"name": "王伟明"}), Subject(3, {"name": "伟明"})], KEY
    )
    filler = b"x" * (size // max(1, copies + 1))
    data = filler + filler.join(["王伟明".encode()] * copies) + filler
    expected = {(1, "value"), (2, "value"), (3, "value")} if copies else set()
    assert needles.settle([(data, needles.raw), (b"clean", needles.raw)]) == [expected, set()]
