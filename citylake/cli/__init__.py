"""`citylake`: the command line for data engineers and analysts. Exit codes: 0 ok, 3 partial or
incomplete (some units failed, or a step still owes work; the rest is done), 2 usage or config
error, 4 the lake is busy (another run holds its lock, or took it from this run), 5 an
infrastructure failure (the storage failed: nothing was recorded against the units; re-run once
it is fixed), 1 anything else."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from citylake.cli import landing, observe, pipeline, registry, subject
from citylake.cli.output import EXIT_BUSY, EXIT_ERROR, EXIT_INFRA, EXIT_USAGE
from citylake.config.registry import RegistryError
from citylake.config.settings import ConfigError
from citylake.engine.faults import StorageFailure, fault_evidence, storage_fault
from citylake.lake.runlock import LakeBusy, LockLost


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
    subject.add_commands(sub)
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
    except (LakeBusy, LockLost) as exc:
        print(f"citylake {args.command}: {exc}", file=sys.stderr)
        return EXIT_BUSY
    except Exception as exc:
        fault = storage_fault(exc)
        if fault is None:
            raise
        # the storage failed, not the units' data: nothing was recorded against them
        shown = exc if isinstance(exc, StorageFailure) else f"{fault}: {fault_evidence(exc)}"
        print(f"citylake {args.command}: infrastructure failure: {shown}\n"
              "  no unit's file was rejected or set aside for it; the files stay pending, and a run after the "
              "storage is fixed loads them exactly once", file=sys.stderr)  # fmt: skip
        return EXIT_INFRA
    except KeyboardInterrupt:
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
