"""Requests for new groups (an admin decides) and a message turned into a repair ticket. Callers commit."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.audit.service import Actor, record
from cloud.auth.models import Role, User, Verification
from cloud.config import Settings
from cloud.db import utcnow
from cloud.errors import Conflict, Forbidden, Invalid, NotFound
from cloud.events import emit
from cloud.registry.models import Department, Device, DeviceClaim, DeviceGroup
from cloud.servicegroups import service
from cloud.servicegroups.models import (
    GroupStatus,
    MessageKind,
    RequestKind,
    RequestStatus,
    ServiceGroup,
    ServiceGroupMessage,
    ServiceGroupRequest,
)
from cloud.servicegroups.schemas import GroupRequestIn
from cloud.tenancy import Scope
from cloud.tickets import service as tickets
from cloud.tickets.models import Source, Ticket, TicketAttachment
from cloud.tickets.schemas import AttachmentRef, TicketSubmit


def _target(session: Session, data: GroupRequestIn, hospital_id: int) -> tuple[int | None, int | None, str]:
    if data.kind == RequestKind.device_group:
        group = session.get(DeviceGroup, data.device_group_id) if data.device_group_id else None
        if group is None or group.hospital_id != hospital_id:
            raise Invalid("请选择本院的设备组 / choose a device group of the hospital",
                          [{"field": "device_group_id", "message": "not found"}])
        return group.id, None, group.name
    department = session.get(Department, data.department_id) if data.department_id else None
    if department is None or department.hospital_id != hospital_id:
        raise Invalid("请选择本院的科室 / choose a department of the hospital",
                      [{"field": "department_id", "message": "not found"}])
    return None, department.id, department.name


def create_request(session: Session, *, user: User, data: GroupRequestIn) -> ServiceGroupRequest:
    """A lab user (their own hospital), an engineer or the desk asks for a group of a device group or department."""
    if user.role == Role.lab_user:
        if user.verification != Verification.verified or user.hospital_id is None:
            raise Forbidden(service.UNVERIFIED)
        hospital_id = user.hospital_id
    else:
        if data.hospital_id is None:
            raise Invalid("请选择医院 / choose the hospital", [{"field": "hospital_id", "message": "required"}])
        if user.role == Role.engineer and not service.serves(user, data.hospital_id):
            raise Forbidden("您不负责这家医院 / you do not serve this hospital")
        hospital_id = data.hospital_id
    device_group_id, department_id, target_name = _target(session, data, hospital_id)
    existing = session.execute(select(ServiceGroup).where(
        ServiceGroup.hospital_id == hospital_id, ServiceGroup.status == GroupStatus.active,
        ServiceGroup.device_group_id.is_(device_group_id) if device_group_id is None
        else ServiceGroup.device_group_id == device_group_id,
        ServiceGroup.department_id.is_(department_id) if department_id is None
        else ServiceGroup.department_id == department_id)).scalar()
    if existing is not None:
        raise Conflict(f"已有这个服务群：{existing.name} / this group exists", group_id=existing.id)
    pending = session.execute(select(ServiceGroupRequest).where(
        ServiceGroupRequest.hospital_id == hospital_id, ServiceGroupRequest.status == RequestStatus.pending,
        ServiceGroupRequest.kind == data.kind, ServiceGroupRequest.device_group_id.is_(device_group_id)
        if device_group_id is None else ServiceGroupRequest.device_group_id == device_group_id,
        ServiceGroupRequest.department_id.is_(department_id) if department_id is None
        else ServiceGroupRequest.department_id == department_id)).scalar()
    if pending is not None:
        raise Conflict("同样的申请正在等待审批 / the same request is waiting for a decision", request_id=pending.id)
    row = ServiceGroupRequest(
        requested_by=user.id, hospital_id=hospital_id, kind=data.kind, device_group_id=device_group_id,
        department_id=department_id, name=(data.name.strip() or f"{target_name} 服务群")[:100],
        reason=data.reason.strip(), status=RequestStatus.pending, created_at=utcnow())
    session.add(row)
    session.flush()
    record(session, actor=Actor(user.id, user.username), action="request", entity="service_group_request",
           entity_id=row.id, hospital_id=hospital_id, after={"kind": data.kind.value, "name": row.name,
                                                             "reason": row.reason})
    emit(session, "servicegroup.requested", request_id=row.id, hospital_id=hospital_id)
    return row


def list_requests(session: Session, *, user: User, status: RequestStatus | None = None) -> list[ServiceGroupRequest]:
    """Admins see every request, others their own; newest first."""
    stmt = select(ServiceGroupRequest)
    if user.role != Role.admin:
        stmt = stmt.where(ServiceGroupRequest.requested_by == user.id)
    if status is not None:
        stmt = stmt.where(ServiceGroupRequest.status == status)
    return list(session.execute(stmt.order_by(ServiceGroupRequest.id.desc()).limit(200)).scalars())


def _owners(session: Session, row: ServiceGroupRequest) -> list[User]:
    """Verified lab users who claimed a device (or the device group) the new group is about."""
    stmt = select(User).join(DeviceClaim, DeviceClaim.user_id == User.id).outerjoin(
        Device, Device.id == DeviceClaim.device_id).where(
        User.role == Role.lab_user, User.verification == Verification.verified, User.is_active.is_(True),
        User.hospital_id == row.hospital_id)
    if row.device_group_id is not None:
        stmt = stmt.where((DeviceClaim.group_id == row.device_group_id) | (Device.group_id == row.device_group_id))
    else:
        stmt = stmt.where(Device.department_id == row.department_id)
    return list(session.execute(stmt).scalars().unique())


def decide_request(session: Session, *, request_id: int, admin: User, approve: bool,
                   note: str = "") -> ServiceGroupRequest:
    """Approve (the group is created with its members) or reject a pending request."""
    if admin.role != Role.admin:
        raise Forbidden("只有管理员可以审批 / only an admin decides")
    row = session.get(ServiceGroupRequest, request_id)
    if row is None:
        raise NotFound(f"request {request_id} not found")
    if row.status != RequestStatus.pending:
        raise Conflict("这个申请已经处理过了 / this request was already decided", status=row.status.value)
    if approve:
        requester = session.get(User, row.requested_by) if row.requested_by else None
        people = _owners(session, row)
        if requester is not None and requester.role in (Role.lab_user, Role.engineer) and requester not in people:
            people.append(requester)
        service.ensure_hospital_group(session, hospital_id=row.hospital_id)  # the first approval makes it too
        group = service.create_group(session, hospital_id=row.hospital_id, name=row.name,
                                     device_group_id=row.device_group_id, department_id=row.department_id,
                                     lab_users=[p for p in people if p.role == Role.lab_user])
        for person in people:
            if person.role == Role.engineer:
                service.join(session, group=group, user=person)
        row.group_id = group.id
    row.status = RequestStatus.approved if approve else RequestStatus.rejected
    row.decided_by, row.decided_at, row.decision_note = admin.id, utcnow(), (note.strip() or None)
    record(session, actor=Actor(admin.id, admin.username), action=row.status.value, entity="service_group_request",
           entity_id=row.id, hospital_id=row.hospital_id, after={"group_id": row.group_id, "note": row.decision_note})
    emit(session, "servicegroup.request_decided", request_id=row.id, status=row.status.value, group_id=row.group_id,
         requested_by=row.requested_by)
    return row


def to_ticket(session: Session, *, message_id: int, user: User, settings: Settings, device_id: int | None = None,
              description: str | None = None) -> tuple[Ticket, bool]:
    """A message, with its photos and voice, becomes a repair ticket in the message author's name; the group sees a
    system message linking it. Doing it twice answers the same ticket."""
    if not service.sees_every_group(user):
        raise Forbidden("只有客服可以转工单 / only the service desk turns messages into tickets")
    message = session.get(ServiceGroupMessage, message_id)
    if message is None:
        raise NotFound(f"message {message_id} not found")
    group = session.get(ServiceGroup, message.group_id)
    assert group is not None
    if message.ticket_id is not None:
        ticket = session.get(Ticket, message.ticket_id)
        if ticket is not None:
            return ticket, False
    if message.kind not in (MessageKind.text, MessageKind.photo, MessageKind.voice):
        raise Invalid("只有成员的消息可以转为工单 / only a member's message becomes a ticket",
                      [{"field": "message_id", "message": message.kind.value}])
    chosen = device_id or message.meta.get("device_id")
    if not chosen:
        raise Invalid("请选择设备 / choose the device", [{"field": "device_id", "message": "required"}])
    device = service.device_in_hospital(session, device_id=int(chosen), hospital_id=group.hospital_id)
    author = message.author.user_id if message.author else None
    reporter = session.get(User, author) if author else None
    text = (description or "").strip() or "\n".join(x for x in (message.text, message.transcript) if x) \
        or "服务群照片报修"
    # The uploads get a fresh key so the ticket can take them over; the poster's key is spent once posted.
    refs = []
    for attachment_id in message.attachment_ids:
        attachment = session.get(TicketAttachment, attachment_id)
        if attachment is None or attachment.ticket_id is not None:
            continue
        key = secrets.token_urlsafe(24)
        attachment.upload_key_hash = hashlib.sha256(key.encode()).hexdigest()
        refs.append(AttachmentRef(id=attachment.id, key=key, transcript=attachment.transcript))
    viewer_user = reporter if reporter is not None and reporter.role == Role.lab_user else user
    ticket, created = tickets.submit(
        session, data=TicketSubmit(device_id=device.id, description=text[:5000], attachments=refs,
                                   source=Source.desk),
        viewer=tickets.Viewer(user=viewer_user), scope=Scope.of_hospital(group.hospital_id),
        idempotency_key=f"servicegroup-message-{message.id}", settings=settings)
    message.ticket_id = ticket.id
    message.meta = {**message.meta, "device_id": device.id}
    service.post_message(session, group_id=group.id, author_user_id=None, kind=MessageKind.system,
                         text=f"已转为报修工单 {ticket.number}（{device.system_number} {device.model}）",
                         meta={"ticket_id": ticket.id, "ticket_number": ticket.number, "source_message_id": message.id,
                               "by": user.full_name or user.username})
    emit(session, "servicegroup.message_updated", group_id=group.id, message_id=message.id,
         hospital_id=group.hospital_id)
    return ticket, created
