"""Upload brakes (security finding 3 of issue #13): anyone may upload a photo or a voice note before reporting, so
uploads are limited per minute and per day: files and megabytes per reporter (the account, else the address),
megabytes per hospital (its accounts together). Counted in Redis when configured (shared by the workers), else
in the process (cloud/ratelimit.py); a refused upload uses up nothing of the daily quotas."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from sqlalchemy import select

from cloud.auth.models import User
from cloud.config import Settings
from cloud.errors import DomainError
from cloud.i18n import pick_language, translate
from cloud.i18n_catalogs import N_
from cloud.localtime import zone
from cloud.ratelimit import RateLimiter, client_address, limiter_for
from cloud.registry.models import Hospital

DAY_S = 86_400
MB = 1024 * 1024
TOO_FAST = N_("Too many uploads in a short time. Please wait a minute and try again.")
REPORTER_FULL = N_("You have reached today's upload limit. Please try again tomorrow, or describe the fault in "
                   "words.")
CONVERSIONS_TOO_FAST = N_("Too many WeChat photos and voice notes in a short time. Please wait a minute and try "
                          "again.")
HOSPITAL_FULL = N_("Your hospital has reached today's upload limit. Please try again tomorrow, or describe the "
                   "fault in words.")


class UploadLimited(DomainError):
    """Too many uploads this minute, or a daily quota is used up."""

    status_code = 429


def _refuse(request: Any, text: str, retry_after: int) -> UploadLimited:
    from cloud.web.fallback import LANGUAGE_COOKIE

    language = pick_language(request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language"))
    return UploadLimited(translate(text, language), code="upload_limited", retry_after=retry_after)


def check_rate(request: Any, settings: Settings, user: User | None) -> None:
    """UploadLimited when the uploader sent more than uploads_per_minute this minute."""
    if not limiter_for(request.app.state, "uploads").allow(reporter_key(request, user), settings.uploads_per_minute):
        raise _refuse(request, TOO_FAST, 60)


def check_conversions(request: Any, settings: Settings, user: User | None) -> None:
    """UploadLimited when the uploader asked for more than media_conversions_per_minute WeChat media fetches and
    voice conversions this minute (each costs the background worker a download and an ffmpeg run)."""
    if not limiter_for(request.app.state, "media-conversions").allow(reporter_key(request, user),
                                                                     settings.media_conversions_per_minute):
        raise _refuse(request, CONVERSIONS_TOO_FAST, 60)


def reporter_key(request: Any, user: User | None) -> str:
    """Whom uploads are counted against: the account, else the client address."""
    return f"user:{user.id}" if user is not None else f"address:{client_address(request)}"


def charge(request: Any, settings: Settings, user: User | None, size: int, *, files: int = 1) -> None:
    """Count files uploads of size bytes against today's quotas; UploadLimited (nothing counted) when one is full."""
    hospital_id = user.hospital_id if user is not None else None
    refused = charge_reporter(request.app.state, settings, reporter_key(request, user), hospital_id, size,
                              files=files)
    if refused is not None:
        offset = utc_offset_s(request.app.state, hospital_id, time.time())
        raise _refuse(request, refused, int(DAY_S - (time.time() + offset) % DAY_S) + 1)  # at local midnight


def utc_offset_s(state: Any, hospital_id: int | None, now: float) -> float:
    """The UTC offset of the hospital's time zone at now (the default zone's for an unknown hospital): "today"
    is the hospital's day, so quotas start afresh at its midnight, not at 08:00 in Beijing."""
    name = None
    if hospital_id is not None:
        with state.sessionmaker() as session:
            name = session.execute(select(Hospital.time_zone).where(Hospital.id == hospital_id)).scalar_one_or_none()
    offset = datetime.fromtimestamp(now, zone(name)).utcoffset()
    return offset.total_seconds() if offset is not None else 0.0


def charge_reporter(state: Any, settings: Settings, reporter: str, hospital_id: int | None, size: int, *,
                    files: int = 1, now: float | None = None) -> str | None:
    """Charge today's quotas of reporter (and hospital); the refusal text (nothing counted) when one is full.
    Today is the hospital's day, in its time zone.

    The background worker of WeChat media charges the bytes it fetched this way, without a request."""
    offset = utc_offset_s(state, hospital_id, time.time() if now is None else now)
    charges: list[tuple[RateLimiter, str, int, int, str]] = [
        (limiter_for(state, "upload-files", window_s=DAY_S), reporter, files, settings.upload_daily_files,
         REPORTER_FULL),
        (limiter_for(state, "upload-bytes", window_s=DAY_S), reporter, size, settings.upload_daily_mb * MB,
         REPORTER_FULL),
    ]
    if hospital_id is not None:
        charges.append((limiter_for(state, "upload-hospital-bytes", window_s=DAY_S), f"hospital:{hospital_id}",
                        size, settings.upload_daily_hospital_mb * MB, HOSPITAL_FULL))
    taken: list[tuple[RateLimiter, str, int]] = []
    for limiter, key, amount, limit, text in charges:
        if not limit or not amount:  # 0: no quota; nothing to charge (the request's 0 bytes, the worker's 0 files)
            continue
        if not limiter.take(key, amount, limit, now=now, offset_s=offset):
            for done, done_key, done_amount in taken:
                done.give_back(done_key, done_amount, now=now, offset_s=offset)
            return text
        taken.append((limiter, key, amount))
    return None
