"""Subjects written into one feed's delivery (citylake.generate.subjects plans where).

Good and malformed records overwrite the identifier columns of existing records that no fault
touched, so every fault stays counted exactly and the record is otherwise as generated. A
malformed record is the faults' ``bad_number``: it keeps every field whole (``broken_json``
would cut the values off), and the bronze parser quarantines it with its raw text. The rejected
file is the feed's own format, encoding and compression, with its business-key column dropped:
preflight rejects the whole file for the missing column.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
from collections import Counter
from typing import Any

from citylake.config.registry import Feed
from citylake.generate.common import seeded_rng
from citylake.generate.render import render
from citylake.generate.subjects import FeedPlan
from citylake.lake.subjects import Subject, identifier_columns

MALFORMED_KIND = "bad_number"
REJECTED_SUFFIX = "_partial"  # an export that lost a column
REJECTED_MIN_RECORDS = 3  # a rejected file with others' records too, as a real one would have


def clean_rows(before: list[tuple[Any, ...]], rows: list[list[Any]], malformed: dict[int, str]) -> list[int]:
    """Indexes of records as built, untouched by faults: unchanged, not malformed, neither a
    duplicate nor the source of one (a record that occurs once and was built so)."""
    built = set(before)
    seen = Counter(tuple(r) for r in rows)
    return [j for j, r in enumerate(rows) if j not in malformed and seen[tuple(r)] == 1 and tuple(r) in built]


def carry(feed: Feed, row: list[Any], subject: Subject) -> None:
    """Overwrite the row's identifier columns with the subject's values, in place."""
    pos = {c.name: i for i, c in enumerate(feed.contract.columns)}
    for kind, columns in identifier_columns(feed.contract).items():
        if kind in subject.values:
            for name in columns:
                row[pos[name]] = subject.values[kind]


def tally(subjects: list[Subject]) -> dict[str, int]:
    """Records per subject number (the report's ``subjects``: numbers and counts, never values)."""
    counts = Counter(s.number for s in subjects)
    return {str(n): counts[n] for n in sorted(counts)}


def plant(
    feed: Feed,
    date: dt.date,
    rows: list[list[Any]],
    before: list[tuple[Any, ...]],
    malformed: dict[int, str],
    faults: dict[str, int],
    plan: FeedPlan,
) -> tuple[dict[str, int], list[list[Any]]]:
    """Plant the plan's good and malformed records into the main file's ``rows`` (``malformed``
    and ``faults`` gain the malformed ones); returns the file's tally and spare clean records
    for a rejected file."""
    free = clean_rows(before, rows, malformed)
    order = seeded_rng("subject-rows", feed.key, date.isoformat()).permutation(len(free))
    free = [free[int(i)] for i in order]
    placed: list[Subject] = []
    for s, bad in [(s, False) for s in plan.good] + [(s, True) for s in plan.malformed]:
        if not free:
            plan.missed.append(
                f"{feed.key}: too few clean records at this scale for subject {s.number}'s "
                f"{'malformed' if bad else 'good'} record"
            )
            continue
        j = free.pop()
        carry(feed, rows[j], s)
        placed.append(s)
        if bad:
            malformed[j] = MALFORMED_KIND
            faults["malformed"] = faults.get("malformed", 0) + 1
    return tally(placed), [list(rows[j]) for j in free[:REJECTED_MIN_RECORDS]]


def rejected_rows(
    feed: Feed, spare: list[list[Any]], rows: list[list[Any]], plan: FeedPlan
) -> list[list[Any]]:
    """The rejected file's records: one per subject, then spare ones (copies of the day's)."""
    base = spare or rows
    n = max(len(plan.rejected), REJECTED_MIN_RECORDS)
    out = [list(base[k % len(base)]) for k in range(n)]
    for row, s in zip(out, plan.rejected, strict=False):
        carry(feed, row, s)
    return out


def rejected_file(feed: Feed, rows: list[list[Any]]) -> bytes:
    """``rows`` in the feed's format, encoding and compression, without the business-key column."""
    drop = feed.contract.business_keys[0]
    gz = feed.spec.compression == "gzip"
    data = render(feed, rows, {})
    if gz:
        data = gzip.decompress(data)
    if feed.spec.format == "parquet":
        import pyarrow.parquet as pq

        buf = io.BytesIO()
        pq.write_table(pq.read_table(io.BytesIO(data)).drop_columns([drop]), buf)
        data = buf.getvalue()
    elif feed.spec.format == "jsonl":
        lines = []
        for line in data.decode("utf-8").splitlines():
            rec = json.loads(line)
            del rec[drop]
            lines.append(json.dumps(rec, ensure_ascii=False))
        data = ("\n".join(lines) + "\n").encode("utf-8")
    else:
        k = [c.name for c in feed.contract.columns].index(drop)
        out = io.StringIO()
        writer = csv.writer(out, delimiter=feed.spec.delimiter, lineterminator="\n")
        for cells in csv.reader(io.StringIO(data.decode(feed.spec.encoding)), delimiter=feed.spec.delimiter):
            writer.writerow(cells[:k] + cells[k + 1 :])
        data = out.getvalue().encode(feed.spec.encoding)
    return gzip.compress(data, compresslevel=6, mtime=0) if gz else data
