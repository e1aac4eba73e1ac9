"""The command line behaves like its peers (dbt, Airflow, Kedro): --version, one-line errors with
--debug for the traceback, Ctrl-C as exit 130, the lake's date as the default date. No JVM."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from zoneinfo import ZoneInfo

import pytest

from citylake import cli
from citylake.config.registry import load_registry
from citylake.config.settings import REPO_ROOT


def test_version_names_the_stack_the_lake_and_the_registry(tmp_path):
    env = {"CITYLAKE_LAKE_ROOT": str(tmp_path / "lake"), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-m", "citylake.cli", "--version"], capture_output=True, text=True,
                          env=env, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    from importlib.metadata import version

    out = proc.stdout
    assert out.startswith(f"citylake {version('citylake')}\n")
    for dist, label in (("pyspark", "Spark"), ("delta-spark", "Delta Lake"), ("great_expectations", "Great Expectations")):
        assert f"{label} {version(dist)}" in out
    assert f"lake root: {tmp_path / 'lake'}" in out
    reg = load_registry(REPO_ROOT / "schemas")
    assert (f"{len(reg.units)} units, {sum(1 for _ in reg.feeds())} feeds, {len(reg.contracts)} contracts, "
            f"{len(reg.marts)} marts") in out  # fmt: skip
    assert not (tmp_path / "lake").exists()  # it names the root, it does not make one


def _failing(exc: BaseException):
    def func(_args):
        raise exc

    return func


def test_an_unexpected_error_is_one_line_and_debug_shows_the_traceback(monkeypatch, capsys):
    parser = cli.build_parser()
    args = parser.parse_args(["catalog"])
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    monkeypatch.setattr(parser, "parse_args", lambda argv=None: args)
    args.func = _failing(RuntimeError("the thing broke\nsecond line"))
    assert cli.main(["catalog"]) == 1
    err = capsys.readouterr().err
    assert err == "citylake catalog: RuntimeError: the thing broke (--debug shows the traceback)\n"
    args.debug = True
    with pytest.raises(RuntimeError, match="the thing broke"):
        cli.main(["--debug", "catalog"])


def test_ctrl_c_exits_130_with_a_line(monkeypatch, capsys):
    parser = cli.build_parser()
    args = parser.parse_args(["catalog"])
    args.func = _failing(KeyboardInterrupt())
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    monkeypatch.setattr(parser, "parse_args", lambda argv=None: args)
    assert cli.main(["catalog"]) == 130
    assert capsys.readouterr().err == "citylake catalog: interrupted\n"


def test_a_real_sigint_exits_130(tmp_path):
    """A process interrupted while it works (here: waiting for the lake lock) exits 130."""
    import signal
    import time

    code = ("import time, citylake.cli as c, citylake.cli.observe as o\n"
            "o.cmd_catalog = lambda a: time.sleep(60)\n"
            "import sys; print('ready', flush=True); sys.exit(c.main(['catalog']))\n")  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={"CITYLAKE_LAKE_ROOT": str(tmp_path), "PATH": "/usr/bin:/bin"})  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and err.strip() == "citylake catalog: interrupted"


def test_dates_default_to_today_in_shanghai():
    from citylake.engine.clock import lake_today

    assert lake_today() == dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()
    status = next(a for a in cli.build_parser()._subparsers._group_actions[0].choices["status"]._actions
                  if a.dest == "as_of")  # fmt: skip
    assert status.default is None and "Asia/Shanghai" in (status.help or "")


@pytest.mark.parametrize(
    ("argv", "want"),
    [
        (["generate", "--date", "2026-11-20", "--units", "a", "b"], ("a", "b")),
        (["generate", "--date", "2026-11-20", "--units", "a,b"], ("a", "b")),
        (["run", "--date", "2026-11-20", "--units", "a,b"], ("a", "b")),
        (["run", "--date", "2026-11-20", "--units", "a", "b,c", "a", "--json"], ("a", "b", "c")),
    ],
)
def test_lists_are_accepted_the_same_way_everywhere(argv, want):
    args = cli.build_parser().parse_args(argv)
    assert args.units == want


def test_list_options_default_to_everything():
    parser = cli.build_parser()
    assert parser.parse_args(["run", "--date", "2026-11-20"]).units == ()
    assert parser.parse_args(["marts", "--date", "2026-11-20"]).marts == ()
    assert parser.parse_args(["marts", "--date", "2026-11-20", "--marts", "m1", "m2"]).marts == ("m1", "m2")
