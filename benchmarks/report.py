"""The headline figures against their targets, as JSON and as benchmarks/RESULTS.md.

Bronze, the bare and same-outputs baselines and the daily run are each the median of the run's
interleaved rounds (``pairs``, benchmarks/rounds.py); a results file from before the rounds reads
as one round."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

# key -> (comparison, target, what it measures)
TARGETS: dict[str, tuple[str, float | None, str]] = {
    "ingest_vs_bare": (
        ">=",
        0.55,
        "bare Spark CSV->Delta time / citylake bronze time, same files, same session, median of interleaved pairs",
    ),
    "ingest_vs_same_outputs": (
        ">=",
        0.85,
        "citylake bronze vs the same-outputs baseline (declared schema + corrupt column, file id, record "
        "number, one observe, one idempotent append), median of interleaved pairs",
    ),
    "per_feed_overhead_s": (
        "<=",
        0.5,
        "one ingest run (bronze + silver + DQ) / feeds, every feed of 250 units one small file",
    ),
    "naive_per_feed_s": ("", None, "one spark-submit per feed (median of a sample), seconds per feed"),
    "dq_overhead": (
        "<=",
        0.15,
        "GX time (every suite's validation and the Data Docs build) / daily run time",
    ),
    "dq_all_share": (
        "",
        None,
        "all DQ work (adds bronze's gate counts, summed over concurrent batches) / daily run time",
    ),
    "scaling_2x": ("<=", 2.2, "daily time ratio when the data doubles (worst step)"),
    "daily_vs_bare": (
        "<=",
        5.0,
        "daily run (bronze to publish, with DQ) / bare Spark ingest of the same files, medians",
    ),
    "slope_vs_bare": (
        "<=",
        5.0,
        "extra daily seconds per extra record / bare Spark's, between the two largest scales",
    ),
    "scoped_vs_bare": (
        "<=",
        5.0,
        "a run scoped to one unit with one small file (bronze + silver + DQ) / bare Spark on that file",
    ),
    "vs_polars_deltars": ("", None, "citylake bronze time / Polars + delta-rs time, same files"),
    "dag_parse_s": (
        "<",
        2.0,
        "dags/ parse time with 250 units, fresh interpreter, imports included (median of 3)",
    ),
    "skip_fraction": (
        ">=",
        0.9,
        "files skipped reading one district-month of ai_district_hourly_features (pyarrow)",
    ),
}
OPS = {">=": operator.ge, "<=": operator.le, "<": operator.lt}
# the single-file feeds' own targets by format, where they differ from TARGETS (same comparison)
FILE_TARGETS: dict[str, dict[str, float]] = {
    "csv": {"ingest_vs_bare": 0.70, "daily_vs_bare": 4.0},
    "parquet": {"ingest_vs_bare": 0.50, "daily_vs_bare": 6.5},
}
FILE_KEYS = ("ingest_vs_bare", "ingest_vs_same_outputs", "daily_vs_bare")


def verdict(key: str, value: Any, fmt: str | None = None) -> dict[str, Any]:
    """``value`` against ``key``'s target (a single-file feed's of format ``fmt``, if it has one)."""
    op, target, _ = TARGETS[key]
    target = FILE_TARGETS.get(fmt or "", {}).get(key, target)
    met = None if target is None or value is None else bool(OPS[op](value, target))
    return {"value": value, "target": f"{op} {target}" if target is not None else None, "met": met}


def summary(results: dict[str, Any]) -> dict[str, Any]:
    scales = results["scales"]
    top = scales[-1]
    steps = [
        b["daily_s"] / a["daily_s"]
        for a, b in zip(scales, scales[1:], strict=False)
        if b["scale"] == 2 * a["scale"]
    ]
    slope = slope_vs_bare(scales[-2], top) if len(scales) > 1 else None
    scoped = results.get("scoped", {})
    values: dict[str, tuple[Any, str]] = {
        "ingest_vs_bare": (top["ingest_vs_bare"], f"scale {top['scale']}"),
        "ingest_vs_same_outputs": (top.get("ingest_vs_same_outputs"), f"scale {top['scale']}"),
        "per_feed_overhead_s": (
            results["per_feed"]["per_feed_overhead_s"],
            f"{results['per_feed']['feeds']} feeds",
        ),
        "naive_per_feed_s": (results["per_feed"]["naive_per_feed_s"], "sample, extrapolated"),
        "dq_overhead": (top["dq_overhead"], f"scale {top['scale']}"),
        "dq_all_share": (top["dq_all_share"], f"scale {top['scale']}"),
        "scaling_2x": (round(max(steps), 2) if steps else None, "max over doublings"),
        "daily_vs_bare": (top["daily_vs_bare"], f"scale {top['scale']}"),
        "slope_vs_bare": (slope, f"scales {scales[-2]['scale']} to {top['scale']}" if slope else "-"),
        "scoped_vs_bare": (
            scoped.get("scoped_vs_bare"),
            f"{scoped.get('unit')}, {scoped.get('records')} records",
        ),
        "vs_polars_deltars": (top["vs_polars_deltars"], f"scale {top['scale']}"),
        "dag_parse_s": (results["dag_parse"]["dag_parse_s"], f"{results['dag_parse']['units']} units"),
        "skip_fraction": (results["layout"].get("skip_fraction"), f"scale {top['scale']}"),
    }
    out: dict[str, Any] = {"daily_s": {str(s["scale"]): s["daily_s"] for s in scales}}
    for key, (value, where) in values.items():
        out[key] = {**verdict(key, value), "at": where}
    if results.get("files"):  # the single-file feeds, each against its format's targets
        out["files"] = {f["feed"]: {k: verdict(k, f.get(k), f["format"]) for k in FILE_KEYS}
                        for f in results["files"]}  # fmt: skip
    return out


def slope_vs_bare(a: dict[str, Any], b: dict[str, Any]) -> float | None:
    """(extra daily s / extra record) / (extra bare s / extra record), from scale ``a`` to ``b``."""
    if not all(k in r for r in (a, b) for k in ("bare_spark_s", "records")):
        return None
    extra_bare = b["bare_spark_s"] - a["bare_spark_s"]
    if b["records"] <= a["records"] or extra_bare <= 0:
        return None  # bare Spark did not grow: no per-record cost to compare against
    return round((b["daily_s"] - a["daily_s"]) / extra_bare, 2)


def _judge(key: str, value: Any, fmt: str | None = None) -> str:
    return _mark(verdict(key, value, fmt)["met"])


def _rounds(rows: list[dict[str, Any]]) -> str:
    """How the rows' figures were taken: the median of N interleaved rounds, or one run."""
    n = sorted({r.get("pairs", 1) for r in rows})
    return "one run each" if n == [1] else f"median of {'/'.join(map(str, n))} interleaved rounds"


def _per_round(rows: list[dict[str, Any]], label: Callable[[dict[str, Any]], str]) -> list[str]:
    """Each row's values per round, in the order the rounds ran."""
    keys = {"bare_runs_s": "bare Spark", "same_outputs_runs_s": "same outputs", "bronze_runs_s": "citylake bronze",
            "daily_runs_s": "daily"}  # fmt: skip
    lines = []
    for r in rows:
        runs = [f"{what} {', '.join(map(str, r[k]))}" for k, what in keys.items() if r.get(k)]
        if runs:
            lines.append(f"- {label(r)}: " + "; ".join(runs) + " s")
    return ["", "Per round, in the order run:", "", *lines] if lines else []


def _mark(met: bool | None) -> str:
    return {True: "met", False: "**missed**", None: "(no target)"}[met]


def _steps(scales: list[dict[str, Any]]) -> list[str]:
    """Where each scale's daily run spent its time, step by step (the run's own timings)."""
    keys = [k for k in dict.fromkeys(k for r in scales for k in r["timings"]) if k != "total_s"]
    lines = ["", "## Where the daily run's time goes", "",
             "Seconds per step, from the run's own timings, each step's median over the rounds (bronze's "
             "sub-steps overlap across contracts run side by side, so they can add up to more than "
             "`bronze_s`).", "",
             "| scale | " + " | ".join(f"`{k}`" for k in keys) + " |",
             "| --- |" + " --- |" * len(keys)]  # fmt: skip
    for r in scales:
        lines.append(f"| {r['scale']} | " + " | ".join(str(r["timings"].get(k, "-")) for k in keys) + " |")
    return lines


def markdown(results: dict[str, Any]) -> str:
    s, m = results["summary"], results["machine"]
    lines = [
        "# citylake benchmark results",
        "",
        f"Generated by `make bench` ({results['profile']} profile) on {results['date']}, in "
        f"{results['bench_wall_s']:.0f} s. Every figure below is measured by that run; none is typed in.",
        "",
        f"Machine: {m['cores_usable']} cores ({m['cpu']}), {m['memory_gib']} GiB, {m['java']}, Python {m['python']}. "
        + ", ".join(f"{k} {v}" for k, v in m["versions"].items())
        + ".",
        "",
        "## Figures against targets",
        "",
        f"Bronze, bare Spark, the same-outputs baseline and the daily run: {_rounds(results['scales'])} "
        "(bare Spark, same outputs, citylake, in that order in each round; `BENCH_PAIRS`); each ratio "
        "is a ratio of medians.",
        "",
        "| key | value | target | verdict | measured at | what it measures |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for key, (_, _, what) in TARGETS.items():
        row = s[key]
        lines.append(
            f"| `{key}` | {row['value']} | {row['target'] or '-'} | {_mark(row['met'])} | {row['at']} | {what} |"
        )
    lines += ["", f"## The daily run at each scale, {_rounds(results['scales'])}", "",
              "| scale | records | files | MB landed | bare Spark s | same outputs s | Polars+delta-rs s | "
              "citylake bronze s | daily s | silver s | gold s | GX s | ingest_vs_bare | ingest_vs_same_outputs | "
              "daily_vs_bare | slope_vs_bare | dq_overhead |",
              "| --- " * 17 + "|"]  # fmt: skip
    prev = None
    for r in results["scales"]:
        t = r["timings"]
        slope = slope_vs_bare(prev, r) if prev else None
        lines.append(
            f"| {r['scale']} | {r['records']:,} | {r['files']} | {r['landed_mb']} | {r['bare_spark_s']} | "
            f"{r.get('same_outputs_s', '-')} | {r['polars_deltars_s']} | {r['bronze_s']} | {r['daily_s']} | "
            f"{t.get('silver_s')} | {t.get('gold_s')} | {r['gx_s']} | {r['ingest_vs_bare']} | "
            f"{r.get('ingest_vs_same_outputs', '-')} | {r['daily_vs_bare']} | {slope if slope else '-'} | "
            f"{r['dq_overhead']} |"
        )
        prev = r
    lines += _per_round(results["scales"], lambda r: f"scale {r['scale']}")
    lines += _steps(results["scales"])
    if results.get("subject_erase"):
        e = results["subject_erase"]
        lines += ["", "## Data-subject erasure (issue 35)", "",
                  f"`subject_erase_s`: erasing {e['subjects']} planted subjects from a scale-{e['scale']} demo lake, "
                  f"purge included: **{e['subject_erase_s']} s** (target <= {e['target_s']:.0f} s: "
                  f"{_mark(e['met'])}); {e['rows_deleted']} rows deleted from {e['tables']} tables, "
                  f"{e['data_files_purged']} data files purged, {e['files_rewritten']} raw files rewritten. "
                  f"The independent verifier read {e['objects_scanned']} objects ({e['bytes_scanned'] / 1e6:.0f} MB) "
                  f"in {e['subject_verify_s']} s: {'clean' if e['verify_clean'] else 'NOT CLEAN'}."]  # fmt: skip
    if results.get("files"):
        files = results["files"]
        targets = "; ".join(f"{fmt}: " + ", ".join(f"`{k}` {verdict(k, None, fmt)['target']}" for k in FILE_KEYS)
                            for fmt in sorted({f["format"] for f in files}))  # fmt: skip
        lines += ["", "## Single-file feeds (public data, one unit each, run scoped to it)", "",
                  f"Each figure: {_rounds(files)}. Targets by format: {targets}.", "",
                  "| feed | format | records | MB | bare Spark s | same outputs s | Polars+delta-rs s | "
                  "citylake bronze s | bronze + silver s | ingest_vs_bare | ingest_vs_same_outputs | daily_vs_bare |",
                  "| --- " * 12 + "|"]  # fmt: skip
        for f in files:
            judged = {k: f"{f[k]} ({_judge(k, f[k], f['format'])})" if k in f else "-" for k in FILE_KEYS}
            lines.append(
                f"| {f['feed']} | {f['format']} | {f['records']:,} | {f['landed_mb']} | {f['bare_spark_s']} | "
                f"{f.get('same_outputs_s', '-')} | {f['polars_deltars_s']} | {f['bronze_s']} | {f['daily_s']} | "
                + " | ".join(judged[k] for k in FILE_KEYS)
                + " |"
            )
        lines += _per_round(files, lambda f: str(f["feed"]))
        lines += ["", "Steps: " + "; ".join(f"{f['format']}: " + ", ".join(f"{k} {v} s" for k, v in f["timings"].items())
                                            for f in results["files"]) + "."]  # fmt: skip
    if results.get("scoped"):
        sc = results["scoped"]
        lines += ["", f"A run scoped to {sc['unit']} ({sc['files']} file, {sc['records']} records) on a lake that has "
                  f"run before: {sc['scoped_s']} s against bare Spark's {sc['bare_spark_s']} s. Steps: "
                  + ", ".join(f"{k} {v} s" for k, v in sc["timings"].items()) + "."]  # fmt: skip
    pf = results["per_feed"]
    lines += ["", "## Fixed cost per feed", "",
              f"{pf['units']} units, {pf['feeds']} feeds, one small file each ({pf['records']:,} records): one ingest "
              f"run took {pf['ingest_s']} s, **{pf['per_feed_overhead_s']} s per feed** (the session, "
              f"{results['session_start_s']} s, is started once and not counted). Steps: "
              + ", ".join(f"{k} {v} s" for k, v in pf["timings"].items()) + ".",
              "",
              f"One spark-submit per feed, as a task-per-feed layout runs it: {pf['naive_submit_sample_s']} "
              f"(median {pf['naive_per_feed_s']} s per feed), extrapolated to {pf['feeds']} feeds: "
              f"{pf['naive_extrapolated_s']} s."]  # fmt: skip
    lay = results["layout"]
    lines += ["", "## Published layout (largest scale)", "", "| mart | rows | files | median file bytes |",
              "| --- | --- | --- | --- |"]  # fmt: skip
    for mart, v in lay["marts"].items():
        if v["published"]:
            lines.append(f"| {mart} | {v['rows']:,} | {v['files']} | {v['median_file_bytes']:,} |")
        else:
            lines.append(f"| {mart} | not published | - | - |")
    if "published_read" in lay:
        p, g = lay["published_read"], lay["gold_read"]
        lines += ["", f"Reading district {lay['district']} for {lay['month']} from `ai_district_hourly_features`: "
                  f"pyarrow opens {p['files_read']} of {p['files']} published files ({p['rows']} rows), skip "
                  f"fraction **{p['skip_fraction']}**; delta-rs statistics on gold leave {g['files_read']} of "
                  f"{g['files']} files, skip fraction {g['skip_fraction']}."]  # fmt: skip
    dp = results["dag_parse"]
    runs = (
        f" (median of {', '.join(str(r) for r in dp['runs_s'])} s, each in a fresh interpreter)"
        if dp.get("runs_s")
        else ""
    )
    lines += [
        "",
        f"DAG parse: {dp['dags']} DAGs from {dp['units']} units in {dp['dag_parse_s']} s{runs}.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    # re-render RESULTS.md from a results file: python -m benchmarks.report [results.json]
    import json
    import sys
    from pathlib import Path

    src = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).with_name("results.json"))
    data = json.loads(src.read_text(encoding="utf-8"))
    data["summary"] = summary(data)
    src.with_name("RESULTS.md" if src.name == "results.json" else src.stem + ".md").write_text(
        markdown(data), encoding="utf-8"
    )
