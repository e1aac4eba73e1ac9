"""One --json convention across the command line (docs/reference/cli.md, "Conventions"): every
command that lists or reports takes --json, with one help text and a declared shape, and then
prints exactly one JSON value on stdout; progress and messages go to stderr. No JVM."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from citylake import cli
from citylake.cli.output import JSON_HELP, console_for, print_json
from citylake.config.settings import REPO_ROOT
from citylake.pages import reference

# the commands that list or report something: each takes --json
LIST_OR_REPORT = frozenset({
    "generate", "run", "marts", "maintain", "rekey", "registry validate", "registry init-suites", "registry list",
    "landing new", "landing tidy", "landing presign", "report", "catalog", "status", "docs", "query",
    "subject locate", "subject export", "subject erase", "subject restrict", "subject verify",
    "subject verify-ledger", "subject certificate",
})  # fmt: skip
# the commands that only act and say so to people (and the groups, which only hold subcommands)
FOR_PEOPLE = frozenset({"setup", "demo", "serve-sql", "registry", "landing", "subject"})
BUILD_PARSER = cli.build_parser
ENV = {**os.environ, "CITYLAKE_PII_KEY": "citylake-tests-only-not-a-secret"}


def _json_flags() -> dict[str, argparse.Action]:
    """The --json action of every command that has one, by the command's path."""
    out = {}
    for path, _, sub in reference.commands(cli.build_parser()):
        flags = [a for a in sub._actions if "--json" in a.option_strings]
        if flags:
            out[path] = flags[0]
    return out


def test_every_command_that_lists_or_reports_has_json():
    paths = {path for path, _, _ in reference.commands(cli.build_parser())}
    flags = _json_flags()
    assert paths >= LIST_OR_REPORT, f"not commands any more: {sorted(LIST_OR_REPORT - paths)}"
    assert sorted(LIST_OR_REPORT - flags.keys()) == []
    # a new command is one or the other: it lists or reports (then --json), or it is for people only
    assert sorted(paths - LIST_OR_REPORT - FOR_PEOPLE) == []
    assert sorted(flags.keys() - LIST_OR_REPORT) == []


def test_every_json_flag_is_the_same_switch_with_the_same_help():
    for path, action in _json_flags().items():
        assert action.help == JSON_HELP, f"citylake {path} --json: {action.help!r}"
        assert action.nargs == 0 and action.default is False and action.const is True, path


def test_json_shapes_name_exactly_the_commands_with_json():
    assert sorted(reference.JSON_SHAPES) == sorted(_json_flags())


def test_the_cli_page_states_the_convention():
    text = (REPO_ROOT / reference.CLI).read_text(encoding="utf-8")
    conventions = text.split("## Conventions\n", 1)[1].split("\n## ", 1)[0]
    assert "exactly one JSON value on stdout" in conventions and "stderr" in conventions
    assert "YYYY-MM-DD" in conventions and "+08:00" in conventions and "(#exit-codes)" in conventions


def _main_with(monkeypatch, argv: list[str], func) -> int:
    """`citylake ARGV` in this process, running ``func`` as the command."""
    parser = BUILD_PARSER()
    args = parser.parse_args(argv)
    args.func = func
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    monkeypatch.setattr(parser, "parse_args", lambda argv=None: args)
    return cli.main(argv)


def test_with_json_nothing_but_the_value_goes_to_stdout(monkeypatch, capsys):
    at = dt.datetime(2026, 11, 20, 9, 30, tzinfo=ZoneInfo("Asia/Shanghai"))

    def noisy(_args):
        print("a stray line")  # a command's or a library's: stdout is the JSON's alone
        console_for(False).print("a table for people")
        print_json({"date": at.date(), "at": at, "name": "黄浦区", "path": Path("/x")})
        return 0

    assert _main_with(monkeypatch, ["catalog", "--json"], noisy) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == {"date": "2026-11-20", "at": "2026-11-20T09:30:00+08:00", "name": "黄浦区",
                               "path": "/x"}  # fmt: skip
    assert "黄浦区" in out  # as it is, not \\u-escaped
    assert "a stray line" in err and "a table for people" in err
    assert _main_with(monkeypatch, ["catalog"], noisy) == 0  # without --json, stdout is for people
    assert "a stray line" in capsys.readouterr().out


def test_maintain_prints_lines_for_people_and_json_with_json(monkeypatch, capsys):
    from citylake.runs import tasks

    done = {"optimized": ["silver.a", "silver.b"], "vacuumed": ["silver.a"], "vacuumed_full": [],
            "staging_vacuumed": ["silver.a"]}  # fmt: skip
    monkeypatch.setattr(tasks, "maintain", lambda ds: done)
    assert cli.main(["maintain", "--date", "2026-11-20"]) == 0
    assert capsys.readouterr().out == (
        "optimized: silver.a, silver.b\nvacuumed: silver.a\nvacuumed_full: none\nstaging_vacuumed: silver.a\n"
    )
    assert cli.main(["maintain", "--date", "2026-11-20", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == done


def test_the_maintenance_task_asks_the_cli_for_json(monkeypatch):
    from citylake.runs import tasks

    asked: list[list[str]] = []
    monkeypatch.setattr(tasks, "_embedded", lambda: False)
    monkeypatch.setattr(tasks, "submitted", lambda app_args, _name: asked.append(app_args) or {})
    tasks.maintenance("2026-11-20")
    assert asked == [["maintain", "--date", "2026-11-20", "--json"]]


def _citylake(lake_root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "citylake.cli", *args], capture_output=True, text=True,
                          env={**ENV, "CITYLAKE_LAKE_ROOT": str(lake_root)}, cwd=REPO_ROOT, timeout=300)  # fmt: skip


def test_registry_validate_json(tmp_path, registry):
    proc = _citylake(tmp_path, "registry", "validate", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    feeds = sum(len(u.feeds) for u in registry.units.values())
    assert out == {"ok": True, "units": len(registry.units), "contracts": len(registry.contracts), "feeds": feeds,
                   "root": out["root"]}  # fmt: skip
    assert Path(out["root"]).resolve() == (REPO_ROOT / "schemas").resolve()
    # on a problem: nothing on stdout, the problems on stderr, exit 2
    (tmp_path / "empty").mkdir()
    bad = _citylake(tmp_path, "registry", "validate", "--json", "--root", str(tmp_path / "empty"))
    assert (bad.returncode, bad.stdout) == (2, "") and bad.stderr.startswith("registry error:")


def test_registry_list_json(tmp_path, registry):
    proc = _citylake(tmp_path, "registry", "list", "--json")
    assert proc.returncode == 0, proc.stderr
    units = json.loads(proc.stdout)
    assert [u["unit"] for u in units] == list(registry.units)
    assert all(set(u) == {"unit", "name", "feeds"} for u in units)


def test_landing_new_json_on_an_empty_lake(tmp_path):
    proc = _citylake(tmp_path, "landing", "new", "--date", "2026-11-20", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []


def test_generate_json_then_landing_new_lists_its_files(tmp_path):
    lake = tmp_path / "lake"
    proc = _citylake(
        lake, "generate", "--date", "2026-11-20", "--scale", "0.01", "--units", "op_ykc", "--json"
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert set(out) == {"date", "scale", "files", "records", "landing"}  # no subjects: no subjects_out
    assert (out["date"], out["scale"], out["landing"]) == ("2026-11-20", 0.01, f"{lake}/landing")
    assert out["files"] > 0 and out["records"] > 0
    assert f"wrote {out['files']} files" in proc.stderr  # the line for people, on stderr
    new = _citylake(lake, "landing", "new", "--date", "2026-11-20", "--json")
    assert new.returncode == 0, new.stderr
    files = json.loads(new.stdout)
    assert len(files) == out["files"] and all(f["file"].startswith("op_ykc/") for f in files)


@pytest.mark.parametrize("json_mode", [False, True])
def test_docs_dictionary_json(tmp_path, json_mode):
    target = tmp_path / "dictionary.md"
    proc = _citylake(tmp_path, "docs", "--dictionary", str(target), *(["--json"] if json_mode else []))
    assert proc.returncode == 0, proc.stderr
    assert target.is_file()
    if json_mode:
        assert json.loads(proc.stdout) == {"dictionary": str(target)}
        assert f"Data dictionary: {target}" in proc.stderr
    else:
        assert proc.stdout == f"Data dictionary: {target}\n"
