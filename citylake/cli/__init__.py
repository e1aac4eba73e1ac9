"""`citylake`: the command line for data engineers and analysts. Exit codes: 0 ok, 3 partial or
incomplete (some units failed, or a step still owes work; the rest is done), 2 usage or config
error, 4 the lake is busy (another run holds its lock, or took it from this run), 5 an
infrastructure failure (the storage failed: nothing was recorded against the units; re-run once
it is fixed), 130 interrupted (Ctrl-C), 1 anything else. Every error is one line naming the
command and the cause; ``--debug`` shows the traceback. Every command that lists or reports takes
``--json`` and then prints exactly one JSON value on stdout (citylake/cli/output.py)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from citylake.cli import landing, observe, pipeline, registry, subject
from citylake.cli.output import EXIT_BUSY, EXIT_ERROR, EXIT_INFRA, EXIT_INTERRUPTED, EXIT_USAGE, json_stdout
from citylake.config.registry import RegistryError
from citylake.config.settings import ConfigError
from citylake.engine.faults import StorageFailure, fault_evidence, storage_fault
from citylake.lake.runlock import LakeBusy, LockLost


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="citylake", description="Data-lake ETL for the municipal big-data platform."
    )
    p.add_argument("--version", action=VersionAction, help="print citylake's, Spark's, Delta's and GX's "
                   "versions, the lake root and the registry's counts, and exit")  # fmt: skip
    p.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    # one module per command group: citylake/cli/<group>.py adds its commands here
    pipeline.add_commands(sub)
    registry.add_commands(sub)
    landing.add_commands(sub)
    observe.add_commands(sub)
    subject.add_commands(sub)
    return p


class VersionAction(argparse.Action):
    """``--version``: no JVM, no lake access beyond naming its root."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_args: Any, **_kwargs: Any) -> None:
        print(version_text())
        parser.exit()


def version_text() -> str:
    from importlib.metadata import PackageNotFoundError, version

    def v(dist: str) -> str:
        try:
            return version(dist)
        except PackageNotFoundError:
            return "not installed"

    lines = [f"citylake {v('citylake')}",
             f"  Spark {v('pyspark')}, Delta Lake {v('delta-spark')}, Great Expectations {v('great_expectations')}, "
             f"delta-rs {v('deltalake')}"]  # fmt: skip
    try:
        from citylake.config.registry import load_registry
        from citylake.config.settings import load_settings

        settings = load_settings()
        lines.append(f"  lake root: {settings.lake_root}")
        reg = load_registry(settings.registry_dir)
        lines.append(f"  registry {settings.registry_dir}: {len(reg.units)} units, {sum(1 for _ in reg.feeds())} "
                     f"feeds, {len(reg.contracts)} contracts, {len(reg.marts)} marts")  # fmt: skip
    except (ConfigError, RegistryError) as exc:
        lines.append(f"  configuration: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except KeyboardInterrupt:
        print(f"citylake {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        if args.debug:
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(f"citylake {args.command}: {type(exc).__name__}{': ' + first if first else ''} "
              "(--debug shows the traceback)", file=sys.stderr)  # fmt: skip
        return EXIT_ERROR


def _dispatch(args: argparse.Namespace) -> int:
    try:
        # --json: stdout holds the one JSON value; anything else printed meanwhile goes to stderr
        with json_stdout(getattr(args, "json", False)):
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


if __name__ == "__main__":
    sys.exit(main())
