"""The landing contract for source units, in English and in Chinese, states one set of rules.

docs/units/landing-contract.md and docs/units/landing-contract.zh.md must carry the same numbers,
the same code tokens (paths, field names, commands) and the same code blocks, section for
section; and each default the pages state (limits, feed settings, settling time, URL expiry)
must be the value in the code. No Spark: the registry models and the CLI parser are plain Python.
"""

from __future__ import annotations

import argparse
import ast
import re
import typing
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from citylake.config.registry import Completeness, FeedContract, FeedLimits, FeedSpec
from citylake.config.registry.delivery import GiB, KiB, MiB
from citylake.config.settings import Settings, load_settings

REPO_ROOT = Path(__file__).resolve().parents[2]
PAGES = REPO_ROOT / "docs" / "units"
EN = PAGES / "landing-contract.md"
ZH = PAGES / "landing-contract.zh.md"
# the Chinese page ends with a glossary of its own (English term -> Chinese term)
GLOSSARY = "## 术语对照"

FENCE = re.compile(r"^[ \t]*```[^\n]*\n(.*?)^[ \t]*```[ \t]*$", re.M | re.S)
INLINE = re.compile(r"`([^`\n]+)`")
SIZE = re.compile(r"(\d+)\s*(GiB|MiB|KiB|bytes?|字节)?")
UNITS = {"GiB": GiB, "MiB": MiB, "KiB": KiB, None: 1, "byte": 1, "bytes": 1, "字节": 1}


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _rules(path: Path) -> str:
    """A page without the Chinese page's glossary, which has no English counterpart."""
    text = _text(path)
    if GLOSSARY in text:
        head, _, tail = text.partition(GLOSSARY)
        nxt = re.search(r"^## ", tail, re.M)
        text = head + (tail[nxt.start() :] if nxt else "")
    return text


def _prose(text: str) -> str:
    return FENCE.sub("", text)


def _h2(text: str) -> list[str]:
    return [line for line in _prose(text).splitlines() if line.startswith("## ")]


def _rows(text: str) -> list[list[str]]:
    """Every table row of the page, as cells."""
    rows = []
    for line in _prose(text).splitlines():
        if line.startswith("|") and not re.match(r"^\|[\s|:-]+\|$", line):
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows


def _keyed(
    text: str, keys: Iterable[str], where: Callable[[list[str]], bool] = lambda _: True
) -> dict[str, list[str]]:
    """Table rows whose first cell starts with a backticked key (a setting's name), by that key;
    the first such row ``where`` accepts."""
    wanted = set(keys)
    out: dict[str, list[str]] = {}
    for cells in _rows(text):
        m = re.match(r"^`([^`]+)`", cells[0])
        if m and m[1] in wanted and m[1] not in out and where(cells):
            out[m[1]] = cells
    return out


def _choices(annotation: object) -> tuple[object, ...]:
    """The values a Literal (or an optional Literal) allows; () for any other type."""
    if typing.get_origin(annotation) is typing.Literal:
        return typing.get_args(annotation)
    return tuple(v for a in typing.get_args(annotation) if typing.get_origin(a) is typing.Literal
                 for v in typing.get_args(a))  # fmt: skip


def _size(cell: str) -> int | None:
    """The first size in a cell ("8 MiB", "1 byte", "64", "1 字节"), or None ("no ceiling")."""
    m = SIZE.search(cell)
    return int(m[1]) * UNITS[m[2]] if m else None


@pytest.fixture(scope="module", params=[EN, ZH], ids=["en", "zh"])
def page(request) -> str:
    return _text(request.param)


def test_both_pages_exist_and_link_to_each_other():
    assert EN.is_file() and ZH.is_file()
    first_en = _text(EN).lstrip().splitlines()[0]
    first_zh = _text(ZH).lstrip().splitlines()[0]
    assert "(landing-contract.zh.md)" in first_en
    assert "(landing-contract.md)" in first_zh


def test_same_numbers():
    en, zh = (set(re.findall(r"\d+", _rules(p))) for p in (EN, ZH))
    assert en - zh == set(), f"numbers only on the English page: {sorted(en - zh)}"
    assert zh - en == set(), f"numbers only on the Chinese page: {sorted(zh - en)}"


def test_same_code_tokens():
    en, zh = (set(INLINE.findall(_prose(_rules(p)))) for p in (EN, ZH))
    assert en - zh == set(), f"code tokens only on the English page: {sorted(en - zh)}"
    assert zh - en == set(), f"code tokens only on the Chinese page: {sorted(zh - en)}"


def test_same_code_blocks():
    """Examples (unit-file YAML, reasons, commands) are the same text on both pages, in order."""
    en, zh = (FENCE.findall(_rules(p)) for p in (EN, ZH))
    assert en and en == zh


def test_same_sections():
    en, zh = _h2(_rules(EN)), _h2(_rules(ZH))
    assert len(en) == len(zh) >= 9
    # the sections are numbered alike, so they come in the same order
    assert [h.split()[1] for h in en] == [h.split()[1] for h in zh]


def test_chinese_page_ends_with_a_glossary():
    text = _text(ZH)
    assert GLOSSARY in text
    glossary = text.partition(GLOSSARY)[2]
    terms = {cells[0] for cells in _rows(glossary)}
    joined = " ".join(terms)
    for term in ("landing", "feed", "contract", "quarantine", "bronze", "duplicate", "conflict", "manifest"):
        assert term in joined, f"glossary has no entry for {term!r}"


def test_limit_defaults_and_ranges_match_the_code(page):
    """The limits table: default, lowest and highest value of every FeedLimits field."""
    fields = FeedLimits.model_fields
    rows = _keyed(page, fields)
    assert set(rows) == set(fields), f"limits missing from the table: {sorted(set(fields) - set(rows))}"
    defaults = FeedLimits()
    for name, info in fields.items():
        _, default, lowest, highest = rows[name][:4]
        bounds = {type(m).__name__: m for m in info.metadata}
        assert _size(default) == getattr(defaults, name), f"{name}: default {default!r}"
        assert _size(lowest) == bounds["Ge"].ge, f"{name}: lowest {lowest!r}"
        ceiling = bounds["Le"].le if "Le" in bounds else None
        assert _size(highest) == ceiling, f"{name}: highest {highest!r}"


def test_feed_setting_defaults_match_the_code(page):
    """The feed settings table: each default, and every value a fixed choice allows."""
    rows = _keyed(page, FeedSpec.model_fields)
    assert {"format", "encoding", "compression", "delimiter", "header_language", "multiline"} <= set(rows)
    for name, cells in rows.items():
        info = FeedSpec.model_fields[name]
        values, default = cells[1], cells[2]
        shown = INLINE.findall(default)
        inherited = FeedContract.model_fields.get(name)
        if not info.is_required() and info.default is not None:
            want = str(info.default).lower() if isinstance(info.default, bool) else str(info.default)
        elif inherited is not None and isinstance(inherited.default, str):
            want = inherited.default  # unset on the feed: the contract's, whose default the page gives
        else:
            assert not shown, f"{name}: the code has no default, the page shows {shown}"
            continue
        assert shown[:1] == [want], f"{name}: default {default!r}, the code's is {want!r}"
        allowed = {str(v) for v in _choices(info.annotation)}
        assert allowed <= set(INLINE.findall(values)), f"{name}: values {values!r}, the code allows {allowed}"


def test_completeness_defaults_match_the_code(page):
    rule = Completeness.model_fields["rule"]
    rules = _keyed(page, typing.get_args(rule.annotation))
    assert set(rules) == set(typing.get_args(rule.annotation))
    default_row = rules[Completeness().rule]
    assert re.search(r"default|默认", default_row[0]), "the default rule is not marked as the default"
    assert f'`marker: "{Completeness().marker}"`' in page


def _presign_expires() -> int:
    from citylake.cli import landing

    parser = argparse.ArgumentParser()
    landing.add_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["landing", "presign", "--unit", "u", "--feed", "f", "--date", "2026-11-20", "--name", "x.csv"]
    )
    return int(args.expires)


def _module_constant(path: Path, name: str) -> int:
    """A module-level integer constant, read without importing the module (jobs import Spark)."""
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return int(ast.literal_eval(node.value))
    raise AssertionError(f"{name} not found in {path}")


def _first_json_lines() -> int:
    """How many lines preflight reads for a JSON lines file's first object (check_jsonl)."""
    src = (REPO_ROOT / "citylake" / "lake" / "preflight_formats.py").read_text(encoding="utf-8")
    m = re.search(r"if lineno > (\d+):", src)
    assert m, "check_jsonl's line cap not found"
    return int(m[1])


def _settle_default(monkeypatch: pytest.MonkeyPatch) -> float:
    """The settling time when CITYLAKE_LANDING_SETTLE_S is unset (tests/conftest.py sets it to 0)."""
    monkeypatch.delenv("CITYLAKE_LANDING_SETTLE_S", raising=False)
    settled = load_settings().landing_settle_s
    assert settled == Settings().landing_settle_s, "the variable's default and Settings' disagree"
    return settled


def test_other_numbers_match_the_code(page, monkeypatch):
    expected = {
        "CITYLAKE_LANDING_SETTLE_S": _settle_default(monkeypatch),
        "--expires": _presign_expires(),
        "duplicate": _module_constant(REPO_ROOT / "jobs" / "bronze_ingest.py", "RECOVERY_WINDOW_DAYS"),
        "jsonl": _first_json_lines(),
    }
    rows = _keyed(page, expected, where=lambda cells: bool(re.match(r"\d", cells[1])))
    assert set(rows) == set(expected), f"missing from the table of other numbers: {set(expected) - set(rows)}"
    for key, value in expected.items():
        assert _size(rows[key][1]) == value, f"{key}: the page says {rows[key][1]!r}, the code {value}"
