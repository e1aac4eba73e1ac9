"""`citylake`: the command line for data engineers and analysts. Exit codes: 0 ok, 3 partial or
incomplete (some units failed, or a step still owes work; the rest is done), 2 usage or config
error, 4 the lake is busy (another run holds its lock), 1 anything else."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from citylake import web_assets
from citylake.cli_inspect import add_inspect_commands
from citylake.cli_output import (
    EXIT_BUSY,
    EXIT_ERROR,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_USAGE,
    console_for,
    print_catalog_summary,
    print_run,
    progress_printer,
)
from citylake.cli_output import (
    arg_date as _date,
)
from citylake.registry import RegistryError, load_registry
from citylake.runlock import LakeBusy
from citylake.settings import ConfigError, load_settings

DEMO_DATE = dt.date(2026, 11, 20)
DEMO_SCALE = 0.2


def _names(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


def _scale(value: str) -> float:
    try:
        s = float(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from exc
    if not 0 < s <= 100:
        raise argparse.ArgumentTypeError("scale must be in (0, 100]")
    return s


def cmd_setup(args: argparse.Namespace) -> int:
    from citylake.settings import ensure_local_pii_key
    from citylake.spark import resolve_jars

    jars = resolve_jars()
    print(f"{len(jars)} jars cached in {jars[0].parent}" if jars else "no jars")
    print(f"{len(web_assets.fetch())} npm packages for the lake's pages cached in {web_assets.web_dir()}")
    key = ensure_local_pii_key(load_settings())
    if key:
        print(f"created a local PII key at {key} (production sets CITYLAKE_PII_KEY from its secret store)")
    return EXIT_OK


def cmd_registry_validate(args: argparse.Namespace) -> int:
    settings = load_settings()
    reg = load_registry(args.root or settings.registry_dir)
    from citylake.quality.suites import validate_suites

    problems = validate_suites(reg, Path(args.expectations or settings.expectations_dir))
    if problems:
        raise RegistryError(problems)
    feeds = sum(len(u.feeds) for u in reg.units.values())
    print(
        f"registry OK: {len(reg.units)} units, {len(reg.contracts)} feed contracts, {feeds} feeds ({reg.root})"
    )
    return EXIT_OK


def cmd_registry_init_suites(args: argparse.Namespace) -> int:
    from citylake.quality.suites import write_default_suites

    settings = load_settings()
    reg = load_registry(settings.registry_dir)
    written = write_default_suites(reg, settings.expectations_dir, overwrite=args.overwrite)
    for path in written:
        print(f"wrote {path}")
    print(f"{len(written)} suite(s) written; review them, then run `citylake registry validate`")
    return EXIT_OK


def cmd_registry_list(args: argparse.Namespace) -> int:
    reg = load_registry(args.root or load_settings().registry_dir)
    units = [
        {"unit": u.unit, "name": u.name, "feeds": [{"feed": f.feed, "contract": f.contract} for f in u.feeds]}
        for u in reg.units.values()
    ]
    if args.json:
        print(json.dumps(units, ensure_ascii=False, indent=1))
        return EXIT_OK
    from rich.table import Table

    table = Table(title=f"{len(units)} source units")
    for col in ("unit", "kind", "district", "name", "feeds"):
        table.add_column(col)
    for u in reg.units.values():
        table.add_row(
            u.unit,
            u.kind,
            u.district_code or "",
            f"{u.name} {u.name_zh}",
            ", ".join(f"{f.feed}({f.format})" for f in u.feeds),
        )
    console_for(False).print(table)
    return EXIT_OK


def cmd_generate(args: argparse.Namespace) -> int:
    from citylake.generate import generate
    from citylake.lake import Lake

    settings = load_settings()
    reg = load_registry(settings.registry_dir)
    console = console_for(False)
    t0 = time.perf_counter()
    with console.status("generating feeds") as status:
        reports = generate(
            reg,
            args.date,
            args.scale,
            args.units or None,
            Lake(settings.lake_root),
            faults=not args.no_faults,
            progress=lambda f: status.update(f"generating {f.key}"),
        )
    records = sum(r.records for r in reports)
    console.print(
        f"wrote {len(reports)} files, {records:,} records for {args.date} (scale {args.scale}) "
        f"under {settings.lake_root}/landing in {time.perf_counter() - t0:.1f}s"
    )
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from citylake.pipeline import run_daily

    console = console_for(args.json)
    settings = load_settings()
    reg = load_registry(settings.registry_dir)  # fail on config before starting a JVM
    from citylake.preflight import Scope

    unknown = [f"unit {u!r}" for u in args.units if u not in reg.units]
    unknown += [f"contract {c!r}" for c in args.contracts if c not in reg.contracts]
    if unknown:
        print(f"citylake run: not in the registry: {', '.join(unknown)}", file=sys.stderr)
        return EXIT_USAGE
    scope = Scope(frozenset(args.units), frozenset(args.contracts))
    report = run_daily(args.date, settings, registry=reg, progress=progress_printer(console), scope=scope,
                       marts=not args.no_marts, wait_s=args.wait)  # fmt: skip
    if args.json:
        print(json.dumps(report.json(), ensure_ascii=False, indent=1))
    else:
        print_run(console, report)
    return report.exit_code


def cmd_demo(args: argparse.Namespace) -> int:
    from citylake.generate import generate
    from citylake.lake import Lake
    from citylake.pipeline import run_daily

    settings = load_settings()
    reg = load_registry(settings.registry_dir)
    console = console_for(False)
    say = progress_printer(console)
    lake = Lake(settings.lake_root)
    say(
        f"generating {len(reg.units)} units' feeds for {args.date} at scale {args.scale} into {lake.zone('landing')}"
    )
    reports = generate(reg, args.date, args.scale, None, lake)
    say(f"landed {len(reports)} files, {sum(r.records for r in reports):,} records")
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
        "  datasets:     .venv/bin/citylake status --datasets"
    )
    return report.exit_code


def cmd_marts(args: argparse.Namespace) -> int:
    from citylake.pipeline import run_marts

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
        print(json.dumps({"date": args.date.isoformat(), "publications": pubs}, ensure_ascii=False, indent=1))
    else:
        for p in pubs:
            print(f"{p['dataset']}: {p['status']} (version {p['delta_version']}){' ' + p.get('reason', '')}")
    return EXIT_PARTIAL if any(p["status"] == "failed" for p in pubs) else EXIT_OK


def cmd_maintain(args: argparse.Namespace) -> int:
    from citylake import tasks

    done = tasks.maintain(args.date.isoformat())
    print(json.dumps(done, indent=1))
    return EXIT_OK


def cmd_landing(args: argparse.Namespace) -> int:
    """Landing-zone operations, no JVM: list new deliveries, tidy finished files, presign an upload."""
    from citylake import landing
    from citylake.lake import Lake

    settings = load_settings()
    lake, reg = Lake(settings.lake_root), load_registry(settings.registry_dir)
    day = args.date.isoformat()
    if args.landing_cmd == "new":
        found = landing.new_deliveries(lake, reg, day)
        rows: list[dict[str, Any]] = [{"file": lf.rel, "size": lf.size} for lf in found]
        print(json.dumps(rows, indent=1) if args.json else "\n".join(lf.rel for lf in found) or "nothing new")
    elif args.landing_cmd == "tidy":
        done = landing.tidy(lake, reg, day)
        print(json.dumps(done.json(), indent=1) if args.json else
              f"{len(done.archived)} archived, {len(done.set_aside)} set aside, {len(done.left)} left in landing")  # fmt: skip
    else:
        try:
            print(
                landing.presigned_upload(lake, reg, args.unit, args.feed, args.date, args.name, args.expires)
            )
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE
    return EXIT_OK


def _wait_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--wait", type=float, default=None, metavar="SECONDS",
                   help="if another run holds the lake, wait up to SECONDS for it (default: "
                        "CITYLAKE_LOCK_WAIT, else stop at once, exit 4, naming that run)")  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="citylake", description="Data-lake ETL for the municipal big-data platform."
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser(
        "setup", help="cache the jars and the pages' npm assets (needs Maven Central and npm once)"
    )
    s.set_defaults(func=cmd_setup)

    reg = sub.add_parser("registry", help="inspect and validate the source-unit registry")
    rsub = reg.add_subparsers(dest="registry_command", required=True, metavar="ACTION")
    v = rsub.add_parser("validate", help="validate every contract, unit and suite; exit 2 on any problem")
    v.add_argument("--root", help="registry directory (default: schemas/ or CITYLAKE_REGISTRY_DIR)")
    v.add_argument(
        "--expectations", help="suites directory (default: expectations/ or CITYLAKE_EXPECTATIONS_DIR)"
    )
    v.set_defaults(func=cmd_registry_validate)
    init = rsub.add_parser("init-suites", help="write the bronze suite a contract's declarations imply")
    init.add_argument("--overwrite", action="store_true", help="replace existing bronze suites")
    init.set_defaults(func=cmd_registry_init_suites)
    ls = rsub.add_parser("list", help="list source units and their feeds")
    ls.add_argument("--root", help="registry directory")
    ls.add_argument("--json", action="store_true", help="machine output")
    ls.set_defaults(func=cmd_registry_list)

    g = sub.add_parser("generate", help="write seeded sample feeds into landing/")
    g.add_argument("--date", type=_date, required=True, help="delivery date, YYYY-MM-DD")
    g.add_argument("--scale", type=_scale, default=1.0, help="1 = a laptop-sized day; may be fractional")
    g.add_argument("--units", nargs="+", help="only these unit ids")
    g.add_argument("--no-faults", action="store_true", help="clean data, no injected faults")
    g.set_defaults(func=cmd_generate)

    r = sub.add_parser("run", help="run the daily pipeline for one date")
    r.add_argument("--date", type=_date, required=True, help="logical date, YYYY-MM-DD")
    r.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    r.add_argument("--units", type=_names, default=(), help="only these units (comma-separated), e.g. to re-run "
                   "one unit's day; other units' files are not touched")  # fmt: skip
    r.add_argument("--contracts", type=_names, default=(), help="only these feed contracts (comma-separated)")
    r.add_argument("--no-marts", action="store_true", help="stop after silver (the mart DAGs build gold)")
    _wait_arg(r)
    r.set_defaults(func=cmd_run)

    mk = sub.add_parser(
        "marts", help="rebuild and publish marts for the days a logical date's delivery touched"
    )
    mk.add_argument("--date", type=_date, required=True, help="logical date, YYYY-MM-DD")
    mk.add_argument(
        "--marts", type=_names, default=(), help="only these marts (comma-separated; default all)"
    )
    mk.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    _wait_arg(mk)
    mk.set_defaults(func=cmd_marts)

    mt = sub.add_parser("maintain", help="OPTIMIZE fragmented tables, compact marts in their layout, VACUUM")
    mt.add_argument("--date", type=_date, required=True, help="logical date, YYYY-MM-DD")
    mt.set_defaults(func=cmd_maintain)

    la = sub.add_parser("landing", help="landing-zone operations (no Spark): new, tidy, presign")
    lsub = la.add_subparsers(dest="landing_cmd", required=True)
    for name, help_ in (("new", "files delivered for a date that no run has finished with"),
                        ("tidy", "move a date's finished files out of landing (loaded: bronze/_landed, "
                                 "rejected: quarantine)")):  # fmt: skip
        lp = lsub.add_parser(name, help=help_)
        lp.add_argument("--date", type=_date, required=True, help="delivery date, YYYY-MM-DD")
        lp.add_argument("--json", action="store_true", help="print JSON")
        lp.set_defaults(func=cmd_landing)
    ps = lsub.add_parser("presign", help="a URL a unit can PUT one file to, in its own landing prefix (S3)")
    ps.add_argument("--unit", required=True)
    ps.add_argument("--feed", required=True)
    ps.add_argument("--date", type=_date, required=True, help="delivery date, YYYY-MM-DD")
    ps.add_argument("--name", required=True, help="the file name the unit will upload")
    ps.add_argument("--expires", type=int, default=3600, help="seconds the URL stays valid (default 3600)")
    ps.set_defaults(func=cmd_landing)

    d = sub.add_parser("demo", help="generate a demo day for every unit and run the pipeline")
    d.add_argument("--date", type=_date, default=DEMO_DATE)
    d.add_argument("--scale", type=_scale, default=DEMO_SCALE)
    _wait_arg(d)
    d.set_defaults(func=cmd_demo)

    add_inspect_commands(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except RegistryError as exc:
        print(f"registry error: {len(exc.problems)} problem(s)", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_USAGE
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except LakeBusy as exc:
        print(f"citylake {args.command}: {exc}", file=sys.stderr)
        return EXIT_BUSY
    except KeyboardInterrupt:
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
