"""The README's commands run as written: its `make` targets exist, and its tour of what the demo
made runs on a demo lake, each command exiting as the README says."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys

from citylake.config.settings import REPO_ROOT

README = REPO_ROOT / "README.md"
_BLOCK = re.compile(r"^```bash\n(.*?)^```", re.S | re.M)


def _commands(prefix: str) -> list[list[str]]:
    """Every command line of the README's bash blocks that starts with ``prefix``, as argv
    (shell comments dropped)."""
    text = README.read_text(encoding="utf-8")
    lines = [line for block in _BLOCK.findall(text) for line in block.splitlines()]
    return [shlex.split(line, comments=True) for line in lines if line.startswith(prefix)]


def test_the_readme_is_short_and_its_make_targets_exist():
    assert len(README.read_text(encoding="utf-8").splitlines()) <= 250
    targets = [argv[1] for argv in _commands("make ")]
    targets += re.findall(r"^\| `make ([\w-]+)`", README.read_text(encoding="utf-8"), flags=re.M)
    assert {"demo", "test"} <= set(targets)
    for target in targets:
        dry = subprocess.run(["make", "-n", target], cwd=REPO_ROOT, capture_output=True, text=True)
        assert dry.returncode == 0, f"README names `make {target}`: {dry.stderr}"


def test_the_tour_of_the_demo_runs_as_written(demo_lake):
    """`.venv/bin/citylake ...` lines, run with this checkout's CLI on the demo lake. `status`
    exits 3 when something needs attention (the demo seeds faults), as the README says."""
    root, _ = demo_lake
    tour = _commands(".venv/bin/citylake ")
    assert len(tour) >= 5, "the README's tour of the demo lost its commands"
    readme = README.read_text(encoding="utf-8")
    env = {**os.environ, "CITYLAKE_LAKE_ROOT": str(root), "COLUMNS": "250"}
    for argv in tour:
        proc = subprocess.run([sys.executable, "-m", "citylake.cli", *argv[1:]], capture_output=True, text=True,
                              env=env, timeout=600)  # fmt: skip
        allowed = (0, 3) if argv[1] == "status" else (0,)
        assert proc.returncode in allowed, f"`{shlex.join(argv)}` exited {proc.returncode}\n{proc.stderr[-2000:]}"
        assert proc.stdout.strip(), f"`{shlex.join(argv)}` printed nothing"
        assert "Traceback" not in proc.stderr, f"`{shlex.join(argv)}`\n{proc.stderr[-2000:]}"
        if proc.returncode == 3:
            assert "exit 3" in readme, "status exited 3 and the README does not say when it does"


def test_the_reading_guides_python_runs_on_the_demo_lake(demo_lake):
    """docs/reading.md's Python, run as written from the directory holding the demo's lake/:
    the snapshot read through its manifest, and the gold table opened at the version its own
    mart's snapshot was copied from."""
    root, _ = demo_lake
    page = (REPO_ROOT / "docs" / "reading.md").read_text(encoding="utf-8")
    code = "\n".join(re.findall(r"^```python\n(.*?)^```", page, flags=re.S | re.M))
    assert "as_published" in code and "manifest" in code
    check = (
        "\nassert features.count_rows() == manifest['row_count'] > 0"
        "\nassert as_published.version() == published['delta_version']"
        "\nassert published['mart'] == 'dt_city_objects' and manifest['mart'] != published['mart']"
    )
    proc = subprocess.run([sys.executable, "-c", code + check], cwd=root.parent, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
