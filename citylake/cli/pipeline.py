"""The commands that run or prepare the pipeline: setup, generate, run, marts, maintain, demo."""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import sys
import time
from typing import Any

from citylake.cli.output import (
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_USAGE,
    Names,
    add_json_arg,
    add_wait_arg,
    arg_date,
    arg_scale,
    console_for,
    print_catalog_summary,
    print_json,
    print_run,
    progress_printer,
)
from citylake.cli.subjects_out import add_subject_args, subjects_path, write_planted
from citylake.config.registry import load_registry
from citylake.config.settings import load_settings
from citylake.engine import class_archive, jvm_ext, web_assets

DEMO_DATE = dt.date(2026, 11, 20)
DEMO_SCALE = 0.2


def cmd_setup(args: argparse.Namespace) -> int:
    from citylake.config.settings import ensure_local_pii_key
    from citylake.engine.spark import resolve_jars

    jars = resolve_jars()
    print(f"{len(jars)} jars cached in {jars[0].parent}" if jars else "no jars")
    print(f"citylake's JVM classes compiled into {jvm_ext.ensure_jar(load_settings())}")
    print(f"{len(web_assets.fetch())} npm packages for the lake's pages cached in {web_assets.web_dir()}")
    key = ensure_local_pii_key(load_settings())
    if key:
        print(f"created a local PII key at {key} (production sets CITYLAKE_PII_KEY from its secret store)")
    archive = class_archive.ensure()
    if archive["archive"]:
        print(f"Spark drivers map their classes from {archive['archive']}")
    else:
        print(f"no class archive; Spark drivers load their classes from the jars: {archive['reason']}")
    return EXIT_OK


def cmd_generate(args: argparse.Namespace) -> int:
    from citylake.generate import generate
    from citylake.lake import Lake

    settings = load_settings()
    reg = load_registry(settings.registry_dir)
    console = console_for(args.json)  # with --json the spinner and the lines go to stderr
    lake = Lake(settings.lake_root)
    out = subjects_path(args, lake)
    if isinstance(out, str):
        print(f"citylake generate: {out}", file=sys.stderr)
        return EXIT_USAGE
    notes: list[str] = []
    t0 = time.perf_counter()
    with console.status("generating feeds") as status:
        reports = generate(
            reg,
            args.date,
            args.scale,
            args.units or None,
            lake,
            faults=not args.no_faults,
            progress=lambda f: status.update(f"generating {f.key}"),
            subjects=args.subjects,
            notes=notes,
        )
    records = sum(r.records for r in reports)
    console.print(
        f"wrote {len(reports)} files, {records:,} records for {args.date} (scale {args.scale}) "
        f"under {settings.lake_root}/landing in {time.perf_counter() - t0:.1f}s"
    )
    planted = write_planted(console, out, args.subjects, reports, notes) if args.subjects else False
    if args.json:
        print_json({"date": args.date.isoformat(), "scale": args.scale, "files": len(reports), "records": records,
                    "landing": lake.zone("landing"), **({"subjects_out": str(out)} if planted else {})})  # fmt: skip
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from citylake.runs.pipeline import run_daily

    console = console_for(args.json)
    settings = load_settings()
    reg = load_registry(settings.registry_dir)  # fail on config before starting a JVM
    from citylake.lake.preflight import Scope

    unknown = [f"unit {u!r}" for u in args.units if u not in reg.units]
    unknown += [f"contract {c!r}" for c in args.contracts if c not in reg.contracts]
    if unknown:
        print(f"citylake run: not in the registry: {', '.join(unknown)}", file=sys.stderr)
        return EXIT_USAGE
    scope = Scope(frozenset(args.units), frozenset(args.contracts))
    report = run_daily(args.date, settings, registry=reg, progress=progress_printer(console), scope=scope,
                       marts=not args.no_marts, wait_s=args.wait)  # fmt: skip
    if args.json:
        print_json(report.json())
    else:
        print_run(console, report)
    return report.exit_code


def cmd_demo(args: argparse.Namespace) -> int:
    from citylake.engine.spark import log_file
    from citylake.generate import generate
    from citylake.lake import Lake
    from citylake.runs.pipeline import run_daily

    settings = load_settings()
    reg = load_registry(settings.registry_dir)
    console = console_for(False)
    say = progress_printer(console)
    lake = Lake(settings.lake_root)
    out = subjects_path(args, lake)
    if isinstance(out, str):
        print(f"citylake demo: {out}", file=sys.stderr)
        return EXIT_USAGE
    say(
        f"generating {len(reg.units)} units' feeds for {args.date} at scale {args.scale} into {lake.zone('landing')}"
    )
    notes: list[str] = []
    reports = generate(reg, args.date, args.scale, None, lake, subjects=args.subjects, notes=notes)
    say(f"landed {len(reports)} files, {sum(r.records for r in reports):,} records")
    if args.subjects:
        write_planted(console, out, args.subjects, reports, notes)
    # the generator just wrote every file whole (each by an atomic rename): none needs to settle
    settings = dataclasses.replace(settings, landing_settle_s=0)
    report = run_daily(args.date, settings, registry=reg, progress=say, wait_s=args.wait)
    print_run(console, report)
    print_catalog_summary(console, lake)
    console.print(
        "\nWhere to look next:\n"
        f"  lake:         {lake.root}\n"
        "  tables:       .venv/bin/citylake catalog\n"
        f"  per feed:     .venv/bin/citylake status --as-of {args.date}\n"
        '  query:        .venv/bin/citylake query "SELECT _unit, count(*) FROM bronze.ev_charging_sessions GROUP BY 1"\n'
        '  quarantine:   .venv/bin/citylake query "SELECT source_file, record_no, reason FROM quarantine.bronze_records LIMIT 20"\n'
        "  the ledger:   .venv/bin/citylake query \"SELECT * FROM ops.run_ledger WHERE status <> 'loaded'\"\n"
        '  dropped rows: .venv/bin/citylake query "SELECT unit, source_file, record_no, reason FROM quarantine.dq_rows LIMIT 20"\n'
        f"  data quality: .venv/bin/citylake docs   (Data Docs, offline HTML: {report.docs})\n"
        "  datasets:     .venv/bin/citylake status --datasets\n"
        f"  Spark's log:  {log_file(settings)}"
    )
    return report.exit_code


def cmd_marts(args: argparse.Namespace) -> int:
    from citylake.runs.pipeline import run_marts

    settings = load_settings()
    reg = load_registry(settings.registry_dir)
    unknown = [m for m in args.marts if m not in reg.marts]
    if unknown:
        print(f"citylake marts: no mart doc for {', '.join(unknown)}", file=sys.stderr)
        return EXIT_USAGE
    result = run_marts(args.date, list(args.marts) or None, settings, registry=reg,
                       progress=progress_printer(console_for(args.json)), wait_s=args.wait)  # fmt: skip
    pubs = [p.json() for p in result.publications]
    if args.json:
        print_json({"date": args.date.isoformat(), "publications": pubs})
    else:
        for p in pubs:
            print(f"{p['dataset']}: {p['status']} (version {p['delta_version']}){' ' + p.get('reason', '')}")
    return EXIT_PARTIAL if any(p["status"] == "failed" for p in pubs) else EXIT_OK


def cmd_maintain(args: argparse.Namespace) -> int:
    from citylake.runs import tasks

    done = tasks.maintain(args.date.isoformat())
    if args.json:
        print_json(done)
    else:
        for key, names in done.items():
            print(f"{key}: {', '.join(names) or 'none'}")
    return EXIT_OK


def cmd_rekey(args: argparse.Namespace) -> int:
    from citylake.runs.rekey import rekey

    say = print if not args.json else (lambda m: print(m, file=sys.stderr))
    reset = rekey(say=say, wait_s=args.wait or 0.0)
    if args.json:
        print_json({"reset": [f"silver.{contract}" for contract in reset]})
    elif reset:
        print(f"{len(reset)} silver table(s) emptied for the new key: the next `citylake run` rebuilds them "
              "from bronze, and the marts the days they touch")  # fmt: skip
    return EXIT_OK


def add_commands(sub: Any) -> None:
    s = sub.add_parser(
        "setup", help="cache the jars and the pages' npm assets (needs Maven Central and npm once)"
    )
    s.set_defaults(func=cmd_setup)

    g = sub.add_parser("generate", help="write seeded sample feeds into landing/")
    g.add_argument("--date", type=arg_date, required=True, help="delivery date, YYYY-MM-DD")
    g.add_argument("--scale", type=arg_scale, default=1.0, help="1 = a laptop-sized day; may be fractional")
    g.add_argument("--units", action=Names, help="only these units (space- or comma-separated)")
    g.add_argument("--no-faults", action="store_true", help="clean data, no injected faults")
    add_subject_args(g)
    add_json_arg(g)
    g.set_defaults(func=cmd_generate)

    r = sub.add_parser("run", help="run the daily pipeline for one date")
    r.add_argument("--date", type=arg_date, required=True, help="logical date, YYYY-MM-DD")
    add_json_arg(r)
    r.add_argument("--units", action=Names, help="only these units (space- or comma-separated), e.g. to re-run "
                   "one unit's day; other units' files are not touched")  # fmt: skip
    r.add_argument(
        "--contracts", action=Names, help="only these feed contracts (space- or comma-separated)"
    )
    r.add_argument("--no-marts", action="store_true", help="stop after silver (the mart DAGs build gold)")
    add_wait_arg(r)
    r.set_defaults(func=cmd_run)

    mk = sub.add_parser(
        "marts", help="rebuild and publish marts for the days a logical date's delivery touched"
    )
    mk.add_argument("--date", type=arg_date, required=True, help="logical date, YYYY-MM-DD")
    mk.add_argument(
        "--marts", action=Names, help="only these marts (space- or comma-separated; default all)"
    )
    add_json_arg(mk)
    add_wait_arg(mk)
    mk.set_defaults(func=cmd_marts)

    mt = sub.add_parser("maintain", help="OPTIMIZE fragmented tables, compact marts in their layout, VACUUM")
    mt.add_argument("--date", type=arg_date, required=True, help="logical date, YYYY-MM-DD")
    add_json_arg(mt)
    mt.set_defaults(func=cmd_maintain)

    rk = sub.add_parser("rekey", help="after a PII key rotation: re-derive silver's hashes from bronze "
                        "under the new key (CITYLAKE_PII_KEY)")  # fmt: skip
    add_wait_arg(rk)
    add_json_arg(rk)
    rk.set_defaults(func=cmd_rekey)

    d = sub.add_parser("demo", help="generate a demo day for every unit and run the pipeline")
    d.add_argument("--date", type=arg_date, default=DEMO_DATE)
    d.add_argument("--scale", type=arg_scale, default=DEMO_SCALE)
    add_subject_args(d)
    add_wait_arg(d)
    d.set_defaults(func=cmd_demo)
