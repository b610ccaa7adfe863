"""Times as people read them: stored in UTC, shown in the hospital's time zone (default Asia/Shanghai).

The one place pages and messages turn an instant into wall-clock text; the browser side is
static/js/localtime.js, which formats with the same zone passed down from the server.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_TIME_ZONE = "Asia/Shanghai"

# The zones a hospital network in and around China meets, each with the catalog key of its name ("北京时间（UTC+8）").
TIME_ZONES: tuple[tuple[str, str], ...] = (
    ("Asia/Shanghai", "tz.Asia/Shanghai"), ("Asia/Urumqi", "tz.Asia/Urumqi"),
    ("Asia/Hong_Kong", "tz.Asia/Hong_Kong"), ("Asia/Macau", "tz.Asia/Macau"), ("Asia/Taipei", "tz.Asia/Taipei"),
    ("Asia/Singapore", "tz.Asia/Singapore"), ("Asia/Tokyo", "tz.Asia/Tokyo"), ("Asia/Seoul", "tz.Asia/Seoul"),
    ("Asia/Bangkok", "tz.Asia/Bangkok"), ("Asia/Dubai", "tz.Asia/Dubai"), ("Europe/London", "tz.Europe/London"),
    ("Europe/Berlin", "tz.Europe/Berlin"), ("America/New_York", "tz.America/New_York"),
    ("America/Los_Angeles", "tz.America/Los_Angeles"), ("UTC", "tz.UTC"),
)
ZONE_LABELS = dict(TIME_ZONES)


def zone_label(time_zone: str | None, translate: Callable[[str], str]) -> str:
    """A time zone as people name it in the reader's language (北京时间（UTC+8）); an unlisted zone by its name."""
    name = time_zone or DEFAULT_TIME_ZONE
    return translate(ZONE_LABELS[name]) if name in ZONE_LABELS else name


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
