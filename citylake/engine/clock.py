"""The lake's clock: points in time as the people reading them expect, in the lake's time zone
with the offset shown."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from citylake.config.settings import LAKE_TIME_ZONE


def lake_time(value: Any, naive_is_local: bool = False) -> Any:
    """Every point in time in ``value`` (nested in dicts and lists too) in the lake's time zone,
    e.g. 2013-01-01T15:00:00+08:00. A naive datetime is a wall-clock reading without a zone
    (an Arrow TIMESTAMP_NTZ) and stays as it is, unless ``naive_is_local``: PySpark's
    ``collect`` returns a TIMESTAMP as a naive datetime in this process's local time."""
    if isinstance(value, dict):
        return {k: lake_time(v, naive_is_local) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [lake_time(v, naive_is_local) for v in value]
    if isinstance(value, dt.datetime) and (value.tzinfo is not None or naive_is_local):
        return value.astimezone(ZoneInfo(LAKE_TIME_ZONE))
    return value


def json_value(value: Any) -> str:
    """``json.dumps`` default: ISO-8601 for dates and times (with the offset), text otherwise."""
    return value.isoformat() if isinstance(value, dt.date | dt.time) else str(value)


def lake_today() -> dt.date:
    """Today in the lake's time zone (Asia/Shanghai), whatever the host's: the default logical
    date of every command that takes one."""
    return dt.datetime.now(ZoneInfo(LAKE_TIME_ZONE)).date()
