"""`citylake`: the command line for data engineers and analysts. Exit codes: 0 ok, 3 partial or
incomplete (some units failed, or a step still owes work; the rest is done), 2 usage or config
error, 4 the lake is busy (another run holds its lock), 1 anything else."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from citylake.cli import landing, observe, pipeline, registry
from citylake.cli.output import EXIT_BUSY, EXIT_ERROR, EXIT_USAGE
from citylake.config.registry import RegistryError
from citylake.config.settings import ConfigError
from citylake.lake.runlock import LakeBusy


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="citylake", description="Data-lake ETL for the municipal big-data platform."
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    # one module per command group: citylake/cli/<group>.py adds its commands here
    pipeline.add_commands(sub)
    registry.add_commands(sub)
    landing.add_commands(sub)
    observe.add_commands(sub)
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
