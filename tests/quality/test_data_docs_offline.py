"""The Data Docs site of the demo lake, opened in headless Chromium with the network cut off:
the validation list is drawn (GX's scripts come from the site itself) with one row per stored
result, and a result page shows its expectations."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from browser import dom, screenshot

pytestmark = pytest.mark.slow


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_index_lists_every_validation_result_offline(demo_lake):
    root, proc = demo_lake
    site = Path(root) / "_system" / "gx" / "uncommitted" / "data_docs" / "local_site"
    assert str(site / "index.html") in proc.stdout  # the demo ends by printing where the site is
    page = dom(site / "index.html")
    # bootstrap-table (a vendored script) turned the results into rows; without it there are none
    # (the index's other tab lists expectation suites, once `citylake docs` has rendered them)
    rows = re.findall(r'<tr class="clickable-row" data-href="(validations/[^"]+)"', page)
    stored = site.parent.parent / "validations"
    results = {p.relative_to(stored).with_suffix(".html").as_posix() for p in stored.rglob("*.json")}
    # a page of rows, and the pager counts every stored result
    assert results and rows and {r.removeprefix("validations/") for r in rows} <= results
    assert len(rows) == min(10, len(results))
    assert f"Showing 1 to {len(rows)} of {len(results)} rows" in _text(page)
    assert all((site / r).exists() for r in rows)
    # nothing the site loads points off the machine any more
    assert not re.findall(r'<(?:script|link)[^>]+(?:src|href)="https?://', page)
    screenshot(site / "index.html", Path(root) / "_system" / "screenshots" / "data_docs_index.png")


def test_a_result_page_shows_its_expectations_offline(demo_lake):
    root, _ = demo_lake
    site = Path(root) / "_system" / "gx" / "uncommitted" / "data_docs" / "local_site"
    stored = site.parent.parent / "validations"
    result = next(iter(sorted(stored.glob("silver/parking_lots/*/*/*.json"))))
    doc = json.loads(result.read_text())
    page = site / "validations" / result.relative_to(stored).with_suffix(".html")
    text = _text(dom(page))
    evaluated = len(doc["results"])
    passed = sum(r["success"] for r in doc["results"])
    assert f"Evaluated Expectations {evaluated} Successful Expectations {passed}" in text
    assert "silver.parking_lots" in text
    for r in doc["results"]:  # every expectation's column is named on the page
        column = r["expectation_config"]["kwargs"].get("column")
        assert column is None or column in text, column
