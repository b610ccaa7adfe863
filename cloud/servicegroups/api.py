"""Service group REST API under /api/v1/service-groups and the live chat socket /ws/groups."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated, Any

from fastapi import APIRouter, Query, WebSocket, status
from fastapi.responses import FileResponse
from sqlalchemy import select

from cloud.auth import service as auth_service
from cloud.auth.models import User
from cloud.console import guard
from cloud.console.api import pump as console_pump
from cloud.console.api import refuse
from cloud.console.hub import Connection, Hub, Message
from cloud.db import SessionDep, utcnow
from cloud.deps import CurrentUser, SettingsDep
from cloud.errors import DomainError, NotFound
from cloud.registry.models import Device
from cloud.security import UPLOAD_HEADERS
from cloud.servicegroups import requests, service, views
from cloud.servicegroups.models import RequestStatus, ServiceGroupMessage
from cloud.servicegroups.schemas import (
    DecisionIn,
    GroupOut,
    GroupRequestIn,
    GroupRequestOut,
    HistoryOut,
    MemberOut,
    MessageIn,
    MessageOut,
    ReadIn,
    ToTicketIn,
    ToTicketOut,
)
from cloud.tickets.models import TicketAttachment

router = APIRouter(tags=["servicegroups"])
PRESENCE_REFRESH_S = 30


@router.post("/api/v1/service-groups/requests", response_model=GroupRequestOut, status_code=status.HTTP_201_CREATED)
def create_request(body: GroupRequestIn, session: SessionDep, user: CurrentUser) -> GroupRequestOut:
    """Ask for a group of a device group or department; an admin approves."""
    row = requests.create_request(session, user=user, data=body)
    session.commit()
    return views.request_out(session, row)


@router.get("/api/v1/service-groups/requests", response_model=list[GroupRequestOut])
def list_requests(session: SessionDep, user: CurrentUser,
                  status: RequestStatus | None = None) -> list[GroupRequestOut]:
    """Admins: every request; others: their own."""
    return [views.request_out(session, r) for r in requests.list_requests(session, user=user, status=status)]


@router.post("/api/v1/service-groups/requests/{request_id}/decision", response_model=GroupRequestOut)
def decide(request_id: int, body: DecisionIn, session: SessionDep, user: CurrentUser) -> GroupRequestOut:
    """An admin approves (the group is created) or rejects a request."""
    row = requests.decide_request(session, request_id=request_id, admin=user, approve=body.approve, note=body.note)
    session.commit()
    return views.request_out(session, row)


@router.get("/api/v1/service-groups", response_model=list[GroupOut])
def list_groups(session: SessionDep, user: CurrentUser) -> list[GroupOut]:
    """My groups with unread counts, the ones with news first."""
    rows = service.visible_groups(session, user=user)
    session.commit()
    out = [views.group_out(session, group, member) for group, member in rows]
    out.sort(key=lambda g: (g.unread == 0, -(g.last_message.id if g.last_message else 0)))
    return out


@router.get("/api/v1/service-groups/{group_id}", response_model=GroupOut)
def get_group(group_id: int, session: SessionDep, user: CurrentUser) -> GroupOut:
    """One group I may read."""
    group, member = service.open_group(session, group_id=group_id, user=user)
    session.commit()
    return views.group_out(session, group, member)


@router.get("/api/v1/service-groups/{group_id}/members", response_model=list[MemberOut])
def members(group_id: int, session: SessionDep, user: CurrentUser) -> list[MemberOut]:
    """Who is in the group."""
    group, _ = service.open_group(session, group_id=group_id, user=user)
    session.commit()
    out = []
    for member in group.members:
        author = views._author(session, member)
        out.append(MemberOut(id=member.id, user_id=member.user_id, name=author.name if author else "",
                             kind=member.kind))
    return out


@router.get("/api/v1/service-groups/{group_id}/messages", response_model=HistoryOut)
def messages(
    group_id: int, session: SessionDep, user: CurrentUser,
    before_id: Annotated[int | None, Query(ge=1)] = None, limit: Annotated[int, Query(ge=1, le=100)] = 30,
) -> HistoryOut:
    """A page of the chat, oldest first; scroll up with before_id = the oldest id shown."""
    group, member = service.open_group(session, group_id=group_id, user=user)
    session.commit()
    rows, more = service.history(session, group_id=group.id, before_id=before_id, limit=limit)
    return HistoryOut(items=[views.message_out(session, m) for m in rows], more=more,
                      last_read_message_id=member.last_read_message_id)


@router.post("/api/v1/service-groups/{group_id}/messages", response_model=MessageOut,
             status_code=status.HTTP_201_CREATED)
def post(group_id: int, body: MessageIn, session: SessionDep, user: CurrentUser) -> MessageOut:
    """Send a text, photos or a voice note (upload them first with POST /api/v1/uploads)."""
    group, _ = service.open_group(session, group_id=group_id, user=user)
    meta: dict[str, Any] = {}
    if body.device_id is not None:
        meta["device_id"] = service.device_in_hospital(session, device_id=body.device_id,
                                                       hospital_id=group.hospital_id).id
    message = service.post_message(session, group_id=group.id, author_user_id=user.id, kind=body.kind,
                                   text=body.text, attachments=body.attachments, meta=meta,
                                   reply_to_id=body.reply_to_id)
    session.commit()
    return views.message_out(session, message)


@router.post("/api/v1/service-groups/{group_id}/read")
def read(group_id: int, body: ReadIn, session: SessionDep, user: CurrentUser) -> dict[str, int | None]:
    """Mark the chat read up to a message."""
    group, member = service.open_group(session, group_id=group_id, user=user)
    last = service.mark_read(session, member=member, message_id=body.message_id)
    session.commit()
    return {"last_read_message_id": last, "unread": service.unread_count(session, group_id=group.id, member=member)}


@router.get("/api/v1/service-groups/{group_id}/devices")
def devices(group_id: int, session: SessionDep, user: CurrentUser) -> list[dict[str, Any]]:
    """The hospital's devices, to say which one a message is about."""
    group, _ = service.open_group(session, group_id=group_id, user=user)
    session.commit()
    rows = session.execute(select(Device).where(Device.hospital_id == group.hospital_id)
                           .order_by(Device.system_number)).scalars()
    return [{"id": d.id, "system_number": d.system_number, "model": d.model,
             "department": d.department.name if d.department else ""} for d in rows]


def _message_in(session: SessionDep, group_id: int, message_id: int) -> ServiceGroupMessage:
    message = session.get(ServiceGroupMessage, message_id)
    if message is None or message.group_id != group_id:
        raise NotFound(f"message {message_id} not found")
    return message


@router.get("/api/v1/service-groups/{group_id}/messages/{message_id}/attachments/{attachment_id}")
def attachment_file(group_id: int, message_id: int, attachment_id: int, session: SessionDep,
                    settings: SettingsDep, user: CurrentUser) -> FileResponse:
    """A message's photo or voice note, for the group's members."""
    service.open_group(session, group_id=group_id, user=user)
    session.commit()
    message = _message_in(session, group_id, message_id)
    attachment = session.get(TicketAttachment, attachment_id)
    if attachment is None or attachment_id not in (message.attachment_ids or []):
        raise NotFound(f"attachment {attachment_id} not found")
    path = (settings.data_dir / attachment.path).resolve()
    if not path.is_file() or settings.data_dir.resolve() not in path.parents:
        raise NotFound("the file is missing")
    return FileResponse(path, media_type=attachment.content_type, headers=UPLOAD_HEADERS)


@router.post("/api/v1/service-groups/{group_id}/messages/{message_id}/ticket", response_model=ToTicketOut)
def message_to_ticket(group_id: int, message_id: int, body: ToTicketIn, session: SessionDep,
                      settings: SettingsDep, user: CurrentUser) -> ToTicketOut:
    """Turn a message (with its photos and voice) into a repair ticket; the group is told."""
    service.open_group(session, group_id=group_id, user=user)
    _message_in(session, group_id, message_id)
    ticket, created = requests.to_ticket(session, message_id=message_id, user=user, settings=settings,
                                         device_id=body.device_id, description=body.description)
    session.commit()
    return ToTicketOut(ticket_id=ticket.id, number=ticket.number, created=created)


# ---- the live chat ----

def wants_for(user_id: int, group_ids: set[int] | None) -> Any:
    """Messages of the given groups (None: every group, and handovers, for the desk); read marks only one's own."""

    def wants(message: Message) -> bool:
        kind = message.get("type")
        if kind == "group.read":
            return bool(message.get("user_id") == user_id)
        if kind == "group.handoff":
            return group_ids is None
        return kind == "group.message" and (group_ids is None or message.get("group_id") in group_ids)

    return wants


def _presence(websocket: WebSocket, user_id: int, group_id: int | None, online: bool) -> None:
    with contextlib.suppress(Exception), websocket.app.state.sessionmaker() as session:
        service.touch_presence(session, user_id=user_id, group_id=group_id, online=online)
        session.commit()


async def _pump(websocket: WebSocket, hub: Hub, connection: Connection, user_id: int, group_id: int | None,
                recheck: guard.Recheck) -> None:
    """Forward the hub's messages (the console's loop); a ping answers pong and keeps the member marked online."""
    refreshed = utcnow()

    async def keep_online() -> None:
        nonlocal refreshed
        if (utcnow() - refreshed).total_seconds() > PRESENCE_REFRESH_S:
            refreshed = utcnow()
            await asyncio.to_thread(_presence, websocket, user_id, group_id, True)

    try:
        await console_pump(websocket, hub, connection, on_ping=keep_online, recheck=recheck)
    finally:
        await asyncio.to_thread(_presence, websocket, user_id, group_id, False)


@router.websocket("/ws/groups")
async def group_feed(websocket: WebSocket) -> None:
    """Live messages of one group (?group_id=) or of all my groups; authenticated like /ws/console (session cookie
    or Authorization: Bearer, an allowed origin, re-checked every ws_recheck_s)."""
    if not guard.origin_allowed(websocket, websocket.app.state.settings):
        await refuse(websocket, guard.FOREIGN_ORIGIN)
        return
    token = guard.socket_token(websocket)
    raw_group = websocket.query_params.get("group_id")
    group_id = int(raw_group) if raw_group and raw_group.isdigit() else None
    factory = websocket.app.state.sessionmaker
    user: User | None = None
    refusal: tuple[int, str] | None = None
    group_ids: set[int] | None = None
    with factory() as session:
        if token:
            user = auth_service.user_for_token(session, token=token)
        if user is None:
            refusal = (4401, "sign in first")
        else:
            try:
                if group_id is not None:
                    group, _ = service.open_group(session, group_id=group_id, user=user)
                    group_ids = {group.id}
                elif not service.sees_every_group(user):
                    group_ids = {g.id for g, _ in service.visible_groups(session, user=user)}
                service.touch_presence(session, user_id=user.id, group_id=group_id, online=True)
                session.commit()
            except DomainError as exc:
                # A close reason holds at most 123 bytes: the code says what happened.
                refusal = (4403, "not verified") if exc.status_code == 403 else (4404, "group not found")
    if refusal is not None or user is None:
        code, reason = refusal or (4401, "sign in first")
        await websocket.close(code=code, reason=reason)
        return
    hub: Hub = websocket.app.state.hub
    await websocket.accept()
    connection = hub.register(wants_for(user.id, group_ids))
    await websocket.send_json({"type": "hello", "user_id": user.id, "group_id": group_id})
    assert token is not None
    await _pump(websocket, hub, connection, user.id, group_id, guard.still_signed_in(websocket, token))
