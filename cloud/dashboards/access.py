"""Who sees which hospitals' numbers, and turning a request's filters into checked aggregate Filters.

The desk (admin, agent, service centre) sees every hospital; an engineer the hospitals they serve (none listed:
every hospital, as dispatching treats it); a verified lab user who manages their lab (is_lab_manager) their own
hospital. Anyone else has no dashboards (403). A filter naming a hospital, department, device group or device
outside what the user may see reads as not found (404), exactly like an id that does not exist: other hospitals'
ids must not be probeable.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.auth.models import DESK_ROLES, Role, User, Verification
from cloud.dashboards.aggregates import AGE_BANDS, Filters, Origin
from cloud.errors import Forbidden, Invalid, NotFound
from cloud.localtime import DEFAULT_TIME_ZONE, zone
from cloud.registry.models import Department, Device, DeviceGroup, Hospital


def may_use(user: User) -> bool:
    """Whether the user has dashboards at all."""
    if user.role in DESK_ROLES or user.role == Role.engineer:
        return True
    return (user.role == Role.lab_user and user.is_lab_manager and user.verification == Verification.verified
            and user.hospital_id is not None)


def visible_hospitals(user: User) -> tuple[int, ...] | None:
    """The hospitals whose numbers the user may see; None: all of them."""
    if not may_use(user):
        raise Forbidden("the dashboards are for the service desk, engineers and lab managers")
    if user.role in DESK_ROLES:
        return None
    if user.role == Role.engineer:
        return tuple(user.service_hospital_ids or ()) or None
    assert user.hospital_id is not None
    return (user.hospital_id,)


def parse_day(value: str | None, field: str, *, end: bool, time_zone: str) -> datetime | None:
    """'YYYY-MM' or 'YYYY-MM-DD' in time_zone as a UTC instant: the start of it, or (end) the start of the next."""
    if not value:
        return None
    try:
        if len(value) == 7:
            first = date.fromisoformat(f"{value}-01")
            day = (first.replace(day=28) + timedelta(days=4)).replace(day=1) if end else first
        else:
            day = date.fromisoformat(value) + (timedelta(days=1) if end else timedelta(0))
    except ValueError as exc:
        raise Invalid(f"{field} is not a date: {value}", [{"field": field, "message": "use YYYY-MM or YYYY-MM-DD"}]
                      ) from exc
    return datetime.combine(day, time(), tzinfo=zone(time_zone)).astimezone(UTC)


def build_filters(
    session: Session,
    user: User,
    *,
    start: str | None = None,
    end: str | None = None,
    hospital_ids: list[int] | None = None,
    department_ids: list[int] | None = None,
    models: list[str] | None = None,
    categories: list[str] | None = None,
    device_ids: list[int] | None = None,
    group_ids: list[int] | None = None,
    age_bands: list[str] | None = None,
    source: str | None = None,
) -> Filters:
    """A request's filters, checked against what exists and what the user may see.

    start/end are calendar months or days in the reporting zone (the hospital's when one is chosen); end is
    inclusive ('2026-11' runs to the end of November). Without start, the last twelve months up to end.
    """
    allowed = visible_hospitals(user)
    hospitals = tuple(dict.fromkeys(hospital_ids or ()))
    for hospital_id in hospitals:
        if session.get(Hospital, hospital_id) is None or (allowed is not None and hospital_id not in allowed):
            raise NotFound(f"hospital {hospital_id} not found", field="hospital_id")
    if allowed is not None and not hospitals:
        hospitals = allowed
    reach = hospitals or allowed  # what the other ids must belong to (None: anywhere)
    _check_members(session, Department, Department.hospital_id, department_ids, reach, "department")
    _check_members(session, DeviceGroup, DeviceGroup.hospital_id, group_ids, reach, "device group")
    _check_members(session, Device, Device.hospital_id, device_ids, reach, "device")
    bands = tuple(dict.fromkeys(age_bands or ()))
    for band in bands:
        if band not in AGE_BANDS:
            raise Invalid(f"unknown age band {band}", [{"field": "age_band", "message": "unknown"}])
    origin = None
    if source:
        try:
            origin = Origin(source)
        except ValueError as exc:
            raise Invalid(f"unknown source {source}", [{"field": "source", "message": "reported or predictive"}]
                          ) from exc
    time_zone = DEFAULT_TIME_ZONE
    if len(hospitals) == 1:
        hospital = session.get(Hospital, hospitals[0])
        time_zone = (hospital.time_zone if hospital else None) or DEFAULT_TIME_ZONE
    if not start and not end:
        start, end = default_range(time_zone)
    start_at = parse_day(start, "start", end=False, time_zone=time_zone)
    end_at = parse_day(end, "end", end=True, time_zone=time_zone)
    filters = Filters(start=start_at, end=end_at, hospital_ids=hospitals,
                      department_ids=tuple(dict.fromkeys(department_ids or ())),
                      models=tuple(dict.fromkeys(m for m in models or () if m)),
                      device_categories=tuple(dict.fromkeys(c for c in categories or () if c)),
                      device_ids=tuple(dict.fromkeys(device_ids or ())),
                      group_ids=tuple(dict.fromkeys(group_ids or ())), age_bands=bands, source=origin,
                      time_zone=time_zone)
    if start_at is None and end_at is not None:
        filters = replace(filters, start=_year_before(end_at, time_zone))
    return filters.validated()


def _year_before(end: datetime, time_zone: str) -> datetime:
    local = end.astimezone(zone(time_zone))
    return datetime(local.year - 1, local.month, 1, tzinfo=zone(time_zone)).astimezone(UTC)


def _check_members(session: Session, model: Any, hospital_column: Any, ids: list[int] | None,
                   reach: tuple[int, ...] | None, what: str) -> None:
    if not ids:
        return
    found = {int(i): int(h) for i, h in session.execute(select(model.id, hospital_column).where(model.id.in_(ids)))}
    for ident in ids:
        if ident not in found or (reach is not None and found[ident] not in reach):
            raise NotFound(f"{what} {ident} not found", field=what.replace(" ", "_") + "_id")


def default_range(time_zone: str = DEFAULT_TIME_ZONE, now: datetime | None = None) -> tuple[str, str]:
    """The page's first range: the last twelve months including this one, as 'YYYY-MM'."""
    local = (now or datetime.now(UTC)).astimezone(zone(time_zone))
    year, month = local.year, local.month - 11
    if month < 1:
        year, month = year - 1, month + 12
    return f"{year:04d}-{month:02d}", f"{local.year:04d}-{local.month:02d}"
