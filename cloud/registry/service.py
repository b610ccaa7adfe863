"""Registry operations on the database. Keyword-only, no HTTP; callers commit."""

from __future__ import annotations

import re
import secrets
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from cloud.audit.service import Actor, record
from cloud.db import utcnow
from cloud.errors import Conflict, Invalid, NotFound
from cloud.numbering import next_number
from cloud.registry.models import Department, Device, DeviceGroup, DeviceStatus, Hospital
from cloud.registry.schemas import DeviceIn, DeviceUpdate, HospitalIn, HospitalUpdate
from cloud.tenancy import Scope


def _hospital_view(h: Hospital) -> dict[str, Any]:
    return {
        "name": h.name,
        "aliases": list(h.aliases or []),
        "address": h.address,
        "latitude": h.latitude,
        "longitude": h.longitude,
        "geofence_radius_m": h.geofence_radius_m,
        "invite_code_set": h.invite_code is not None,
        "invite_code_expires_at": h.invite_code_expires_at.isoformat() if h.invite_code_expires_at else None,
        "time_zone": h.time_zone,
        "hotline": h.hotline,
    }


# --- hospitals and departments -------------------------------------------------------------------


def list_hospitals(session: Session, *, scope: Scope) -> list[Hospital]:
    """Hospitals visible in scope, by name."""
    stmt = select(Hospital).options(selectinload(Hospital.departments)).order_by(Hospital.name)
    stmt = scope.restrict(stmt, Hospital.id)
    return list(session.execute(stmt).scalars())


def get_hospital(session: Session, *, hospital_id: int, scope: Scope) -> Hospital:
    """One hospital, or NotFound when it is missing or outside scope."""
    hospital = session.get(Hospital, hospital_id)
    if hospital is None or not scope.allows(hospital.id):
        raise NotFound(f"hospital {hospital_id} not found")
    return hospital


def create_hospital(session: Session, *, data: HospitalIn, actor: Actor) -> Hospital:
    """Add a hospital; a duplicate name or invite code is a Conflict."""
    hospital = Hospital(**data.model_dump())
    session.add(hospital)
    flush_unique(session, f"a hospital named {data.name!r} or with that invite code already exists")
    record(session, actor=actor, action="create", entity="hospital", entity_id=hospital.id,
           hospital_id=hospital.id, after=_hospital_view(hospital))
    return hospital


def update_hospital(session: Session, *, hospital_id: int, data: HospitalUpdate, actor: Actor) -> Hospital:
    """Change a hospital's fields."""
    hospital = get_hospital(session, hospital_id=hospital_id, scope=Scope.everything())
    before = _hospital_view(hospital)
    for field, value in data.model_dump(exclude_unset=True).items():
        setattr(hospital, field, value)
    if (hospital.latitude is None) != (hospital.longitude is None):
        raise Invalid("give both latitude and longitude, or neither",
                      [{"field": "latitude", "message": "latitude and longitude go together"}])
    flush_unique(session, "another hospital has that name or invite code")
    record(session, actor=actor, action="update", entity="hospital", entity_id=hospital.id,
           hospital_id=hospital.id, before=before, after=_hospital_view(hospital))
    return hospital


def delete_hospital(session: Session, *, hospital_id: int, actor: Actor) -> None:
    """Remove a hospital that has no devices, groups or users."""
    hospital = get_hospital(session, hospital_id=hospital_id, scope=Scope.everything())
    before = _hospital_view(hospital)
    session.delete(hospital)
    flush_unique(session, "the hospital still has devices, groups or users; move or remove them first")
    record(session, actor=actor, action="delete", entity="hospital", entity_id=hospital_id,
           hospital_id=hospital_id, before=before)


def create_department(session: Session, *, hospital_id: int, name: str, actor: Actor) -> Department:
    """Add a department to a hospital; names are unique within a hospital."""
    get_hospital(session, hospital_id=hospital_id, scope=Scope.everything())
    department = Department(hospital_id=hospital_id, name=name)
    session.add(department)
    flush_unique(session, f"department {name!r} already exists in this hospital")
    record(session, actor=actor, action="create", entity="department", entity_id=department.id,
           hospital_id=hospital_id, after={"name": name})
    return department


def rename_department(session: Session, *, department_id: int, name: str, actor: Actor) -> Department:
    """Give a department a new name, unique within its hospital."""
    department = session.get(Department, department_id)
    if department is None:
        raise NotFound(f"department {department_id} not found")
    before = {"name": department.name}
    department.name = name
    flush_unique(session, f"department {name!r} already exists in this hospital")
    record(session, actor=actor, action="update", entity="department", entity_id=department.id,
           hospital_id=department.hospital_id, before=before, after={"name": name})
    return department


def department_usage(session: Session, *, department_id: int) -> int:
    """How many devices and device groups sit in a department (an admin removes only empty ones)."""
    devices = session.execute(select(func.count()).where(Device.department_id == department_id)).scalar_one()
    groups = session.execute(select(func.count()).where(DeviceGroup.department_id == department_id)).scalar_one()
    return int(devices) + int(groups)


# Crockford's base32 alphabet: no I, L, O or U, so a code read out over the phone is not mistyped.
_INVITE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_invite_code() -> str:
    """A random invite code of 60 bits in three groups of four (e.g. 7KQ2-M9XD-4RTA)."""
    raw = "".join(secrets.choice(_INVITE_ALPHABET) for _ in range(12))
    return "-".join(raw[i:i + 4] for i in range(0, 12, 4))


def invite_code_expired(hospital: Hospital, *, now: datetime | None = None) -> bool:
    """Whether the hospital's invite code is past its expiry (a code without one never expires)."""
    expires = hospital.invite_code_expires_at
    return expires is not None and expires <= (now or utcnow())


INVITE_DEFAULT_DAYS = 30
INVITE_MAX_DAYS = 365


def rotate_invite_code(session: Session, *, hospital_id: int, valid_days: int | None, actor: Actor) -> Hospital:
    """Give a hospital a new random invite code valid for valid_days (None: INVITE_DEFAULT_DAYS; every code
    expires, finding 5 of issue #13); the old code stops at once. Admins never choose a code."""
    valid_days = INVITE_DEFAULT_DAYS if valid_days is None else valid_days
    if not 1 <= valid_days <= INVITE_MAX_DAYS:
        raise Invalid(f"an invite code is valid for 1 to {INVITE_MAX_DAYS} days",
                      [{"field": "valid_days", "message": f"1 to {INVITE_MAX_DAYS}"}])
    hospital = get_hospital(session, hospital_id=hospital_id, scope=Scope.everything())
    before = _hospital_view(hospital)
    hospital.invite_code = new_invite_code()
    hospital.invite_code_expires_at = utcnow() + timedelta(days=valid_days)
    flush_unique(session, "invite code clash; try again")
    record(session, actor=actor, action="rotate_invite_code", entity="hospital", entity_id=hospital.id,
           hospital_id=hospital.id, before=before, after=_hospital_view(hospital))
    return hospital


def revoke_invite_code(session: Session, *, hospital_id: int, actor: Actor) -> Hospital:
    """Withdraw a hospital's invite code: new lab users then wait for an admin's approval."""
    hospital = get_hospital(session, hospital_id=hospital_id, scope=Scope.everything())
    before = _hospital_view(hospital)
    hospital.invite_code, hospital.invite_code_expires_at = None, None
    record(session, actor=actor, action="revoke_invite_code", entity="hospital", entity_id=hospital.id,
           hospital_id=hospital.id, before=before, after=_hospital_view(hospital))
    return hospital


def delete_department(session: Session, *, department_id: int, actor: Actor) -> None:
    """Remove a department; its devices keep their hospital and lose the department."""
    department = session.get(Department, department_id)
    if department is None:
        raise NotFound(f"department {department_id} not found")
    record(session, actor=actor, action="delete", entity="department", entity_id=department.id,
           hospital_id=department.hospital_id, before={"name": department.name})
    session.delete(department)
    session.flush()


# --- devices -------------------------------------------------------------------------------------


def list_devices(
    session: Session,
    *,
    scope: Scope,
    q: str | None = None,
    hospital_id: int | None = None,
    department_id: int | None = None,
    status: DeviceStatus | None = None,
    category: str | None = None,
    group_id: int | None = None,
    ungrouped: bool = False,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Device], int]:
    """Devices in scope matching the filters, by system number, with the total count."""
    stmt = select(Device)
    stmt = scope.restrict(stmt, Device.hospital_id)
    if hospital_id is not None:
        stmt = stmt.where(Device.hospital_id == hospital_id)
    if department_id is not None:
        stmt = stmt.where(Device.department_id == department_id)
    if status is not None:
        stmt = stmt.where(Device.status == status)
    if category:
        stmt = stmt.where(Device.category == category)
    if group_id is not None:
        stmt = stmt.where(Device.group_id == group_id)
    if ungrouped:
        stmt = stmt.where(Device.group_id.is_(None))
    if q:
        like = f"%{q.strip().lower()}%"
        stmt = stmt.where(or_(*(func.lower(c).like(like) for c in (
            Device.system_number, Device.serial, Device.manufacturer, Device.model, Device.category))))
    total = session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    stmt = stmt.options(selectinload(Device.hospital), selectinload(Device.department))
    rows = session.execute(stmt.order_by(Device.system_number).limit(limit).offset(offset)).scalars().all()
    return list(rows), int(total)


def get_device(session: Session, *, device_id: int, scope: Scope) -> Device:
    """One device, or NotFound when it is missing or outside scope."""
    device = session.get(Device, device_id)
    if device is None or not scope.allows(device.hospital_id):
        raise NotFound(f"device {device_id} not found")
    return device


def _check_department(session: Session, hospital_id: int, department_id: int | None) -> None:
    if department_id is None:
        return
    department = session.get(Department, department_id)
    if department is None or department.hospital_id != hospital_id:
        raise Invalid("the department does not belong to the device's hospital",
                      [{"field": "department_id", "message": "not a department of this hospital"}])


# A system number typed by hand (an asset tag the hospital already uses); MF-/MG- plus six digits stay reserved
# for generated numbers, so the counter can never run into a hand-entered one.
_HAND_NUMBER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,31}$")
_GENERATED = re.compile(r"^(MF|MG|WO)-\d{6}$", re.IGNORECASE)


def check_system_number(session: Session, *, system_number: str, device_id: int | None = None) -> str:
    """A hand-entered system number, stripped; Invalid when malformed or reserved, Conflict when taken."""
    number = system_number.strip()
    if not _HAND_NUMBER.match(number):
        raise Invalid("a system number is 1 to 32 letters, digits, '.', '_', '/' or '-'",
                      [{"field": "system_number", "message": "malformed"}])
    if _GENERATED.match(number):
        raise Invalid("numbers like MF-000123 are generated; leave the field empty to get one",
                      [{"field": "system_number", "message": "reserved"}])
    taken = session.execute(select(Device.id).where(func.lower(Device.system_number) == number.lower())).scalar()
    if taken is not None and taken != device_id:
        raise Conflict(f"system number {number} is already in use", field="system_number")
    return number


def check_dates(install_date: date | None, warranty_end: date | None) -> None:
    """A warranty cannot end before the device was installed (a typo in the year, most often)."""
    if install_date is not None and warranty_end is not None and warranty_end < install_date:
        raise Invalid("the warranty ends before the device was installed",
                      [{"field": "warranty_end", "message": "before the install date"}])


def build_device(session: Session, *, data: DeviceIn, system_number: str | None = None) -> Device:
    """A new, numbered device checked against the registry; added to the session, not yet flushed."""
    if session.get(Hospital, data.hospital_id) is None:
        raise Invalid("unknown hospital", [{"field": "hospital_id", "message": "no such hospital"}])
    check_dates(data.install_date, data.warranty_end)
    _check_department(session, data.hospital_id, data.department_id)
    number = (check_system_number(session, system_number=system_number) if system_number
              else next_number(session, "device"))
    device = Device(system_number=number, **data.model_dump())
    session.add(device)
    return device


def create_device(session: Session, *, data: DeviceIn, actor: Actor, system_number: str | None = None) -> Device:
    """Register a device (system number generated, or entered by hand and checked unique); a nameplate serial
    already used by the same manufacturer is a Conflict."""
    device = build_device(session, data=data, system_number=system_number)
    flush_unique(session, f"{data.manufacturer} serial {data.serial!r} is already registered")
    record(session, actor=actor, action="create", entity="device", entity_id=device.id,
           hospital_id=device.hospital_id, after=device.audit_view())
    return device


def update_device(session: Session, *, device_id: int, data: DeviceUpdate, actor: Actor) -> Device:
    """Change a device's fields."""
    device = get_device(session, device_id=device_id, scope=Scope.everything())
    before = device.audit_view()
    changes = data.model_dump(exclude_unset=True)
    if "hospital_id" in changes and changes["hospital_id"] != device.hospital_id:
        if session.get(Hospital, changes["hospital_id"]) is None:
            raise Invalid("unknown hospital", [{"field": "hospital_id", "message": "no such hospital"}])
        if device.group_id is not None:
            raise Conflict("remove the device from its group before moving it to another hospital")
        if "department_id" not in changes:
            changes["department_id"] = None
    check_dates(changes.get("install_date", device.install_date), changes.get("warranty_end", device.warranty_end))
    for field, value in changes.items():
        setattr(device, field, value)
    _check_department(session, device.hospital_id, device.department_id)
    flush_unique(session, f"{device.manufacturer} serial {device.serial!r} is already registered")
    record(session, actor=actor, action="update", entity="device", entity_id=device.id,
           hospital_id=device.hospital_id, before=before, after=device.audit_view())
    return device


def delete_device(session: Session, *, device_id: int, actor: Actor) -> None:
    """Remove a device (a retired one is usually better kept with status 'retired')."""
    device = get_device(session, device_id=device_id, scope=Scope.everything())
    record(session, actor=actor, action="delete", entity="device", entity_id=device.id,
           hospital_id=device.hospital_id, before=device.audit_view())
    group = device.group
    session.delete(device)
    session.flush()
    if group is not None:
        session.refresh(group)
        renumber(group.members)


def renumber(members: list[Device]) -> None:
    for position, member in enumerate(members, start=1):
        member.group_position = position


def flush_unique(session: Session, message: str) -> None:
    """Flush; turn a unique or foreign-key violation into a Conflict with a human message."""
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise Conflict(message) from exc

