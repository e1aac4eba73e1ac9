"""`citylake subject erase` (PIPL Art. 47): remove the subjects from everything `locate` finds, in
one guarded operation, and purge what the deletes replaced.

Under the lake's run lock, so no run, maintenance or other request writes meanwhile:

1. locate the subjects (tables and files);
2. add them to the suppression list (references only), so nothing brings them back;
3. per table holding them: unlock an append-only table, MERGE-delete joining the subjects,
   relock it in the commit that marks the erasure; check that the only commits in between are
   these; purge (citylake.privacy.purge);
4. rewrite each raw delivery holding any of them once, without their records, as delivered;
   redact any other file's occurrences;
5. write the evidence (value-free) that the certificate is built from.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from citylake.config.registry import Registry
from citylake.engine import delta_log, parallel
from citylake.lake import Lake, runlock, suppression
from citylake.lake.subjects import Subject
from citylake.privacy import evidence, files, objects, purge, rawfiles, tables
from citylake.privacy.locate import Found, locate, qualified

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

APPEND_ONLY = "delta.appendOnly"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _set_properties(path: str, props: dict[str, str]) -> None:
    """One commit setting ``props`` (delta-rs: no Spark job; ``citylake.*`` keys allowed)."""
    from deltalake import DeltaTable

    from citylake.engine import fence
    from citylake.engine.storage import delta_rs_location

    fence.check(f"setting properties of {path}")
    uri, options = delta_rs_location(path)
    DeltaTable(uri, storage_options=options).alter.set_table_properties(props, raise_if_not_exists=False)


def erase_table(
    spark: SparkSession, lake: Lake, path: str, name: str, finder: str, subjects: list[int], request_id: str
) -> dict[str, Any]:
    before = delta_log.latest_version(path)
    locked = delta_log.configuration(path).get(APPEND_ONLY) == "true"
    if locked:
        _set_properties(path, {APPEND_ONLY: "false"})
    metrics = tables.delete_rows(spark, path, finder, subjects)
    marked = (delta_log.latest_version(path) or 0) + 1
    props = {purge.ERASED_BY: request_id, purge.ERASED_FROM: str(marked),
             "delta.logRetentionDuration": purge.SHORT_LOG_RETENTION}  # fmt: skip
    if locked:
        props[APPEND_ONLY] = "true"
    _set_properties(path, props)
    after = delta_log.latest_version(path)
    expected = (before or 0) + (3 if locked else 2)
    if after != expected:
        # someone committed while the table was open: leave it for the operator, purge nothing
        raise RuntimeError(f"{name}: expected v{expected} after the erasure, found v{after}; another writer "
                           "committed during it (is every writer under the lake lock?)")  # fmt: skip
    purged = purge.purge_table(lake, path, name)
    purge.forget(spark, path)
    return {"table": name, "version_before": before, "version_after": after, "append_only": locked,
            **metrics, **purged.json()}  # fmt: skip


def tidy_landing(lake: Lake, registry: Registry) -> None:
    """Move the files runs have finished with out of landing first: a loaded file rewritten in
    landing would no longer match its manifest checksum, and a re-run would call it a conflict.
    What stays in landing is pending, and is rewritten where it lies."""
    from citylake.engine.storage import store_for
    from citylake.lake import landing

    store = store_for(lake.root)
    base = lake.zone("landing")
    dates = {d for unit in store.list_dirs(base) for feed in store.list_dirs(f"{base}/{unit}")
             for d in store.list_dirs(f"{base}/{unit}/{feed}")}  # fmt: skip
    for date in sorted(dates):
        landing.tidy(lake, registry, date)


def erase_files(
    lake: Lake, registry: Registry, found: Found, subjects: list[Subject], key: bytes
) -> list[dict[str, Any]]:
    """Each file holding any subject rewritten once, without all of them."""
    needles = files.text_needles(subjects, key)
    by_file: dict[str, files.FileHit] = {}
    counts: dict[str, int] = defaultdict(int)
    for h in found.files:
        by_file[h.path] = h
        counts[h.path] += h.count
    out = []
    for path, h in sorted(by_file.items()):
        data = objects.read(lake, path)
        new = (
            rawfiles.without_subjects(data, h.rel, registry, needles)
            if h.raw
            else files.redact(data, subjects, key)
        )
        # empty: damaged beyond reading record by record, and holding a subject: the whole file goes
        versions = objects.replace(lake, path, new) if new else objects.purge(lake, path)
        out.append({"path": h.rel, "kind": "raw" if h.raw else "text", "removed": counts[path],
                    "action": "rewritten" if new else "purged", "sha256_before": _sha(data),
                    "sha256_after": _sha(new) if new else None, "object_versions_deleted": versions})  # fmt: skip
    return out


def purge_old_versions(lake: Lake, subjects: list[Subject], key: bytes) -> int:
    """On a versioned bucket: delete every noncurrent object version that holds a subject (a
    moved delivery's old key, an overwritten page); returns how many went."""
    needles = files.text_needles(subjects, key)
    gone = 0
    for path, version, data in objects.noncurrent(lake):
        if files.count_in_text(data, needles):
            objects.delete_version(lake, path, version)
            gone += 1
    return gone


def erase(
    spark: SparkSession,
    lake: Lake,
    registry: Registry,
    subjects: list[Subject],
    key: bytes,
    request_id: str,
    say: Callable[[str], None] = print,
    wait_s: float = 0.0,
) -> dict[str, Any]:
    with runlock.hold(lake, f"erase-{request_id}", dt.date.today(), wait_s, what="subject erase"):
        tidy_landing(lake, registry)
        found = locate(spark, lake, registry, subjects, key)
        say(f"found {len(found.tables)} table hit(s) and {len(found.files)} file hit(s)")
        suppression.add_subjects(lake, subjects, key, "erase", request_id)
        finder = tables.register_finder(spark, subjects, key)
        numbers = [s.number for s in subjects]
        refs = sorted({h.table for h in found.tables}, key=qualified)
        say(f"erasing from {len(refs)} table(s): {', '.join(qualified(r) for r in refs)}")
        # tables are independent, and most of a small table's cost is driver work: a few at a time
        with tables.user_metadata(spark, request_id):
            done_tables = parallel.each(
                refs,
                lambda ref: erase_table(spark, lake, ref.path, qualified(ref), finder, numbers, request_id),
                workers=4,
            )
        done_files = erase_files(lake, registry, found, subjects, key)
        say(f"rewrote {len(done_files)} file(s)")
        old_versions = purge_old_versions(lake, subjects, key)
        if old_versions:
            say(f"deleted {old_versions} older object version(s) holding the subjects")
        record = {"request_id": request_id, "type": "erase", "finished_at": dt.datetime.now().isoformat(timespec="seconds"),
                  "found": found.json(subjects), "tables": done_tables, "files": done_files,
                  "old_versions_deleted": old_versions}  # fmt: skip
        evidence.write(lake, request_id, "erase", record)
    return record


def summary(record: dict[str, Any]) -> dict[str, int]:
    """Value-free counts for the ledger's outcome column."""
    return {
        "tables": len(record["tables"]),
        "rows_deleted": sum(t["rows_deleted"] for t in record["tables"]),
        "data_files_purged": sum(t["data_files_purged"] for t in record["tables"]),
        "files_rewritten": len(record["files"]),
    }


def dumps(record: dict[str, Any]) -> str:
    return json.dumps(record, indent=1, sort_keys=True, default=str)
