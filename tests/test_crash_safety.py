"""Crash safety end to end: the daily run killed with SIGKILL anywhere loses and duplicates nothing.

One generated day is run twice: once without interruption (the reference, which also measures
how long each step takes), and once killed at seeded moments spread over every step (bronze,
silver, gold, publish, Data Docs), each kill followed by a new run, as an operator or Airflow's
retry would start it. The first kill is aimed: the moment a batch's bronze commit lands, before
its audit (the batch's "done" mark) is recorded. After a final run every bronze, silver, gold and quarantine table must
equal the reference with the columns that name the run left out, and so must the published
manifests' row counts. ``CRASH_KILLS=20`` runs the long version (the closing note of the crash
safety issue gives its result); CI runs 6.
"""

from __future__ import annotations

import json
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import cli

pytestmark = pytest.mark.slow

# five contracts and all seven marts; GB18030 and UTF-8 CSV, gzipped JSON lines, a re-sent and a
# late file among the feeds
UNITS = ["d310106_parking", "op_teld", "d310118_gov_service"]
DAY = "2026-11-20"
SCALE = "0.05"
SEED = 20261120
KILLS = int(os.environ.get("CRASH_KILLS", "6"))
STEPS = ("bronze", "silver", "gold", "publish", "docs")
# cycled: two of every six kills in bronze, four in silver or later
PLAN = ("bronze", "silver", "gold", "bronze", "publish", "docs")
# columns that say when or by which run a row was written, not what it holds
RUN_COLUMNS = {"_run_id", "_ingested_at", "_updated_at", "run_id", "quarantined_at", "recorded_at"}


def _step(line: str) -> str | None:
    if "step: " in line:
        name = line.split("step: ", 1)[1].strip()
        return name if name in STEPS else None
    return "publish" if "publish: " in line else None


class Run:
    """`citylake run` in its own process group, its progress lines read as they come."""

    def __init__(self, root: Path):
        env = {**os.environ, "CITYLAKE_LAKE_ROOT": str(root)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "citylake.cli", "run", "--date", DAY], env=env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        self.t0 = time.monotonic()
        self.lines: queue.Queue[tuple[float, str]] = queue.Queue()
        self.seen: list[tuple[float, str]] = []  # (seconds since start, step)
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put((time.monotonic() - self.t0, line))

    def pump(self, timeout: float) -> None:
        try:
            at, line = self.lines.get(timeout=timeout)
        except queue.Empty:
            return
        self.output.append(line)
        step = _step(line)
        if step:
            self.seen.append((at, step))

    @property
    def step(self) -> str | None:
        return self.seen[-1][1] if self.seen else None

    def finish(self, timeout: float = 1200) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self.pump(0.5)
        while not self.lines.empty():
            self.pump(0)
        return self.proc.wait(timeout=5)

    def kill_when(self, ready, timeout: float = 1200) -> bool:
        """SIGKILL the run as soon as ``ready()``; whether it was killed (not finished first)."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self.pump(0.005)
            if ready():
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)
                return True
        self.finish()
        return False

    def kill_in(self, target: str, delay: float, timeout: float = 1200) -> str | None:
        """SIGKILL the run ``delay`` s after it reaches ``target`` (or a later step); the step it
        was in, or None if it finished first."""
        deadline = time.monotonic() + timeout
        reached = None
        while self.proc.poll() is None and time.monotonic() < deadline:
            self.pump(0.05)
            if reached is None and self.step and STEPS.index(self.step) >= STEPS.index(target):
                reached = time.monotonic()
            if reached is not None and time.monotonic() - reached >= delay:
                os.killpg(self.proc.pid, signal.SIGKILL)  # the Python driver and its JVM
                self.proc.wait(timeout=30)
                return self.step
        self.finish()
        return None


def _windows(run: Run, total: float) -> dict[str, float]:
    """How long the reference run spent in each step."""
    starts = {}
    for at, step in run.seen:
        starts.setdefault(step, at)
    ordered = sorted(starts.items(), key=lambda kv: kv[1])
    ends = [at for _, at in ordered[1:]] + [total]
    return {step: max(end - at, 0.5) for (step, at), end in zip(ordered, ends, strict=True)}


def _batch_commits(root: Path) -> dict[str, list[int]]:
    """Per bronze table, the versions after its creation: the batches committed."""
    out = {}
    for log in (root / "bronze").glob("*/_delta_log"):
        versions = [int(p.name.split(".")[0]) for p in log.glob("*.json")]
        out[log.parent.name] = [v for v in versions if v > 0]
    return out


def _audited(root: Path) -> set[tuple[str, int]]:
    from deltalake import DeltaTable

    path = root / "_system" / "bronze_audit"
    if not (path / "_delta_log").is_dir():
        return set()
    rows = DeltaTable(str(path)).to_pyarrow_table(columns=["contract", "bronze_versions"]).to_pylist()
    return {(r["contract"], v) for r in rows for v in r["bronze_versions"]}


def _kill_between_commit_and_audit(root: Path) -> bool:
    """A first run killed the moment a batch's bronze commit lands; whether the kill landed
    before that batch's audit was recorded (a committed batch no audit names)."""
    run = Run(root)
    if not run.kill_when(lambda: any(_batch_commits(root).values())):
        return False
    committed = {(c, v) for c, vs in _batch_commits(root).items() for v in vs}
    return bool(committed - _audited(root))


def _rows(path: Path, root: Path) -> list[str]:
    from deltalake import DeltaTable

    t = DeltaTable(str(path)).to_pyarrow_table()
    t = t.select(sorted(c for c in t.column_names if c not in RUN_COLUMNS))
    # a copy's path names the lake it is in, not what it holds
    return sorted(repr(r).replace(str(root), "<lake>") for r in t.to_pylist())


def _tables(root: Path) -> dict[str, list[str]]:
    out = {}
    for zone in ("bronze", "silver", "gold", "quarantine"):
        for table in sorted((root / zone).iterdir()):
            if (table / "_delta_log").is_dir():
                out[f"{zone}.{table.name}"] = _rows(table, root)
    return out


def _manifests(root: Path) -> dict[str, int]:
    return {m.parent.name: json.loads(m.read_text())["row_count"]
            for m in sorted((root / "published").glob("*/_manifest.json"))}  # fmt: skip


def _pipeline(root: Path) -> dict:
    proc = cli(root, "status", "--pipeline", "--json", "--as-of", DAY, check_codes=(0, 3))
    days = json.loads(proc.stdout)
    # exit 3 exactly when a day is incomplete (an alert runs this), with the day named on stderr
    assert proc.returncode == (3 if any(d["status"] != "ok" for d in days) else 0), proc.stderr
    if proc.returncode == 3:
        assert f"{DAY}: incomplete" in proc.stderr and "Traceback" not in proc.stderr
    return {d["date"]: d for d in days}[DAY]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("reference") / "lake"
    cli(root, "generate", "--date", DAY, "--scale", SCALE, "--units", *UNITS)
    run = Run(root)
    code = run.finish()
    assert code == 0, "".join(run.output)[-4000:]
    return root, _windows(run, time.monotonic() - run.t0)


def test_killed_anywhere_the_day_converges_to_the_uninterrupted_run(reference, tmp_path, figure):
    ref_root, windows = reference
    # the aimed kill: between a bronze commit and its audit (a fresh lake for each try, as the
    # first batch's commit is the moment aimed at)
    for attempt in range(3):
        root = tmp_path / f"lake-{attempt}"
        cli(root, "generate", "--date", DAY, "--scale", SCALE, "--units", *UNITS)
        if _kill_between_commit_and_audit(root):
            break
    else:
        pytest.fail("3 runs recorded their first batch's audit before a kill at its bronze commit landed")
    landed: list[str] = ["bronze (between a commit and its audit)"]
    rng = random.Random(SEED)
    checked_incomplete = False
    aim, attempts = windows, 0
    while len(landed) < KILLS and attempts < 3 * KILLS:
        target = PLAN[(len(landed) - 1) % len(PLAN)]
        delay = rng.uniform(0.0, aim.get(target, 2.0))
        run = Run(root)
        step = run.kill_in(target, delay)
        attempts += 1
        if step is None:
            # the run finished before the kill: a plain re-run. The lake has less left to do, so
            # later kills aim at the steps as long as they take now
            aim = _windows(run, time.monotonic() - run.t0)
            continue
        landed.append(step)
        if step == "silver" and not checked_incomplete:
            # killed after bronze: the day is not done, and status says which step owes what
            day = _pipeline(root)
            assert day["status"] == "incomplete", day
            assert {o["step"] for o in day["owed"]} & {"silver", "gold"}, day
            checked_incomplete = True
    figure("crash safety", kills=len(landed), attempts=attempts, in_silver_or_later=sum(not s.startswith("bronze") for s in landed),
           **{f"reference_{k}_s": v for k, v in windows.items()})  # fmt: skip
    assert len(landed) == KILLS, f"only {len(landed)} of {KILLS} kills landed in {attempts} runs: {landed}"
    assert sum(not s.startswith("bronze") for s in landed) >= 2, landed
    assert checked_incomplete, landed
    final = Run(root)
    assert final.finish() == 0, "".join(final.output)[-4000:]

    want, got = _tables(ref_root), _tables(root)
    assert sorted(got) == sorted(want)
    differ = [name for name in want if got[name] != want[name]]
    assert not differ, f"tables differ from the uninterrupted run after kills in {landed}: {differ}"
    assert _manifests(root) == _manifests(ref_root) and _manifests(root)
    assert sum(len(v) for k, v in want.items() if k.startswith("silver.")) > 0
    day = _pipeline(root)
    assert day["status"] == "ok" and day["owed"] == [], day
    from deltalake import DeltaTable

    ledger = DeltaTable(str(root / "_system" / "run_ledger")).to_pyarrow_table().to_pylist()
    assert ledger and all(r["rows_landed"] == r["rows_bronze"] + r["rows_quarantined"] for r in ledger)
