"""QR REST API under /api/v1: code images, reissue, label sheets, and the public code lookup."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from cloud.audit.service import Actor
from cloud.auth.models import Role, User
from cloud.db import SessionDep
from cloud.deps import ActorDep, AdminUser, ScopeDep, SettingsDep, require_roles
from cloud.errors import Invalid
from cloud.qr import labels, render, service
from cloud.qr.models import TargetKind
from cloud.qr.schemas import IssuedCode, LabelRequest, QrInfo
from cloud.registry import groups as group_service
from cloud.registry import service as registry_service
from cloud.registry.models import Device, DeviceGroup
from cloud.tenancy import Scope

router = APIRouter(prefix="/api/v1", tags=["qr"])

LabelPrinter = Annotated[User, Depends(require_roles(Role.admin, Role.agent))]
Scale = Annotated[int, Query(ge=2, le=40, description="PNG pixels per module")]
PNG: dict[int | str, dict[str, Any]] = {200: {"content": {"image/png": {}}, "description": "The QR code as PNG"}}
SVG: dict[int | str, dict[str, Any]] = {200: {"content": {"image/svg+xml": {}}, "description": "The QR code as SVG"}}
PDF: dict[int | str, dict[str, Any]] = {200: {"content": {"application/pdf": {}}, "description": "The label sheet"}}


def _wechat_codes(request: Request) -> Any:
    """The WeChat permanent-QR issuer when an Official Account is configured, else None."""
    # Duck-typed through app.state so cloud/qr never imports the WeChat package (it is off without an appid).
    wechat = getattr(request.app.state, "wechat", None)
    return wechat.qrcodes if wechat is not None else None


WeChatCodes = Annotated[Any, Depends(_wechat_codes)]


def _target(session: Session, kind: TargetKind, target_id: int, scope: Scope) -> Device | DeviceGroup:
    """The device or group if the caller may see it (another hospital's id reads as 404)."""
    if kind == TargetKind.device:
        return registry_service.get_device(session, device_id=target_id, scope=scope)
    return group_service.get_group(session, group_id=target_id, scope=scope)


def _image(session: Session, *, kind: TargetKind, target_id: int, scope: Scope, actor: Actor,
           public_url: str, fmt: str, scale: int = 10, wechat: Any = None) -> Response:
    target = _target(session, kind, target_id, scope)
    row = service.code_for(session, kind=kind, target_id=target_id, actor=actor)
    if wechat is not None:
        wechat.ensure(session, [(row, target)])
    session.commit()  # a code issued on first use must outlive this request: it may be printed right away
    content = service.content_for(row, public_url)
    body, media = (render.png(content, box_size=scale), "image/png") if fmt == "png" \
        else (render.svg(content), "image/svg+xml")
    headers = {
        # The code can be reissued, so caches must check back; it is not secret but not public either.
        "Cache-Control": "private, no-cache",
        "Content-Disposition": f'inline; filename="{target.system_number}-{row.code}.{fmt}"',
    }
    return Response(body, media_type=media, headers=headers)


@router.get("/devices/{device_id}/qr.png", response_class=Response, responses=PNG)
def device_qr_png(device_id: int, session: SessionDep, scope: ScopeDep, actor: ActorDep, settings: SettingsDep,
                  wechat: WeChatCodes, scale: Scale = 10) -> Response:
    """The device's QR code as PNG (issued on first request)."""
    return _image(session, kind=TargetKind.device, target_id=device_id, scope=scope, actor=actor,
                  public_url=settings.public_url, fmt="png", scale=scale, wechat=wechat)


@router.get("/devices/{device_id}/qr.svg", response_class=Response, responses=SVG)
def device_qr_svg(device_id: int, session: SessionDep, scope: ScopeDep, actor: ActorDep,
                  settings: SettingsDep, wechat: WeChatCodes) -> Response:
    """The device's QR code as SVG (issued on first request)."""
    return _image(session, kind=TargetKind.device, target_id=device_id, scope=scope, actor=actor,
                  public_url=settings.public_url, fmt="svg", wechat=wechat)


@router.get("/groups/{group_id}/qr.png", response_class=Response, responses=PNG)
def group_qr_png(group_id: int, session: SessionDep, scope: ScopeDep, actor: ActorDep, settings: SettingsDep,
                 wechat: WeChatCodes, scale: Scale = 10) -> Response:
    """The device group's QR code as PNG (issued on first request)."""
    return _image(session, kind=TargetKind.device_group, target_id=group_id, scope=scope, actor=actor,
                  public_url=settings.public_url, fmt="png", scale=scale, wechat=wechat)


@router.get("/groups/{group_id}/qr.svg", response_class=Response, responses=SVG)
def group_qr_svg(group_id: int, session: SessionDep, scope: ScopeDep, actor: ActorDep,
                 settings: SettingsDep, wechat: WeChatCodes) -> Response:
    """The device group's QR code as SVG (issued on first request)."""
    return _image(session, kind=TargetKind.device_group, target_id=group_id, scope=scope, actor=actor,
                  public_url=settings.public_url, fmt="svg", wechat=wechat)


def _reissue(session: Session, *, kind: TargetKind, target_id: int, actor: Actor,
             public_url: str) -> IssuedCode:
    _target(session, kind, target_id, Scope.everything())
    previous = service.active_code(session, kind=kind, target_id=target_id)
    old_code = previous.code if previous is not None else None
    row = service.reissue(session, kind=kind, target_id=target_id, actor=actor)
    session.commit()
    return IssuedCode(code=row.code, kind=kind, target_id=target_id, url=service.url_for(row.code, public_url),
                      replaced_code=old_code)


@router.post("/devices/{device_id}/qr/reissue", response_model=IssuedCode)
def reissue_device_qr(device_id: int, session: SessionDep, _admin: AdminUser, actor: ActorDep,
                      settings: SettingsDep) -> IssuedCode:
    """A new code for a damaged label (admin); the old code then answers 'replaced'."""
    return _reissue(session, kind=TargetKind.device, target_id=device_id, actor=actor,
                    public_url=settings.public_url)


@router.post("/groups/{group_id}/qr/reissue", response_model=IssuedCode)
def reissue_group_qr(group_id: int, session: SessionDep, _admin: AdminUser, actor: ActorDep,
                     settings: SettingsDep) -> IssuedCode:
    """A new code for a damaged group label (admin); the old code then answers 'replaced'."""
    return _reissue(session, kind=TargetKind.device_group, target_id=group_id, actor=actor,
                    public_url=settings.public_url)


def _load(session: Session, body: LabelRequest) -> tuple[dict[int, Device], dict[int, DeviceGroup]]:
    """Every requested device and group in one query each; unknown ids are listed in one 422."""
    devices = {d.id: d for d in session.execute(
        select(Device).where(Device.id.in_(set(body.devices)))
        .options(selectinload(Device.hospital), selectinload(Device.department))).scalars()}
    found_groups = {g.id: g for g in session.execute(
        select(DeviceGroup).where(DeviceGroup.id.in_(set(body.groups)))
        .options(selectinload(DeviceGroup.hospital), selectinload(DeviceGroup.department),
                 selectinload(DeviceGroup.members))).scalars()}
    errors = []
    unknown_devices = sorted(set(body.devices) - devices.keys())
    unknown_groups = sorted(set(body.groups) - found_groups.keys())
    if unknown_devices:
        errors.append({"field": "devices", "message": f"unknown devices: {', '.join(map(str, unknown_devices))}",
                       "ids": unknown_devices})
    if unknown_groups:
        errors.append({"field": "groups", "message": f"unknown groups: {', '.join(map(str, unknown_groups))}",
                       "ids": unknown_groups})
    if errors:
        raise Invalid("some of the selected devices or groups do not exist", errors)
    return devices, found_groups


@router.post("/labels", response_class=Response, responses=PDF)
def label_sheet(body: LabelRequest, session: SessionDep, _user: LabelPrinter, actor: ActorDep,
                settings: SettingsDep, wechat: WeChatCodes) -> Response:
    """A PDF of labels for any devices and groups, in the order given (admin, agent)."""
    if not body.devices and not body.groups:
        raise Invalid("select at least one device or group",
                      [{"field": "devices", "message": "nothing to print"}])
    devices, groups = _load(session, body)
    device_codes = service.codes_for(session, kind=TargetKind.device, targets=devices.values(), actor=actor)
    group_codes = service.codes_for(session, kind=TargetKind.device_group, targets=groups.values(), actor=actor)
    if wechat is not None:  # groups first: they matter most if the account nears its permanent-code cap
        wechat.ensure(session, [*((group_codes[i], g) for i, g in groups.items()),
                                *((device_codes[i], d) for i, d in devices.items())])
    session.commit()
    url = settings.public_url
    sheet = [labels.device_label(devices[i], service.content_for(device_codes[i], url)) for i in body.devices]
    sheet += [labels.group_label(groups[i], service.content_for(group_codes[i], url)) for i in body.groups]
    pdf = labels.render_pdf(sheet, body.template, outline=body.outline)
    return Response(pdf, media_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="medfix-labels-{body.template}.pdf"',
        "X-Label-Count": str(len(sheet)),
    })


@router.get("/qr/{code}", response_model=QrInfo)
def lookup_code(code: Annotated[str, Path(max_length=32)], session: SessionDep, settings: SettingsDep) -> QrInfo:
    """What a scanned code points at (public: the landing page needs it before anyone signs in)."""
    found = service.resolve(session, code=code)
    status: Literal["active", "replaced"] = "replaced" if isinstance(found, service.Replaced) else "active"
    return QrInfo(code=found.code, kind=found.kind, target_id=found.target_id, status=status,
                  current_code=found.current_code, url=service.url_for(found.current_code, settings.public_url))
