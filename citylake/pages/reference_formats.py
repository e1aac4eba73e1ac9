"""Two of the generated reference pages (citylake.pages.reference): the registry's file formats,
from its pydantic models, and the lake's layout, from the zones, the registry and the tables'
declared columns."""

from __future__ import annotations

import csv
import inspect
import re
import types
import typing
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from citylake.config import layers
from citylake.config.registry import FeedContract, MartDoc, Registry, SourceUnit
from citylake.config.variables import REPO_ROOT
from citylake.domain import districts
from citylake.lake import (
    TABLE_ZONES,
    ZONES,
    Lake,
    catalog,
    ledger,
    publish,
    reference,
    subject_ledger,
    suppression,
)
from citylake.lake.subjects import personal_contracts
from citylake.quality.rowchecks import DQ_FAILED

REGENERATE = "make docs-reference"

# --- the registry's files ------------------------------------------------------------------------

FILES = (
    ("Unit file", "schemas/units/<unit>.yaml", SourceUnit,
     "A source unit and the feeds it sends (each feed names the contract its records follow)."),
    ("Contract file", "schemas/contracts/<contract>.yaml", FeedContract,
     "A feed contract: the columns every feed under it delivers, its keys and checks."),
    ("Mart file", "schemas/marts/<mart>.yaml", MartDoc,
     "A gold mart's contract with its readers: grain, columns, owner, inputs and checks."),
)  # fmt: skip
_SCALARS = {str: "text", int: "integer", float: "number", bool: "boolean"}
_FIELD = re.compile(r"^    ([a-z_][a-z0-9_]*): ")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _header(what: str, source: str) -> list[str]:
    return [f"# {what}", "", f"Generated from {source} by `{REGENERATE}`; do not edit.", ""]


def _models(root: type[BaseModel]) -> Iterator[type[BaseModel]]:
    """``root`` and every model its fields hold, breadth first, each once."""
    seen: list[type[BaseModel]] = []
    queue = [root]
    while queue:
        model = queue.pop(0)
        if model in seen:
            continue
        seen.append(model)
        yield model
        queue += [m for f in model.model_fields.values() for m in _nested(f.annotation)]


def _nested(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _nested(arg)]


def _type(annotation: Any) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"[{annotation.__name__}](#{annotation.__name__.lower()})"
    if origin is typing.Literal:
        return "one of " + ", ".join(f"`{a}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        kinds = [_type(a) for a in args if a is not type(None)]
        return " or ".join(kinds) + (" or null" if type(None) in args else "")
    if origin is tuple:
        return f"list of {_type(args[0])}"
    return _SCALARS.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _rules(field: FieldInfo) -> list[str]:
    """The constraints and value rules pydantic holds for a field."""
    out = []
    for m in field.metadata:
        for attr, text in (("ge", "at least {}"), ("le", "at most {}"), ("min_length", "at least {} item(s)")):
            if getattr(m, attr, None) is not None:
                out.append(text.format(getattr(m, attr)))
        func = getattr(m, "func", None)
        if func is not None:
            rule = inspect.getclosurevars(func).nonlocals.get("rule")
            doc = (func.__doc__ or "").strip().splitlines()
            out += [f"must {rule}"] if rule else [doc[0][:1].lower() + doc[0][1:].rstrip(".")] if doc else []
    return out


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    value = field.default
    if value is PydanticUndefined or isinstance(value, BaseModel):
        return "its defaults"
    if value is None:
        return "null"
    if value in ((), ""):
        return "empty"
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1 << 10 and value % (1 << 10) == 0:
        unit = next(u for s, u in ((30, "GiB"), (20, "MiB"), (10, "KiB")) if value % (1 << s) == 0)
        shift = {"GiB": 30, "MiB": 20, "KiB": 10}[unit]
        return f"`{value}` ({value >> shift} {unit})"
    return f"`{str(value).lower() if isinstance(value, bool) else value}`"


def field_comments(model: type[BaseModel]) -> dict[str, str]:
    """Each field's comment in the model's source: the comment lines just above it, and a
    comment after it on its line."""
    out: dict[str, str] = {}
    pending: list[str] = []
    for line in inspect.getsource(model).splitlines()[1:]:
        stripped = line.strip()
        if stripped.startswith("#"):
            pending.append(stripped.lstrip("#").strip())
            continue
        m = _FIELD.match(line)
        if m:
            inline = line.split("  # ", 1)[1].strip() if "  # " in line else ""
            out[m.group(1)] = " ".join([*pending, inline]).strip()
        pending = []
    return out


def _model_section(model: type[BaseModel]) -> list[str]:
    doc = " ".join((inspect.getdoc(model) or "").split()) if model.__doc__ else ""
    comments = field_comments(model)
    lines = [f"### {model.__name__}", ""] + ([doc, ""] if doc else [])
    lines += ["| field | type | default | meaning |", "| --- | --- | --- | --- |"]
    for name, field in model.model_fields.items():
        meaning = "; ".join(p for p in [field.description or comments.get(name, ""), *_rules(field)] if p)
        lines.append(f"| `{name}` | {_type(field.annotation)} | {_default(field)} | {_cell(meaning)} |")
    return [*lines, ""]


def render_registry() -> str:
    """The registry's file formats: each YAML file's fields, from the pydantic models that load it."""
    lines = _header("Registry file formats", "the pydantic models in citylake/config/registry/")
    lines += [
        "The registry is YAML under `CITYLAKE_REGISTRY_DIR` (default `schemas/`), validated in full when it "
        "is loaded (`citylake registry validate`): an unknown field is an error, and each file's id must "
        "equal its file name. Rules that span fields (a reference contract has no `event_time`, a district "
        "bureau names its district, ...) are in the models' validators, not listed here.",
        "",
    ]
    for title, path, model, about in FILES:
        lines += [f"## {title}: `{path}`", "", f"{about} Model: `{model.__module__}.{model.__name__}`.", ""]
        for m in _models(model):
            lines += _model_section(m)
    return "\n".join(lines)


# --- the lake's layout ---------------------------------------------------------------------------

# What each zone holds (citylake/lake/__init__.py ZONES); a new zone without a line fails the render.
ZONE_HOLDS = {
    "landing": "files as the units deliver them, until a run has finished with them",
    "bronze": "one Delta table per contract: every record as sent (personal data in clear), append-only; "
    "`_landed/` keeps the loaded files",
    "silver": "one Delta table per contract: conformed, deduplicated, personal data as keyed hashes",
    "gold": "one Delta table per mart",
    "published": "per mart, Parquet snapshots of a validated gold version and the manifest naming the current one",
    "quarantine": "records and files set aside, with the reason",
    "_system": "the lake's bookkeeping: manifest, ledgers, results, progress, and the lock, GX project, "
    "lineage, staging and reports folders",
    "restricted": "restricted data subjects' silver rows (PIPL Art. 47(2)): no catalog registers this zone",
}


def _ddl(ddl: str) -> list[tuple[str, str]]:
    """(name, type) of a table's DDL string in citylake/lake (``name TYPE [NOT NULL], ...``)."""
    out = []
    for part in ddl.split(", "):
        name, typ, *rest = part.split(" ")
        out.append((name, typ.lower() + (" not null" if rest == ["NOT", "NULL"] else "")))
    return out


def _columns(cols: list[tuple[str, str]]) -> str:
    return ", ".join(f"`{n}` {t}" for n, t in cols)


def _table(rows: list[tuple[str, str, str]]) -> list[str]:
    out = ["| table | columns | columns from |", "| --- | --- | --- |"]
    return out + [f"| `{t}` | {_cell(c)} | {_cell(s)} |" for t, c, s in rows] + [""]


def _inferred(rows: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(name, type) of rows delta-rs writes as given (pyarrow infers the types)."""
    import pyarrow as pa

    names = {"int64": "long", "int32": "int", "bool": "boolean"}
    return [(f.name, names.get(str(f.type), str(f.type))) for f in pa.Table.from_pylist(rows).schema]


def _system_tables() -> list[tuple[str, str, str]]:
    declared = [(n, ddl, f"`citylake.lake.ledger.TABLES` ({n})") for (z, n), ddl in ledger.TABLES.items()
                if z == "_system"]  # fmt: skip
    declared += [
        (subject_ledger.SUBJECT_REQUESTS, subject_ledger.DDL, "`citylake.lake.subject_ledger.DDL`"),
        (suppression.SUPPRESSION, suppression.SUPPRESSION_DDL, "`citylake.lake.suppression.SUPPRESSION_DDL`"),
    ]
    rows = [(f"ops.{n}", _columns(_ddl(ddl)), src) for n, ddl, src in declared]
    divisions = _inferred(reference.stdnum_divisions())
    rows.append((f"ops.{reference.DIVISION_CODES}", _columns(divisions),
                 "`citylake.lake.reference.stdnum_divisions` (types inferred by pyarrow)"))  # fmt: skip
    with districts.CROSSWALK.open(encoding="utf-8") as fh:
        header = next(csv.reader(fh))
    rows.append((f"ops.{reference.CROSSWALK_TABLE}", _columns([(h, "string") for h in [*header, "source"]]),
                 f"the header of `{districts.CROSSWALK.relative_to(REPO_ROOT)}`, "
                 "and `source` (its sha256)"))  # fmt: skip
    return sorted(rows)


def render_lake_layout(registry: Registry) -> str:
    """The lake's zones, and each zone's tables with their columns and where those come from."""
    missing = [z for z in ZONES if z not in ZONE_HOLDS]
    if missing:
        raise ValueError(f"no description of zone(s) {missing} in citylake/pages/reference_formats.py")
    lake = Lake("<root>")
    lines = _header("Lake layout", "citylake/lake/ (zones, paths, table columns) and the registry (schemas/)")
    lines += [
        "The lake is a root folder (`CITYLAKE_LAKE_ROOT`) with one folder per zone, or a bucket per zone when "
        "the root holds `{zone}` (`_system` then lives in `...-system`). Tables are Delta tables, one folder "
        "each; the catalog (`citylake query`, the SQL endpoint) names them `<database>.<table>`.",
        "",
        "| zone | path | holds | catalog database |",
        "| --- | --- | --- | --- |",
    ]
    for z in ZONES:
        db = f"`{catalog.DATABASE[z]}`" if z in TABLE_ZONES else "none"
        lines.append(f"| `{z}` | `{lake.zone(z)}/` | {_cell(ZONE_HOLDS[z])} | {db} |")
    meta = [n for n, _ in layers.SILVER_META]
    lines += [
        "",
        "Paths built by `citylake.lake.Lake`:",
        "",
        f"- a delivery: `{lake.landing_dir('<unit>', '<feed>', '<date>')}/<file>`",
        f"- a rejected file's copy: `{lake.rejected_file_copy('<date>', '<unit>', '<feed>', '<file>')}`",
        f"- a table: `{lake.table('silver', '<table>')}` (and so in every zone)",
        f"- a mart's published snapshot: `{lake.zone('published')}/<mart>/{publish.MANIFEST}` (names the "
        "current `v<version>/` folder of Parquet files, with their checksums and the schema)",
        "",
        "## bronze",
        "",
        f"Each contract's table: its columns as declared in the contract (values as sent), then "
        f"{_columns(list(layers.BRONZE_META))} (`citylake.config.layers.BRONZE_META`), then `{DQ_FAILED}` "
        "array<string> (the ids of the row-level expectations the record breaks, "
        "`citylake.quality.rowchecks.DQ_FAILED`). Built by `jobs.bronze_transform.bronze_schema`.",
        "",
    ]
    lines += _table([(f"bronze.{c.contract}", _columns([(col.name, col.type) for col in c.columns]),
                      f"`schemas/contracts/{c.contract}.yaml`") for c in registry.contracts.values()])  # fmt: skip
    lines += [
        "## silver",
        "",
        f"Each contract's table, from `citylake.config.layers.silver_columns`: identifiers as keyed hashes, "
        f"codes and coordinates normalised (with the values as sent), then the lineage columns every silver "
        f"table has: {_columns(list(layers.SILVER_META))} (`citylake.config.layers.SILVER_META`, left out "
        "below). Meanings: [the data dictionary](../data_dictionary.md).",
        "",
    ]
    silver = {c.contract: [col for col in layers.silver_columns(c) if col[0] not in meta]
              for c in registry.contracts.values()}  # fmt: skip
    lines += _table([(f"silver.{name}", _columns(cols), "`citylake.config.layers.silver_columns`")
                     for name, cols in silver.items()])  # fmt: skip
    lines += ["## gold", "", "Each mart's table: the columns its mart file declares.", ""]
    lines += _table([(f"gold.{d.mart}", _columns([(c.name, c.type) for c in d.columns]),
                      f"`schemas/marts/{d.mart}.yaml`") for d in registry.marts.values()])  # fmt: skip
    lines += ["## quarantine", ""]
    lines += _table([(f"quarantine.{n}", _columns(_ddl(ddl)), f"`citylake.lake.ledger.TABLES` ({n})")
                     for (z, n), ddl in ledger.TABLES.items() if z == "quarantine"])  # fmt: skip
    lines += ["## _system (database `ops`)", ""]
    lines += _table(_system_tables())
    lines += [
        "Also `ops.task_failures` (Airflow task failures; its columns are declared in "
        "`citylake.runs.tasks`, above this page's layer, so not listed here).",
        "",
        "## restricted",
        "",
        "Each contract with a data subject's identifier (`citylake.lake.subjects.personal_contracts`) "
        "gets a table with silver's columns when a subject of it is restricted.",
        "",
    ]
    lines += _table([(f"restricted/{name}", f"as `silver.{name}`", "`citylake.config.layers.silver_columns`")
                     for name in sorted(personal_contracts(registry))])  # fmt: skip
    return "\n".join(lines)
