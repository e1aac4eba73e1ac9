"""The run-health report the demo run wrote, opened in headless Chromium with the network cut
off: its charts are drawn and its numbers are those of the ops tables (asked through Spark SQL on
the lake's SQL endpoint, not through the report's own code). A screenshot stays under the lake as a CI artifact."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from browser import dom, screenshot
from servers import hive_query

pytestmark = pytest.mark.slow

DAY = "2026-11-20"


def _cells(html: str, table: str) -> list[list[str]]:
    body = re.search(rf'<table id="{table}">.*?<tbody>(.*?)</tbody>', html, re.S)
    assert body, table
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", body.group(1), re.S)
    return [[re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", c)).strip()
             for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)] for r in rows]  # fmt: skip


@pytest.fixture(scope="module")
def report(demo_lake):
    root, proc = demo_lake
    shown = re.search(r"Run report: (\S+\.html)", proc.stdout)
    assert shown, proc.stdout[-2000:]  # the demo ends by printing where the report is
    page = Path(shown.group(1))
    assert page.parent == Path(root) / "_system" / "reports" / DAY
    return root, page, dom(page)


def test_the_report_draws_its_charts_offline(report):
    root, page, html = report
    assert html.count('class="uplot') == 4  # durations, rows landed, quarantine rate, held feeds
    assert len(re.findall(r"<canvas", html)) >= 4
    assert not re.findall(r'(?:src|href)="https?://', html)  # nothing to fetch: it is one file
    screenshot(page, Path(root) / "_system" / "reports" / DAY / "run-health.png")


def test_the_numbers_are_the_ops_tables(report, demo_sql):
    _, page, html = report
    _, port = demo_sql
    run_id = re.search(r"<code>(run-[^<]+)</code>", html).group(1)
    newest = ("SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY file ORDER BY finished_at DESC, run_id DESC) "
              "AS n FROM ops.run_ledger WHERE status <> 'skipped') WHERE n = 1")  # fmt: skip
    sql = (
        "SELECT (SELECT to_json(collect_list(struct(unit, feed, files, landed, bronze))) FROM (SELECT unit, feed, "
        "count(*) AS files, sum(rows_landed) AS landed, sum(CASE WHEN status = 'loaded' THEN rows_bronze ELSE 0 END) "
        f"AS bronze FROM ({newest}) WHERE logical_date = DATE'{DAY}' GROUP BY unit, feed)) AS feeds, "
        "(SELECT to_json(collect_list(struct(dataset, status, delta_version, validation_id))) FROM ops.publications "
        f"WHERE run_id = '{run_id}') AS published, "
        f"(SELECT first(status) FROM ops.runs WHERE run_id = '{run_id}' AND status <> 'running') AS status"
    )
    (ops,) = hive_query(port, sql)
    assert re.search(r'id="run-status">([a-z]+)<', html).group(1) == ops["status"]
    feeds = {(r[0], r[1]): (int(r[2]), int(r[3]), int(r[4])) for r in _cells(html, "feeds")}
    delivered = {
        (f["unit"], f["feed"]): (f["files"], f["landed"], f["bronze"]) for f in json.loads(ops["feeds"])
    }
    assert len(delivered) > 200 and {k: v for k, v in feeds.items() if v[0]} == delivered
    published = {(r[0], r[1], int(r[3]) if r[3] else None, r[4] or None) for r in _cells(html, "published")}
    assert published == {(p["dataset"], p["status"], p.get("delta_version"), p.get("validation_id"))
                         for p in json.loads(ops["published"])}  # fmt: skip
    # held feeds come first, each with its reason
    verdicts = [r[6] for r in _cells(html, "feeds")]
    held = verdicts.count("failed")
    assert verdicts[:held] == ["failed"] * held
    assert all(r[8] for r in _cells(html, "feeds")[:held])
