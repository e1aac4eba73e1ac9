"""Loading the registry from YAML under schemas/ (``contracts/*.yaml``, ``units/*.yaml``,
``marts/*.yaml``), validated in full: every problem is reported with its file, field and reason
before any Spark work starts."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from citylake.config.registry.models import FeedContract, MartDoc, Registry, SourceUnit

FIELD_PREFIX = re.compile(r"^([a-z_]+): ")
# libyaml's parser: with 250 units, filling Airflow's DagBag from dags/ took 0.35 s with
# PyYAML's pure-Python one and 0.19 s with this, paid by the DAG processor, each task and CLI run
FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Problem:
    file: str
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.reason}"


class RegistryError(Exception):
    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def _loc(loc: tuple[Any, ...], doc: Any) -> str:
    """Turn a pydantic location into a readable path, naming list items by their id."""
    parts: list[str] = []
    node = doc
    for item in loc:
        if isinstance(item, int) and isinstance(node, list) and item < len(node):
            entry = node[item]
            label = None
            if isinstance(entry, dict):
                label = entry.get("feed") or entry.get("name")
            parts[-1:] = [f"{parts[-1] if parts else ''}[{label or item}]"]
            node = entry
        else:
            parts.append(str(item))
            node = node.get(item) if isinstance(node, dict) else None
    return ".".join(parts) or "(file)"


def _read_yaml(path: Path, problems: list[Problem]) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        problems.append(Problem(str(path), "(file)", f"not UTF-8 text: {exc.reason} at byte {exc.start}"))
        return None
    try:
        return yaml.load(text, Loader=FAST_LOADER)
    except yaml.YAMLError:
        pass
    try:  # the pure-Python parser says what it found ("expected ',' or ']', but got ':'")
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        problems.append(Problem(str(path), where, f"invalid YAML: {getattr(exc, 'problem', exc)}"))
    return None


def _parse(model: type[BaseModel], path: Path, problems: list[Problem]) -> Any:
    doc = _read_yaml(path, problems)
    if doc is None:
        if not problems or problems[-1].file != str(path):
            problems.append(Problem(str(path), "(file)", "file is empty"))
        return None
    if not isinstance(doc, dict):
        problems.append(Problem(str(path), "(file)", f"expected a mapping, got {type(doc).__name__}"))
        return None
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        for err in exc.errors():
            msg = err["msg"].removeprefix("Value error, ")
            loc = tuple(err["loc"])
            # Cross-field rules name their field as "field: reason"; put it in the location.
            named = FIELD_PREFIX.match(msg)
            if named and err["type"] == "value_error":
                loc, msg = (*loc, named.group(1)), msg[named.end() :]
            if err["type"] == "extra_forbidden":
                msg = "unknown field (typo?)"
            problems.append(Problem(str(path), _loc(loc, doc), msg))
        return None


def _by_name(
    model: type[BaseModel], paths: list[Path], key: str, problems: list[Problem], keep: bool = False
) -> dict[str, Any]:
    """Each file's model by its id (``key``), which must equal the file name; ``keep``: keep a
    misnamed one too (a contract, so its units' feeds are still checked against it)."""
    out: dict[str, Any] = {}
    for path in paths:
        doc = _parse(model, path, problems)
        if doc is None:
            continue
        name = getattr(doc, key)
        if name != path.stem:
            problems.append(Problem(str(path), key, f"{name!r} must equal the file name {path.stem!r}"))
            if not keep:
                continue
        out[name] = doc
    return out


def load_registry(root: Path | str | None = None) -> Registry:
    """Load and validate everything under ``root`` (default: the configured schemas/ dir)."""
    if root is None:
        from citylake.config.settings import load_settings

        root = load_settings().registry_dir
    root = Path(root)
    problems: list[Problem] = []
    contract_files = sorted((root / "contracts").glob("*.yaml"))
    unit_files = sorted((root / "units").glob("*.yaml"))
    if not contract_files:
        problems.append(Problem(str(root / "contracts"), "(dir)", "no feed contracts found"))
    if not unit_files:
        problems.append(Problem(str(root / "units"), "(dir)", "no source units found"))
    contracts: dict[str, FeedContract] = _by_name(
        FeedContract, contract_files, "contract", problems, keep=True
    )
    units: dict[str, SourceUnit] = _by_name(SourceUnit, unit_files, "unit", problems)
    for u in units.values():
        path = root / "units" / f"{u.unit}.yaml"
        for spec in u.feeds:
            if spec.contract not in contracts:
                known = ", ".join(sorted(contracts)) or "none"
                problems.append(
                    Problem(
                        str(path),
                        f"feeds[{spec.feed}].contract",
                        f"unknown contract {spec.contract!r} (known: {known})",
                    )
                )
            elif spec.coord_system is None and contracts[spec.contract].coordinates is not None:
                problems.append(
                    Problem(
                        str(path),
                        f"feeds[{spec.feed}].coord_system",
                        "contract has coordinates, so the feed must declare wgs84, gcj02 or bd09",
                    )
                )
    marts: dict[str, MartDoc] = _by_name(MartDoc, sorted((root / "marts").glob("*.yaml")), "mart", problems)
    for m in marts.values():
        for ref in m.inputs:
            zone, name = ref.split(".", 1)
            if zone == "silver" and name not in contracts:
                problems.append(
                    Problem(
                        str(root / "marts" / f"{m.mart}.yaml"),
                        "inputs",
                        f"{ref!r}: no feed contract {name!r}",
                    )
                )
    if problems:
        raise RegistryError(problems)
    return Registry(contracts=contracts, units=units, root=root, marts=marts)
