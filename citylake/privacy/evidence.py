"""What each request did, value-free, kept in the lake for its certificate:
``_system/privacy/<request>/<step>.json`` (paths, versions, counts and checksums; never a value)."""

from __future__ import annotations

import json
from typing import Any

from citylake.engine.storage import store_for
from citylake.lake import Lake
from citylake.lake.subject_ledger import REQUEST_ID  # one rule for request ids: the ledger's


def check_request_id(request_id: str) -> str:
    """A request id becomes part of paths and table properties: letters, digits, . _ - only."""
    if not REQUEST_ID.match(request_id):
        raise ValueError(f"request id {request_id!r}: use 1-64 letters, digits, '.', '_' or '-', starting with "
                         "a letter or digit")  # fmt: skip
    return request_id


def path(lake: Lake, request_id: str, step: str) -> str:
    return f"{lake.zone('_system')}/privacy/{check_request_id(request_id)}/{step}.json"


def write(lake: Lake, request_id: str, step: str, record: dict[str, Any]) -> str:
    where = path(lake, request_id, step)
    store_for(lake.root).write_bytes(where, json.dumps(record, indent=1, sort_keys=True, default=str).encode())
    return where


def read(lake: Lake, request_id: str, step: str) -> dict[str, Any] | None:
    store = store_for(lake.root)
    where = path(lake, request_id, step)
    if not store.exists(where):
        return None
    data: dict[str, Any] = json.loads(store.read_bytes(where))
    return data
