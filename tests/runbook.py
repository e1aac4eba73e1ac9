"""Run a runbook page's commands against a lake in its situation, and check they show what the
page says they show.

A page's executable examples are ```console blocks. In a block, a line starting with ``$ `` is
a command (``citylake ...`` runs this checkout's CLI, after any ``NAME=value`` assignments;
``$CITYLAKE_LAKE_ROOT`` is the lake's root); the lines after it, up to the next
command, are what its output must contain: each line, with runs of spaces and table rules
collapsed, must occur in its stdout or stderr. ``exit N`` states the exit code (0 when absent)
and ``...`` stands for output the page leaves out. Blocks run in page order, per section
(``## Signal``, ``## Checks``, ``## Fix``, ``## Verify``), so a test can do a unit's part of a
fix (a corrected delivery) between sections.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from citylake.config.settings import REPO_ROOT

RUNBOOKS = REPO_ROOT / "docs" / "runbooks"
_BLOCK = re.compile(r"^```console\n(.*?)^```", re.S | re.M)
_RULES = str.maketrans({c: " " for c in "│┃┏┓┗┛┡┩└┘┌┐├┤┬┴┼━─╇╈╋═║"})


@dataclass
class Step:
    command: str
    expect: list[str] = field(default_factory=list)
    code: int = 0


def sections(page: str) -> dict[str, list[Step]]:
    """``## heading`` -> the steps of its console blocks, in order."""
    text = (RUNBOOKS / page).read_text(encoding="utf-8")
    out: dict[str, list[Step]] = {}
    for part in re.split(r"^## ", text, flags=re.M)[1:]:
        heading, _, body = part.partition("\n")
        steps: list[Step] = []
        for block in _BLOCK.findall(body):
            for line in block.splitlines():
                if line.startswith("$ "):
                    steps.append(Step(line[2:].strip()))
                elif not steps or not line.strip() or line.strip() == "...":
                    continue
                elif m := re.fullmatch(r"exit (\d+)", line.strip()):
                    steps[-1].code = int(m.group(1))
                else:
                    steps[-1].expect.append(line.strip())
        out[heading.strip()] = steps
    return out


def _flat(text: str) -> str:
    return " ".join(text.translate(_RULES).split())


def run(page: str, section: str, lake_root: str | Path, env: dict[str, str] | None = None) -> list[str]:
    """Run the section's commands; returns their outputs. Fails naming the page, the command
    and what was missing."""
    steps = sections(page)[section]
    assert steps, f"{page}: section {section!r} has no commands"
    environ = {**os.environ, **(env or {}), "CITYLAKE_LAKE_ROOT": str(lake_root), "COLUMNS": "250"}
    outputs = []
    for step in steps:
        argv = shlex.split(step.command.replace("$CITYLAKE_LAKE_ROOT", str(lake_root)))
        local = dict(environ)
        while argv and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", argv[0]):
            name, _, value = argv.pop(0).partition("=")
            local[name] = value
        assert argv and argv[0] == "citylake", f"{page}: only citylake commands run here: {step.command}"
        proc = subprocess.run([sys.executable, "-m", "citylake.cli", *argv[1:]], capture_output=True, text=True,
                              env=local, timeout=900)  # fmt: skip
        shown = proc.stdout + proc.stderr
        assert proc.returncode == step.code, f"{page} ({section}): `{step.command}` exited {proc.returncode}, " \
            f"the page says {step.code}\n{shown[-3000:]}"  # fmt: skip
        flat = _flat(shown)
        missing = [e for e in step.expect if _flat(e) not in flat]
        assert not missing, f"{page} ({section}): `{step.command}` did not show {missing}\n{shown[-3000:]}"
        outputs.append(shown)
    return outputs
