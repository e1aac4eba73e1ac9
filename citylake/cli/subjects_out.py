"""`--subjects N [--subjects-out FILE]` of `citylake generate` and `citylake demo`: where the
planted subjects' file goes, and writing it.

The file holds the subjects' clear values, so it never goes inside the lake root: a lake-wide
search, export or erasure would find it, and `subject verify` would never come out clean.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from citylake.lake import ZONES, Lake


def arg_subjects(value: str) -> int:
    from citylake.generate.subjects import MAX_SUBJECTS

    try:
        n = int(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from exc
    if not 0 <= n <= MAX_SUBJECTS:
        raise argparse.ArgumentTypeError(f"subjects must be in 0..{MAX_SUBJECTS}")
    return n


def add_subject_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--subjects", type=arg_subjects, default=0, metavar="N",
                   help="plant N seeded data subjects in every feed with personal data (good, malformed, "
                   "re-sent and rejected records) for the `citylake subject` commands")  # fmt: skip
    p.add_argument("--subjects-out", metavar="FILE",
                   help="where the subjects' JSON lines go (mode 600, outside the lake root; default "
                   "subjects-<date>.jsonl in the current directory)")  # fmt: skip


def _local_roots(lake: Lake) -> list[Path]:
    roots = [lake.zone(z) for z in ZONES] if "{zone}" in lake.root else [lake.root]
    out = []
    for r in roots:
        if r.startswith("file://"):
            r = r[len("file://") :]
        elif "://" in r:
            continue  # an object store: no local path is inside it
        out.append(Path(r).resolve())
    return out


def subjects_path(args: argparse.Namespace, lake: Lake) -> Path | str:
    """Where the subjects file goes, or why it cannot (a usage error)."""
    if not args.subjects:
        return "--subjects-out needs --subjects N" if args.subjects_out else Path()
    given = Path(args.subjects_out or f"subjects-{args.date.isoformat()}.jsonl").expanduser()
    path = given.resolve()  # through symlinks: a link into the lake is inside it
    for root in _local_roots(lake):
        if path == root or root in path.parents:
            return (
                f"the subjects file {given} would be inside the lake root {root}: it holds clear identifiers, "
                "which every lake-wide search and erasure would then find; give --subjects-out FILE outside it"
            )
    return path


def write_planted(console: Any, path: Path, n: int, reports: list[Any], notes: list[str]) -> bool:
    """Write the subjects that were planted (mode 600) and say where, and what was not planted;
    whether a file was written (none when no subject was planted)."""
    from citylake.generate.subjects import make_subjects
    from citylake.lake.subjects import write_subjects

    for note in notes:
        console.print(f"subjects: {note}")
    if not any(r.subjects for r in reports):
        console.print("no subject planted: no subjects file written")
        return False
    if path.exists():
        os.chmod(path, 0o600)  # an existing file keeps its mode through O_TRUNC: narrow it first
    write_subjects(path, [s.values for s in make_subjects(n)])
    files = sum(1 for r in reports if r.subjects)
    rejected = sum(1 for r in reports if r.kind == "rejected")
    console.print(f"planted {n} data subject(s) in {files} files; their identifiers are in {path} "
                  "(mode 600: personal data, keep it out of the lake)")  # fmt: skip
    # those files are meant to be rejected: a run's partial status is then expected, not a fault
    console.print(f"{rejected} of those files lack a column on purpose: preflight rejects them whole, "
                  "so the run that loads them ends partial (exit 3)")  # fmt: skip
    return True
