"""Reporter pages (mobile first): the QR landing with the repair form, and the ticket page."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import select

from cloud.db import SessionDep
from cloud.deps import OptionalUser, SettingsDep
from cloud.errors import NotFound
from cloud.qr import service as qr_service
from cloud.qr.models import TargetKind
from cloud.tickets import service as ticket_service
from cloud.tickets.models import Ticket
from cloud.tickets.state import Action, Status
from cloud.web.i18n import pick_language, translate
from cloud.web.pages import LANGUAGE_COOKIE, render

router = APIRouter(include_in_schema=False)


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
    return render(request, "h5/landing.html", user, kind=found.kind.value, device=device, group=group, code=found.code,
                  recent=recent, texts=texts, target_label=label)


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
