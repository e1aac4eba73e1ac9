"""The Data Docs site made to work offline: every script, style, font and image it loads is
served from the site itself.

GX renders pages that load Bootstrap, jQuery, bootstrap-table, Font Awesome and vega from
public CDNs (and a usage-tracking logo from S3); without internet the validation list is never
drawn. After each build the pinned npm files (citylake.engine.web_assets) are copied under
``static/vendor/`` and every page's links are rewritten to them, relative to the page.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from citylake.engine import web_assets

# URL a GX template names -> (package@version, file in it)
CDN: dict[str, tuple[str, str]] = {
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": ("bootstrap@4.3.1", "dist/css/bootstrap.min.css"),
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": ("bootstrap@4.3.1", "dist/js/bootstrap.min.js"),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": ("bootstrap-table@1.19.1", "dist/bootstrap-table.min.css"),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": ("bootstrap-table@1.19.1", "dist/bootstrap-table.min.js"),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js": (
        "bootstrap-table@1.19.1", "dist/extensions/filter-control/bootstrap-table-filter-control.min.js"),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css": (
        "bootstrap-table@1.19.0", "dist/extensions/filter-control/bootstrap-table-filter-control.css"),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css": (
        "bootstrap-table@1.19.0", "dist/extensions/filter-control/bootstrap-table-filter-control.min.css"),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css": (
        "bootstrap-datepicker@1.9.0", "dist/css/bootstrap-datepicker.min.css"),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js": (
        "bootstrap-datepicker@1.9.0", "dist/js/bootstrap-datepicker.min.js"),
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css": (
        "@forevolve/bootstrap-dark@1.1.0", "dist/css/bootstrap-prefers-dark.css"),
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": (
        "@fortawesome/fontawesome-free@6.6.0", "css/all.min.css"),
    "https://code.jquery.com/jquery-3.7.1.min.js": ("jquery@3.7.1", "dist/jquery.min.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": ("popper.js@1.12.9", "dist/umd/popper.min.js"),
    "https://cdn.jsdelivr.net/npm/vega@5": ("vega@5.33.1", "build/vega.min.js"),
    "https://cdn.jsdelivr.net/npm/vega-lite@5": ("vega-lite@5.23.0", "build/vega-lite.min.js"),
    "https://cdn.jsdelivr.net/npm/vega-embed@6": ("vega-embed@6.29.0", "build/vega-embed.min.js"),
}  # fmt: skip
# GX's logo, fetched from S3 with a usage-tracking query string; the site ships the same image
LOGO = re.compile(
    r"https://great-expectations-web-assets\.s3\.us-east-2\.amazonaws\.com/[a-z_-]+\.png[^\"')]*"
)
LOCAL_LOGO = "static/images/logo-long.png"
# a tag whose source moved here keeps no subresource-integrity pin for the CDN's copy
PINNED = re.compile(r'\s+(integrity="[^"]*"|crossorigin="[^"]*")')
VENDOR = "static/vendor"


def make_offline(site: Path) -> int:
    """Copy the pinned assets into ``site`` and point every page and style sheet at them;
    returns how many files changed (0 when the site is already offline)."""
    for package, file in {*CDN.values(), ("@fortawesome/fontawesome-free@6.6.0", "webfonts/")}:
        source, target = web_assets.path(package, file), site / VENDOR / package / file
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
        elif not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
    changed = 0
    for page in [*site.rglob("*.html"), *(site / "static" / "styles").glob("*.css")]:
        text = page.read_text(encoding="utf-8")
        new = _rewrite(text, site, page.parent)
        if new != text:
            page.write_text(new, encoding="utf-8")
            changed += 1
    return changed


def _rewrite(text: str, site: Path, here: Path) -> str:
    def rel(target: str) -> str:
        return Path(os.path.relpath(site / target, here)).as_posix()

    def tag(match: re.Match[str]) -> str:
        whole = match.group(0)
        for url, (package, file) in CDN.items():
            if f'"{url}"' in whole:
                return PINNED.sub("", whole.replace(f'"{url}"', f'"{rel(f"{VENDOR}/{package}/{file}")}"'))
        return whole

    text = re.sub(r"<(?:script|link)\b[^>]*>", tag, text)
    return LOGO.sub(rel(LOCAL_LOGO), text)
