"""Backup reporting when a label is lost (S5): by typed ID, by hospital within its geofence, "my devices"."""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import time
from functools import lru_cache

from pypinyin import lazy_pinyin
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cloud.audit.service import Actor, record
from cloud.auth.models import User, Verification
from cloud.config import Settings, secret_key_bytes
from cloud.errors import Conflict, Forbidden, Invalid, NotFound
from cloud.events import emit
from cloud.registry.models import Device, DeviceClaim, DeviceGroup, Hospital
from cloud.tenancy import Scope

_SEPARATORS = re.compile(r"[\s\-_/.]+")
EARTH_RADIUS_M = 6_371_000.0


def normalize_identifier(text: str) -> str:
    """A typed serial or system number without case, spaces or dashes ('mf 000-123' -> 'MF000123')."""
    return _SEPARATORS.sub("", text).upper()


def _squashed(column):  # noqa: ANN001, ANN202 - SQL expression in, SQL expression out
    for separator in (" ", "-", "_", "/", "."):
        column = func.replace(column, separator, "")
    return func.upper(column)


def find_by_identifier(session: Session, *, text: str) -> Device | None:
    """The device whose nameplate serial or system number matches what was typed, ignoring case and dashes."""
    wanted = normalize_identifier(text)
    if len(wanted) < 3:
        return None
    matches = list(session.execute(select(Device).where(
        or_(_squashed(Device.serial) == wanted, _squashed(Device.system_number) == wanted))).scalars().all())
    # Two manufacturers may share a serial; then the typed text is ambiguous and the user must be more precise.
    return matches[0] if len(matches) == 1 else None


def find_by_serial_and_number(session: Session, *, serial: str, number: str) -> Device | None:
    """The device whose nameplate serial and system number both match (what an anonymous reporter must know)."""
    wanted_serial, wanted_number = normalize_identifier(serial), normalize_identifier(number)
    if len(wanted_serial) < 3 or len(wanted_number) < 3:
        return None
    matches = list(session.execute(select(Device).where(
        _squashed(Device.serial) == wanted_serial, _squashed(Device.system_number) == wanted_number)).scalars())
    return matches[0] if len(matches) == 1 else None


# A by-ID pass: what a reporter who proved serial and number holds instead of the label's code, for a while.
PASS_PREFIX = "bp."
PASS_TTL_S = 2 * 3600


def _pass_signature(settings: Settings, device_id: int, expires: int) -> str:
    message = f"by-id-pass:{device_id}:{expires}".encode()
    return hmac.new(secret_key_bytes(settings), message, hashlib.sha256).hexdigest()[:32]


def issue_pass(settings: Settings, *, device_id: int, now: float | None = None) -> str:
    """A signed, expiring token that lets its holder report device_id (never the label's code)."""
    expires = int((time.time() if now is None else now) + PASS_TTL_S)
    return f"{PASS_PREFIX}{device_id}.{expires}.{_pass_signature(settings, device_id, expires)}"


def pass_device(settings: Settings, token: str, *, now: float | None = None) -> int | None:
    """The device a by-ID pass was issued for, or None when it is forged, malformed or expired."""
    parts = token.removeprefix(PASS_PREFIX).split(".") if token.startswith(PASS_PREFIX) else []
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
        return None
    device_id, expires = int(parts[0]), int(parts[1])
    if not hmac.compare_digest(parts[2], _pass_signature(settings, device_id, expires)):
        return None
    return device_id if (time.time() if now is None else now) < expires else None


def find_group_by_identifier(session: Session, *, text: str) -> DeviceGroup | None:
    """The device group whose system number (MG-…) matches what was typed, ignoring case and dashes."""
    wanted = normalize_identifier(text)
    if len(wanted) < 3:
        return None
    return session.execute(select(DeviceGroup).where(_squashed(DeviceGroup.system_number) == wanted)).scalar()


@lru_cache(maxsize=4096)
def _spellings(name: str) -> tuple[str, str, str]:
    syllables = lazy_pinyin(name)
    return name.casefold(), "".join(syllables).casefold(), "".join(s[:1] for s in syllables).casefold()


def search_hospitals(session: Session, *, query: str, scope: Scope, limit: int = 10) -> list[Hospital]:
    """Hospitals whose name or alias matches in Chinese, full pinyin or pinyin initials (瑞金 / ruijin / rjyy)."""
    wanted = re.sub(r"\s+", "", query).casefold()
    if not wanted:
        return []
    stmt = select(Hospital).order_by(Hospital.name)
    stmt = scope.restrict(stmt, Hospital.id)
    found = []
    for hospital in session.execute(stmt).scalars():
        names = [hospital.name, *(hospital.aliases or [])]
        if any(wanted in spelling for name in names for spelling in _spellings(re.sub(r"\s+", "", name))):
            found.append(hospital)
        if len(found) >= limit:
            break
    return found


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


def devices_near(
    session: Session, *, hospital_id: int, latitude: float, longitude: float, user: User, scope: Scope
) -> list[Device]:
    """The hospital's devices, only for a verified user standing inside its geofence; refusals are audited."""
    if not user.is_staff and user.verification != Verification.verified:
        raise Forbidden("verify your account before reporting by hospital")
    hospital = session.get(Hospital, hospital_id)
    if hospital is None or not scope.allows(hospital.id):
        raise NotFound(f"hospital {hospital_id} not found")
    if hospital.latitude is None or hospital.longitude is None:
        raise Forbidden("this hospital has no location on file; report by device ID or ask the service desk")
    distance = distance_m(latitude, longitude, hospital.latitude, hospital.longitude)
    if distance > hospital.geofence_radius_m:
        record(session, actor=Actor(user.id, user.username), action="geofence_refused", entity="hospital",
               entity_id=hospital.id, hospital_id=hospital.id,
               after={"latitude": latitude, "longitude": longitude, "distance_m": round(distance),
                      "radius_m": hospital.geofence_radius_m})
        session.commit()  # the refusal is kept even though the request fails
        # The numbers travel as fields too, so a page can say it in the reader's language.
        raise Forbidden(f"you are about {round(distance)} m from {hospital.name}; reporting by hospital works "
                        f"only on site (within {hospital.geofence_radius_m} m)", code="outside_geofence",
                        distance_m=round(distance), radius_m=hospital.geofence_radius_m, hospital=hospital.name)
    return list(session.execute(select(Device).where(Device.hospital_id == hospital.id)
                                .order_by(Device.department_id, Device.system_number)).scalars())


def _claimer(user: User) -> int:
    if user.verification != Verification.verified or user.hospital_id is None:
        raise Forbidden("verify your account to keep a list of your devices")
    return user.hospital_id


def claims(session: Session, *, user: User) -> list[DeviceClaim]:
    """The user's claimed devices and groups, oldest first."""
    return list(session.execute(select(DeviceClaim).where(DeviceClaim.user_id == user.id)
                                .order_by(DeviceClaim.id)).scalars())


def claim(session: Session, *, user: User, device_id: int | None, group_id: int | None) -> DeviceClaim:
    """Add a device or group of the user's own hospital to "my devices"."""
    hospital_id = _claimer(user)
    if (device_id is None) == (group_id is None):
        raise Invalid("claim a device or a group", [{"field": "device_id", "message": "give exactly one"}])
    target = session.get(Device, device_id) if device_id is not None else session.get(DeviceGroup, group_id)
    if target is None or target.hospital_id != hospital_id:
        raise NotFound(f"{'device' if device_id is not None else 'device group'} {device_id or group_id} not found")
    row = DeviceClaim(user_id=user.id, device_id=device_id, group_id=group_id)
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError as exc:
        raise Conflict("already in your devices") from exc
    record(session, actor=Actor(user.id, user.username), action="claim", entity="device_claim", entity_id=row.id,
           hospital_id=hospital_id, after={"device_id": device_id, "group_id": group_id})
    emit(session, "device.claimed", user_id=user.id, device_id=device_id, group_id=group_id,
         hospital_id=hospital_id)  # service groups join the owner (cloud/servicegroups/flows.py)
    return row


def unclaim(session: Session, *, user: User, claim_id: int) -> None:
    """Remove an entry from "my devices"."""
    row = session.get(DeviceClaim, claim_id)
    if row is None or row.user_id != user.id:
        raise NotFound(f"claim {claim_id} not found")
    record(session, actor=Actor(user.id, user.username), action="unclaim", entity="device_claim", entity_id=row.id,
           hospital_id=user.hospital_id, before={"device_id": row.device_id, "group_id": row.group_id})
    session.delete(row)
    session.flush()
