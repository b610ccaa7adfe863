"""'My devices' from the hospital's list (issue 12, defect 13): a lab user ticks several devices or groups of their
hospital, searched and grouped by department, and adds them in one go instead of one repair page at a time."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload

from cloud.auth.models import User, Verification
from cloud.db import SessionDep
from cloud.errors import Conflict, NotFound
from cloud.registry import backup
from cloud.registry.models import Device, DeviceGroup
from cloud.web.admin_forms import done, refuse
from cloud.web.pages import page_user, render

router = APIRouter(include_in_schema=False)


def hospital_devices(session: Session, *, hospital_id: int, q: str | None = None) -> list[Device]:
    """The hospital's devices in service life (not retired), by department and number; q searches them."""
    stmt = (select(Device).where(Device.hospital_id == hospital_id, Device.status != "retired")
            .options(selectinload(Device.department)).order_by(Device.department_id, Device.system_number))
    if q:
        like = f"%{q.strip().lower()}%"
        stmt = stmt.where(or_(*(func.lower(c).like(like) for c in (
            Device.system_number, Device.serial, Device.manufacturer, Device.model))))
    return list(session.execute(stmt).scalars())


@router.get("/my/devices/add")
def claim_page(request: Request, session: SessionDep, user: Annotated[User, page_user()],
               q: Annotated[str | None, Query(max_length=50)] = None) -> Response:
    """The hospital's devices and groups by department, ticked ones added to "my devices" at once."""
    verified = user.verification == Verification.verified and user.hospital_id is not None
    devices = hospital_devices(session, hospital_id=user.hospital_id, q=q) if verified and user.hospital_id else []
    groups = list(session.execute(select(DeviceGroup).where(DeviceGroup.hospital_id == user.hospital_id)
                                  .order_by(DeviceGroup.name)).scalars()) if verified and not q else []
    mine = backup.claims(session, user=user)
    by_department: dict[str, list[Device]] = {}
    for device in devices:
        by_department.setdefault(device.department.name if device.department else "", []).append(device)
    return render(request, "h5/claim_devices.html", user, verified=verified, q=q or "", by_department=by_department,
                  groups=groups, claimed_devices={c.device_id for c in mine if c.device_id},
                  claimed_groups={c.group_id for c in mine if c.group_id})


@router.post("/my/devices/add")
def claim_submit(request: Request, session: SessionDep, user: Annotated[User, page_user()],
                 device_ids: Annotated[list[str] | None, Form()] = None,
                 group_ids: Annotated[list[str] | None, Form()] = None) -> JSONResponse:
    """Add every ticked device and group, all or nothing; ones already in the list are skipped."""
    if user.verification != Verification.verified or user.hospital_id is None:
        return refuse(request, "Verify your account with your hospital's invite code first.", status=403)
    picks: list[tuple[int | None, int | None]] = [(int(i), None) for i in device_ids or [] if i.isdigit()]
    picks += [(None, int(i)) for i in group_ids or [] if i.isdigit()]
    if not picks:
        return refuse(request, "Tick the devices to add.")
    # Every pick is checked before the first is written: a savepoint released on SQLite commits, so a refusal
    # half-way through would leave the earlier picks saved.
    wanted_devices = [d for d, _ in picks if d is not None]
    wanted_groups = [g for _, g in picks if g is not None]
    own_devices = set(session.execute(select(Device.id).where(
        Device.id.in_(wanted_devices), Device.hospital_id == user.hospital_id)).scalars())
    own_groups = set(session.execute(select(DeviceGroup.id).where(
        DeviceGroup.id.in_(wanted_groups), DeviceGroup.hospital_id == user.hospital_id)).scalars())
    if own_devices != set(wanted_devices) or own_groups != set(wanted_groups):
        return refuse(request, "A ticked device is not in your hospital; nothing was added.", status=404)
    mine = backup.claims(session, user=user)
    have = {(c.device_id, c.group_id) for c in mine}
    added = 0
    for device_id, group_id in dict.fromkeys(picks):
        if (device_id, group_id) in have:
            continue  # already in the list: nothing to do
        try:
            backup.claim(session, user=user, device_id=device_id, group_id=group_id)
        except (Conflict, NotFound):
            continue  # a second tab added it meanwhile, or it was just removed
        added += 1
    session.commit()
    return done(request, "Added to my devices", redirect="/my/devices", added=added)
