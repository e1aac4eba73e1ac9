"""The run-health report as one self-contained HTML file: tables for the numbers, uPlot charts
(pinned in citylake.engine.web_assets, inlined with its styles) for durations and the last N days.
No request leaves the file, so it opens on a network without internet."""

from __future__ import annotations

import json
from typing import Any

from jinja2 import Environment

from citylake.engine import web_assets
from citylake.engine.clock import json_value
from citylake.engine.storage import store_for
from citylake.lake import Lake
from citylake.pages.report import REPORTS

UPLOT = "uplot@1.6.32"

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>citylake run health {{ r.date }}</title>
<style>{{ uplot_css }}</style>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; }
h1 { margin-bottom: 4px; } h2 { margin-top: 32px; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; } td, th { padding: 3px 8px; border-bottom: 1px solid #eee; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.status { display: inline-block; padding: 2px 10px; border-radius: 4px; color: #fff; font-weight: 600; }
.ok, .passed, .published, .fresh { background: #2e7d32; } .partial, .incomplete, .warned, .unchanged, .late { background: #ef6c00; }
.failed, .refused { background: #c62828; } .empty, .no-delivery { background: #757575; }
.charts { display: flex; flex-wrap: wrap; gap: 24px; }
</style></head><body>
<h1>Run health, {{ r.date }}</h1>
<p id="run">Run <code>{{ r.run.run_id }}</code>: <span class="status {{ r.run.status }}" id="run-status">{{ r.run.status }}</span>
 &middot; {{ r.run.files }} files &middot; {{ "{:,}".format(r.run.rows_landed) }} rows landed &middot;
 {{ "{:,}".format(r.run.rows_bronze) }} in bronze &middot; {{ "{:,}".format(r.run.rows_quarantined) }} quarantined
 &middot; {{ "%.1f"|format(r.run.duration_s) }} s &middot; {{ r.run.failed_feeds }} held unit/feeds</p>
<p id="subject-requests">Data-subject requests: <span id="requests-open">{{ r.subject_requests.open }}</span> open,
 <span class="status {{ 'failed' if r.subject_requests.overdue else 'ok' }}" id="requests-overdue">{{ r.subject_requests.overdue }} overdue</span>
 {% for i in r.subject_requests.overdue_ids %}<code>{{ i }}</code> {% endfor %}</p>
{% if r.owed %}<p>Still owed: {% for o in r.owed %}<code>{{ o }}</code> {% endfor %}</p>{% endif %}

<h2>Step durations</h2>
<div id="chart-steps"></div>

<h2>Units and feeds ({{ r.feeds|length }})</h2>
<p>Held feeds first, then late ones. Quarantine rate: rows quarantined (bronze and silver) / rows landed.</p>
<table id="feeds"><thead><tr><th>unit</th><th>feed</th><th>files</th><th>rows landed</th><th>rows in bronze</th>
<th>quarantine rate</th><th>DQ</th><th>freshness ({{ r.date }})</th><th>why held</th></tr></thead><tbody>
{% for f in r.feeds %}<tr data-unit="{{ f.unit }}" data-feed="{{ f.feed }}">
<td>{{ f.unit }}</td><td>{{ f.feed }}</td><td class="n">{{ f.files }}</td><td class="n">{{ f.rows_landed }}</td>
<td class="n">{{ f.rows_bronze }}</td><td class="n">{{ "%.4f"|format(f.quarantine_rate) if f.quarantine_rate is not none else "" }}</td>
<td><span class="status {{ f.verdict|replace(' ', '-') }}">{{ f.verdict }}</span></td>
<td><span class="status {{ 'fresh' if f.fresh else 'late' }}">{{ 'fresh' if f.fresh else 'late' }}</span>
 {{ f.cadence }}, last {{ f.last_loaded or "never" }}</td>
<td>{{ f.reasons|join("; ") }}</td></tr>
{% endfor %}</tbody></table>

<h2>Last {{ r.days }} days, per contract</h2>
<div class="charts"><div id="chart-rows"></div><div id="chart-quarantine"></div><div id="chart-held"></div></div>

<h2>Datasets this run published</h2>
<table id="published"><thead><tr><th>dataset</th><th>status</th><th>rows</th><th>version</th><th>validation id</th><th>reason</th></tr></thead><tbody>
{% for p in r.published %}<tr><td>{{ p.dataset }}</td><td><span class="status {{ p.status }}">{{ p.status }}</span></td>
<td class="n">{{ p.rows if p.rows is not none else "" }}</td><td class="n">{{ p.delta_version if p.delta_version is not none else "" }}</td>
<td><code>{{ p.validation_id or "" }}</code></td><td>{{ p.reason or "" }}</td></tr>
{% endfor %}</tbody></table>

<script id="report-data" type="application/json">{{ data_json }}</script>
<script>{{ uplot_js }}</script>
<script>
const r = JSON.parse(document.getElementById("report-data").textContent);
const palette = ["#1565c0","#c62828","#2e7d32","#ef6c00","#6a1b9a","#00838f","#ad1457","#4e342e","#283593",
                 "#558b2f","#f9a825","#37474f","#d84315","#00695c","#5d4037","#7b1fa2"];
const days = r.history.days.map(d => Date.parse(d + "T00:00:00+08:00") / 1000);
function lines(id, title, series) {
  const names = Object.keys(series);
  const opts = {title, width: 560, height: 300, series: [{}].concat(names.map((n, i) =>
    ({label: n, stroke: palette[i % palette.length], width: 2, spanGaps: false}))),
    axes: [{}, {size: 60}], legend: {show: true}};
  new uPlot(opts, [days].concat(names.map(n => series[n])), document.getElementById(id));
}
const steps = Object.keys(r.steps);
new uPlot({title: "Seconds per step (bronze's parts after it)", width: 900, height: 320,
  scales: {x: {time: false, range: [-0.6, steps.length - 0.4]}},
  axes: [{values: (u, ticks) => ticks.map(t => Number.isInteger(t) ? steps[t] ?? "" : ""), rotate: -30, size: 90},
         {size: 60}],
  series: [{}, {label: "seconds", fill: "#1565c0", stroke: "#1565c0", paths: uPlot.paths.bars({size: [0.6]}), points: {show: false}}]},
  [steps.map((_, i) => i), steps.map(s => r.steps[s])], document.getElementById("chart-steps"));
lines("chart-rows", "Rows landed", r.history.rows_landed);
lines("chart-quarantine", "Quarantine rate", r.history.quarantine_rate);
lines("chart-held", "Held unit/feeds", r.history.held_feeds);
</script>
</body></html>
"""


def render(report: dict[str, Any]) -> str:
    env = Environment(autoescape=True)
    # inside <script>, "</" could end the element early
    data = json.dumps(report, default=json_value, ensure_ascii=False).replace("</", "<\\/")
    from markupsafe import Markup

    return env.from_string(PAGE).render(
        r=report,
        data_json=Markup(data),
        uplot_js=Markup(web_assets.path(UPLOT, "dist/uPlot.iife.min.js").read_text(encoding="utf-8")),
        uplot_css=Markup(web_assets.path(UPLOT, "dist/uPlot.min.css").read_text(encoding="utf-8")),
    )


def write(lake: Lake, report: dict[str, Any]) -> str:
    """The report's file, ``_system/reports/<date>/run-health-<run_id>.html``; returns its path."""
    path = f"{lake.zone('_system')}/{REPORTS}/{report['date']}/run-health-{report['run']['run_id']}.html"
    store_for(lake.root).write_bytes(path, render(report).encode("utf-8"))
    return path
