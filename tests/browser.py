"""Headless Chromium (Debian's `chromium`, installed by .ci/run) with the network cut off: a
proxy nobody listens on for every host and no DNS, so a page shows only what it carries."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

OFFLINE = ["--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
           "--host-resolver-rules=MAP * ~NOTFOUND"]  # fmt: skip


def _chromium() -> str:
    found = shutil.which("chromium")
    assert found, (
        "Debian's chromium is needed for the page tests: `apt-get install chromium` (.ci/run does it)"
    )
    return found


def _run(page: Path, *flags: str) -> str:
    cmd = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", *OFFLINE,
           "--virtual-time-budget=15000", *flags, page.resolve().as_uri()]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def dom(page: Path) -> str:
    """The page's DOM after its scripts ran, offline."""
    return _run(page, "--dump-dom")


def screenshot(page: Path, png: Path, size: str = "1400,1800") -> Path:
    png.parent.mkdir(parents=True, exist_ok=True)
    _run(page, f"--screenshot={png}", f"--window-size={size}", "--hide-scrollbars")
    assert png.exists() and png.stat().st_size > 10_000, f"no screenshot of {page}"
    return png
