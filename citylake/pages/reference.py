"""The generated reference pages under docs/reference/: the command line, the configuration
variables, the registry's file formats and the lake's layout, each rendered from the code that
defines it (no timestamps: the same code renders the same page).

`make docs-reference` (``python -m citylake.cli.reference``) writes them, and with ``--check``
names the stale ones; tests/docs/test_reference_pages.py fails when a committed page differs
from its render. The command line is an argument here (``render_cli``): this layer sits below
citylake.cli and never imports it.
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Iterator, Mapping
from pathlib import Path
from zoneinfo import ZoneInfo

from citylake.config.registry import Registry
from citylake.config.settings import LAKE_TIME_ZONE
from citylake.config.variables import VARIABLES, Variable
from citylake.pages import reference_formats

CLI, CONFIGURATION, REGISTRY, LAKE_LAYOUT = (
    f"docs/reference/{name}.md" for name in ("cli", "configuration", "registry", "lake-layout")
)
PAGES = (CLI, CONFIGURATION, REGISTRY, LAKE_LAYOUT)
REGENERATE = "make docs-reference"

# What each exit code means (the comment beside the EXIT_* constants in citylake/cli/output.py,
# and citylake/cli/__init__.py's docstring). A new constant without a line here fails the render.
EXIT_MEANING = {
    "EXIT_OK": "ok",
    "EXIT_ERROR": "an error: anything not covered below (one line naming the command and the cause; "
    "`--debug` shows the traceback)",
    "EXIT_USAGE": "usage or configuration error (a bad argument, variable or registry file)",
    "EXIT_PARTIAL": "partial, incomplete or needs attention: some units failed or a step still owes work "
    "(the rest is done); `status`: a finding needs attention",
    "EXIT_BUSY": "the lake is busy: another run holds its lock, or took it from this run",
    "EXIT_INFRA": "infrastructure failure: the storage failed under the run; nothing was recorded against "
    "the units, re-run once it is fixed",
    "EXIT_INTERRUPTED": "interrupted (Ctrl-C: 128 + SIGINT)",
}

# The JSON a command prints on stdout with --json (citylake/cli/output.py add_json_arg, print_json).
# A command with a --json flag and no line here, or a line for a command without one, fails the
# render, and so the staleness test. Keys: ``?`` marks a key present only when it has a value;
# ``[...]`` an array of such objects.
_PUBLICATION = "{dataset, status, rows, delta_version, validation_id, reason?}"
_OWED = "{step, target, detail, dates: [date]}"
JSON_SHAPES = {
    "run": "object {date, run_id, status, files: [{unit, feed, file, status, contract?, bronze_version?, "
    f"rows_landed, rows_bronze, rows_quarantined, reason?, schema_drift?}}], held_feeds: [{{unit, feed, reason}}], "
    f"publications: [{_PUBLICATION}], data_docs, report, lineage, owed?: [{_OWED}]}}",
    "generate": "object {date, scale, files, records, landing, subjects_out?}: the files and records written, "
    "the landing zone's path, and with --subjects the planted subjects' file (when one was written)",
    "marts": f"object {{date, publications: [{_PUBLICATION}]}}",
    "maintain": "object {optimized, vacuumed, vacuumed_full: [table], staging_vacuumed: [layer.name]}",
    "rekey": "object {reset: [silver table]}: the tables emptied for the new key (empty when all are under it)",
    "registry validate": "object {ok, units, contracts, feeds, root}: ok is true, then the counts and the "
    "registry's directory; on a problem nothing goes to stdout: the problems go to stderr, exit 2",
    "registry init-suites": "object {written: [path]}: the suite files written",
    "registry list": "array of {unit, name, feeds: [{feed, contract}]}",
    "landing new": "array of {file, size}: files delivered for the date that no run has finished with",
    "landing tidy": "object {archived, set_aside, removed, left}: arrays of landing paths",
    "landing presign": "object {url, expires_s}: the URL to PUT the file to, and the seconds it stays valid",
    "report": "object {date, run_id, path}: the report's file, for the newest finished run of the date",
    "catalog": "array of {name, layer, path, format, version, rows, updated_at}",
    "status": "array of {unit, feed, last_date, fresh, rows, quarantine_rate, dq, schema_drift}; "
    "with --datasets: array of {dataset, layer, last_run, logical_date, status, current_version, "
    f"validation_id, last_published_at, reason}}; with --pipeline: array of {{date, status, owed: [{_OWED}], "
    "last_run, note}; with --requests: object {as_of, subject_requests: [{request_id, type, legal_basis, "
    "subjects, received_on, due_on, status, open, overdue, days_left, reason}]}",
    "docs": "object {dictionary, data_docs?}: the data dictionary's path and the Data Docs' index "
    "(with --dictionary only the dictionary)",
    "query": "array of objects, one per row: column name -> value (times in the lake's clock, with offset)",
    "subject locate": "object {tables_scanned, subjects: [{subject, tables: [{table, zone, rows}], "
    "files: [{path, kind, records or occurrences, bytes}], rows, places}]}",
    "subject export": "object {request_id, out, packages: [{subject, subject_ref, records, "
    "files: [{name, sha256, bytes}]}]}",
    "subject erase": "object {request_id, rows_deleted, data_files_purged, files_rewritten, tables: "
    "[{table, version_before, version_after, append_only, rows_deleted, files_removed, files_added, "
    "checkpoint_version, data_files_purged, log_entries_purged, object_versions_deleted}], files: "
    "[{path, kind, removed, action, sha256_before, sha256_after, object_versions_deleted}]}",
    "subject restrict": "object {request_id, subjects, suppression_rows_added, rows_restricted, tables: "
    "{silver table: rows moved}, days: [[contract, date]], purged: [{table, version_before, version_after, "
    "rows_deleted, checkpoint_version, data_files_purged, log_entries_purged, object_versions_deleted}], marts: "
    "{mart: publication status}, summary: {suppression_rows_added, rows_restricted, tables_changed, "
    "days_rebuilt, marts_rebuilt, marts_failed}}",
    "subject verify": "object {root, subjects, clean, objects, versions, delete_markers, vanished, bytes, "
    "seconds, findings_count, findings: [{path, version_id, subject, kind, layers}], problems: "
    "[{path, version_id, reason}]}",
    "subject verify-ledger": "object {intact, problems: [text], head: {seq, digest}}",
    "subject certificate": "object {html, json}: the certificate's two paths",
}
# argparse type converters by name (citylake/cli/output.py, citylake/cli/subjects_out.py)
TYPE_NAMES = {
    "str": "text",
    "int": "integer",
    "float": "number",
    "arg_date": "date (YYYY-MM-DD)",
    "arg_names": "names, comma-separated",
    "arg_scale": "number in (0, 100]",
    "arg_subjects": "whole number",
}


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _header(what: str, source: str) -> list[str]:
    return [f"# {what}", "", f"Generated from {source} by `{REGENERATE}`; do not edit.", ""]


# --- the command line ----------------------------------------------------------------------------


def commands(parser: argparse.ArgumentParser) -> Iterator[tuple[str, str, argparse.ArgumentParser]]:
    """(path, help, parser) of every command and subcommand, depth first, in the parser's order."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            for name, sub in action.choices.items():
                path = f"{parser.prog} {name}".split(" ", 1)[1]
                yield path, helps.get(name, ""), sub
                yield from commands(sub)


def _flags(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [
        a for a in parser._actions
        if not isinstance(a, argparse._SubParsersAction | argparse._HelpAction)
    ]  # fmt: skip


def _type(action: argparse.Action) -> str:
    if action.nargs == 0:
        return "switch"
    if action.choices is not None:
        return "one of " + ", ".join(f"`{c}`" for c in action.choices)
    name = getattr(action.type, "__name__", "str") if action.type is not None else "str"
    if name not in TYPE_NAMES:
        raise ValueError(f"argument type {name!r} has no name in citylake/pages/reference.py TYPE_NAMES")
    many = {"+": "one or more: ", "*": "any number: "}.get(str(action.nargs), "")
    return many + TYPE_NAMES[name]


def _default(action: argparse.Action) -> str:
    value = action.default
    if action.nargs == 0 or value in (None, argparse.SUPPRESS, "", ()):
        return ""
    if isinstance(value, dt.date):
        return f"`{value.isoformat()}`"
    return f"`{value}`"


def _flag(action: argparse.Action) -> str:
    metavar = action.metavar if isinstance(action.metavar, str) else action.dest.upper()
    if not action.option_strings:
        return f"`{metavar.upper()}` (positional)"
    names = ", ".join(action.option_strings)
    if action.nargs != 0:
        names += f" {metavar}"
    return f"`{names}`" + (" (required)" if action.required else "")


def _flag_table(parser: argparse.ArgumentParser) -> list[str]:
    rows = [f"| {_flag(a)} | {_type(a)} | {_default(a)} | {cell(a.help or '')} |" for a in _flags(parser)]
    return ["| flag | type | default | meaning |", "| --- | --- | --- | --- |", *rows] if rows else []


def render_cli(parser: argparse.ArgumentParser, exit_codes: Mapping[str, int]) -> str:
    """The command-line reference: every command and subcommand with its flags, the exit codes
    (``exit_codes``: the EXIT_* constants), and the JSON each command prints."""
    cmds = list(commands(parser))
    json_commands = {path for path, _, sub in cmds if any("--json" in a.option_strings for a in _flags(sub))}
    missing = sorted(json_commands - JSON_SHAPES.keys())
    if missing:
        raise ValueError(f"no JSON shape declared for {', '.join(missing)} (citylake/pages/reference.py JSON_SHAPES)")
    unknown = sorted(JSON_SHAPES.keys() - json_commands)
    if unknown:
        raise ValueError(f"JSON_SHAPES names commands without a --json flag: {', '.join(unknown)}")
    lines = _header("Command line reference", "`citylake.cli.build_parser()` and citylake/cli/output.py")
    lines += [f"`{parser.prog} [options] COMMAND ...`: {parser.description or ''}", ""]
    lines += _conventions(parser.prog, cmds, json_commands)
    lines += ["## Options", ""]
    lines += _flag_table(parser)
    lines += ["", "## Exit codes", "", "| code | constant | meaning |", "| --- | --- | --- |"]
    for name, code in sorted(exit_codes.items(), key=lambda item: item[1]):
        lines.append(f"| {code} | `{name}` | {cell(EXIT_MEANING[name])} |")
    lines += ["", "## Commands", "", "| command | what it does |", "| --- | --- |"]
    for path, help_, _ in cmds:
        lines.append(f"| [`{parser.prog} {path}`](#{_anchor(f'{parser.prog} {path}')}) | {cell(help_)} |")
    for path, help_, sub in cmds:
        lines += ["", f"### {parser.prog} {path}", ""]
        if help_:
            lines += [help_, ""]
        subs = [p.rsplit(" ", 1)[1] for p, _, _ in cmds if p.rsplit(" ", 1)[0] == path and " " in p]
        table = _flag_table(sub)
        lines += table or ["No options."]
        if subs:
            lines += ["", "Subcommands: " + ", ".join(f"`{s}`" for s in subs) + "."]
        if path in JSON_SHAPES:
            lines += ["", f"JSON on stdout with `--json`: {JSON_SHAPES[path]}"]
    return "\n".join(lines) + "\n"


def _conventions(
    prog: str, cmds: list[tuple[str, str, argparse.ArgumentParser]], json_commands: set[str]
) -> list[str]:
    """What every command does the same way: --json, dates and times, stderr, exit codes."""
    groups = {path.rsplit(" ", 1)[0] for path, _, _ in cmds if " " in path}
    people = [f"`{prog} {path}`" for path, _, _ in cmds if path not in json_commands and path not in groups]
    instant = dt.datetime(2026, 11, 20, 9, 30, tzinfo=ZoneInfo(LAKE_TIME_ZONE)).isoformat()
    return [
        "## Conventions",
        "",
        "- Every command that lists or reports something takes `--json`, and then prints exactly one JSON value "
        "on stdout, shaped as its section below says (*JSON on stdout*); without it, lines and tables for people.",
        f"- In that JSON, dates are `YYYY-MM-DD` and points in time ISO 8601 with the lake's offset "
        f"(`{instant}`, {LAKE_TIME_ZONE}).",
        "- Progress, messages and errors go to stderr; an error is one line naming the command and the cause "
        "(`--debug` shows the traceback).",
        "- The exit code says how it went, as in [the table](#exit-codes) below; with `--json` too.",
        *([f"- For people only (no `--json`): {', '.join(people)}."] if people else []),
        "",
    ]


def _anchor(title: str) -> str:
    """GitHub's anchor of a heading: lower case, spaces to dashes, punctuation but - and _ dropped."""
    return "".join(c for c in title.lower().replace(" ", "-") if c.isalnum() or c in "-_")


# --- the configuration ---------------------------------------------------------------------------


def _variable_rows(variables: list[Variable]) -> list[str]:
    rows = ["| variable | default | meaning | read by |", "| --- | --- | --- | --- |"]
    rows += [f"| `{v.name}` | {cell(v.shown_default)} | {cell(v.meaning)} | {cell(v.reader)} |" for v in variables]
    return rows


def render_configuration(variables: Mapping[str, Variable] = VARIABLES) -> str:
    """Every environment variable citylake reads: its default, meaning and reader."""
    own = [v for v in variables.values() if not v.standard]
    other = [v for v in variables.values() if v.standard]
    lines = _header("Configuration reference", "citylake/config/variables.py")
    lines += [
        "Every setting is an environment variable; the embedded default needs none. A variable set to a "
        "blank value counts as unset. `<repo>` is the checkout; `<lake>` the lake root.",
        "",
        "## citylake's variables",
        "",
        *_variable_rows(own),
        "",
        "## Other tools' variables citylake reads",
        "",
        "Standard variables of the AWS SDK, the JDK and OpenLineage; their tools read them too.",
        "",
        *_variable_rows(other),
    ]
    return "\n".join(lines) + "\n"


# --- all pages -----------------------------------------------------------------------------------


def render_all(parser: argparse.ArgumentParser, exit_codes: Mapping[str, int], registry: Registry) -> dict[str, str]:
    """Every page, by its path under the repository."""
    return {
        CLI: render_cli(parser, exit_codes),
        CONFIGURATION: render_configuration(),
        REGISTRY: reference_formats.render_registry(),
        LAKE_LAYOUT: reference_formats.render_lake_layout(registry),
    }


def stale(pages: Mapping[str, str], root: Path) -> list[str]:
    """The pages whose committed copy under ``root`` differs from ``pages`` (or is missing)."""
    out = []
    for rel, text in pages.items():
        path = root / rel
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            out.append(rel)
    return out


def write(pages: Mapping[str, str], root: Path) -> list[str]:
    """Write the pages that changed; returns them."""
    changed = stale(pages, root)
    for rel in changed:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(pages[rel], encoding="utf-8")
    return changed

