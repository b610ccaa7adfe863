"""Admin console: lab gateways (register, token rotation, status) and their device-key mapping."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from cloud.db import SessionDep
from cloud.errors import Conflict, Invalid, NotFound
from cloud.registry import service as registry_service
from cloud.telemetry import service as telemetry_service
from cloud.telemetry.models import Gateway
from cloud.tenancy import Scope
from cloud.web.admin_forms import AdminPage, actor, done, refuse
from cloud.web.admin_hospitals import admin_render

router = APIRouter(include_in_schema=False)


def last_contact(gateway: Gateway) -> datetime | None:
    """The latest moment the gateway was heard from: a batch, or its own status report."""
    moments = [m for m in (gateway.last_seen_at, gateway.last_batch_at) if m is not None]
    return max(moments) if moments else None


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


@router.get("/admin/gateways")
def gateways(request: Request, session: SessionDep, user: AdminPage, hospital_id: str | None = None) -> Response:
    """Every gateway with its state, last contact (in its hospital's time zone) and unmapped keys."""
    rows = telemetry_service.list_gateways(session, hospital_id=_int(hospital_id))
    unmapped = {g.id: len(telemetry_service.list_mappings(session, gateway_id=g.id, unmapped_only=True))
                for g in rows}
    return admin_render(request, session, "admin/gateways.html", user, active="gateways", gateways=rows,
                        unmapped=unmapped, contact={g.id: last_contact(g) for g in rows},
                        hospitals=registry_service.list_hospitals(session, scope=Scope.everything()),
                        hospital_id=_int(hospital_id))


@router.post("/admin/gateways/new")
def gateway_create(request: Request, session: SessionDep, user: AdminPage, name: Annotated[str, Form()] = "",
                   hospital_id: Annotated[str, Form()] = "") -> Response:
    """Register a gateway; its token is shown this once."""
    hospital = _int(hospital_id)
    if hospital is None:
        return refuse(request, "Choose the hospital the gateway sits in.", field="hospital_id")
    try:
        gateway, token = telemetry_service.create_gateway(session, name=name.strip(), hospital_id=hospital,
                                                          actor=actor(user))
    except Conflict:
        return refuse(request, "A gateway with this name already exists.", field="name", status=409)
    except Invalid as exc:
        field = exc.extra["errors"][0]["field"] if exc.extra.get("errors") else "name"
        return refuse(request, "A gateway name is 1 to 64 letters, digits, '.', '_' or '-'." if field == "name"
                      else "Choose the hospital the gateway sits in.", field=field)
    session.commit()
    return done(request, "Gateway registered. Put this token in the gateway's configuration:",
                redirect=f"/admin/gateways/{gateway.id}", secret=token)


def _gateway(session: Session, gateway_id: int) -> Gateway:
    return telemetry_service.get_gateway(session, gateway_id=gateway_id)


@router.get("/admin/gateways/{gateway_id}")
def gateway_page(gateway_id: int, request: Request, session: SessionDep, user: AdminPage) -> Response:
    """One gateway: state, token, and its device keys, unmapped ones first with the data waiting for them."""
    gateway = _gateway(session, gateway_id)
    mappings = telemetry_service.list_mappings(session, gateway_id=gateway_id)
    mappings.sort(key=lambda m: (m.device_id is not None, m.device_key))
    devices, _total = registry_service.list_devices(session, scope=Scope.everything(),
                                                    hospital_id=gateway.hospital_id, limit=1000)
    return admin_render(request, session, "admin/gateway.html", user, active="gateways", gateway=gateway,
                        mappings=mappings, devices=devices, device_by_id={d.id: d for d in devices},
                        backlog=telemetry_service.unmapped_backlog(session, gateway_id=gateway_id),
                        contact=last_contact(gateway), tz=gateway.hospital.time_zone)


@router.post("/admin/gateways/{gateway_id}/token")
def gateway_token(gateway_id: int, request: Request, session: SessionDep, user: AdminPage) -> Response:
    """Issue a new token (the old one stops working at once), shown this once."""
    token = telemetry_service.rotate_token(session, gateway_id=gateway_id, actor=actor(user))
    session.commit()
    return done(request, "New token issued; the old one no longer works. Put this token in the gateway's "
                         "configuration:", secret=token)


@router.post("/admin/gateways/{gateway_id}/map")
def gateway_map(gateway_id: int, request: Request, session: SessionDep, user: AdminPage,
                device_key: Annotated[str, Form()] = "", device_id: Annotated[str, Form()] = "") -> Response:
    """Map a device key to a device of the gateway's hospital; the data waiting for the key follows it."""
    _gateway(session, gateway_id)
    device = _int(device_id)
    if device is None:
        return refuse(request, "Choose the device this key stands for.", field="device_id")
    try:
        telemetry_service.map_device(session, gateway_id=gateway_id, device_key=device_key, device_id=device,
                                     actor=actor(user))
    except Invalid:
        return refuse(request, "Choose a device of the gateway's hospital.", field="device_id")
    session.commit()
    return done(request, "Mapped; the waiting data now belongs to the device.")


@router.post("/admin/gateways/{gateway_id}/unmap")
def gateway_unmap(gateway_id: int, request: Request, session: SessionDep, user: AdminPage,
                  device_key: Annotated[str, Form()] = "") -> Response:
    """Unmap a device key; new data from it waits unmapped again."""
    try:
        telemetry_service.unmap_device(session, gateway_id=gateway_id, device_key=device_key, actor=actor(user))
    except NotFound:
        return refuse(request, "This key is not mapped.", status=404)
    session.commit()
    return done(request, "Mapping removed")
