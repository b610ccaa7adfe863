"""Times as people read them: stored in UTC, shown in the hospital's time zone (default Asia/Shanghai).

The one place pages and messages turn an instant into wall-clock text; the browser side is
static/js/localtime.js, which formats with the same zone passed down from the server.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_TIME_ZONE = "Asia/Shanghai"


@cache
def zone(name: str | None = None) -> ZoneInfo:
    """The ZoneInfo for name; unknown or empty names fall back to the default (never an error on a page)."""
    try:
        return ZoneInfo(name or DEFAULT_TIME_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TIME_ZONE)


def local_time(moment: datetime | None, time_zone: str | None = None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """moment (aware, or naive meaning UTC) as wall-clock text in time_zone; '' for None."""
    if moment is None:
        return ""
    aware = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    return aware.astimezone(zone(time_zone)).strftime(fmt)


def local_datetime(moment: datetime | None, time_zone: str | None = None) -> datetime | None:
    """moment as a naive wall-clock datetime in time_zone, to the second (a spreadsheet cell has no zone)."""
    if moment is None:
        return None
    aware = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    return aware.astimezone(zone(time_zone)).replace(tzinfo=None, microsecond=0)
