"""Complete deliveries only: when a landed file may be read.

An upload takes time. A file read while it is still being written loads truncated, and the
finished upload is then refused as a changed re-send. So each feed declares in its unit file how
its deliveries are known to be complete (``complete_when``, citylake.config.registry), and a file
that is not complete yet waits: it is not read, not rejected and not in the manifest, the run's
ledger shows it as ``waiting``, and a later run of the same date loads it.

- ``settled`` (the default, which asks nothing of the unit): the file has not changed for
  ``settle_s`` seconds. Its age comes from the store: on a file system, this host's clock
  against the modification time this host's kernel (or file server) wrote; an object on an
  object store is visible only once its upload completed, so it is complete as soon as it is
  listed.
- ``marker``: the unit writes a done-marker after the data: ``<name>.done`` beside each file
  (``{name}.done``), or one name such as ``_SUCCESS`` for the whole date folder. Markers are
  never loaded.
- ``rename``: the unit uploads under a hidden or temporary name and renames the file when it
  is complete, so every visible file is complete.

Whatever the rule, names starting with ``.`` or ``_`` or ending ``.tmp``, ``.part`` or
``.filepart`` are never picked up (``citylake.engine.storage.is_hidden``).
"""

from __future__ import annotations

from citylake.config.registry import Completeness
from citylake.engine.storage import FileInfo


def _split(marker: str) -> tuple[str, str] | None:
    """(prefix, suffix) of a per-file marker pattern, or None for one marker per folder."""
    if "{name}" not in marker:
        return None
    pre, _, post = marker.partition("{name}")
    return pre, post


def is_marker(name: str, rule: Completeness) -> bool:
    """Whether ``name`` is a done-marker of a feed with the marker rule (never a delivery)."""
    if rule.rule != "marker":
        return False
    parts = _split(rule.marker)
    if parts is None:
        return name == rule.marker
    pre, post = parts
    return len(name) > len(pre) + len(post) and name.startswith(pre) and name.endswith(post)


def waiting(info: FileInfo, names: set[str], rule: Completeness, default_settle_s: float, folder: str) -> str | None:
    """Why the landed file ``info`` is not complete yet (None: it is).

    ``names``: every name in its folder, hidden ones included (a marker may be hidden).
    """
    if rule.rule == "rename":
        return None
    if rule.rule == "marker":
        parts = _split(rule.marker)
        if parts is None:
            if rule.marker in names:
                return None
            return f"waiting for the delivery's done-marker {folder}/{rule.marker} (complete_when: marker)"
        wanted = parts[0] + info.path.rsplit("/", 1)[-1] + parts[1]
        return None if wanted in names else f"waiting for its done-marker {wanted} (complete_when: marker)"
    settle = float(rule.settle_s) if rule.settle_s is not None else default_settle_s
    if info.age_s is None or info.age_s >= settle:
        return None
    return (f"still being delivered: changed {info.age_s:.0f} s ago; loaded once unchanged for {settle:.0f} s "
            "(complete_when: settled)")  # fmt: skip
