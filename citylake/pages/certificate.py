"""The certificate of a data-subject request: one self-contained HTML page (the run-health
report's style, no script and nothing fetched) and the same facts as JSON, for the
data-protection officer and the person who asked.

The caller (the eraser, or ``citylake subject certificate``) fills a ``CertificateData``:

- ``request_id``, ``type``, ``legal_basis``, ``received_on``, ``due_on`` (ISO dates or dates),
  optionally ``status`` and ``completed_on``; ``subject_refs``: ``Subject.ref`` of each subject;
- ``locations``: every place ``locate`` found the subjects (``Location``: a table or a file,
  rows or records found and removed, and the outcome there);
- ``tables``: each table the request changed (``TableChange``: versions before and after,
  rows removed, files purged);
- ``files``: each raw file purged or rewritten (``FileChange``: sha256 before and after);
- ``inventory``: what the verifier scanned (``Inventory``: objects, object versions, Delta
  versions, bytes, findings), None for a request with nothing to verify;
- ``ledger``: the request ledger's head when the certificate was written (``LedgerHead``).

A certificate holds no clear identifier. ``write_certificate`` refuses (``CertificateError``)
a ``data`` in which any string looks like a resident ID, a mobile number or a 64-hex hash
(outside the ``DIGEST_KEYS`` fields, which must be sha256 digests), or contains one of the
``forbidden`` values the caller may pass: a last guard, after the eraser's own care. It also
refuses to certify an erasure whose verifier found anything.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any, Literal, NotRequired, TypedDict

from jinja2 import Environment

from citylake.engine.clock import json_value, lake_time
from citylake.engine.storage import store_for
from citylake.lake.subject_ledger import REQUEST_ID, identifier_like


class Location(TypedDict):
    place: str  # "silver.ev_charging_sessions", "bronze/_landed/<unit>/<feed>/<date>/<file>"
    kind: Literal["table", "file", "text"]  # text: GX results, Data Docs, reports, lineage
    found: int  # rows (tables) or records (files) of the subjects there
    removed: int
    outcome: str  # "erased", "rewritten", "purged", "restricted", "exported", "untouched"
    unit: NotRequired[str]  # "rows" (default for tables) or "records"
    subject: NotRequired[str]  # one subject's ref, when counted per subject


class TableChange(TypedDict):
    table: str  # "bronze.ev_charging_sessions"
    version_before: int
    version_after: int
    rows_removed: int
    files_purged: NotRequired[int]  # data, deletion-vector and change-data files deleted


class FileChange(TypedDict):
    path: str
    action: Literal["purged", "rewritten"]
    records_removed: int
    sha256_before: str
    sha256_after: str | None  # None: purged


class Inventory(TypedDict):
    objects: int
    object_versions: int  # every version of every object (S3 versioning), else = objects
    delta_versions: int  # readable table versions scanned
    bytes: int
    findings: int


class LedgerHead(TypedDict):
    seq: int
    digest: str


class CertificateData(TypedDict):
    request_id: str
    type: str
    legal_basis: str
    received_on: str | dt.date
    due_on: str | dt.date
    subject_refs: list[str]
    locations: list[Location]
    tables: list[TableChange]
    files: list[FileChange]
    inventory: Inventory | None
    ledger: LedgerHead
    status: NotRequired[str]
    completed_on: NotRequired[str | dt.date]


class CertificateError(ValueError):
    """A certificate that must not be written; the message names the field, never its value."""


# fields that are sha256 digests by definition (files, the ledger): 64 hex is what they must be
DIGEST_KEYS = frozenset({"digest", "sha256_before", "sha256_after"})
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# spelled out: with postponed annotations TypedDict cannot tell NotRequired keys apart
REQUIRED = ("request_id", "type", "legal_basis", "received_on", "due_on", "subject_refs", "locations", "tables",
            "files", "inventory", "ledger")  # fmt: skip


def check(data: dict[str, Any], forbidden: tuple[str, ...] = ()) -> None:
    """Raise CertificateError if ``data`` lacks a field or holds anything identifying."""
    missing = sorted(set(REQUIRED) - set(data))
    if missing:
        raise CertificateError(f"certificate data lacks {', '.join(missing)}")
    if not REQUEST_ID.match(str(data["request_id"])):
        raise CertificateError("request_id is not a request id")
    needles = [n for n in forbidden if n]
    for where, key, text in _strings(data, "data"):
        if key in DIGEST_KEYS and where.endswith(f".{key}"):
            if not _SHA256.match(text):
                raise CertificateError(f"{where}: not a sha256 digest (64 lower-case hex)")
        else:
            kind = identifier_like(text)
            if kind:
                raise CertificateError(
                    f"{where}: looks like a {kind}; a certificate holds no clear identifier"
                )
        if any(n in text for n in needles):
            raise CertificateError(f"{where}: holds one of the subjects' values or hashes")
    inventory = data["inventory"]
    if data["type"] == "erase" and (inventory is None or inventory["findings"] != 0):
        found = "no verifier inventory" if inventory is None else f"{inventory['findings']} finding(s)"
        raise CertificateError(f"request {data['request_id']}: an erasure is certified only when the "
                               f"verifier found nothing ({found})")  # fmt: skip


def _strings(value: Any, where: str, key: str = "") -> list[tuple[str, str, str]]:
    """Every string in ``value`` (dict keys too), with where it is and the key it is under."""
    if isinstance(value, str):
        return [(where, key, value)]
    out: list[tuple[str, str, str]] = []
    if isinstance(value, dict):
        for k, v in value.items():
            out += [(f"{where} (a key)", "", str(k))]
            out += _strings(v, f"{where}.{k}", str(k))
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            out += _strings(v, f"{where}[{i}]", key)
    return out


STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; }
h1 { margin-bottom: 4px; } h2 { margin-top: 32px; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; } td, th { padding: 3px 8px; border-bottom: 1px solid #eee; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.status { display: inline-block; padding: 2px 10px; border-radius: 4px; color: #fff; font-weight: 600; }
.ok, .done, .erased, .purged, .rewritten, .restricted, .exported { background: #2e7d32; }
.in_progress, .received, .untouched { background: #ef6c00; } .failed, .found { background: #c62828; }
code.digest { font-size: 12px; word-break: break-all; }
dl { display: grid; grid-template-columns: max-content auto; gap: 2px 16px; } dt { color: #555; }
"""

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>citylake certificate {{ c.request_id }}</title>
<style>{{ style }}</style></head><body>
<h1>Certificate of data-subject request <code id="request-id">{{ c.request_id }}</code></h1>
<p>Issued {{ issued_at }} by citylake. Subjects are named by reference only: this page holds no clear identifier.</p>
<dl id="request">
<dt>Request type</dt><dd id="request-type">{{ c.type }}</dd>
<dt>Legal basis</dt><dd id="legal-basis">{{ c.legal_basis }}</dd>
<dt>Received</dt><dd id="received-on">{{ c.received_on }}</dd>
<dt>Due</dt><dd id="due-on">{{ c.due_on }}</dd>
{% if c.status %}<dt>Status</dt><dd><span class="status {{ c.status }}" id="status">{{ c.status }}</span></dd>{% endif %}
{% if c.completed_on %}<dt>Completed</dt><dd id="completed-on">{{ c.completed_on }}</dd>{% endif %}
<dt>Subjects ({{ c.subject_refs|length }})</dt><dd id="subjects">{% for s in c.subject_refs %}<code>{{ s }}</code> {% endfor %}</dd>
</dl>

<h2>Verification</h2>
{% if c.inventory %}<p id="verification"><span class="status {{ 'ok' if c.inventory.findings == 0 else 'found' }}" id="findings">{{ c.inventory.findings }} found</span>
 after scanning {{ "{:,}".format(c.inventory.objects) }} objects ({{ "{:,}".format(c.inventory.object_versions) }} object versions),
 {{ "{:,}".format(c.inventory.delta_versions) }} Delta table versions and {{ "{:,}".format(c.inventory.bytes) }} bytes
 for the subjects' values, their normalised forms and their hashes.</p>
{% else %}<p id="verification">No verification for a {{ c.type }} request.</p>{% endif %}

<h2>Where the subjects were found ({{ c.locations|length }})</h2>
<table id="locations"><thead><tr><th>place</th><th>kind</th><th>found</th><th>removed</th><th>outcome</th></tr></thead><tbody>
{% for l in c.locations %}<tr><td><code>{{ l.place }}</code>{% if l.subject %} ({{ l.subject }}){% endif %}</td><td>{{ l.kind }}</td>
{% set unit = l.unit or ("rows" if l.kind == "table" else "records") %}
<td class="n">{{ l.found }} {{ unit[:-1] if l.found == 1 and unit.endswith("s") else unit }}</td><td class="n">{{ l.removed }}</td>
<td><span class="status {{ l.outcome }}">{{ l.outcome }}</span></td></tr>
{% endfor %}</tbody></table>

<h2>Tables changed ({{ c.tables|length }})</h2>
<table id="tables"><thead><tr><th>table</th><th>version before</th><th>version after</th><th>rows removed</th><th>files purged</th></tr></thead><tbody>
{% for t in c.tables %}<tr><td><code>{{ t.table }}</code></td><td class="n">{{ t.version_before }}</td><td class="n">{{ t.version_after }}</td>
<td class="n">{{ t.rows_removed }}</td><td class="n">{{ t.files_purged if t.files_purged is defined else "" }}</td></tr>
{% endfor %}</tbody></table>

<h2>Files purged and rewritten ({{ c.files|length }})</h2>
<table id="files"><thead><tr><th>file</th><th>action</th><th>records removed</th><th>sha256 before</th><th>sha256 after</th></tr></thead><tbody>
{% for f in c.files %}<tr><td><code>{{ f.path }}</code></td><td><span class="status {{ f.action }}">{{ f.action }}</span></td>
<td class="n">{{ f.records_removed }}</td><td><code class="digest">{{ f.sha256_before }}</code></td><td><code class="digest">{{ f.sha256_after or "" }}</code></td></tr>
{% endfor %}</tbody></table>

<h2>Request ledger</h2>
<p id="ledger">Head of <code>ops.subject_requests</code> when this certificate was written: seq <span id="ledger-seq">{{ c.ledger.seq }}</span>,
 digest <code id="ledger-digest">{{ c.ledger.digest }}</code>. Keep this certificate apart from the lake: the digest
 proves the ledger up to that row was not changed since.</p>
</body></html>
"""


def render(data: dict[str, Any], issued_at: str) -> str:
    env = Environment(autoescape=True)
    # dates shown as ISO text, whichever way the caller gave them
    shown = json.loads(json.dumps(data, default=json_value, ensure_ascii=False))
    return env.from_string(PAGE).render(c=shown, style=STYLE, issued_at=issued_at)


def write_certificate(
    out_dir: str | Path, data: CertificateData | dict[str, Any], forbidden: tuple[str, ...] = ()
) -> tuple[str, str]:
    """Write ``certificate-<request>.html`` and ``.json`` under ``out_dir`` (a local folder or
    an s3a:// prefix); return their paths. ``forbidden``: values that must appear nowhere (the
    caller's subjects' values and hashes). Raises CertificateError, writing nothing, if ``data``
    is incomplete or holds anything identifying."""
    data = dict(data)
    check(data, forbidden)
    issued_at = lake_time(dt.datetime.now(dt.UTC)).isoformat(timespec="seconds")
    base = f"{str(out_dir).rstrip('/')}/certificate-{data['request_id']}"
    store = store_for(base)
    html = render(data, issued_at).encode("utf-8")
    body = {"certificate": "citylake data-subject request", "issued_at": issued_at, **data}
    text = json.dumps(body, default=json_value, ensure_ascii=False, indent=1).encode("utf-8")
    # the rendered page is checked too: nothing the template added may look like an identifier
    if identifier_like(_visible(html.decode("utf-8"), data)):
        raise CertificateError(
            f"request {data['request_id']}: the rendered page holds an identifier-like text"
        )
    store.write_bytes(f"{base}.json", text)
    store.write_bytes(f"{base}.html", html)
    return f"{base}.html", f"{base}.json"


def _visible(html: str, data: dict[str, Any]) -> str:
    """The page's text without the digests ``check`` already accepted."""
    for _, key, text in _strings(data, "data"):
        if key in DIGEST_KEYS:
            html = html.replace(text, "")
    return html
