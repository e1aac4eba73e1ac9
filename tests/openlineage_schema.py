"""Validate OpenLineage run events offline, against the spec copy in ../shared/openlineage-spec.

The run event is checked against ``OpenLineage.json``; every facet whose ``_schemaURL`` names a
standard facet of the spec is checked against that facet's own schema as well. Facets of a
producer's own (Spark's ``spark_properties``, Airflow's ``airflow``) have only the base facet's
rules, which the event schema applies.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from citylake.config.settings import REPO_ROOT

SPEC = REPO_ROOT.parent / "shared" / "openlineage-spec"


@cache
def _registry() -> tuple[Any, dict[str, str]]:
    from referencing import Registry, Resource

    resources, by_name = [], {}
    for path in [SPEC / "OpenLineage.json", *sorted((SPEC / "facets").glob("*.json"))]:
        doc = json.loads(path.read_text())
        resources.append((doc["$id"], Resource.from_contents(doc)))
        by_name[path.stem] = doc["$id"]
    return Registry().with_resources(resources), by_name


def _validator(ref: str) -> Any:
    from jsonschema import Draft202012Validator

    registry, _ = _registry()
    return Draft202012Validator(
        {"$ref": ref}, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def _facets(event: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = list(event["run"].get("facets", {}).items()) + list(event["job"].get("facets", {}).items())
    for ds in [*event.get("inputs", []), *event.get("outputs", [])]:
        for key in ("facets", "inputFacets", "outputFacets"):
            found += list(ds.get(key, {}).items())
    return found


def errors(event: dict[str, Any]) -> list[str]:
    """What is wrong with ``event``; an empty list when it is valid."""
    _, by_name = _registry()
    out = [f"event: {e.message} at {list(e.absolute_path)}"
           for e in _validator("https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent").iter_errors(event)]  # fmt: skip
    for key, facet in _facets(event):
        url = str(facet.get("_schemaURL", ""))
        name = url.partition("#")[0].rsplit("/", 1)[-1].removesuffix(".json")
        if (
            name in by_name and name != "OpenLineage"
        ):  # a standard facet: its schema in the spec copy, whatever version it names
            out += [f"facet {key} ({name}): {e.message}"
                    for e in _validator(f"{by_name[name]}#/$defs/{name}").iter_errors(facet)]  # fmt: skip
    return out


def spec_available() -> bool:
    return (SPEC / "OpenLineage.json").exists()
