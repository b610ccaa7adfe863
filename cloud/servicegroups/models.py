"""Service group tables: service_group, service_group_member, service_group_message, service_group_request."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cloud.db import Base, UTCDateTime, utcnow


class GroupStatus(enum.StrEnum):
    """Whether a group is in use."""

    active = "active"
    archived = "archived"


class MemberKind(enum.StrEnum):
    """What a member is in the group; shown beside their name."""

    bot = "bot"
    agent = "agent"
    engineer = "engineer"
    lab_user = "lab_user"
    service_center = "service_center"


class MessageKind(enum.StrEnum):
    """What a chat message holds."""

    text = "text"
    photo = "photo"
    voice = "voice"
    system = "system"
    bot = "bot"


class RequestKind(enum.StrEnum):
    """What a new group is for."""

    device_group = "device_group"
    department = "department"


class RequestStatus(enum.StrEnum):
    """Where a request for a new group stands."""

    pending = "pending"
    approved = "approved"
    rejected = "rejected"


# One main group per hospital; groups per device group or department come on top of it.
MAIN_ONLY = text("device_group_id IS NULL AND department_id IS NULL")


class ServiceGroup(Base):
    """A chat (服务群) of a hospital, or of one of its device groups or departments."""

    __tablename__ = "service_group"
    __table_args__ = (
        Index("uq_service_group_main", "hospital_id", unique=True, sqlite_where=MAIN_ONLY,
              postgresql_where=MAIN_ONLY),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    hospital_id: Mapped[int] = mapped_column(ForeignKey("hospital.id", ondelete="RESTRICT"), index=True)
    device_group_id: Mapped[int | None] = mapped_column(ForeignKey("device_group.id", ondelete="SET NULL"))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(100))
    status: Mapped[GroupStatus] = mapped_column(
        Enum(GroupStatus, name="service_group_status", native_enum=False, length=20), default=GroupStatus.active)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    members: Mapped[list[ServiceGroupMember]] = relationship(
        back_populates="group", order_by="ServiceGroupMember.id", cascade="all, delete-orphan")


class ServiceGroupMember(Base):
    """A person (or the group's bot, user_id empty) in a group, with how far they have read."""

    __tablename__ = "service_group_member"
    __table_args__ = (UniqueConstraint("group_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("service_group.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    kind: Mapped[MemberKind] = mapped_column(
        Enum(MemberKind, name="service_group_member_kind", native_enum=False, length=20))
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_read_message_id: Mapped[int | None] = mapped_column(Integer)
    # Presence (an open chat socket refreshes it) and the last offline notice: the rate limit of notices.
    seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    group: Mapped[ServiceGroup] = relationship(back_populates="members")


class ServiceGroupMessage(Base):
    """One chat message; attachments are the repair page's uploads (ticket_attachment ids)."""

    __tablename__ = "service_group_message"
    __table_args__ = (Index("ix_service_group_message_group_id_id", "group_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("service_group.id", ondelete="CASCADE"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("service_group_member.id", ondelete="SET NULL"))
    kind: Mapped[MessageKind] = mapped_column(
        Enum(MessageKind, name="service_group_message_kind", native_enum=False, length=20))
    text: Mapped[str] = mapped_column(Text, default="")
    attachment_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    transcript: Mapped[str | None] = mapped_column(Text)
    reply_to_id: Mapped[int | None] = mapped_column(ForeignKey("service_group_message.id", ondelete="SET NULL"))
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    author: Mapped[ServiceGroupMember | None] = relationship()


class ServiceGroupRequest(Base):
    """Someone asks for a group of a device group or department; an admin decides."""

    __tablename__ = "service_group_request"

    id: Mapped[int] = mapped_column(primary_key=True)
    requested_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    hospital_id: Mapped[int] = mapped_column(ForeignKey("hospital.id", ondelete="CASCADE"), index=True)
    kind: Mapped[RequestKind] = mapped_column(
        Enum(RequestKind, name="service_group_request_kind", native_enum=False, length=20))
    device_group_id: Mapped[int | None] = mapped_column(ForeignKey("device_group.id", ondelete="CASCADE"))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[RequestStatus] = mapped_column(
        Enum(RequestStatus, name="service_group_request_status", native_enum=False, length=20),
        default=RequestStatus.pending, index=True)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision_note: Mapped[str | None] = mapped_column(String(400))
    group_id: Mapped[int | None] = mapped_column(ForeignKey("service_group.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
