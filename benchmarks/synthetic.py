"""A registry of any size: the real one plus clones of real units under new ids.

Clones cycle through the real units in name order, so the mix of contracts, formats and
encodings stays the city's. The benchmarks and the DAG parse test use it for "250 units".
"""

from __future__ import annotations

import shutil
from pathlib import Path

from citylake.config.settings import REPO_ROOT


def registry_with_units(total: int, dest: Path, source: Path = REPO_ROOT / "schemas") -> Path:
    """Copy ``source`` to ``dest`` and add clone units until it has ``total``; returns ``dest``."""
    shutil.copytree(source, dest)
    units = sorted((dest / "units").glob("*.yaml"))
    for i in range(max(0, total - len(units))):
        template = units[i % len(units)]
        clone = f"{template.stem}_syn{i:03d}"
        text = template.read_text(encoding="utf-8").replace(f"unit: {template.stem}\n", f"unit: {clone}\n", 1)
        if clone not in text:
            raise ValueError(f"{template}: no 'unit: {template.stem}' line to rename")
        (dest / "units" / f"{clone}.yaml").write_text(text, encoding="utf-8")
    return dest
