"""Times are stored in UTC and shown in the hospital's time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from cloud.localtime import local_time


def test_utc_instant_reads_as_shanghai_wall_clock_by_default() -> None:
    assert local_time(datetime(2026, 12, 2, 15, 22, tzinfo=UTC)) == "2026-12-02 23:22"


def test_naive_values_mean_utc_as_stored() -> None:
    assert local_time(datetime(2026, 12, 2, 15, 22)) == "2026-12-02 23:22"


def test_another_hospital_zone_and_format() -> None:
    moment = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    assert local_time(moment, "Asia/Urumqi", "%H:%M") == "18:00"
    assert local_time(moment.astimezone(timezone(timedelta(hours=-5))), "Asia/Shanghai") == "2026-07-01 20:00"


def test_unknown_zone_and_missing_time_never_break_a_page() -> None:
    assert local_time(datetime(2026, 12, 2, 15, 22, tzinfo=UTC), "Mars/Olympus") == "2026-12-02 23:22"
    assert local_time(None) == ""
