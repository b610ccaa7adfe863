"""Reporter pages (mobile first): the QR landing with the repair form, and the ticket page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, or_, select

from cloud.audit.service import Actor
from cloud.auth.models import User, Verification
from cloud.db import SessionDep
from cloud.deps import OptionalUser, SettingsDep
from cloud.errors import NotFound
from cloud.i18n import pick_language, translate
from cloud.profiles.profile import repair_history
from cloud.qr import service as qr_service
from cloud.qr.models import TargetKind
from cloud.ratelimit import client_address, limiter_for
from cloud.registry.backup import (
    find_by_identifier,
    find_by_serial_and_number,
    find_group_by_identifier,
    issue_pass,
    pass_device,
)
from cloud.registry.models import Device, DeviceClaim, DeviceStatus
from cloud.tickets import service as ticket_service
from cloud.tickets.models import Ticket
from cloud.tickets.presence import may_skip_label
from cloud.tickets.schemas import ActionIn
from cloud.tickets.state import Action, Status
from cloud.web.covers import router as covers_router
from cloud.web.pages import LANGUAGE_COOKIE, TEMPLATES, page_user, render
from cloud.web.reporter_account import router as account_router

# Keys the report form's script needs for the contact fields (landing page).
CONTACT_KEYS = ("contact.name_required", "contact.phone_required", "contact.phone_format")

# API messages the phone pages may show, by the English text they start with; the page shows the translation.
SERVER_MESSAGES = (
    "the photo is not an image we can read", "the photo has too many pixels", "the file is larger than",
    "the file is empty", "the voice note is not a recording we can play", "voice notes may last up to",
    "images are not accepted", "verify your account before reporting by hospital",
    "this hospital has no location on file", "already in your devices", "name and phone are needed",
    "the invite code does not match your hospital", "this invite code has expired",
)


def server_messages(translate: Callable[[str], str]) -> dict[str, str]:
    """The known API messages in the page's language, keyed by the English text they start with."""
    return {key: translate(f"server.{key}") for key in SERVER_MESSAGES} | {
        "outside_geofence": translate("server.outside_geofence"), "fallback": translate("server.fallback")}


router = APIRouter(include_in_schema=False)
# The engineer's ticket page (desk/engineer_ticket.html) hands the known API messages to its script too.
TEMPLATES.env.globals.setdefault("server_messages", server_messages)
router.include_router(account_router)
router.include_router(covers_router)
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


def _recent_per_member(session: Any, *, device_ids: list[int], per_device: int = 3) -> dict[int, list[Ticket]]:
    """Each member device's latest tickets, newest first (one query for the whole group)."""
    rank = func.row_number().over(partition_by=Ticket.device_id, order_by=Ticket.created_at.desc()).label("rank")
    ranked = select(Ticket.id, rank).where(Ticket.device_id.in_(device_ids)).subquery()
    rows = session.execute(select(Ticket).join(ranked, ranked.c.id == Ticket.id).where(ranked.c.rank <= per_device)
                           .order_by(Ticket.created_at.desc())).scalars()
    found: dict[int, list[Ticket]] = {i: [] for i in device_ids}
    for ticket in rows:
        found[ticket.device_id].append(ticket)  # type: ignore[index]
    return found


@router.get("/r/{code}")
def landing(code: str, request: Request, session: SessionDep, settings: SettingsDep, user: OptionalUser) -> Response:
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
    return _landing_page(request, session, settings, user, device=device, group=group, code=found.code)


def _landing_page(request: Request, session: Any, settings: Any, user: User | None, *, device: Any, group: Any,
                  code: str, by_pass: bool = False) -> Response:
    """The repair page of a device or group. by_pass: reached by typing serial and number (a by-ID pass in place
    of the label's code), so it shows no repair history and no open ticket: the page is for reporting only."""
    _ = _t(request)
    kind = TargetKind.device if device is not None else TargetKind.device_group
    members = list(group.members) if group is not None else [device]
    recent = [] if by_pass else _recent(session, device_ids=[d.id for d in members if d],
                                        group_id=group.id if group else None)
    texts = {key: _(value) for key, value in {
        "uploading": "Uploading…", "uploadFailed": "Upload failed", "remove": "Remove", "holdToTalk": "Hold to talk",
        "releaseToSend": "Release to finish", "noRecording": "This browser cannot record; please type instead.",
        "micDenied": "Microphone not allowed; please type instead.", "voiceHint": "Up to 60 seconds.",
        "describe": "Please describe the fault.", "waitUploads": "Please wait until the uploads finish.",
        "submitFailed": "Not sent; your input is kept, try again",
    }.items()} | {key: _(key) for key in CONTACT_KEYS} | {"server": server_messages(_)}
    label = device.system_number if device else group.name
    target = device if device is not None else group
    can_claim = not by_pass and user is not None and user.verification == Verification.verified and \
        user.hospital_id == target.hospital_id
    # Already on their list (the device itself, or the group it belongs to): the button says so instead.
    group_id = group.id if group is not None else device.group_id
    on_list = [DeviceClaim.device_id == device.id] if device is not None else []
    if group_id is not None:
        on_list.append(DeviceClaim.group_id == group_id)
    claimed = can_claim and user is not None and session.execute(select(DeviceClaim.id).where(
        DeviceClaim.user_id == user.id, or_(*on_list)).limit(1)).first() is not None
    per_member = _recent_per_member(session, device_ids=[d.id for d in members]) \
        if group is not None and not by_pass else {}
    open_ticket = None if by_pass else ticket_service.newest_open(
        session, device_id=device.id if device else None, group_id=group.id if group else None)
    can_follow = open_ticket is not None and ticket_service.can_view(ticket_service.Viewer(user=user), open_ticket,
                                                                     settings)
    # The repair history the patent puts next to the score: what each fault was, and this year's count.
    shown = recent + [t for member in per_member.values() for t in member]
    history = None if by_pass else repair_history(session, device=device, tickets=shown, language=pick_language(
        request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language")))
    return render(request, "h5/landing.html", user, kind=kind.value, device=device, group=group, code=code,
                  recent=recent, texts=texts, target_label=label, can_claim=can_claim, claimed=claimed,
                  per_member=per_member, history=history,
                  open_ticket=open_ticket, can_follow=can_follow, added=request.query_params.get("added"),
                  wechat_sdk=WECHAT_SDK if getattr(request.app.state, "wechat", None) else None)


@router.post("/r/{code}/add-info")
def add_info_from_label(
    code: str, request: Request, session: SessionDep, settings: SettingsDep, user: OptionalUser,
    number: Annotated[str, Form(max_length=40)], text: Annotated[str, Form(max_length=5000)] = "",
    name: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Add what one saw to the device's open ticket instead of opening another (the label proves presence)."""
    _ = _t(request)
    found = qr_service.resolve(session, code=code)
    if isinstance(found, qr_service.Replaced):
        return RedirectResponse(f"/r/{found.current_code}", status_code=303)
    device_id = found.target.id if found.kind == TargetKind.device else None
    group_id = found.target.id if found.kind == TargetKind.device_group else None
    ticket = ticket_service.newest_open(session, device_id=device_id, group_id=group_id)
    if ticket is None or ticket.number != number or not text.strip():
        # Closed meanwhile, or nothing typed: back to the page, which shows the current state.
        return RedirectResponse(f"/r/{found.code}", status_code=303)
    # Whoever stands at the device may add to its open ticket, as they may report it; they act as its reporter
    # for this one step only, and the page does not hand them the reporter's link.
    viewer = ticket_service.Viewer(user=user, reporter_key=ticket_service.reporter_key(settings, ticket.number))
    signed = (name.strip() or (user.full_name if user else "")).strip()
    body = f"{text.strip()}\n— {signed}" if signed else text.strip()
    ticket_service.apply_action(session, ticket=ticket, data=ActionIn(action=Action.add_info, text=body[:5000],
                                                                      version=ticket.version),
                                viewer=viewer, settings=settings, recorded={"via": "label"})
    session.commit()
    return RedirectResponse(f"/r/{found.code}?added={ticket.number}", status_code=303)


@router.get("/t/{number}")
def ticket_page(
    number: str, request: Request, session: SessionDep, settings: SettingsDep, user: OptionalUser,
    k: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    """The reporter's view of a ticket: live status, timeline, confirm and rate."""
    _ = _t(request)
    viewer = ticket_service.Viewer(user=user, reporter_key=k)
    ticket = ticket_service.visible_by_number(session, number, viewer, settings)
    if ticket is None:
        response = render(request, "h5/message.html", user, icon="warn", title=_("Ticket not found"),
                          text=_("Check the link you received, or sign in."), link="/login", link_text=_("Sign in"))
        response.status_code = 404
        return response
    device_label = (f"{ticket.device.system_number} {ticket.device.model}" if ticket.device
                    else ticket.group.name if ticket.group else "")
    steps = {"submitted": "Submitted", "dispatched": "Engineer assigned", "on_site": "On site",
             "resolved": "Fixed", "solved": "step.solved", "closed": "Closed"}
    texts = {
        "status": {s.value: _(f"status.{s.value}") for s in Status},
        # A status without a hint (cancelled: the status says it all) has no entry in the catalog.
        "hints": {s.value: hint for s in Status if (hint := _(f"hint.{s.value}")) != f"hint.{s.value}"},
        "actions": {a.value: _(f"action.{a.value}") for a in Action} | {"submit": _("action.submit")},
        "steps": {key: _(value) for key, value in steps.items()},
        **{key: _(value) for key, value in {
            "confirm": "Confirm it is fixed", "reopen": "Not fixed yet", "reopenWhy": "What is still wrong?",
            "cancel": "Withdraw the report", "cancelWhy": "Why withdraw it?", "rateTitle": "Rate the service",
            "rateOverall": "Overall", "rateSpeed": "Response speed", "rateAttitude": "Attitude",
            "rateSkill": "Technical level", "comment": "Comment (optional)", "rateSubmit": "Submit rating",
            "rateNeedOverall": "Give an overall rating.", "thanks": "Thank you for your rating",
            "addInfo": "Add information for the engineer", "send": "Send",
            "addInfoEmpty": "Type what you want to add first.",
            "changed": "The ticket was just updated; please check and try again.",
            "before": "Before repair", "after": "After repair", "photosTitle": "Photos", "withdraw": "dialog.withdraw",
            "keep": "dialog.keep", "needReason": "Please give a reason.", "dialogCancel": "Cancel",
            "selfServeTitle": "Solved by self-service", "confirmOk": "Confirm", "mediaPending": "media.pending",
            "mediaFailed": "media.fetch_failed", "alertChart": "Alert chart",
        }.items()},
    }
    return render(request, "h5/ticket.html", user, ticket=ticket, key=k, device_label=device_label, texts=texts)


@router.get("/report")
def report_by_id(request: Request, user: OptionalUser) -> Response:
    """Backup path (a): type the nameplate serial and the system number when the label is lost."""
    return render(request, "h5/by_id.html", user, error=None, serial="", number="", trusted=_trusted(user))


def _trusted(user: User | None) -> bool:
    # Staff and verified lab users may see any device of their scope already (my devices, by hospital).
    return may_skip_label(user)


@router.post("/report")
def report_by_id_submit(
    request: Request, session: SessionDep, settings: SettingsDep, user: OptionalUser,
    serial: Annotated[str, Form(max_length=100)] = "", number: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Find the device. Anyone may continue to report it with its serial and system number together (a pass,
    never the label's code and no history); staff and verified users of its hospital need only one of them."""
    _ = _t(request)
    serial, number = serial.strip(), number.strip()

    def again(error: str, status_code: int) -> Response:
        response = render(request, "h5/by_id.html", user, error=error, serial=serial, number=number,
                          trusted=_trusted(user))
        response.status_code = status_code
        return response

    if not limiter_for(request.app.state, "report-by-id").allow(client_address(request),
                                                                settings.report_by_id_per_minute):
        return again(_("Too many tries from this network. Please wait a minute and try again."), 429)
    not_found = _("No device has this serial and number. Check both, or search by hospital.")
    if _trusted(user) and (serial or number):
        assert user is not None
        if serial and number:
            found: Any = find_by_serial_and_number(session, serial=serial, number=number)
            kind = TargetKind.device
        else:
            found = find_by_identifier(session, text=serial or number)
            kind = TargetKind.device
            if found is None:
                found, kind = find_group_by_identifier(session, text=serial or number), TargetKind.device_group
        if found is None or not (user.is_staff or found.hospital_id == user.hospital_id):
            return again(not_found, 404)
        # A line's number (MG-…) leads to the group's label page: the whole line or one member.
        row = qr_service.code_for(session, kind=kind, target_id=found.id, actor=Actor.system("report-by-id"))
        session.commit()
        return RedirectResponse(f"/r/{row.code}", status_code=303)
    if not serial or not number:
        return again(_("Type both the serial on the nameplate and the device number (MF-…)."), 422)
    device = find_by_serial_and_number(session, serial=serial, number=number)
    if device is None:
        return again(not_found, 404)
    return RedirectResponse(f"/report/device/{issue_pass(settings, device_id=device.id)}", status_code=303)


@router.get("/report/device/{token}")
def report_by_pass(token: str, request: Request, session: SessionDep, settings: SettingsDep,
                   user: OptionalUser) -> Response:
    """The repair form of a device found by serial and number: reporting only, for a couple of hours."""
    device_id = pass_device(settings, token)
    device = session.get(Device, device_id) if device_id is not None else None
    if device is None:
        _ = _t(request)
        response = render(request, "h5/message.html", user, icon="warn", title=_("Link expired"),
                          text=_("Type the serial and the device number again."),
                          link="/report", link_text=_("Report by device ID"))
        response.status_code = 404
        return response
    return _landing_page(request, session, settings, user, device=device, group=None, code=token, by_pass=True)


@router.get("/report/hospital")
def report_by_hospital(request: Request, user: OptionalUser) -> Response:
    """Backup path (b): search the hospital, prove you are there, pick the device."""
    if user is None:
        # Outside WeChat nobody is signed in: a sign-in page that also offers registering (with an invite code).
        return RedirectResponse("/login/reporter?next=/report/hospital", status_code=303)
    _ = _t(request)
    texts: dict[str, Any] = {"status": {s.value: _(s.value) for s in DeviceStatus}, "server": server_messages(_)}
    texts |= {key: _(value) for key, value in {
        "locating": "Finding your location…", "noLocation": "Location is needed to list a hospital's devices.",
        "none": "No hospital found.", "pick": "Pick the device", "outside": "Outside the hospital", "serial": "S/N",
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
        "report": "Report", "open": "open tickets", "remove": "Take off my list", "last": "Last ticket",
        "ask": "Ask in the service group", "removeAsk": "Take {name} off my devices? The device itself is not changed.",
        "cancel": "Cancel",
        "empty": "No devices yet. Open a device’s repair page and tap “Add to my devices”.",
    }.items()}
    return render(request, "h5/my_devices.html", user, verified=verified, texts=texts)
