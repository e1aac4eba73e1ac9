"""The data dictionary covers every table and column, and the committed copy is current."""

from __future__ import annotations

from citylake.config.layers import silver_columns
from citylake.config.settings import REPO_ROOT
from citylake.pages import dictionary


def test_dictionary_documents_every_silver_and_gold_column(registry):
    text = dictionary.render(registry)
    for contract in registry.contracts.values():
        section = text.split(f"### silver.{contract.contract}\n", 1)[1].split("\n### ", 1)[0]
        for name, typ in silver_columns(contract):
            row = next(line for line in section.splitlines() if line.startswith(f"| `{name}` | {typ} |"))
            assert row.split("|")[3].strip(), f"silver.{contract.contract}.{name} has no meaning"
    for doc in registry.marts.values():
        section = text.split(f"### gold.{doc.mart}\n", 1)[1].split("\n### ", 1)[0]
        assert f"- Grain: {doc.grain}" in section and doc.grain.startswith("one row per ")
        for col in doc.columns:
            assert f"| `{col.name}` | {col.type} | {col.description} |" in section.replace("\\|", "|")


def test_committed_dictionary_is_current(registry):
    committed = (REPO_ROOT / "docs" / "data_dictionary.md").read_text(encoding="utf-8")
    assert committed == dictionary.render(registry), "docs/data_dictionary.md is stale: run `make dictionary`"
