"""Interleaved rounds (issue 37): the baselines and citylake timed side by side, N times.

Each round runs bare Spark (``peers.bare_spark``), the same-outputs baseline
(``peers.same_outputs``) and citylake, in that order, back to back; citylake's fresh lake is
prepared at the start of the round, before any clock, and each peer writes a fresh output
directory (deleted when the round ends), so no round appends to an earlier one's table. N is
``BENCH_PAIRS`` (default 3, at least 1: ``BENCH_PAIRS=1`` is a smoke run). Every figure is the
median over the rounds, kept beside the list of each round's values; a ratio is a ratio of
medians.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Generic, TypeVar

from benchmarks import peers

DEFAULT_PAIRS = 3
L = TypeVar("L")  # what a round prepares for citylake (its fresh lake)
R = TypeVar("R")  # what citylake's step returns


def pairs() -> int:
    """``BENCH_PAIRS``: the number of interleaved rounds, default 3, at least 1."""
    raw = os.environ.get("BENCH_PAIRS", "").strip() or str(DEFAULT_PAIRS)
    try:
        n = int(raw)
    except ValueError:
        n = 0
    if n < 1:
        raise SystemExit(f"BENCH_PAIRS={raw}: the number of interleaved rounds, a whole number >= 1")
    return n


@dataclasses.dataclass(frozen=True)
class Round(Generic[R]):
    bare_s: float
    same_outputs_s: float
    observed: dict[str, dict[str, int]]  # the same-outputs baseline's one observation, per contract
    citylake: R


def interleave(
    n: int,
    spark: Any,
    groups: dict[str, list[Any]],
    out: Path,
    prepare: Callable[[int], L],
    citylake: Callable[[int, L], R],
    label: str = "",
) -> list[Round[R]]:
    """``n`` rounds of ``prepare(i)`` (untimed), bare Spark and the same-outputs baseline on
    ``groups`` (peer outputs under ``out``), then ``citylake(i, prepare(i))``, which times itself."""
    done: list[Round[R]] = []
    for i in range(n):
        fresh = prepare(i)
        bare_dir, same_dir = out / f"bare-{i + 1}", out / f"same-outputs-{i + 1}"
        bare_s = peers.bare_spark(spark, groups, str(bare_dir))
        same_s, observed = peers.same_outputs(spark, groups, str(same_dir))
        result = citylake(i, fresh)
        for d in (bare_dir, same_dir):
            shutil.rmtree(d, ignore_errors=True)
        done.append(Round(bare_s, same_s, observed, result))
        _log(f"{label}: round {i + 1}/{n}: bare Spark {bare_s:.1f} s, same outputs {same_s:.1f} s")
    shutil.rmtree(out, ignore_errors=True)
    return done


def figures(
    bare: Sequence[float], same_outputs: Sequence[float], bronze: Sequence[float], daily: Sequence[float]
) -> dict[str, Any]:
    """Each figure's median over the rounds and its values per round, and the ratios of medians:
    ``ingest_vs_bare``, ``ingest_vs_same_outputs`` (higher is better) and ``daily_vs_bare``."""
    if not len(bare) == len(same_outputs) == len(bronze) == len(daily) >= 1:
        raise ValueError("one value per round of each figure, and at least one round")
    b, s, br, d = (statistics.median(xs) for xs in (bare, same_outputs, bronze, daily))
    return {
        "pairs": len(bronze),
        "bare_spark_s": round(b, 1),
        "same_outputs_s": round(s, 1),
        "bronze_s": round(br, 1),
        "daily_s": round(d, 1),
        "bare_runs_s": _rounded(bare),
        "same_outputs_runs_s": _rounded(same_outputs),
        "bronze_runs_s": _rounded(bronze),
        "daily_runs_s": _rounded(daily),
        "ingest_vs_bare": round(b / br, 3),
        "ingest_vs_same_outputs": round(s / br, 3),
        "daily_vs_bare": round(d / b, 2),
    }


def median_timings(timings: Sequence[dict[str, float]]) -> dict[str, float]:
    """Each step's median over the rounds that timed it (the runs' own timings)."""
    keys = dict.fromkeys(k for t in timings for k in t)
    return {k: round(statistics.median([t[k] for t in timings if k in t]), 1) for k in keys}


def observed_total(observed: dict[str, dict[str, int]]) -> dict[str, int]:
    """The same-outputs baseline's observation summed over contracts: rows written, unparsed."""
    return {k: sum(o.get(k, 0) for o in observed.values()) for k in ("rows", "bad")}


def worst_status(statuses: Sequence[str]) -> str:
    """``ok`` if every round's run was ok, else the first other status."""
    return next((s for s in statuses if s != "ok"), "ok")


def _rounded(xs: Sequence[float]) -> list[float]:
    return [round(x, 1) for x in xs]


def _log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)
