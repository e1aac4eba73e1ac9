"""`citylake registry`: validate, list and seed the registry of units, contracts and suites."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from citylake.cli.output import EXIT_OK, add_json_arg, console_for, print_json
from citylake.config.registry import RegistryError, load_registry
from citylake.config.settings import load_settings


def cmd_registry_validate(args: argparse.Namespace) -> int:
    settings = load_settings()
    reg = load_registry(args.root or settings.registry_dir)
    from citylake.quality.suites import validate_suites

    problems = validate_suites(reg, Path(args.expectations or settings.expectations_dir))
    if problems:
        raise RegistryError(problems)
    feeds = sum(len(u.feeds) for u in reg.units.values())
    if args.json:
        print_json({"ok": True, "units": len(reg.units), "contracts": len(reg.contracts), "feeds": feeds,
                    "root": str(reg.root)})  # fmt: skip
    else:
        print(
            f"registry OK: {len(reg.units)} units, {len(reg.contracts)} feed contracts, {feeds} feeds ({reg.root})"
        )
    return EXIT_OK


def cmd_registry_init_suites(args: argparse.Namespace) -> int:
    from citylake.quality.suites import write_default_suites

    settings = load_settings()
    reg = load_registry(settings.registry_dir)
    written = write_default_suites(reg, settings.expectations_dir, overwrite=args.overwrite)
    out = sys.stderr if args.json else sys.stdout
    for path in written:
        print(f"wrote {path}", file=out)
    print(f"{len(written)} suite(s) written; review them, then run `citylake registry validate`", file=out)
    if args.json:
        print_json({"written": [str(path) for path in written]})
    return EXIT_OK


def cmd_registry_list(args: argparse.Namespace) -> int:
    reg = load_registry(args.root or load_settings().registry_dir)
    units = [
        {"unit": u.unit, "name": u.name, "feeds": [{"feed": f.feed, "contract": f.contract} for f in u.feeds]}
        for u in reg.units.values()
    ]
    if args.json:
        print_json(units)
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


def add_commands(sub: Any) -> None:
    reg = sub.add_parser("registry", help="inspect and validate the source-unit registry")
    rsub = reg.add_subparsers(dest="registry_command", required=True, metavar="ACTION")
    v = rsub.add_parser("validate", help="validate every contract, unit and suite; exit 2 on any problem")
    v.add_argument("--root", help="registry directory (default: schemas/ or CITYLAKE_REGISTRY_DIR)")
    v.add_argument(
        "--expectations", help="suites directory (default: expectations/ or CITYLAKE_EXPECTATIONS_DIR)"
    )
    add_json_arg(v)
    v.set_defaults(func=cmd_registry_validate)
    init = rsub.add_parser("init-suites", help="write the bronze and silver suites a contract's declarations imply")
    init.add_argument("--overwrite", action="store_true", help="replace existing bronze and silver suites")
    add_json_arg(init)
    init.set_defaults(func=cmd_registry_init_suites)
    ls = rsub.add_parser("list", help="list source units and their feeds")
    ls.add_argument("--root", help="registry directory")
    add_json_arg(ls)
    ls.set_defaults(func=cmd_registry_list)
