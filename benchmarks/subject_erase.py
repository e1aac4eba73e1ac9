"""subject_erase_s: erasing 10 planted subjects from a scale-1 demo lake, purge included (issue 35).

A demo day for every unit at scale 1 with 10 subjects planted across every contract with
personal data (`citylake generate --subjects 10`), run through the pipeline; then the time of
`erase` (lock, locate, suppression, MERGE per table, purge, raw files rewritten) and of the
independent `verify` scan over every object. `python -m benchmarks.subject_erase` runs it alone
and merges the figures into benchmarks/results.json and RESULTS.md.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from citylake.config.registry import Registry
from citylake.config.settings import Settings
from citylake.lake import Lake

DAY = dt.date(2026, 11, 20)
SUBJECTS = 10
TARGET_S = 180.0


def measure(spark: Any, settings: Settings, reg: Registry, tmp: Path, scale: float = 1.0) -> dict[str, Any]:
    from citylake.generate import generate
    from citylake.generate.subjects import make_subjects
    from citylake.privacy import erase, verify
    from citylake.runs.pipeline import run_daily

    lake = Lake(str(tmp / "subjects-lake"))
    conf = dataclasses.replace(settings, lake_root=lake.root, landing_settle_s=0)
    generate(reg, DAY, scale, None, lake, subjects=SUBJECTS)
    run = run_daily(DAY, conf, spark, reg)
    subjects = make_subjects(SUBJECTS)
    key = conf.pii_key()
    t = time.perf_counter()
    record = erase.erase(spark, lake, reg, subjects, key, "BENCH-ERASE-1", say=lambda _m: None)
    erase_s = time.perf_counter() - t
    t = time.perf_counter()
    report = verify.verify_lake(lake, subjects, key)
    verify_s = time.perf_counter() - t
    s = erase.summary(record)
    return {
        "scale": scale,
        "subjects": SUBJECTS,
        "run_status": run.status,
        "subject_erase_s": round(erase_s, 1),
        "target_s": TARGET_S,
        "met": erase_s <= TARGET_S,
        "subject_verify_s": round(verify_s, 1),
        "verify_clean": report.clean,
        "objects_scanned": report.objects,
        "bytes_scanned": report.bytes_scanned,
        **s,
    }


def main() -> None:
    from citylake.config.registry import load_registry
    from citylake.config.settings import load_settings
    from citylake.engine.spark import get_spark

    here = Path(__file__).parent
    settings = load_settings()
    reg = load_registry(settings.registry_dir)
    spark = get_spark("citylake-bench-subjects", settings)
    with tempfile.TemporaryDirectory(prefix="citylake-bench-subjects-") as name:
        figures = measure(spark, settings, reg, Path(name))
    spark.stop()
    out = here / "results.json"
    results = json.loads(out.read_text(encoding="utf-8")) if out.exists() else {}
    results["subject_erase"] = figures
    out.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    from benchmarks import report

    if "scales" in results:
        (here / "RESULTS.md").write_text(report.markdown(results), encoding="utf-8")
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
