"""Phone pages of the service groups (WeUI): my groups and one group's chat; texts for the console panel."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from starlette.exceptions import HTTPException as StarletteHTTPException

from cloud.auth.models import Role, User
from cloud.db import SessionDep
from cloud.errors import Forbidden, NotFound
from cloud.i18n import pick_language, translate
from cloud.registry.models import Department, Device, DeviceGroup, Hospital
from cloud.servicegroups import service, views
from cloud.web.pages import LANGUAGE_COOKIE, TEMPLATES, page_user, render

router = APIRouter(include_in_schema=False)

DEFAULT_TIME_ZONE = "Asia/Shanghai"  # hospitals carry no zone of their own yet

# The scripts' texts (English keys; zh-CN in cloud/locale).
CHAT_TEXTS = (
    "Service group", "Send", "Say something…", "Photo", "Voice", "Hold to talk", "Release to send", "Uploading…",
    "Upload failed", "Load older messages", "No more messages", "Solved", "Not solved", "Thanks for the feedback",
    "Feedback is not available yet", "Could not send", "Network error; try again.", "Live", "Reconnecting…",
    "Materials", "material.manual", "material.video", "material.image", "material.link", "Transcript", "Ticket",
    "Handed over to a person", "Smart assistant", "System", "Open",
    "member.bot", "member.agent", "member.engineer", "member.lab_user", "member.service_center",
    "Microphone permission denied", "This browser cannot record", "Today", "Yesterday", "new messages",
    # console panel
    "Service groups", "No groups yet.", "Select a group on the left.", "Mark the right entry", "Search entries",
    "Mark", "Marked", "Turn into ticket", "Choose the device", "Ticket created", "Open ticket", "Group requests",
    "Approve", "Reject", "No pending requests.", "Reason", "Requested by", "Knowledge base unavailable",
    "Answer in the group", "Back to tickets", "Could not save", "Nothing found.", "Hospital",
)


def chat_texts(language: str) -> dict[str, str]:
    """The chat scripts' texts in a language."""
    return {key: translate(key, language) for key in CHAT_TEXTS}


# The console panel is an include of the existing console page: it reads its texts through this global.
TEMPLATES.env.globals["group_chat_texts"] = chat_texts


@router.get("/groups")
def my_groups(request: Request, session: SessionDep, user: Annotated[User, page_user()]) -> Response:
    """My service groups with unread badges, and a form to ask for a new group."""
    try:
        rows = service.visible_groups(session, user=user)
    except Forbidden:
        response = render(request, "groups/list.html", user, groups=[], verified=False, device_groups=[],
                          departments=[])
        response.status_code = 403
        return response
    session.commit()
    groups = [views.group_out(session, group, member) for group, member in rows]
    groups.sort(key=lambda g: (g.unread == 0, -(g.last_message.id if g.last_message else 0)))
    # What a new group can be for: the lab user's hospital, the hospitals an engineer serves, any for the desk.
    if user.role == Role.lab_user:
        hospital_ids = {user.hospital_id}
    else:
        hospital_ids = {h.id for h in session.execute(select(Hospital)).scalars()
                        if user.role != Role.engineer or service.serves(user, h.id)}
    device_groups = list(session.execute(select(DeviceGroup).where(DeviceGroup.hospital_id.in_(hospital_ids))
                                         .order_by(DeviceGroup.hospital_id, DeviceGroup.name)).scalars())
    departments = list(session.execute(select(Department).where(Department.hospital_id.in_(hospital_ids))
                                       .order_by(Department.hospital_id, Department.name)).scalars())
    return render(request, "groups/list.html", user, groups=groups, verified=True, time_zone=DEFAULT_TIME_ZONE,
                  device_groups=device_groups, departments=departments, many_hospitals=len(hospital_ids) > 1,
                  can_request=user.role != Role.admin)


@router.get("/groups/device/{device_id}")
def ask_about_device(session: SessionDep, user: Annotated[User, page_user()], device_id: int) -> Response:
    """The device's hospital group, opened about that device: the bot uses its model, and a question it cannot
    solve goes to the remote service centre as a ticket for that device."""
    device = session.get(Device, device_id)
    if device is None or (user.role == Role.lab_user and device.hospital_id != user.hospital_id):
        raise StarletteHTTPException(status_code=404)  # another hospital's device reads as missing
    group = service.ensure_hospital_group(session, hospital_id=device.hospital_id)
    session.commit()
    return RedirectResponse(f"/groups/{group.id}?device_id={device.id}", status_code=303)


@router.get("/groups/{group_id}")
def chat(request: Request, group_id: int, session: SessionDep, user: Annotated[User, page_user()],
         device_id: Annotated[int | None, Query(ge=1)] = None) -> Response:
    """One group's chat (feels like WeChat): live messages, photos, voice notes, the bot's answers; opened from a
    device (?device_id=) the messages say which device they are about."""
    try:
        group, member = service.open_group(session, group_id=group_id, user=user)
    except Forbidden:
        response = render(request, "groups/list.html", user, groups=[], verified=False, device_groups=[],
                          departments=[])
        response.status_code = 403
        return response
    except NotFound:
        response = render(request, "groups/missing.html", user)
        response.status_code = 404
        return response
    session.commit()
    device = session.get(Device, device_id) if device_id else None
    if device is not None and device.hospital_id != group.hospital_id:
        device = None  # another hospital's device: the chat opens without it
    language = pick_language(request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language"))
    out = views.group_out(session, group, member)
    return render(request, "groups/chat.html", user, group=out, texts=chat_texts(language),
                  config={"groupId": group.id, "userId": user.id, "memberId": member.id,
                          "lastRead": member.last_read_message_id, "timeZone": DEFAULT_TIME_ZONE,
                          "lang": language, "deviceId": device.id if device else None},
                  device=device)
