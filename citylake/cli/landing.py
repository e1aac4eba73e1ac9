"""`citylake landing`: landing-zone operations without a JVM (new, tidy, presign)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from citylake.cli.output import EXIT_OK, EXIT_USAGE, add_json_arg, arg_date, print_json
from citylake.config.registry import load_registry
from citylake.config.settings import load_settings


def cmd_landing(args: argparse.Namespace) -> int:
    """Landing-zone operations, no JVM: list new deliveries, tidy finished files, presign an upload."""
    from citylake.lake import Lake, landing

    settings = load_settings()
    lake, reg = Lake(settings.lake_root), load_registry(settings.registry_dir)
    day = args.date.isoformat()
    if args.landing_cmd == "new":
        found = landing.new_deliveries(lake, reg, day)
        rows: list[dict[str, Any]] = [{"file": lf.rel, "size": lf.size} for lf in found]
        if args.json:
            print_json(rows)
        else:
            print("\n".join(lf.rel for lf in found) or "nothing new")
    elif args.landing_cmd == "tidy":
        done = landing.tidy(lake, reg, day)
        if args.json:
            print_json(done.json())
        else:
            print(f"{len(done.archived)} archived, {len(done.set_aside)} set aside, {len(done.removed)} removed "
                  f"(duplicates and re-sends, kept by checksum), {len(done.left)} left in landing")  # fmt: skip
    else:
        try:
            url = landing.presigned_upload(
                lake, reg, args.unit, args.feed, args.date, args.name, args.expires
            )
        except ValueError as exc:
            print(f"citylake landing presign: {exc}", file=sys.stderr)
            return EXIT_USAGE
        if args.json:
            print_json({"url": url, "expires_s": args.expires})
        else:
            print(url)
    return EXIT_OK


def add_commands(sub: Any) -> None:
    la = sub.add_parser("landing", help="landing-zone operations (no Spark): new, tidy, presign")
    lsub = la.add_subparsers(dest="landing_cmd", required=True)
    for name, help_ in (("new", "files delivered for a date that no run has finished with"),
                        ("tidy", "move a date's finished files out of landing (loaded: bronze/_landed, "
                                 "rejected: quarantine; duplicates and re-sends: deleted)")):  # fmt: skip
        lp = lsub.add_parser(name, help=help_)
        lp.add_argument("--date", type=arg_date, required=True, help="delivery date, YYYY-MM-DD")
        add_json_arg(lp)
        lp.set_defaults(func=cmd_landing)
    ps = lsub.add_parser("presign", help="a URL a unit can PUT one file to, in its own landing prefix (S3)")
    ps.add_argument("--unit", required=True)
    ps.add_argument("--feed", required=True)
    ps.add_argument("--date", type=arg_date, required=True, help="delivery date, YYYY-MM-DD")
    ps.add_argument("--name", required=True, help="the file name the unit will upload")
    ps.add_argument("--expires", type=int, default=3600, help="seconds the URL stays valid (default 3600)")
    add_json_arg(ps)
    ps.set_defaults(func=cmd_landing)
