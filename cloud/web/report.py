"""Reporter pages (mobile first): the QR landing with the repair form, and the ticket page."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from cloud.audit.service import Actor
from cloud.auth.models import User, Verification
from cloud.db import SessionDep
from cloud.deps import OptionalUser, SettingsDep
from cloud.errors import NotFound
from cloud.qr import service as qr_service
from cloud.qr.models import TargetKind
from cloud.registry.backup import find_by_identifier
from cloud.registry.models import DeviceStatus
from cloud.tickets import service as ticket_service
from cloud.tickets.models import Ticket
from cloud.tickets.state import Action, Status
from cloud.web.i18n import pick_language, translate
from cloud.web.pages import LANGUAGE_COOKIE, page_user, render

router = APIRouter(include_in_schema=False)
# WeChat's JS-SDK, loaded by the page only inside WeChat and only when the WeChat channel is configured.
WECHAT_SDK = "https://res.wx.qq.com/open/js/jweixin-1.6.0.js"


def _t(request: Request) -> Any:
    language = pick_language(request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language"))
    return lambda text: translate(text, language)


def _recent(session: Any, *, device_ids: list[int], group_id: int | None) -> list[Ticket]:
    stmt = select(Ticket).order_by(Ticket.created_at.desc()).limit(5)
    if group_id is not None:
        stmt = stmt.where((Ticket.group_id == group_id) | Ticket.device_id.in_(device_ids))
    else:
        stmt = stmt.where(Ticket.device_id.in_(device_ids))
    return list(session.execute(stmt).scalars())


@router.get("/r/{code}")
def landing(code: str, request: Request, session: SessionDep, user: OptionalUser) -> Response:
    """What a scanned label opens: the device (or group) to confirm, its history, and the repair form."""
    if user is None and "MicroMessenger" in request.headers.get("user-agent", "") \
            and getattr(request.app.state, "wechat", None) is not None and request.query_params.get("wx") != "0":
        # Inside WeChat, sign in silently once through OAuth (snsapi_base); wx=0 opts out.
        return RedirectResponse(f"/wechat/oauth/start?next={quote(request.url.path)}", status_code=303)
    _ = _t(request)
    try:
        found = qr_service.resolve(session, code=code)
    except NotFound:
        response = render(request, "h5/message.html", user, icon="warn", title=_("Unknown QR code"),
                          text=_("This label is not known. Type the nameplate serial instead."),
                          link="/report", link_text=_("Report by device ID"))
        response.status_code = 404
        return response
    if isinstance(found, qr_service.Replaced):
        return render(request, "h5/message.html", user, icon="info", title=_("Label replaced"),
                      text=_("This label was replaced by a new one. Continue with the current label."),
                      link=f"/r/{found.current_code}", link_text=_("Open the current page"))
    device = found.target if found.kind == TargetKind.device else None
    group = found.target if found.kind == TargetKind.device_group else None
    members = list(group.members) if group is not None else [device]
    recent = _recent(session, device_ids=[d.id for d in members if d], group_id=group.id if group else None)
    texts = {key: _(value) for key, value in {
        "uploading": "Uploading…", "uploadFailed": "Upload failed", "remove": "Remove", "holdToTalk": "Hold to talk",
        "releaseToSend": "Release to finish", "noRecording": "This browser cannot record; please type instead.",
        "micDenied": "Microphone not allowed; please type instead.", "voiceHint": "Up to 60 seconds.",
        "describe": "Please describe the fault.", "waitUploads": "Please wait until the uploads finish.",
        "submitFailed": "Not sent; your input is kept, try again",
    }.items()}
    label = device.system_number if device else group.name  # type: ignore[union-attr]
    can_claim = user is not None and user.verification == Verification.verified and \
        user.hospital_id == found.target.hospital_id
    return render(request, "h5/landing.html", user, kind=found.kind.value, device=device, group=group, code=found.code,
                  recent=recent, texts=texts, target_label=label, can_claim=can_claim,
                  wechat_sdk=WECHAT_SDK if getattr(request.app.state, "wechat", None) else None)


@router.get("/t/{number}")
def ticket_page(
    number: str, request: Request, session: SessionDep, settings: SettingsDep, user: OptionalUser,
    k: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    """The reporter's view of a ticket: live status, timeline, confirm and rate."""
    _ = _t(request)
    ticket = session.execute(select(Ticket).where(Ticket.number == number)).scalar()
    viewer = ticket_service.Viewer(user=user, reporter_key=k)
    if ticket is None or not ticket_service.can_view(viewer, ticket, settings):
        response = render(request, "h5/message.html", user, icon="warn", title=_("Ticket not found"),
                          text=_("Check the link you received, or sign in."), link="/login", link_text=_("Sign in"))
        response.status_code = 404
        return response
    device_label = (f"{ticket.device.system_number} {ticket.device.model}" if ticket.device
                    else ticket.group.name if ticket.group else "")
    steps = {"submitted": "Submitted", "dispatched": "Engineer assigned", "on_site": "On site",
             "resolved": "Fixed", "closed": "Closed"}
    texts = {
        "status": {s.value: _(f"status.{s.value}") for s in Status},
        "hints": {s.value: _(f"hint.{s.value}") for s in Status},
        "actions": {a.value: _(f"action.{a.value}") for a in Action} | {"submit": _("action.submit")},
        "steps": {key: _(value) for key, value in steps.items()},
        **{key: _(value) for key, value in {
            "confirm": "Confirm it is fixed", "reopen": "Not fixed yet", "reopenWhy": "What is still wrong?",
            "cancel": "Withdraw the report", "cancelWhy": "Why withdraw it?", "rateTitle": "Rate the service",
            "rateOverall": "Overall", "rateSpeed": "Response speed", "rateAttitude": "Attitude",
            "rateSkill": "Technical level", "comment": "Comment (optional)", "rateSubmit": "Submit rating",
            "rateNeedOverall": "Give an overall rating.", "thanks": "Thank you for your rating",
            "addInfo": "Add information for the engineer", "send": "Send",
            "changed": "The ticket was just updated; please check and try again.",
        }.items()},
    }
    return render(request, "h5/ticket.html", user, ticket=ticket, key=k, device_label=device_label, texts=texts)


@router.get("/report")
def report_by_id(request: Request, user: OptionalUser) -> Response:
    """Backup path (a): type the nameplate serial or system number when the label is lost."""
    return render(request, "h5/by_id.html", user, error=None, text="")


@router.post("/report")
def report_by_id_submit(
    request: Request, session: SessionDep, user: OptionalUser, identifier: Annotated[str, Form(max_length=100)]
) -> Response:
    """Find the device and continue on its repair page."""
    _ = _t(request)
    device = find_by_identifier(session, text=identifier)
    if device is None:
        response = render(request, "h5/by_id.html", user, text=identifier,
                          error=_("No single device has this serial or number. Check it, or search by hospital."))
        response.status_code = 404
        return response
    row = qr_service.code_for(session, kind=TargetKind.device, target_id=device.id, actor=Actor.system("report-by-id"))
    session.commit()
    return RedirectResponse(f"/r/{row.code}", status_code=303)


@router.get("/report/hospital")
def report_by_hospital(request: Request, user: Annotated[User, page_user()]) -> Response:
    """Backup path (b): search the hospital, prove you are there, pick the device."""
    _ = _t(request)
    texts: dict[str, Any] = {"status": {s.value: _(s.value) for s in DeviceStatus}}
    texts |= {key: _(value) for key, value in {
        "locating": "Finding your location…", "noLocation": "Location is needed to list a hospital's devices.",
        "none": "No hospital found.", "pick": "Pick the device", "outside": "Outside the hospital",
    }.items()}
    verified = user.is_staff or user.verification == Verification.verified
    sdk = WECHAT_SDK if getattr(request.app.state, "wechat", None) else None
    return render(request, "h5/by_hospital.html", user, verified=verified, texts=texts, wechat_sdk=sdk)


@router.get("/my/devices")
def my_devices(request: Request, user: Annotated[User, page_user()]) -> Response:
    """Backup path (c): the devices and groups a verified lab user looks after."""
    _ = _t(request)
    verified = user.verification == Verification.verified
    texts = {"status": {s.value: _(s.value) for s in DeviceStatus}} | {key: _(value) for key, value in {
        "report": "Report", "open": "open tickets", "remove": "Remove", "last": "Last ticket",
        "ask": "Ask in the service group",
        "empty": "No devices yet. Open a device’s repair page and tap “Add to my devices”.",
    }.items()}
    return render(request, "h5/my_devices.html", user, verified=verified, texts=texts)
