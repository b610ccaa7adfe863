"""Admin console: hospitals (name, aliases, address, geofence, time zone, hotline), departments, invite codes."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud.auth import accounts
from cloud.auth.models import User
from cloud.db import SessionDep
from cloud.errors import Conflict, Invalid, NotFound
from cloud.localtime import DEFAULT_TIME_ZONE, TIME_ZONES, ZONE_LABELS
from cloud.registry import service as registry_service
from cloud.registry.models import Department, Device, Hospital
from cloud.registry.schemas import HospitalIn, HospitalUpdate
from cloud.reports.monthly import current_month
from cloud.reports.service import monthly_report_url
from cloud.tenancy import Scope
from cloud.web.admin_forms import AdminPage, actor, done, number, refuse, refuse_invalid
from cloud.web.pages import render

router = APIRouter(include_in_schema=False)


def admin_render(request: Request, session: Session, template: str, user: User, **context: Any) -> Response:
    """An admin console page with the sub-navigation's pending-verification count."""
    return render(request, template, user, pending_verifications=len(accounts.verification_queue(session)),
                  zone_labels=ZONE_LABELS, **context)


def _aliases(text: str) -> list[str]:
    # One per line or separated by commas (ASCII or Chinese); blanks and repeats dropped, order kept.
    seen: dict[str, None] = {}
    for part in re.split(r"[\n,，、;；]+", text):
        if part.strip():
            seen.setdefault(part.strip(), None)
    return list(seen)


def _fields(name: str, aliases: str, address: str, latitude: str, longitude: str, radius: str, time_zone: str,
            hotline: str) -> dict[str, Any]:
    return {"name": name, "aliases": _aliases(aliases), "address": address.strip(), "latitude": number(latitude),
            "longitude": number(longitude), "geofence_radius_m": number(radius, integer=True),
            "time_zone": time_zone.strip() or DEFAULT_TIME_ZONE, "hotline": hotline}


@router.get("/admin/hospitals")
def hospitals(request: Request, session: SessionDep, user: AdminPage) -> Response:
    """Every hospital with its departments, devices, time zone, hotline and invite code state."""
    rows = registry_service.list_hospitals(session, scope=Scope.everything())
    device_counts = dict(session.execute(select(Device.hospital_id, func.count()).group_by(Device.hospital_id)).all())
    return admin_render(request, session, "admin/hospitals.html", user, active="hospitals", hospitals=rows,
                        device_counts=device_counts, expired={h.id: registry_service.invite_code_expired(h)
                                                              for h in rows})


@router.get("/admin/hospitals/new")
def hospital_new(request: Request, session: SessionDep, user: AdminPage) -> Response:
    """The form for a new hospital."""
    return admin_render(request, session, "admin/hospital_edit.html", user, active="hospitals", hospital=None,
                        time_zones=TIME_ZONES, usage={})


@router.post("/admin/hospitals/new")
def hospital_create(
    request: Request, session: SessionDep, user: AdminPage, name: Annotated[str, Form()] = "",
    aliases: Annotated[str, Form()] = "", address: Annotated[str, Form()] = "",
    latitude: Annotated[str, Form()] = "", longitude: Annotated[str, Form()] = "",
    geofence_radius_m: Annotated[str, Form()] = "1000", time_zone: Annotated[str, Form()] = DEFAULT_TIME_ZONE,
    hotline: Annotated[str, Form()] = "",
) -> Response:
    """Create a hospital; every field is checked before anything is written."""
    fields = _fields(name, aliases, address, latitude, longitude, geofence_radius_m, time_zone, hotline)
    if fields["geofence_radius_m"] is None:
        fields.pop("geofence_radius_m")
    try:
        data = HospitalIn.model_validate(fields)
    except ValidationError as exc:
        return refuse_invalid(request, exc)
    try:
        hospital = registry_service.create_hospital(session, data=data, actor=actor(user))
    except Conflict:
        return refuse(request, "A hospital with this name already exists.", field="name", status=409)
    session.commit()
    return done(request, "Hospital created", redirect=f"/admin/hospitals/{hospital.id}")


def _hospital(session: Session, hospital_id: int) -> Hospital:
    return registry_service.get_hospital(session, hospital_id=hospital_id, scope=Scope.everything())


@router.get("/admin/hospitals/{hospital_id}")
def hospital_edit(hospital_id: int, request: Request, session: SessionDep, user: AdminPage) -> Response:
    """Edit a hospital, its departments and its invite code."""
    hospital = _hospital(session, hospital_id)
    usage = {d.id: registry_service.department_usage(session, department_id=d.id) for d in hospital.departments}
    # The monthly service report of the running month and the five before it (a month links its PDF).
    running = current_month(hospital)
    months = [(m.key, monthly_report_url(hospital.id, m)) for m in (running.shifted(-k) for k in range(6))]
    return admin_render(request, session, "admin/hospital_edit.html", user, active="hospitals", hospital=hospital,
                        time_zones=TIME_ZONES, usage=usage, months=months,
                        invite_expired=registry_service.invite_code_expired(hospital))


@router.post("/admin/hospitals/{hospital_id}")
def hospital_update(
    hospital_id: int, request: Request, session: SessionDep, user: AdminPage, name: Annotated[str, Form()] = "",
    aliases: Annotated[str, Form()] = "", address: Annotated[str, Form()] = "",
    latitude: Annotated[str, Form()] = "", longitude: Annotated[str, Form()] = "",
    geofence_radius_m: Annotated[str, Form()] = "", time_zone: Annotated[str, Form()] = DEFAULT_TIME_ZONE,
    hotline: Annotated[str, Form()] = "",
) -> Response:
    """Save a hospital's fields, all or nothing."""
    _hospital(session, hospital_id)
    if not geofence_radius_m.strip():
        return refuse(request, "The radius is a whole number of metres from 10 to 50000.", field="geofence_radius_m")
    try:
        data = HospitalUpdate.model_validate(
            _fields(name, aliases, address, latitude, longitude, geofence_radius_m, time_zone, hotline))
    except ValidationError as exc:
        return refuse_invalid(request, exc)
    try:
        registry_service.update_hospital(session, hospital_id=hospital_id, data=data, actor=actor(user))
    except Conflict:
        return refuse(request, "A hospital with this name already exists.", field="name", status=409)
    except Invalid:
        return refuse(request, "Give both latitude and longitude, or neither.", field="latitude")
    session.commit()
    return done(request, "Saved", redirect=f"/admin/hospitals/{hospital_id}")


@router.post("/admin/hospitals/{hospital_id}/departments")
def department_add(hospital_id: int, request: Request, session: SessionDep, user: AdminPage,
                   name: Annotated[str, Form()] = "") -> Response:
    """Add a department."""
    _hospital(session, hospital_id)
    if not name.strip() or len(name.strip()) > 200:
        return refuse(request, "Give the department a name.", field="name")
    try:
        registry_service.create_department(session, hospital_id=hospital_id, name=name.strip(), actor=actor(user))
    except Conflict:
        return refuse(request, "This hospital already has a department with this name.", field="name", status=409)
    session.commit()
    return done(request, "Department added")


def _department(session: Session, department_id: int) -> Department:
    department = session.get(Department, department_id)
    if department is None:
        raise NotFound(f"department {department_id} not found")
    return department


@router.post("/admin/departments/{department_id}/rename")
def department_rename(department_id: int, request: Request, session: SessionDep, user: AdminPage,
                      name: Annotated[str, Form()] = "") -> Response:
    """Rename a department."""
    _department(session, department_id)
    if not name.strip() or len(name.strip()) > 200:
        return refuse(request, "Give the department a name.", field="name")
    try:
        registry_service.rename_department(session, department_id=department_id, name=name.strip(),
                                           actor=actor(user))
    except Conflict:
        return refuse(request, "This hospital already has a department with this name.", field="name", status=409)
    session.commit()
    return done(request, "Saved")


@router.post("/admin/departments/{department_id}/delete")
def department_delete(department_id: int, request: Request, session: SessionDep, user: AdminPage) -> Response:
    """Remove a department that has no devices or groups."""
    _department(session, department_id)
    if registry_service.department_usage(session, department_id=department_id):
        return refuse(request, "Only an empty department can be removed: move its devices and groups first.",
                      status=409)
    registry_service.delete_department(session, department_id=department_id, actor=actor(user))
    session.commit()
    return done(request, "Department removed")


@router.post("/admin/hospitals/{hospital_id}/invite")
def invite_rotate(hospital_id: int, request: Request, session: SessionDep, user: AdminPage,
                  valid_days: Annotated[str, Form()] = "30") -> Response:
    """Issue a new invite code (the old one stops working) valid for some days, or without expiry."""
    _hospital(session, hospital_id)
    days = number(valid_days, integer=True)
    if days is not None and (not isinstance(days, int) or not 1 <= days <= 3650):
        return refuse(request, "Choose how long the code is valid.", field="valid_days")
    hospital = registry_service.rotate_invite_code(session, hospital_id=hospital_id, valid_days=days,
                                                   actor=actor(user))
    session.commit()
    return done(request, "New invite code issued; the old one no longer works.", code=hospital.invite_code)


@router.post("/admin/hospitals/{hospital_id}/invite/revoke")
def invite_revoke(hospital_id: int, request: Request, session: SessionDep, user: AdminPage) -> Response:
    """Withdraw the invite code: new lab users wait for an admin."""
    _hospital(session, hospital_id)
    registry_service.revoke_invite_code(session, hospital_id=hospital_id, actor=actor(user))
    session.commit()
    return done(request, "Invite code withdrawn")
