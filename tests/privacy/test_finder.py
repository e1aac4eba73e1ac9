"""The subject finder (one Aho-Corasick pass in the JVM) against Python's substring search, and
what a plan shows of it."""

from __future__ import annotations

import random

import pytest

from citylake.lake.subjects import Subject
from citylake.privacy import tables

pytestmark = pytest.mark.spark

KEY = b"citylake-tests-only-not-a-secret"
# overlapping and nested values: a needle inside another, a shared prefix, CJK, a plate
SUBJECTS = [
    Subject(1, {"name": "王小明", "mobile": "13800138000"}),
    Subject(2, {"name": "王小", "licence_plate": "沪A12345"}),
    Subject(3, {"resident_id": "11010519491231002X", "mobile": "138001"}),
]
ALPHABET = "王小明沪A12345X0138,;|\u0001"


def _oracle(text: str) -> list[int]:
    rows = tables.needle_rows(SUBJECTS, KEY)
    return sorted({s for s, needle in rows if needle in text})


def test_the_finder_agrees_with_substring_search(spark):
    from pyspark.sql import functions as F

    rng = random.Random(35)
    needles = [n for _s, n in tables.needle_rows(SUBJECTS, KEY)]
    texts = ["", "王", "13800138000", "X王小明Y", "王小沪A12345", "AAA11010519491231002XBBB"]
    for _ in range(400):  # random text around random needles (some cut short)
        parts = [rng.choice(needles)[: rng.randint(1, 20)] if rng.random() < 0.3 else
                 "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 8))) for _ in range(rng.randint(0, 6))]  # fmt: skip
        texts.append("".join(parts))
    finder = tables.register_finder(spark, SUBJECTS, KEY)
    df = spark.createDataFrame([(i, t) for i, t in enumerate(texts)] + [(len(texts), None)], "i INT, t STRING")
    got = {r["i"]: r["s"] for r in df.select("i", tables.subjects_in(F.col("t"), finder).alias("s")).collect()}
    assert got[len(texts)] is None  # null stays null
    mismatches = [(i, got[i], _oracle(t)) for i, t in enumerate(texts) if got[i] != _oracle(t)]
    assert not mismatches
    assert sum(1 for i in range(len(texts)) if got[i]) > 50  # the corpus does hit


def test_a_plan_names_the_finder_never_a_value(spark):
    from pyspark.sql import functions as F

    finder = tables.register_finder(spark, SUBJECTS, KEY)
    df = spark.createDataFrame([("13800138000",)], "t STRING").select(tables.subjects_in(F.col("t"), finder))
    plan = df._jdf.queryExecution().toString()
    assert finder in plan
    values = [n for _s, n in tables.needle_rows(SUBJECTS, KEY)] + [v for s in SUBJECTS for v in s.values.values()]
    assert not [v for v in values if v in plan or v.lower() in plan]
