"""Bronze's replay check: which of a batch's files a table already holds rows of.

Every bronze and quarantine commit names, in its userMetadata, its batch id and a token per
file whose rows it holds (a hash of the file's landing path and checksum). A batch that may
have been begun before looks through the commits made since then and writes each file's rows
only where no commit holds them yet, whatever batch the file is in now: a batch a crashed run
began, a partial batch (quarantine committed, bronze not) replayed in process, its files retried
one by one, or a file that failed in an earlier run retried with the next day's files.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from citylake.engine import delta_log
from citylake.lake import preflight

CLOCK_SLACK_MS = 60_000  # Delta stamps commits with this host's clock; a minute of slack for it


def since_now_ms() -> int:
    """The start of a replay window that opens now: commits from here on are this attempt's."""
    return int(time.time() * 1000) - CLOCK_SLACK_MS


def file_token(lf: preflight.LandedFile) -> str:
    return hashlib.sha256(f"{lf.rel}:{lf.sha256}".encode()).hexdigest()[:16]


def tokens(files: list[preflight.LandedFile]) -> list[str]:
    return sorted(file_token(lf) for lf in files)


def committed(path: str, batch_id: str, files: list[preflight.LandedFile], since_ms: int) -> dict[str, int]:
    """Landing path -> version of the newest commit since ``since_ms`` that holds that file's rows.

    A commit without file tokens (written before they existed) holds all files of its batch:
    a batch id is a hash of its files, so the same id means the same files.
    """
    by_token = {file_token(lf): lf.rel for lf in files}
    out: dict[str, int] = {}
    for version, info in delta_log.commits_since(path, since_ms):  # newest first
        meta: dict[str, Any] = info["userMetadata"] if isinstance(info.get("userMetadata"), dict) else {}
        if "files" in meta:
            held = [by_token[t] for t in meta["files"] if t in by_token]
        elif meta.get("batch_id") == batch_id:
            held = list(by_token.values())
        else:
            continue
        for rel in held:
            out.setdefault(rel, version)
    return out
