"""The layering contract (pyproject's [tool.importlinter]): entry points -> jobs -> library, and down
the library's layers (quality, lake, engine, config, domain), never up."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from citylake.config.settings import REPO_ROOT

LINT = str(Path(sys.executable).with_name("lint-imports"))


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}  # the packages under root, not the installed ones
    return subprocess.run(
        [LINT, "--no-cache"], cwd=root, env=env, capture_output=True, text=True, timeout=300
    )


def test_no_module_imports_upward():
    proc = _lint(REPO_ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "Contracts: 1 kept, 0 broken." in proc.stdout


def test_an_upward_import_breaks_the_contract(tmp_path):
    """The contract bites: the same tree with one domain module importing the daily runner fails,
    and the report names the module, the import and its line."""
    for name in ("citylake", "jobs", "benchmarks"):
        shutil.copytree(REPO_ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO_ROOT / "pyproject.toml", tmp_path)
    geo = tmp_path / "citylake" / "domain" / "geo.py"
    lines = len(geo.read_text().splitlines())
    with geo.open("a") as fh:
        fh.write("from citylake.runs import pipeline  # noqa: F401\n")
    proc = _lint(tmp_path)
    assert proc.returncode != 0
    assert "Contracts: 0 kept, 1 broken." in proc.stdout
    assert f"citylake.domain.geo -> citylake.runs.pipeline (l.{lines + 1})" in proc.stdout
