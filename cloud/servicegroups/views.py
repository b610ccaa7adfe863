"""Messages, groups and requests as the API, the hub and the pages show them."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud.auth.models import User
from cloud.registry.models import Hospital
from cloud.servicegroups import service
from cloud.servicegroups.models import (
    MemberKind,
    ServiceGroup,
    ServiceGroupMember,
    ServiceGroupMessage,
    ServiceGroupRequest,
)
from cloud.servicegroups.schemas import (
    AuthorOut,
    GroupOut,
    GroupRequestOut,
    MessageAttachmentOut,
    MessageOut,
)
from cloud.tickets.models import Ticket, TicketAttachment

BOT_NAME = "智能助手"


def _author(session: Session, member: ServiceGroupMember | None) -> AuthorOut | None:
    if member is None:
        return None
    if member.kind == MemberKind.bot:
        return AuthorOut(member_id=member.id, user_id=None, name=BOT_NAME, kind=member.kind)
    user = session.get(User, member.user_id) if member.user_id else None
    name = (user.full_name or user.username) if user else "—"
    return AuthorOut(member_id=member.id, user_id=member.user_id, name=name, kind=member.kind)


def message_out(session: Session, message: ServiceGroupMessage) -> MessageOut:
    """One message with its author's name and role, its files' URLs and its ticket's number."""
    files = []
    for attachment_id in message.attachment_ids or []:
        attachment = session.get(TicketAttachment, attachment_id)
        if attachment is None:
            continue
        files.append(MessageAttachmentOut(
            id=attachment.id, kind=attachment.kind.value, content_type=attachment.content_type,
            duration_s=attachment.duration_s, transcript=attachment.transcript,
            url=f"/api/v1/service-groups/{message.group_id}/messages/{message.id}/attachments/{attachment.id}"))
    ticket = session.get(Ticket, message.ticket_id) if message.ticket_id else None
    return MessageOut(
        id=message.id, group_id=message.group_id, kind=message.kind, text=message.text,
        transcript=message.transcript, author=_author(session, message.author), attachments=files,
        reply_to_id=message.reply_to_id, meta=message.meta or {}, ticket_id=message.ticket_id,
        ticket_number=ticket.number if ticket else None, created_at=message.created_at)


def group_out(session: Session, group: ServiceGroup, member: ServiceGroupMember | None) -> GroupOut:
    """A group for a member's list; the desk also sees how many handed-over questions wait unread."""
    hospital = session.get(Hospital, group.hospital_id)
    last = service.last_message(session, group_id=group.id)
    unread = service.unread_count(session, group_id=group.id, member=member)
    handoffs = 0
    if unread:
        handoffs = sum(1 for m in service.unread_messages(session, group_id=group.id, member=member)
                       if (m.meta or {}).get("handoff"))
    count = session.execute(select(func.count()).select_from(ServiceGroupMember).where(
        ServiceGroupMember.group_id == group.id)).scalar_one()
    return GroupOut(
        id=group.id, hospital_id=group.hospital_id, hospital_name=hospital.name if hospital else "",
        name=group.name, status=group.status, device_group_id=group.device_group_id,
        department_id=group.department_id, member_count=int(count), unread=unread,
        last_message=message_out(session, last) if last else None, handoffs=handoffs)


def request_out(session: Session, row: ServiceGroupRequest) -> GroupRequestOut:
    """A request with the names a person reads."""
    hospital = session.get(Hospital, row.hospital_id)
    requester = session.get(User, row.requested_by) if row.requested_by else None
    return GroupRequestOut(
        id=row.id, hospital_id=row.hospital_id, hospital_name=hospital.name if hospital else "", kind=row.kind,
        device_group_id=row.device_group_id, department_id=row.department_id, name=row.name, reason=row.reason,
        status=row.status, requested_by=row.requested_by,
        requested_by_name=(requester.full_name or requester.username) if requester else "",
        decided_by=row.decided_by, decided_at=row.decided_at, decision_note=row.decision_note,
        group_id=row.group_id, created_at=row.created_at)
