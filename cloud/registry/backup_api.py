"""Backup reporting API: hospital search, devices inside a geofence, and "my devices"."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud.audit.service import Actor
from cloud.db import SessionDep
from cloud.deps import CurrentUser, ScopeDep
from cloud.qr import service as qr_service
from cloud.qr.models import TargetKind
from cloud.registry import backup
from cloud.registry.models import Device, DeviceGroup
from cloud.tickets.models import Ticket
from cloud.tickets.state import OPEN, Status

router = APIRouter(prefix="/api/v1", tags=["backup reporting"])


class HospitalHit(BaseModel):
    """A hospital matching a search."""

    id: int
    name: str
    address: str


class Position(BaseModel):
    """Where the browser says the user stands."""

    model_config = ConfigDict(extra="forbid")

    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)


class DeviceEntry(BaseModel):
    """A device to pick, with the label code its repair page lives under."""

    id: int
    system_number: str
    manufacturer: str
    model: str
    serial: str
    department: str | None
    status: str
    maintenance_score: int
    code: str
    open_tickets: int = 0


class ClaimIn(BaseModel):
    """Claim a device or a group."""

    model_config = ConfigDict(extra="forbid")

    device_id: int | None = None
    group_id: int | None = None


class ClaimOut(BaseModel):
    """One "my devices" entry: a device, or a group with its members."""

    id: int
    kind: str
    name: str
    code: str
    devices: list[DeviceEntry]
    open_tickets: int
    last_ticket: str | None


def _open_counts(session: Session, device_ids: list[int]) -> dict[int, int]:
    if not device_ids:
        return {}
    rows = session.execute(select(Ticket.device_id, func.count()).where(
        Ticket.device_id.in_(device_ids), Ticket.status.in_(list(OPEN | {Status.resolved})))
        .group_by(Ticket.device_id)).all()
    return {int(device_id): int(count) for device_id, count in rows}


def _entries(session: Session, devices: list[Device], actor: Actor) -> list[DeviceEntry]:
    codes = qr_service.codes_for(session, kind=TargetKind.device, targets=devices, actor=actor)
    counts = _open_counts(session, [d.id for d in devices])
    return [DeviceEntry(id=d.id, system_number=d.system_number, manufacturer=d.manufacturer, model=d.model,
                        serial=d.serial, department=d.department.name if d.department else None,
                        status=d.status.value, maintenance_score=d.maintenance_score, code=codes[d.id].code,
                        open_tickets=counts.get(d.id, 0)) for d in devices]


@router.get("/hospitals/search", response_model=list[HospitalHit])
def search(
    session: SessionDep, scope: ScopeDep, q: Annotated[str, Query(min_length=1, max_length=50)]
) -> list[HospitalHit]:
    """Hospitals by part of the name, in Chinese, pinyin or pinyin initials."""
    return [HospitalHit(id=h.id, name=h.name, address=h.address)
            for h in backup.search_hospitals(session, query=q, scope=scope)]


@router.post("/hospitals/{hospital_id}/nearby-devices", response_model=list[DeviceEntry])
def nearby_devices(
    hospital_id: int, body: Position, session: SessionDep, scope: ScopeDep, user: CurrentUser
) -> list[DeviceEntry]:
    """The hospital's devices for a verified user inside its geofence (403 outside, and audited)."""
    devices = backup.devices_near(session, hospital_id=hospital_id, latitude=body.latitude,
                                  longitude=body.longitude, user=user, scope=scope)
    entries = _entries(session, devices, Actor(user.id, user.username))
    session.commit()  # codes issued on first use must persist: the user follows them next
    return entries


@router.get("/me/devices", response_model=list[ClaimOut])
def my_devices(session: SessionDep, user: CurrentUser) -> list[ClaimOut]:
    """The caller's claimed devices and groups with status, open tickets and their repair links."""
    # A device without a code yet gets one so the list can link to its repair page: the system's doing, not the
    # person's (the audit log named the lab user as having issued labels just by opening their list).
    actor = Actor.system("my-devices")
    out = []
    for row in backup.claims(session, user=user):
        if row.device is not None:
            devices, name, kind, target = [row.device], f"{row.device.system_number} {row.device.model}", "device", \
                row.device
        else:
            group: DeviceGroup = row.group  # type: ignore[assignment]
            devices, name, kind, target = list(group.members), group.name, "device_group", group
        code = qr_service.code_for(session, kind=TargetKind(kind), target_id=target.id, actor=actor).code
        entries = _entries(session, devices, actor)
        last = session.execute(select(Ticket.number).where(Ticket.device_id.in_([d.id for d in devices]))
                               .order_by(Ticket.created_at.desc()).limit(1)).scalar()
        out.append(ClaimOut(id=row.id, kind=kind, name=name, code=code, devices=entries,
                            open_tickets=sum(e.open_tickets for e in entries), last_ticket=last))
    session.commit()
    return out


@router.post("/me/claims", status_code=status.HTTP_201_CREATED)
def add_claim(body: ClaimIn, session: SessionDep, user: CurrentUser) -> dict[str, int]:
    """Add a device or group of the caller's hospital to "my devices"."""
    row = backup.claim(session, user=user, device_id=body.device_id, group_id=body.group_id)
    session.commit()
    return {"id": row.id}


@router.delete("/me/claims/{claim_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_claim(claim_id: int, session: SessionDep, user: CurrentUser) -> None:
    """Remove an entry from "my devices"."""
    backup.unclaim(session, user=user, claim_id=claim_id)
    session.commit()

