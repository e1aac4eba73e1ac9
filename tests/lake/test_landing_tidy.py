"""Duplicate files are recorded by checksum, not copied again (no Spark): bronze's decisions as
its run makes them (preflight, classification, set-aside), then `landing tidy`, an erasure of
the archived original, and re-sends of it."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

from citylake.engine.storage import store_for
from citylake.generate import build_rows, render
from citylake.lake import FILE_MANIFEST, REJECTED_FILES, Lake, landing, ledger, preflight
from citylake.privacy import rawfiles
from jobs.bronze_ingest import RECOVERY_WINDOW_DAYS, _classify
from jobs.bronze_record import FileOutcome, set_aside

DAY = dt.date(2026, 11, 20)


def _land(lake: Lake, feed, name: str, data: bytes) -> Path:
    p = Path(lake.landing_dir(feed.unit.unit, feed.spec.feed, DAY.isoformat())) / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return p


def _run(lake: Lake, registry, run_id: str) -> dict[str, tuple[str, str | None]]:
    """What a bronze run decides and records for the landed files, loading aside: the manifest's
    final events and the set-aside files (jobs.bronze_ingest.run, jobs.bronze_record)."""
    store = store_for(lake.root)
    landed = [preflight.check(lf, store) for lf in preflight.discover(lake, store, registry, DAY.isoformat())]
    state = ledger.manifest_state(lake, DAY - dt.timedelta(days=RECOVERY_WINDOW_DAYS))
    twins = {(s.unit, s.feed, s.sha256): s.file for s in state.values() if s.status == ledger.LOADED}
    decided, aside, manifest = {}, [], []
    for lf in sorted(landed, key=lambda f: f.rel):
        status, reason = _classify(lf, state, twins)
        if status == "new":
            twins.setdefault((lf.unit, lf.feed, lf.sha256), lf.rel)
            status = ledger.LOADED
        elif status != ledger.SKIPPED:
            aside.append(FileOutcome(lf.unit, lf.feed, lf.rel, status, lf.contract, reason, lf.records, 0,
                                     lf.records, lf.size, lf.sha256))  # fmt: skip
        if status != ledger.SKIPPED:  # per-run statuses never reach the manifest
            manifest.append({"file": lf.rel, "unit": lf.unit, "feed": lf.feed, "logical_date": DAY,
                             "size": lf.size, "sha256": lf.sha256, "status": status, "run_id": run_id,
                             "recorded_at": dt.datetime.now()})  # fmt: skip
        decided[lf.rel.rsplit("/", 1)[-1]] = (status, reason)
    set_aside(None, lake, store, aside, run_id, DAY)  # type: ignore[arg-type]  # no Spark used
    ledger.append_rows(lake, "_system", FILE_MANIFEST, manifest)
    return decided


def test_a_duplicate_is_recorded_by_checksum_and_kept_once_even_after_an_erasure(registry, lake):
    feed = next(
        f for f in registry.feeds() if f.spec.format == "csv" and f.contract.contract == "medical_visits"
    )
    data = render(feed, build_rows(feed, DAY, 0.05)[:10], {})
    # named as the unit sends them: .csv.gz when the feed is gzip (the reader inflates by the name)
    visits, again, copy = (f"{n}{feed.spec.extension}" for n in ("visits", "visits_again", "visits_copy"))
    sha = hashlib.sha256(data).hexdigest()
    rel = f"{feed.unit.unit}/{feed.spec.feed}/{DAY}"
    _land(lake, feed, visits, data)
    _land(lake, feed, again, data)  # the same bytes under another name
    _land(lake, feed, "broken.csv", b"\xff\xfe not a header\n")

    decided = _run(lake, registry, "run-1")
    assert decided[visits][0] == ledger.LOADED
    assert decided[again] == (ledger.DUPLICATE, f"byte-identical copy of {rel}/{visits}, "
                                                             "which is already loaded")  # fmt: skip
    assert decided["broken.csv"][0] == ledger.REJECTED
    # the duplicate is recorded with its checksum, and no copy of its bytes is made
    rows = {r["source_file"].rsplit("/", 1)[-1]: r
            for r in ledger.read_rows(lake, "quarantine", REJECTED_FILES, ["source_file", "status", "sha256", "copy_path"])}  # fmt: skip
    assert rows[again]["sha256"] == sha and rows[again]["copy_path"] is None
    quarantined = Path(lake.zone("quarantine")) / "files"
    assert sorted(p.name for p in quarantined.rglob("*") if p.is_file()) == ["broken.csv"]
    assert Path(rows["broken.csv"]["copy_path"]).read_bytes() == b"\xff\xfe not a header\n"

    tidied = landing.tidy(lake, registry, DAY.isoformat())
    assert (tidied.archived, tidied.removed, tidied.set_aside, tidied.left) == (
        [f"{rel}/{visits}"], [f"{rel}/{again}"], [f"{rel}/broken.csv"], [])  # fmt: skip
    archived = Path(lake.zone("bronze")) / "_landed"
    assert [p.name for p in archived.rglob("*") if p.is_file()] == [visits]
    assert not any(p.is_file() for p in Path(lake.zone("landing")).rglob("*"))
    assert sorted(p.name for p in quarantined.rglob("*") if p.is_file()) == ["broken.csv"]

    # an erasure rewrites the archived original; the unit then sends the original again, under
    # its own name and under a new one: both are recognised by the manifest's checksum
    archive = Path(landing.archive_path(lake, f"{rel}/{visits}"))
    erased = rawfiles.rewrite_without(data, feed.spec, {3})
    archive.write_bytes(erased)
    _land(lake, feed, visits, data)
    _land(lake, feed, copy, data)
    decided = _run(lake, registry, "run-2")
    assert decided[visits][0] == ledger.SKIPPED
    assert decided[copy][0] == ledger.DUPLICATE
    tidied = landing.tidy(lake, registry, DAY.isoformat())
    assert tidied.removed == [f"{rel}/{visits}", f"{rel}/{copy}"] and not tidied.archived
    assert archive.read_bytes() == erased  # never overwritten by the re-sent original
    assert [p.name for p in archived.rglob("*") if p.is_file()] == [visits]
    assert sorted(p.name for p in quarantined.rglob("*") if p.is_file()) == ["broken.csv"]

    # a file changed since its run judged it is not deleted: the next run judges it
    _land(lake, feed, visits, data + data.splitlines(keepends=True)[-1])
    tidied = landing.tidy(lake, registry, DAY.isoformat())
    assert tidied.left == [f"{rel}/{visits}"] and archive.read_bytes() == erased
