"""The generated reference pages (docs/reference/cli.md, configuration.md, registry.md,
lake-layout.md) are current, and every configuration variable is declared and read in one place
(citylake/config/variables.py). No Spark."""

from __future__ import annotations

import argparse
import ast
import re
from pathlib import Path

import pytest

from citylake.cli import build_parser, output
from citylake.cli import reference as entry
from citylake.config.variables import REPO_ROOT, VARIABLES
from citylake.lake import ZONES
from citylake.pages import reference

SOURCES = sorted(p for d in ("citylake", "jobs", "dags") for p in (REPO_ROOT / d).rglob("*.py"))
VARIABLES_MODULE = REPO_ROOT / "citylake" / "config" / "variables.py"


@pytest.fixture(scope="module")
def pages() -> dict[str, str]:
    return entry.pages()


@pytest.mark.parametrize("rel", reference.PAGES)
def test_committed_page_is_current(pages, rel):
    path = REPO_ROOT / rel
    committed = path.read_text(encoding="utf-8") if path.exists() else ""
    assert committed == pages[rel], f"{rel} is stale: run `make docs-reference`"


def test_pages_do_not_depend_on_this_shell(monkeypatch, pages):
    """serve-sql's --port default comes from CITYLAKE_SQL_PORT: the page shows the declared default."""
    monkeypatch.setenv("CITYLAKE_SQL_PORT", "12345")
    monkeypatch.setenv("CITYLAKE_LAKE_ROOT", "/somewhere/else")
    assert entry.pages() == pages
    assert build_parser().parse_args(["serve-sql"]).port == 12345  # and the variable still applies


def test_every_command_and_subcommand_is_in_the_cli_page():
    text = (REPO_ROOT / reference.CLI).read_text(encoding="utf-8")
    paths = [path for path, _, _ in reference.commands(build_parser())]
    assert {"run", "registry validate", "subject verify-ledger", "landing presign"} <= set(paths)
    for path in paths:
        assert f"\n### citylake {path}\n" in text, f"`citylake {path}` is not in {reference.CLI}"


def test_every_exit_code_has_a_meaning():
    codes = {n: v for n, v in vars(output).items() if n.startswith("EXIT_")}
    assert codes == {"EXIT_OK": 0, "EXIT_ERROR": 1, "EXIT_USAGE": 2, "EXIT_PARTIAL": 3, "EXIT_BUSY": 4,
                     "EXIT_INFRA": 5, "EXIT_INTERRUPTED": 130}  # fmt: skip
    assert codes.keys() <= reference.EXIT_MEANING.keys()


def test_a_json_flag_without_a_declared_shape_fails_the_render():
    parser = argparse.ArgumentParser(prog="citylake")
    sub = parser.add_subparsers()
    sub.add_parser("run").add_argument("--json", action="store_true")  # declared
    sub.add_parser("brand-new").add_argument("--json", action="store_true")
    with pytest.raises(ValueError, match="no JSON shape declared for brand-new"):
        reference.render_cli(parser, {"EXIT_OK": 0})


def test_every_zone_contract_and_mart_is_in_the_lake_layout(registry):
    text = (REPO_ROOT / reference.LAKE_LAYOUT).read_text(encoding="utf-8")
    for zone in ZONES:
        assert f"| `{zone}` |" in text
    for name in registry.contracts:
        assert f"| `bronze.{name}` |" in text and f"| `silver.{name}` |" in text
    for name in registry.marts:
        assert f"| `gold.{name}` |" in text


def test_stale_pages_are_named_and_written(tmp_path, pages):
    assert reference.stale(pages, tmp_path) == list(pages)
    assert reference.write(pages, tmp_path) == list(pages)
    assert reference.stale(pages, tmp_path) == []
    (tmp_path / reference.CONFIGURATION).write_text("edited by hand\n", encoding="utf-8")
    assert reference.stale(pages, tmp_path) == [reference.CONFIGURATION]


# --- configuration variables -------------------------------------------------------------------

_MENTION = re.compile(r"CITYLAKE_[A-Z0-9_]+")


def test_every_citylake_variable_named_in_the_code_is_declared():
    undeclared = set()
    for path in SOURCES:
        for name in _MENTION.findall(path.read_text(encoding="utf-8")):
            family = name.endswith("_")  # as in "CITYLAKE_SQL_LDAP_*"
            if not (any(v.startswith(name) for v in VARIABLES) if family else name in VARIABLES):
                undeclared.add(f"{path.relative_to(REPO_ROOT)}: {name}")
    assert not undeclared, f"declare these in citylake/config/variables.py: {sorted(undeclared)}"


_ENVIRON = {"os.environ", "environ"}
_GETTERS = {"os.environ.get", "os.getenv", "environ.get", "getenv", "os.environ.setdefault"}


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def environment_reads(source: str) -> list[tuple[int, str]]:
    """(line, name) of each read of a CITYLAKE_ variable straight from the environment: a getter
    (or an alias of one) called with it, ``os.environ[...]``, ``... in os.environ`` or a pop whose
    value is used; the name as a literal or a module-level constant."""
    tree = ast.parse(source)
    consts: dict[str, str] = {}
    aliases = set(_GETTERS)
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            pairs = [(t, node.value) for t in node.targets]
            for target, value in list(pairs):
                if isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple):
                    pairs += list(zip(target.elts, value.elts, strict=False))
            for target, value in pairs:
                if isinstance(target, ast.Name) and isinstance(value, ast.Constant) and isinstance(value.value, str):
                    consts[target.id] = value.value
                if isinstance(target, ast.Name) and _dotted(value) in _GETTERS:
                    aliases.add(target.id)
    discarded = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr)}

    def key(node: ast.AST | None) -> str:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        return consts.get(node.id, "") if isinstance(node, ast.Name) else ""

    out = []
    for node in ast.walk(tree):
        name = ""
        if isinstance(node, ast.Call) and node.args:
            func = _dotted(node.func)
            popped = func in {f"{e}.pop" for e in _ENVIRON} and id(node) not in discarded
            if func in aliases or popped:
                name = key(node.args[0])
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and _dotted(node.value) in _ENVIRON:
            name = key(node.slice)
        elif isinstance(node, ast.Compare) and any(_dotted(c) in _ENVIRON for c in node.comparators):
            name = key(node.left)
        if name.startswith("CITYLAKE_"):
            out.append((node.lineno, name))
    return sorted(out)


def test_the_scan_finds_every_way_of_reading_a_variable():
    source = '''
import os
NAME = "CITYLAKE_F"
A, B = "CITYLAKE_G", "OTHER"
os.environ.get("CITYLAKE_A", "")
os.getenv("CITYLAKE_B")
x = os.environ["CITYLAKE_C"]
if "CITYLAKE_D" in os.environ: pass
env = os.environ.get
env("CITYLAKE_E")
os.environ.get(NAME)
os.environ.get(A), os.environ.get(B)
y = os.environ.pop("CITYLAKE_H", None)
os.environ.pop("CITYLAKE_PII_KEY", None)  # removing it reads nothing
os.environ["CITYLAKE_I"] = "set"  # nor does setting it
'''
    assert [n for _, n in environment_reads(source)] == [f"CITYLAKE_{c}" for c in "ABCDEFGH"]


def test_only_the_variables_module_reads_citylake_variables_from_the_environment():
    found = [f"{path.relative_to(REPO_ROOT)}:{line}: {name}" for path in SOURCES if path != VARIABLES_MODULE
             for line, name in environment_reads(path.read_text(encoding="utf-8"))]  # fmt: skip
    assert not found, f"read these with citylake.config.variables.read: {found}"


def test_the_variables_module_is_found_by_the_scan():
    assert VARIABLES_MODULE in SOURCES and Path(reference.__file__).is_relative_to(REPO_ROOT)
