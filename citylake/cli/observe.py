"""The commands that look at the lake and describe it: catalog, query, status and docs."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import Any

from citylake.cli.output import (
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_USAGE,
    add_json_arg,
    arg_date,
    console_for,
    print_catalog_summary,
    print_datasets,
    print_json,
    print_pipeline,
    shown,
)
from citylake.config import variables
from citylake.config.registry import load_registry
from citylake.config.settings import load_settings
from citylake.engine.clock import lake_time, lake_today


def cmd_catalog(args: argparse.Namespace) -> int:
    from citylake.lake import Lake, catalog

    lake = Lake(load_settings().lake_root)  # no JVM: versions and row counts come from the logs
    if args.json:
        print_json(catalog.describe(catalog.lake_tables(lake)))
    else:
        print_catalog_summary(console_for(False), lake)
    return EXIT_OK


def cmd_query(args: argparse.Namespace) -> int:
    from citylake.engine.spark import get_spark
    from citylake.lake import Lake, catalog

    settings = load_settings()
    spark = get_spark("citylake-query", settings)
    named = catalog.register(spark, catalog.named_in(args.sql, catalog.lake_tables(Lake(settings.lake_root))))
    from pyspark.errors import AnalysisException, ParseException

    try:
        df = spark.sql(args.sql)
        # one row past the limit tells whether the output is cut. Arrow keeps a TIMESTAMP (an
        # instant, shown in the lake's clock with its offset) apart from a TIMESTAMP_NTZ (a
        # wall-clock reading, shown as it is)
        arrow = df.limit(args.limit + 1).toArrow()
    except Exception as exc:
        from citylake.privacy.purge import time_travel_refused

        travel = "DELTA_VERSION_NOT_FOUND" in str(exc) or "time travel" in str(exc).lower()
        erased = time_travel_refused(named) if travel else []
        if erased:
            print("citylake query: time travel refused\n  " + "\n  ".join(erased), file=sys.stderr)
        elif isinstance(exc, AnalysisException | ParseException):  # a typo, an unknown table: no JVM stack
            print(f"citylake query: {sql_error(exc)}", file=sys.stderr)
        else:
            raise
        return EXIT_USAGE
    cut = arrow.num_rows > args.limit
    arrow = arrow.slice(0, args.limit)
    rows = [lake_time(list(r)) for r in zip(*[c.to_pylist() for c in arrow.columns], strict=True)]
    if cut:
        print(f"citylake query: showing the first {args.limit} rows; there are more (--limit N shows more)",
              file=sys.stderr)  # fmt: skip
    if args.json:
        print_json([dict(zip(arrow.column_names, r, strict=True)) for r in rows])
        return EXIT_OK
    from rich.table import Table

    table = Table()
    for name in df.columns:
        table.add_column(name)
    for r in rows:
        table.add_row(*[shown(v) for v in r])
    console_for(False).print(table)
    return EXIT_OK


def sql_error(exc: Exception) -> str:
    """Spark's error as one line: its condition and the first line of its message."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def cmd_status(args: argparse.Namespace) -> int:
    """Exit 3 when something needs attention (``attention``), so an alert can run it; 0 otherwise.
    --pipeline, --requests and --datasets narrow both what is shown and what counts."""
    from citylake.lake import Lake
    from citylake.lake.status import attention, dataset_status, feed_status, pipeline_status, request_status

    settings = load_settings()
    lake = Lake(settings.lake_root)
    as_of = args.as_of or lake_today()
    if args.requests:  # no JVM: the request ledger is read with delta-rs
        open_requests = request_status(lake, as_of)
        if args.json:
            print_json({"as_of": as_of.isoformat(), "subject_requests": open_requests})
        else:
            print_requests(open_requests, as_of)
        return _verdict(attention(requests=open_requests), args.json)
    reg = load_registry(settings.registry_dir)
    if args.pipeline:  # no JVM: the progress table, the logs and the landing listing answer it
        days = pipeline_status(lake, reg, as_of)
        if args.json:
            print_json(days)
        else:
            print_pipeline(days)
        return _verdict(attention(pipeline=days), args.json)
    if args.datasets:
        datasets = dataset_status(lake)
        if args.json:
            print_json(datasets)
        else:
            print_datasets(datasets)
        return _verdict(attention(datasets=datasets), args.json)
    rows = feed_status(lake, reg, as_of)
    datasets, days = dataset_status(lake), pipeline_status(lake, reg, as_of)
    requests = request_status(lake, as_of)
    found = attention(days, rows, datasets, requests)
    if args.json:
        print_json(rows)
        return _verdict(found, args.json)
    from rich.table import Table

    table = Table(title=f"{len(rows)} feeds as of {as_of}")
    cols = ("unit", "feed", "last_date", "fresh", "rows", "quarantine_rate", "dq", "schema_drift")
    for col in cols:
        table.add_column(col)
    for r in rows:
        table.add_row(*["" if r[k] is None else str(r[k]) for k in cols])
    console_for(False).print(table)
    print_datasets(datasets)
    print_pipeline(days)
    print_requests(requests, as_of)
    return _verdict(found, args.json)


def _verdict(found: list[tuple[str, str]], json_mode: bool) -> int:
    """Exit 3 with a summary on stderr when something needs attention: counts per kind, then
    the first findings, most urgent first."""
    if not found:
        return EXIT_OK
    kinds: dict[str, int] = {}
    for kind, _ in found:
        kinds[kind] = kinds.get(kind, 0) + 1
    counts = ", ".join(f"{n} {kind}{'s' if n > 1 else ''}" for kind, n in kinds.items())
    lines = [line for _, line in found[:10]] + ([f"... and {len(found) - 10} more"] if len(found) > 10 else [])
    print(f"citylake status: needs attention (exit 3): {counts}\n  " + "\n  ".join(lines), file=sys.stderr)
    return EXIT_PARTIAL


def print_requests(requests: list[dict[str, Any]], as_of: dt.date) -> None:
    """Open data-subject requests, overdue ones in red (PIPL gives the lake 30 days by default)."""
    from rich.table import Table

    overdue = sum(r["overdue"] for r in requests)
    table = Table(title=f"{len(requests)} open data-subject requests as of {as_of}, {overdue} overdue")
    for col in ("request", "type", "received", "due", "status", "days left"):
        table.add_column(col)
    for r in requests:
        left = f"{-r['days_left']} overdue" if r["overdue"] else str(r["days_left"])
        table.add_row(r["request_id"], r["type"], r["received_on"], r["due_on"], r["status"], left,
                      style="red" if r["overdue"] else None)  # fmt: skip
    console_for(False).print(table)


def cmd_docs(args: argparse.Namespace) -> int:
    from citylake.engine.storage import store_for
    from citylake.lake import Lake
    from citylake.pages import dictionary

    settings = load_settings()
    say = (lambda m: print(m, file=sys.stderr)) if args.json else print
    text = dictionary.render(load_registry(settings.registry_dir)).encode("utf-8")
    if args.dictionary:  # only the dictionary, to a path: no lake, no GX (make dictionary)
        Path(args.dictionary).write_bytes(text)
        say(f"Data dictionary: {args.dictionary}")
        if args.json:
            print_json({"dictionary": args.dictionary})
        return EXIT_OK
    from citylake.quality.gx_runner import GxProject

    lake = Lake(settings.lake_root)
    target = f"{lake.zone('_system')}/docs/data_dictionary.md"
    store_for(lake.root).write_bytes(target, text)
    say(f"Data dictionary: {target}")
    index = GxProject(lake, settings.expectations_dir).build_docs()
    say(f"Data Docs: {index}")
    say(f"open file://{index} in a browser (works offline)")
    if args.json:
        print_json({"dictionary": target, "data_docs": str(index)})
    return EXIT_OK


def cmd_serve_sql(args: argparse.Namespace) -> int:
    from citylake.lake.sql_server import serve

    serve(load_settings(), args.port, args.bind, args.role, args.auth, args.refresh,
          say=lambda line: print(line, flush=True))  # fmt: skip
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from citylake.lake import Lake
    from citylake.pages import report_page
    from citylake.pages.report import NoRun, gather

    settings = load_settings()
    lake = Lake(settings.lake_root)
    try:
        data = gather(lake, load_registry(settings.registry_dir), args.date, args.days)
    except NoRun as exc:
        print(f"citylake report: {exc}", file=sys.stderr)
        return EXIT_USAGE
    path = report_page.write(lake, data)
    if args.json:
        print_json({"date": data["date"], "run_id": data["run"]["run_id"], "path": path})
    else:
        print(f"Run report: {path}")
    return EXIT_OK


def add_commands(sub: Any) -> None:
    rp = sub.add_parser(
        "report", help="write the run-health report of a date's newest run (HTML, works offline)"
    )
    rp.add_argument("--date", type=arg_date, required=True, help="logical date, YYYY-MM-DD")
    rp.add_argument("--days", type=int, default=14, help="days of history in the charts (default 14)")
    add_json_arg(rp)
    rp.set_defaults(func=cmd_report)
    c = sub.add_parser("catalog", help="list the lake's tables")
    add_json_arg(c)
    c.set_defaults(func=cmd_catalog)

    st = sub.add_parser(
        "status", help="freshness, volume, quarantine rate and DQ verdict per unit/feed; exit 3 when "
        "a day is incomplete, a feed stale or held, a publication failed or a request overdue")
    st.add_argument(
        "--as-of", type=arg_date, default=None,
        help="judge freshness at this date (default: today in Asia/Shanghai, the lake's time zone)"
    )
    add_json_arg(st)
    st.add_argument(
        "--datasets", action="store_true", help="only silver/gold datasets and their publications"
    )
    st.add_argument("--pipeline", action="store_true",
                    help="only the pipeline per logical date: ok, or incomplete and what each step owes")  # fmt: skip
    st.add_argument("--requests", action="store_true",
                    help="only open and overdue data-subject requests (with --json: a subject_requests key)")  # fmt: skip
    st.set_defaults(func=cmd_status)

    dc = sub.add_parser(
        "docs", help="write the data dictionary and rebuild the Data Docs (GX results); print where they are"
    )
    dc.add_argument(
        "--dictionary", metavar="PATH", help="only write the data dictionary to PATH (no lake needed)"
    )
    add_json_arg(dc)
    dc.set_defaults(func=cmd_docs)

    q = sub.add_parser("query", help="run Spark SQL against the catalog")
    q.add_argument("sql", help='e.g. "SELECT * FROM bronze.parking_lots LIMIT 5"')
    q.add_argument("--limit", type=int, default=100,
                   help="rows to print (default 100; stderr says when there were more)")  # fmt: skip
    add_json_arg(q)
    q.set_defaults(func=cmd_query)

    sq = sub.add_parser("serve-sql", help="serve the lake to BI tools over JDBC/ODBC (Spark Thrift server)")
    sq.add_argument("--port", type=int, default=int(variables.read("CITYLAKE_SQL_PORT")),
                    help="port (default CITYLAKE_SQL_PORT, else 10000)")  # fmt: skip
    sq.add_argument("--bind", default="127.0.0.1", help="address to listen on (default loopback only)")
    sq.add_argument("--role", choices=("analyst", "steward"), default="analyst",
                    help="analyst (default): silver, gold, ops; steward: also bronze and quarantine, "
                         "which hold personal data in clear (see docs/explanation/access.md)")  # fmt: skip
    sq.add_argument("--auth", choices=("password", "ldap", "none"), default="",
                    help="client login: ldap when CITYLAKE_SQL_LDAP_URL is set, else password (an embedded "
                         "account under .cache/secrets); none only on loopback")  # fmt: skip
    sq.add_argument("--refresh", type=float, default=60.0, help="seconds between looks for new tables")
    sq.set_defaults(func=cmd_serve_sql)
