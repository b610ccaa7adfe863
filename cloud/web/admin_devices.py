"""Admin console: devices (list, create, edit, retire, move, QR reissue); the import page is admin_device_import."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.auth.models import Role, User
from cloud.db import SessionDep
from cloud.errors import Conflict, Invalid
from cloud.qr import service as qr_service
from cloud.qr.models import QrCode, TargetKind
from cloud.registry import groups as group_service
from cloud.registry import moves
from cloud.registry import service as registry_service
from cloud.registry.models import Device, DeviceStatus
from cloud.registry.schemas import DeviceCategory, DeviceIn, DeviceUpdate
from cloud.tenancy import Scope
from cloud.web.admin_forms import AdminPage, actor, done, refuse, translator
from cloud.web.admin_hospitals import admin_render
from cloud.web.pages import LABEL_PRINTERS, PAGE_SIZE, STAFF, page_user

router = APIRouter(include_in_schema=False)

StaffPage = Annotated[User, page_user(*STAFF)]

# The field a schema refuses -> what the admin is told next to it.
FIELD_MESSAGES = {
    "serial": "Give the nameplate serial (up to 100 characters).",
    "manufacturer": "Give the manufacturer (up to 100 characters).",
    "model": "Give the model (up to 100 characters).",
    "category": "Choose a category.",
    "hospital_id": "Choose the hospital.",
    "department_id": "Choose a department of this hospital.",
    "install_date": "A date like 2024-03-31.",
    "warranty_end": "A date like 2024-03-31.",
    "keywords": "Each keyword is up to 50 characters.",
    "maintenance_score": "The score is a whole number from 0 to 100.",
    "status": "Choose a status.",
}


def _int(value: str | None) -> int | None:
    return int(value) if value and value.strip().isdigit() else None


def refuse_fields(request: Request, errors: list[dict[str, Any]], status: int = 422) -> JSONResponse:
    """Field-level refusals (English keys) translated and placed next to their fields."""
    _ = translator(request)
    shown = [{"field": e["field"], "message": _(e["message"])} for e in errors]
    return JSONResponse({"ok": False, "detail": shown[0]["message"], "errors": shown}, status_code=status)


def _schema_errors(exc: ValidationError) -> list[dict[str, Any]]:
    errors, seen = [], set()
    for err in exc.errors():
        field = str(err["loc"][0]) if err["loc"] else ""
        if field not in seen:
            seen.add(field)
            errors.append({"field": field, "message": FIELD_MESSAGES.get(field, "Check this value.")})
    return errors


def _keywords(text: str) -> list[str]:
    return list(dict.fromkeys(p.strip() for p in re.split(r"[\n,，、;；]+", text) if p.strip()))


def _date(text: str) -> date | str | None:
    text = text.strip().replace("/", "-")
    return text or None


def _device_fields(serial: str, manufacturer: str, model: str, category: str, install_date: str,
                   warranty_end: str, keywords: str, is_key: str, maintenance_score: str) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "serial": serial, "manufacturer": manufacturer, "model": model, "category": category.strip() or None,
        "install_date": _date(install_date), "warranty_end": _date(warranty_end), "keywords": _keywords(keywords),
        "is_key": is_key in ("on", "1", "true"),
    }
    score = maintenance_score.strip()
    if score:
        fields["maintenance_score"] = int(score) if score.isdigit() else score
    return fields


# --- list ------------------------------------------------------------------------------------------


def list_filters(q: str | None, hospital_id: str | None, status: str | None) -> dict[str, Any]:
    """The list page's query (search, hospital, status) as list_devices arguments; its export reads the same."""
    return {"q": q or None, "hospital_id": _int(hospital_id),
            "status": DeviceStatus(status) if status and status in DeviceStatus.__members__ else None}


@router.get("/admin/devices")
def devices(
    request: Request, session: SessionDep, user: StaffPage,
    q: Annotated[str | None, Query(max_length=100)] = None,
    hospital_id: Annotated[str | None, Query()] = None,
    status: Annotated[str | None, Query()] = None,
    page: Annotated[int, Query(ge=1)] = 1,
) -> Response:
    """All registered devices with search, hospital and status filters; admins pick devices to group them."""
    filters = list_filters(q, hospital_id, status)
    rows, total = registry_service.list_devices(session, scope=Scope.everything(), **filters, limit=PAGE_SIZE,
                                                offset=(page - 1) * PAGE_SIZE)
    group_names = {g.id: g.name for g in group_service.list_groups(session, scope=Scope.everything())}
    return admin_render(
        request, session, "admin/devices.html", user, active="devices", devices=rows, total=total, page=page,
        pages=max(1, -(-total // PAGE_SIZE)), q=q or "", hospital_id=filters["hospital_id"], status=filters["status"],
        export_query=urlencode({k: v for k, v in (("q", q), ("hospital_id", hospital_id), ("status", status)) if v}),
        hospitals=registry_service.list_hospitals(session, scope=Scope.everything()),
        statuses=list(DeviceStatus), group_names=group_names, categories=list(DeviceCategory),
        can_print=user.role in LABEL_PRINTERS, can_edit=user.role == Role.admin)


# --- create ----------------------------------------------------------------------------------------


def _form(request: Request, session: Session, user: User, device: Device | None) -> Response:
    qr_rows: list[QrCode] = []
    plan_hospitals = registry_service.list_hospitals(session, scope=Scope.everything())
    if device is not None:
        qr_rows = list(session.execute(select(QrCode).where(
            QrCode.target_kind == TargetKind.device, QrCode.target_id == device.id).order_by(
            QrCode.created_at.desc(), QrCode.id.desc())).scalars())
    from cloud.profiles.pages import score_panel  # the computed score and the override (cloud/profiles)

    return admin_render(request, session, "admin/device_edit.html", user, active="devices", device=device,
                        hospitals=plan_hospitals, categories=list(DeviceCategory), statuses=list(DeviceStatus),
                        qr_rows=qr_rows, tz=device.hospital.time_zone if device else "Asia/Shanghai",
                        score=score_panel(session, device) if device else None)


@router.get("/admin/devices/new")
def device_new(request: Request, session: SessionDep, user: AdminPage) -> Response:
    """The form for a new device."""
    return _form(request, session, user, None)


@router.post("/admin/devices/new")
def device_create(
    request: Request, session: SessionDep, user: AdminPage,
    system_number: Annotated[str, Form()] = "", serial: Annotated[str, Form()] = "",
    manufacturer: Annotated[str, Form()] = "", model: Annotated[str, Form()] = "",
    category: Annotated[str, Form()] = "", hospital_id: Annotated[str, Form()] = "",
    department_id: Annotated[str, Form()] = "", install_date: Annotated[str, Form()] = "",
    warranty_end: Annotated[str, Form()] = "", keywords: Annotated[str, Form()] = "",
    is_key: Annotated[str, Form()] = "", maintenance_score: Annotated[str, Form()] = "",
) -> Response:
    """Register a device: every field checked first; the system number generated or typed and checked unique."""
    fields = _device_fields(serial, manufacturer, model, category, install_date, warranty_end, keywords, is_key,
                            maintenance_score)
    fields["hospital_id"], fields["department_id"] = _int(hospital_id), _int(department_id)
    try:
        data = DeviceIn.model_validate(fields)
    except ValidationError as exc:
        return refuse_fields(request, _schema_errors(exc))
    try:
        device = registry_service.create_device(session, data=data, actor=actor(user),
                                                system_number=system_number.strip() or None)
    except Conflict as exc:
        if exc.extra.get("field") == "system_number":
            return refuse(request, "This system number is already in use.", field="system_number", status=409)
        return refuse(request, "This manufacturer's serial is already registered.", field="serial", status=409)
    except Invalid as exc:
        return _refuse_invalid(request, exc)
    session.commit()
    return done(request, "Device registered", redirect=f"/admin/devices/{device.id}")


def _refuse_invalid(request: Request, exc: Invalid) -> JSONResponse:
    errors = exc.extra.get("errors") or [{"field": "", "message": "Check this value."}]
    field = errors[0].get("field") or ""
    messages = {"system_number": "A system number is 1 to 32 letters, digits, '.', '_', '/' or '-'; "
                                 "numbers like MF-000123 are generated (leave the field empty).",
                "hospital_id": "Choose the hospital.", "department_id": "Choose a department of this hospital.",
                "warranty_end": "The warranty cannot end before the install date."}
    return refuse_fields(request, [{"field": field, "message": messages.get(field, "Check this value.")}])


# --- edit, retire ----------------------------------------------------------------------------------


def _device(session: Session, device_id: int) -> Device:
    return registry_service.get_device(session, device_id=device_id, scope=Scope.everything())


@router.get("/admin/devices/{device_id}")
def device_edit(device_id: int, request: Request, session: SessionDep, user: AdminPage) -> Response:
    """Edit a device; move it, retire it, reissue its QR label; its photos are one link away."""
    return _form(request, session, user, _device(session, device_id))


@router.post("/admin/devices/{device_id}")
def device_update(
    device_id: int, request: Request, session: SessionDep, user: AdminPage,
    serial: Annotated[str, Form()] = "", manufacturer: Annotated[str, Form()] = "",
    model: Annotated[str, Form()] = "", category: Annotated[str, Form()] = "",
    install_date: Annotated[str, Form()] = "", warranty_end: Annotated[str, Form()] = "",
    keywords: Annotated[str, Form()] = "", is_key: Annotated[str, Form()] = "",
    maintenance_score: Annotated[str, Form()] = "", status: Annotated[str, Form()] = "",
) -> Response:
    """Save a device's own fields, all or nothing (hospital and department change through a move)."""
    _device(session, device_id)
    fields = _device_fields(serial, manufacturer, model, category, install_date, warranty_end, keywords, is_key,
                            maintenance_score)
    fields["status"] = status.strip() or None
    try:
        data = DeviceUpdate.model_validate({k: v for k, v in fields.items() if v is not None or k in (
            "install_date", "warranty_end")})
    except ValidationError as exc:
        return refuse_fields(request, _schema_errors(exc))
    try:
        registry_service.update_device(session, device_id=device_id, data=data, actor=actor(user))
    except Conflict:
        return refuse(request, "This manufacturer's serial is already registered.", field="serial", status=409)
    session.commit()
    return done(request, "Saved")


@router.post("/admin/devices/{device_id}/retire")
def device_retire(device_id: int, request: Request, session: SessionDep, user: AdminPage) -> Response:
    """Retire a device: it stays registered with its history, marked retired (edit the status to undo)."""
    _device(session, device_id)
    registry_service.update_device(session, device_id=device_id, actor=actor(user),
                                   data=DeviceUpdate.model_validate({"status": DeviceStatus.retired}))
    session.commit()
    return done(request, "Device retired")


# --- move ------------------------------------------------------------------------------------------


def _plan_text(request: Request, plan: moves.MovePlan) -> str:
    _ = translator(request)
    target = plan.to_hospital + (f" / {plan.to_department}" if plan.to_department else "")
    lines = [_("Move the device to") + f" {target}?"]
    if plan.changes_hospital:
        if plan.leaves_group:
            lines.append(_("It leaves its device group") + f" {plan.leaves_group}.")
        if plan.unmapped:
            keys = ", ".join(f"{gw}/{key}" for gw, key in plan.unmapped)
            lines.append(_("The old hospital's gateway mappings are removed") + f": {keys}. "
                         + _("New data from these keys waits unmapped."))
        else:
            lines.append(_("No gateway of the old hospital maps it."))
    lines.append(_("Its history (readings, alerts, tickets, photos) stays with the device."))
    return " ".join(lines)


@router.get("/admin/devices/{device_id}/move-plan")
def device_move_plan(device_id: int, request: Request, session: SessionDep, _user: AdminPage,
                     hospital_id: str = "", department_id: str = "") -> Response:
    """What a move would do, as the text of the confirmation (nothing is changed)."""
    hospital = _int(hospital_id)
    if hospital is None:
        return refuse(request, "Choose the hospital.", field="hospital_id")
    try:
        plan = moves.plan_move(session, device_id=device_id, hospital_id=hospital, department_id=_int(department_id))
    except Invalid as exc:
        return _refuse_invalid(request, exc)
    return JSONResponse({"ok": True, "text": _plan_text(request, plan), "unmapped": len(plan.unmapped),
                         "leaves_group": plan.leaves_group})


@router.post("/admin/devices/{device_id}/move")
def device_move(device_id: int, request: Request, session: SessionDep, user: AdminPage,
                hospital_id: Annotated[str, Form()] = "", department_id: Annotated[str, Form()] = "") -> Response:
    """Move a device to another hospital or department, as the confirmed plan said."""
    hospital = _int(hospital_id)
    if hospital is None:
        return refuse(request, "Choose the hospital.", field="hospital_id")
    try:
        moves.move_device(session, device_id=device_id, hospital_id=hospital, department_id=_int(department_id),
                          actor=actor(user))
    except Invalid as exc:
        return _refuse_invalid(request, exc)
    session.commit()
    return done(request, "Device moved")


# --- QR label ----------------------------------------------------------------------------------------


@router.post("/admin/devices/{device_id}/qr/reissue")
def device_qr_reissue(device_id: int, request: Request, session: SessionDep, user: AdminPage) -> Response:
    """A new label code; the old label then opens a 'label replaced' page instead of the repair form."""
    _device(session, device_id)
    row = qr_service.reissue(session, kind=TargetKind.device, target_id=device_id, actor=actor(user))
    session.commit()
    return done(request, "New label code issued; print the new label. The old label no longer opens the repair "
                         "form.", code=row.code)
