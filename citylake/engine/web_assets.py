"""Front-end files the lake's pages need (the GX Data Docs site, the run-health report), from
npm packages pinned here. `citylake setup` fetches them once into ``.cache/web`` (the npm
registry is one of the registries this platform's machines reach); nothing fetches at run time,
so the pages work on a network without internet.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from citylake.config.variables import read

# package@version -> the files (or folders, ending in /) the pages use from its tarball
PACKAGES: dict[str, tuple[str, ...]] = {
    # what GX 1.x's Data Docs templates load from CDNs, at the versions they name (vega@5,
    # vega-lite@5 and vega-embed@6: the newest release of that major, which the CDN serves)
    "bootstrap@4.3.1": ("dist/css/bootstrap.min.css", "dist/js/bootstrap.min.js"),
    "bootstrap-table@1.19.1": (
        "dist/bootstrap-table.min.css",
        "dist/bootstrap-table.min.js",
        "dist/extensions/filter-control/bootstrap-table-filter-control.min.js",
    ),
    "bootstrap-table@1.19.0": (
        "dist/extensions/filter-control/bootstrap-table-filter-control.css",
        "dist/extensions/filter-control/bootstrap-table-filter-control.min.css",
    ),
    "bootstrap-datepicker@1.9.0": (
        "dist/css/bootstrap-datepicker.min.css",
        "dist/js/bootstrap-datepicker.min.js",
    ),
    "@forevolve/bootstrap-dark@1.1.0": ("dist/css/bootstrap-prefers-dark.css",),
    "@fortawesome/fontawesome-free@6.6.0": ("css/all.min.css", "webfonts/"),
    "jquery@3.7.1": ("dist/jquery.min.js",),
    "popper.js@1.12.9": ("dist/umd/popper.min.js",),
    "vega@5.33.1": ("build/vega.min.js",),
    "vega-lite@5.23.0": ("build/vega-lite.min.js",),
    "vega-embed@6.29.0": ("build/vega-embed.min.js",),
    # the run-health report's charts (MIT; small, inlined into the report)
    "uplot@1.6.32": ("dist/uPlot.iife.min.js", "dist/uPlot.min.css"),
}
LOCK = "web.lock.json"


class AssetsMissing(RuntimeError):
    pass


def web_dir() -> Path:
    return Path(read("CITYLAKE_WEB_DIR"))


def path(package: str, file: str) -> Path:
    """The cached file of a pinned package; AssetsMissing (naming the fix) if it is not there."""
    found = web_dir() / package / file
    if not found.exists():
        raise AssetsMissing(
            f"{package}/{file} is not cached in {web_dir()}: run `make setup` once with access to npm"
        )
    return found


def fetch(dest: Path | None = None) -> dict[str, str]:
    """Fetch every pinned package not yet cached (``npm pack``) and keep the files the pages use;
    returns package -> the tarball's integrity, also written to ``web.lock.json``."""
    dest = dest or web_dir()
    lock_file = dest / LOCK
    lock: dict[str, str] = json.loads(lock_file.read_text()) if lock_file.exists() else {}
    for package, files in PACKAGES.items():
        if package in lock and all((dest / package / f).exists() for f in files):
            continue
        if not shutil.which("npm"):
            raise AssetsMissing("npm is needed once, by `make setup`, to cache the web pages' assets")
        with tempfile.TemporaryDirectory() as tmp:
            out = subprocess.run(["npm", "pack", package, "--json", "--pack-destination", tmp],
                                 capture_output=True, text=True, check=False, timeout=300)  # fmt: skip
            if out.returncode != 0:
                raise AssetsMissing(f"npm pack {package} failed: {out.stderr.strip()[-500:]}")
            info = json.loads(out.stdout)[0]
            with tarfile.open(Path(tmp) / info["filename"]) as tar:
                for member in tar.getmembers():
                    name = member.name.removeprefix("package/")
                    if member.isfile() and any(
                        name == f or (f.endswith("/") and name.startswith(f)) for f in files
                    ):
                        target = dest / package / name
                        target.parent.mkdir(parents=True, exist_ok=True)
                        extracted = tar.extractfile(member)
                        assert extracted is not None
                        target.write_bytes(extracted.read())
            missing = [f for f in files if not (dest / package / f).exists()]
            if missing:
                raise AssetsMissing(f"{package} has no {', '.join(missing)}")
            lock[package] = info["integrity"]
    dest.mkdir(parents=True, exist_ok=True)
    lock_file.write_text(json.dumps(lock, indent=1, sort_keys=True) + "\n")
    return lock
