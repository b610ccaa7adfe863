"""Service groups on the database: groups, membership, messages, unread counts. Keyword-only, no HTTP; callers
commit. Requests for new groups and message→ticket live in cloud/servicegroups/requests.py."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cloud.auth.models import DESK_ROLES, Role, User, Verification
from cloud.db import utcnow
from cloud.errors import Conflict, Forbidden, Invalid, NotFound
from cloud.events import emit
from cloud.registry.models import Device, DeviceClaim, Hospital
from cloud.servicegroups.models import (
    GroupStatus,
    MemberKind,
    MessageKind,
    ServiceGroup,
    ServiceGroupMember,
    ServiceGroupMessage,
)
from cloud.tickets.models import AttachmentKind, TicketAttachment
from cloud.tickets.schemas import AttachmentRef

KIND_OF_ROLE = {Role.agent: MemberKind.agent, Role.admin: MemberKind.agent, Role.service_center:
                MemberKind.service_center, Role.engineer: MemberKind.engineer, Role.lab_user: MemberKind.lab_user}
STAFF_KINDS = frozenset({MemberKind.agent, MemberKind.service_center, MemberKind.engineer})
MAX_TEXT = 4000
UNVERIFIED = "您的账号尚未验证，验证后才能加入服务群（请填写医院邀请码或联系管理员） / verify your account first"


def serves(user: User, hospital_id: int) -> bool:
    """Whether an engineer serves the hospital (no list = every hospital, as for dispatch suggestions)."""
    return not user.service_hospital_ids or hospital_id in user.service_hospital_ids


def sees_every_group(user: User) -> bool:
    """Agents, the service centre and admins see and answer in every group."""
    return user.role in DESK_ROLES


def may_see(user: User, group: ServiceGroup, *, member: bool) -> bool:
    """Whether the user may read the group now: the one rule for the list, opening a group, live feeds and notices.

    Membership alone is not enough: an engineer who no longer serves the hospital, or a lab user who moved to
    another hospital, keeps a membership row (their history is kept) but no longer sees the group."""
    if sees_every_group(user):
        return True
    if user.role == Role.engineer:
        return serves(user, group.hospital_id)
    if user.role == Role.lab_user:
        main = group.device_group_id is None and group.department_id is None
        return user.hospital_id == group.hospital_id and (member or main)
    return False


def _check_lab_user(user: User) -> None:
    if user.role == Role.lab_user and (user.verification != Verification.verified or user.hospital_id is None):
        raise Forbidden(UNVERIFIED)


def main_group(session: Session, *, hospital_id: int) -> ServiceGroup | None:
    """The hospital's own group, if it exists."""
    return session.execute(select(ServiceGroup).where(
        ServiceGroup.hospital_id == hospital_id, ServiceGroup.device_group_id.is_(None),
        ServiceGroup.department_id.is_(None))).scalar()


def member_of(session: Session, *, group_id: int, user_id: int) -> ServiceGroupMember | None:
    """A user's membership of a group."""
    return session.execute(select(ServiceGroupMember).where(
        ServiceGroupMember.group_id == group_id, ServiceGroupMember.user_id == user_id)).scalar()


def bot_member(session: Session, *, group: ServiceGroup) -> ServiceGroupMember:
    """The group's bot (one per group), added when missing."""
    bot = session.execute(select(ServiceGroupMember).where(
        ServiceGroupMember.group_id == group.id, ServiceGroupMember.kind == MemberKind.bot)).scalar()
    if bot is None:
        bot = ServiceGroupMember(group_id=group.id, user_id=None, kind=MemberKind.bot, joined_at=utcnow())
        session.add(bot)
        session.flush()
    return bot


def join(session: Session, *, group: ServiceGroup, user: User) -> ServiceGroupMember:
    """Add user to group (idempotent); a newcomer starts with everything before them read."""
    member = member_of(session, group_id=group.id, user_id=user.id)
    if member is not None:
        return member
    last = session.execute(select(func.max(ServiceGroupMessage.id)).where(
        ServiceGroupMessage.group_id == group.id)).scalar()
    member = ServiceGroupMember(group_id=group.id, user_id=user.id, kind=KIND_OF_ROLE[user.role], joined_at=utcnow(),
                                last_read_message_id=last)
    try:
        with session.begin_nested():
            session.add(member)
            session.flush()
    except IntegrityError:  # joined at the same moment by another request
        found = member_of(session, group_id=group.id, user_id=user.id)
        assert found is not None
        return found
    emit(session, "servicegroup.member_joined", group_id=group.id, user_id=user.id, kind=member.kind.value)
    return member


def _staff_for(session: Session, hospital_id: int) -> list[User]:
    users = session.execute(select(User).where(User.is_active.is_(True), User.role.in_(
        [Role.agent, Role.service_center, Role.engineer]))).scalars()
    return [u for u in users if u.role != Role.engineer or serves(u, hospital_id)]


def create_group(session: Session, *, hospital_id: int, name: str, device_group_id: int | None = None,
                 department_id: int | None = None, lab_users: Sequence[User] = ()) -> ServiceGroup:
    """A new group with its bot, the on-duty desk, the hospital's engineers and the given lab users."""
    group = ServiceGroup(hospital_id=hospital_id, name=name[:100], device_group_id=device_group_id,
                         department_id=department_id, status=GroupStatus.active, created_at=utcnow())
    session.add(group)
    session.flush()
    bot_member(session, group=group)
    for user in [*_staff_for(session, hospital_id), *lab_users]:
        join(session, group=group, user=user)
    emit(session, "servicegroup.created", group_id=group.id, hospital_id=hospital_id)
    return group


def ensure_hospital_group(session: Session, *, hospital_id: int) -> ServiceGroup:
    """The hospital's main group, created (with every verified lab user of the hospital) when missing."""
    group = main_group(session, hospital_id=hospital_id)
    if group is not None:
        return group
    hospital = session.get(Hospital, hospital_id)
    if hospital is None:
        raise NotFound(f"hospital {hospital_id} not found")
    lab_users = list(session.execute(select(User).where(
        User.hospital_id == hospital_id, User.role == Role.lab_user, User.is_active.is_(True),
        User.verification == Verification.verified)).scalars())
    short = (hospital.aliases or [hospital.name])[0]
    try:
        with session.begin_nested():
            return create_group(session, hospital_id=hospital_id, name=f"{short} 服务群", lab_users=lab_users)
    except IntegrityError:  # created at the same moment elsewhere (unique main group per hospital)
        found = main_group(session, hospital_id=hospital_id)
        assert found is not None
        return found


def _claimed_targets(session: Session, user: User) -> tuple[set[int], set[int]]:
    """The device groups and departments of the user's claimed devices and groups."""
    device_groups: set[int] = set()
    departments: set[int] = set()
    for claim in session.execute(select(DeviceClaim).where(DeviceClaim.user_id == user.id)).scalars():
        if claim.device is not None:
            if claim.device.group_id:
                device_groups.add(claim.device.group_id)
            if claim.device.department_id:
                departments.add(claim.device.department_id)
        if claim.group_id:
            device_groups.add(claim.group_id)
    return device_groups, departments


def auto_join(session: Session, *, user_id: int) -> list[ServiceGroup]:
    """A verified lab user joins their hospital's group and the groups of the devices they claimed."""
    user = session.get(User, user_id)
    if (user is None or user.role != Role.lab_user or user.verification != Verification.verified
            or user.hospital_id is None or not user.is_active):
        return []
    joined = [ensure_hospital_group(session, hospital_id=user.hospital_id)]
    device_groups, departments = _claimed_targets(session, user)
    others = session.execute(select(ServiceGroup).where(
        ServiceGroup.hospital_id == user.hospital_id, ServiceGroup.status == GroupStatus.active,
        ServiceGroup.device_group_id.in_(device_groups) | ServiceGroup.department_id.in_(departments))).scalars()
    joined.extend(others)
    for group in joined:
        join(session, group=group, user=user)
    return joined


def open_group(session: Session, *, group_id: int, user: User) -> tuple[ServiceGroup, ServiceGroupMember]:
    """A group the user may read, with their membership (the desk and the hospital's people join on first visit).

    An unverified lab user is refused (403); another hospital's group does not exist for them (404)."""
    _check_lab_user(user)
    group = session.get(ServiceGroup, group_id)
    if group is None:
        raise NotFound(f"service group {group_id} not found")
    member = member_of(session, group_id=group.id, user_id=user.id)
    if not may_see(user, group, member=member is not None):
        raise NotFound(f"service group {group_id} not found")
    if member is not None:
        return group, member
    if group.status != GroupStatus.active:
        raise NotFound(f"service group {group_id} not found")
    return group, join(session, group=group, user=user)


def visible_groups(session: Session, *, user: User) -> list[tuple[ServiceGroup, ServiceGroupMember | None]]:
    """The groups in the user's list: every active group for the desk, the served ones for engineers, a lab user's own
    (joining their hospital's group if verification happened before groups existed)."""
    _check_lab_user(user)
    if user.role == Role.lab_user:
        assert user.hospital_id is not None
        auto_join(session, user_id=user.id)
    stmt = select(ServiceGroup).where(ServiceGroup.status == GroupStatus.active).order_by(ServiceGroup.id)
    members = {m.group_id: m for m in session.execute(select(ServiceGroupMember).where(
        ServiceGroupMember.user_id == user.id)).scalars()}
    out = []
    for group in session.execute(stmt).scalars():
        if may_see(user, group, member=group.id in members):
            out.append((group, members.get(group.id)))
    return out


def unread_messages(session: Session, *, group_id: int, member: ServiceGroupMember | None,
                    limit: int = 200) -> list[ServiceGroupMessage]:
    """Messages after the member's last read one, not their own (newest `limit`)."""
    stmt = select(ServiceGroupMessage).where(ServiceGroupMessage.group_id == group_id)
    if member is not None:
        stmt = stmt.where(ServiceGroupMessage.id > (member.last_read_message_id or 0),
                          (ServiceGroupMessage.author_id != member.id) | ServiceGroupMessage.author_id.is_(None))
    return list(session.execute(stmt.order_by(ServiceGroupMessage.id.desc()).limit(limit)).scalars())


def unread_count(session: Session, *, group_id: int, member: ServiceGroupMember | None) -> int:
    """How many messages the member has not read."""
    stmt = select(func.count()).select_from(ServiceGroupMessage).where(ServiceGroupMessage.group_id == group_id)
    if member is not None:
        stmt = stmt.where(ServiceGroupMessage.id > (member.last_read_message_id or 0),
                          (ServiceGroupMessage.author_id != member.id) | ServiceGroupMessage.author_id.is_(None))
    return int(session.execute(stmt).scalar_one())


def last_message(session: Session, *, group_id: int) -> ServiceGroupMessage | None:
    """The newest message of a group."""
    return session.execute(select(ServiceGroupMessage).where(ServiceGroupMessage.group_id == group_id)
                           .order_by(ServiceGroupMessage.id.desc()).limit(1)).scalar()


def history(session: Session, *, group_id: int, before_id: int | None = None,
            limit: int = 30) -> tuple[list[ServiceGroupMessage], bool]:
    """A page of messages before before_id (default: the newest), oldest first, and whether older ones exist."""
    stmt = select(ServiceGroupMessage).where(ServiceGroupMessage.group_id == group_id)
    if before_id is not None:
        stmt = stmt.where(ServiceGroupMessage.id < before_id)
    rows = list(session.execute(stmt.order_by(ServiceGroupMessage.id.desc()).limit(limit + 1)).scalars())
    return list(reversed(rows[:limit])), len(rows) > limit


def mark_read(session: Session, *, member: ServiceGroupMember, message_id: int) -> int | None:
    """Move the member's read mark forward to message_id (never back, never past the newest)."""
    newest = session.execute(select(func.max(ServiceGroupMessage.id)).where(
        ServiceGroupMessage.group_id == member.group_id)).scalar() or 0
    target = min(message_id, newest)
    if target > (member.last_read_message_id or 0):
        member.last_read_message_id = target
        emit(session, "servicegroup.read", group_id=member.group_id, user_id=member.user_id, message_id=target)
    member.seen_at = utcnow()
    return member.last_read_message_id


def _attachments(session: Session, refs: Sequence[AttachmentRef]) -> list[TicketAttachment]:
    found = []
    for ref in refs:
        attachment = session.get(TicketAttachment, ref.id)
        digest = hashlib.sha256(ref.key.encode()).hexdigest()
        if attachment is None or not hmac.compare_digest(attachment.upload_key_hash, digest):
            raise Invalid("附件不存在，请重新上传 / an attachment was not found; upload it again",
                          [{"field": "attachments", "message": f"unknown upload {ref.id}"}])
        if ref.transcript and ref.transcript.strip():
            attachment.transcript = ref.transcript.strip()
        found.append(attachment)
    return found


def post_message(
    session: Session,
    *,
    group_id: int,
    author_user_id: int | None,
    kind: MessageKind | str,
    text: str,
    attachments: Sequence[AttachmentRef] = (),
    meta: dict[str, Any] | None = None,
    as_bot: bool = False,
    reply_to_id: int | None = None,
) -> ServiceGroupMessage:
    """Post into a group as a member, as the group's bot (as_bot) or as the system (no author); emits
    `servicegroup.message_posted` after commit."""
    group = session.get(ServiceGroup, group_id)
    if group is None:
        raise NotFound(f"service group {group_id} not found")
    if group.status != GroupStatus.active:
        raise Conflict("这个服务群已归档 / this group is archived")
    try:
        kind = MessageKind(kind)
    except ValueError:
        raise Invalid("未知的消息类型 / unknown message kind", [{"field": "kind", "message": str(kind)}]) from None
    author: ServiceGroupMember | None = None
    if as_bot:
        author, kind = bot_member(session, group=group), MessageKind.bot
    elif author_user_id is not None:
        author = member_of(session, group_id=group.id, user_id=author_user_id)
        if author is None:
            raise Forbidden("您不是这个服务群的成员 / you are not a member of this group")
        if kind in (MessageKind.bot, MessageKind.system):
            raise Invalid("成员只能发送文字、照片或语音 / members send text, photos or voice",
                          [{"field": "kind", "message": kind.value}])
    else:
        kind = MessageKind.system
    text = (text or "").strip()
    if len(text) > MAX_TEXT:
        raise Invalid(f"消息太长（最多 {MAX_TEXT} 字） / the message is too long",
                      [{"field": "text", "message": "too long"}])
    files = _attachments(session, attachments)
    if files and kind == MessageKind.text:
        kind = MessageKind.voice if files[0].kind == AttachmentKind.voice else MessageKind.photo
    if kind == MessageKind.photo and not any(f.kind == AttachmentKind.photo for f in files):
        raise Invalid("请添加照片 / add a photo", [{"field": "attachments", "message": "no photo"}])
    voice = next((f for f in files if f.kind == AttachmentKind.voice), None)
    if kind == MessageKind.voice and voice is None:
        raise Invalid("请录一段语音 / record a voice note", [{"field": "attachments", "message": "no voice"}])
    if not text and not files:
        raise Invalid("消息不能为空 / the message is empty", [{"field": "text", "message": "empty"}])
    if reply_to_id is not None:
        replied = session.get(ServiceGroupMessage, reply_to_id)
        if replied is None or replied.group_id != group.id:
            raise Invalid("回复的消息不存在 / the message replied to is not in this group",
                          [{"field": "reply_to_id", "message": "not found"}])
    message = ServiceGroupMessage(
        group_id=group.id, author_id=author.id if author else None, kind=kind, text=text,
        attachment_ids=[f.id for f in files], transcript=voice.transcript if voice else None,
        reply_to_id=reply_to_id, meta=dict(meta or {}), created_at=utcnow())
    session.add(message)
    session.flush()
    if author is not None and author.user_id is not None:  # one's own message is read
        author.last_read_message_id = message.id
        author.seen_at = utcnow()
    emit(session, "servicegroup.message_posted", group_id=group.id, message_id=message.id,
         hospital_id=group.hospital_id, author_user_id=author.user_id if author else None,
         author_kind=author.kind.value if author else None, kind=kind.value, text=message.text or message.transcript
         or "", as_bot=as_bot, device_id=message.meta.get("device_id"))
    return message


def device_in_hospital(session: Session, *, device_id: int, hospital_id: int) -> Device:
    """A device of the group's hospital, else a clear 422."""
    device = session.get(Device, device_id)
    if device is None or device.hospital_id != hospital_id:
        raise Invalid("这台设备不属于本院 / the device is not one of this hospital's",
                      [{"field": "device_id", "message": "not in this hospital"}])
    return device


def touch_presence(session: Session, *, user_id: int, group_id: int | None, online: bool) -> None:
    """Record that the user has (or no longer has) a chat open: online members get no offline notices."""
    stmt = select(ServiceGroupMember).where(ServiceGroupMember.user_id == user_id)
    if group_id is not None:
        stmt = stmt.where(ServiceGroupMember.group_id == group_id)
    for member in session.execute(stmt).scalars():
        member.seen_at = utcnow() if online else None
