"""What the command line parses and prints: argument types, exit codes, progress lines and tables
(rich) for people, and the one --json convention (``add_json_arg``, ``print_json``, ``json_stdout``)
for programs."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any, TextIO

from citylake.engine.clock import json_value

# 0 ok, 1 anything else, 2 usage or config error, 3 partial or incomplete, 4 the lake is busy (or
# the run lost its lock to another run), 5 infrastructure failure: the storage failed under the run,
# 130 interrupted (Ctrl-C: 128 + SIGINT, as shells report it)
EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_PARTIAL, EXIT_BUSY, EXIT_INFRA = 0, 1, 2, 3, 4, 5
EXIT_INTERRUPTED = 130


def arg_date(value: str) -> dt.date:
    """An argparse type: a date in YYYY-MM-DD form."""
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date in YYYY-MM-DD form") from exc


# The one help text of every command's --json (tests/cli/test_json_convention.py holds them to it).
JSON_HELP = (
    "print one JSON value on stdout, shaped as docs/reference/cli.md says; progress and messages go to stderr"
)
_json_out: list[TextIO] = []  # where print_json writes while json_stdout holds stdout for it


def add_json_arg(p: argparse.ArgumentParser) -> None:
    """``--json``, the same on every command that lists or reports something."""
    p.add_argument("--json", action="store_true", help=JSON_HELP)


def print_json(value: Any) -> None:
    """The command's one JSON value on stdout: dates and times as ISO 8601 (``json_value``)."""
    out = _json_out[-1] if _json_out else sys.stdout
    print(json.dumps(value, ensure_ascii=False, indent=1, default=json_value), file=out, flush=True)


@contextlib.contextmanager
def json_stdout(json_mode: bool) -> Iterator[None]:
    """With --json, stdout holds only what ``print_json`` writes: anything else a command or a
    library prints meanwhile goes to stderr (the dispatcher wraps every command in this)."""
    if not json_mode:
        yield
        return
    _json_out.append(sys.stdout)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        _json_out.pop()


def console_for(json_mode: bool) -> Any:
    from rich.console import Console

    # Human output goes to stderr when --json owns stdout.
    # soft_wrap: long paths and SQL stay on one line, so they can be copied.
    return Console(stderr=json_mode, highlight=False, soft_wrap=True)


def shown(value: Any) -> str:
    """A query value as a table cell: times in the lake's clock with their offset."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    return str(value)


def progress_printer(console: Any) -> Callable[[str], None]:
    start = time.perf_counter()

    def say(msg: str) -> None:
        console.print(f"[dim]{time.perf_counter() - start:7.1f}s[/dim]  {msg}")

    return say


# --- commands ------------------------------------------------------------------------------


def print_run(console: Any, report: Any) -> None:
    from collections import Counter

    from rich.table import Table

    files = report.bronze.files
    by_status = Counter(f.status for f in files)
    table = Table(title=f"run {report.run_id} for {report.date}: {report.status.upper()}")
    for col in ("status", "files", "rows landed", "rows in bronze", "rows quarantined"):
        table.add_column(col, justify="right" if col != "status" else "left")
    for status, n in sorted(by_status.items()):
        sel = [f for f in files if f.status == status]
        table.add_row(
            status,
            str(n),
            f"{sum(f.rows_landed for f in sel):,}",
            f"{sum(f.rows_bronze for f in sel):,}",
            f"{sum(f.rows_quarantined for f in sel):,}",
        )
    console.print(table)
    problems = [f for f in files if f.status in ("rejected", "conflict", "failed")]
    for f in problems[:20]:
        console.print(f"[red]{f.status}[/red] {f.file}: {f.reason}")
    if len(problems) > 20:
        console.print(f"... and {len(problems) - 20} more; see ops.run_ledger")
    waiting = [f for f in files if f.status == "waiting"]  # not complete yet: a later run loads them
    for f in waiting[:20]:
        console.print(f"[yellow]waiting[/yellow] {f.file}: {f.reason}")
    if len(waiting) > 20:
        console.print(f"... and {len(waiting) - 20} more waiting; see ops.run_ledger")
    for v in report.held_feeds:
        console.print(f"[red]held[/red] {v.unit}/{v.feed}: not promoted to silver, {v.reason()}")
    for o in report.owed:
        console.print(f"[yellow]owed[/yellow] {o.target}: {o.detail}")
    pubs = report.publications
    published = [p for p in pubs if p.status == "published"]
    changed = [p for p in pubs if p.status not in ("empty", "unchanged")]
    console.print(f"published {len(published)} of {len(changed)} changed silver/gold datasets")
    for p in pubs:
        if p.status == "failed":
            console.print(
                f"[red]not published[/red] {p.dataset} (current version stays {p.delta_version}): {p.reason}"
            )
    if report.docs:
        console.print(f"Data Docs: {report.docs}")
    if report.health:
        console.print(f"Run report: {report.health}")
    if report.lineage:
        console.print(f"Lineage events: {report.lineage}")


def print_catalog_summary(console: Any, lake: Any) -> None:
    from rich.table import Table

    from citylake.lake import catalog

    rows = catalog.describe(catalog.lake_tables(lake))
    table = Table(title="tables")
    for col in ("table", "version", "rows", "updated"):
        table.add_column(col, justify="right" if col in ("version", "rows") else "left")
    for r in rows:
        updated = r["updated_at"].isoformat(" ", "seconds") if r["updated_at"] else ""
        table.add_row(str(r["name"]), str(r["version"]), f"{r['rows']:,}", updated)
    console.print(table)


def print_pipeline(days: list[dict[str, Any]]) -> None:
    from rich.table import Table

    table = Table(title="pipeline per logical date (what each step still owes)")
    for col in ("date", "status", "owed", "last run"):
        table.add_column(col)
    for d in days:
        owed = "\n".join(f"{o['step']}: {o['target']}: {o['detail']}" for o in d["owed"])
        last = (d["last_run"] or "") + (f" ({d['note']})" if d["note"] else "")
        table.add_row(d["date"], d["status"], owed, last, style="yellow" if d["status"] != "ok" else None)
    console_for(False).print(table)


def print_datasets(datasets: list[dict[str, Any]]) -> None:
    from rich.table import Table

    table = Table(title=f"{len(datasets)} silver and gold datasets (newest publication attempt)")
    for col in ("dataset", "status", "logical_date", "current_version", "last_published_at"):
        table.add_column(col, no_wrap=col == "dataset")
    for d in datasets:
        style = "red" if d["status"] == "failed" else None
        table.add_row(*["" if d[k] is None else str(d[k]) for k in ("dataset", "status", "logical_date",
                        "current_version", "last_published_at")], style=style)  # fmt: skip
    console = console_for(False)
    console.print(table)
    for d in datasets:
        if d["status"] == "failed":
            console.print(f"[red]failed[/red] {d['dataset']} (readers keep version {d['current_version']}): "
                          f"{d['reason']}")  # fmt: skip


def arg_names(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


class Names(argparse.Action):
    """A list option every command accepts the same way: ``--units a b``, ``--units a,b`` or
    both (``--units a,b c``); the names in order, without repeats."""

    def __init__(self, option_strings: Any, dest: str, **kwargs: Any) -> None:
        kwargs.setdefault("default", ())
        super().__init__(option_strings, dest, nargs="+", **kwargs)

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: Any = None) -> None:
        names = [n for v in values for n in arg_names(v)]
        setattr(namespace, self.dest, tuple(dict.fromkeys(names)))


def arg_scale(value: str) -> float:
    try:
        s = float(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from exc
    if not 0 < s <= 100:
        raise argparse.ArgumentTypeError("scale must be in (0, 100]")
    return s


def add_wait_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--wait", type=float, default=None, metavar="SECONDS",
                   help="if another run holds the lake, wait up to SECONDS for it (default: "
                        "CITYLAKE_LOCK_WAIT, else stop at once, exit 4, naming that run)")  # fmt: skip
