"""Ticket tables: ticket, ticket_attachment, a predictive ticket's pre-check (precheck_task, precheck_item), and
the managed list of fault categories a resolved ticket is filed under (fault_category).

The timeline lives in audit_log (entity 'ticket').
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Enum, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cloud.db import Base, UTCDateTime, utcnow
from cloud.registry.models import Device, DeviceGroup
from cloud.tickets.state import Status, Tier


class Urgency(enum.StrEnum):
    """How urgent the reporter says it is."""

    low = "low"
    normal = "normal"
    high = "high"
    critical = "critical"


class Source(enum.StrEnum):
    """Where the ticket came from."""

    web = "web"
    wechat = "wechat"
    predictive = "predictive"
    desk = "desk"


class Ticket(Base):
    """A repair request for a device (or a whole device group)."""

    __tablename__ = "ticket"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    hospital_id: Mapped[int] = mapped_column(ForeignKey("hospital.id", ondelete="RESTRICT"), index=True)
    device_id: Mapped[int | None] = mapped_column(ForeignKey("device.id", ondelete="SET NULL"), index=True)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("device_group.id", ondelete="SET NULL"), index=True)
    source: Mapped[Source] = mapped_column(Enum(Source, name="ticket_source", native_enum=False, length=20))
    status: Mapped[Status] = mapped_column(Enum(Status, name="ticket_status", native_enum=False, length=20),
                                           index=True)
    urgency: Mapped[Urgency] = mapped_column(Enum(Urgency, name="ticket_urgency", native_enum=False, length=20))
    priority: Mapped[int] = mapped_column(Integer)  # 1 (most urgent) .. 4
    description: Mapped[str] = mapped_column(Text)
    reporter_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    reporter_name: Mapped[str] = mapped_column(String(100))
    reporter_phone: Mapped[str] = mapped_column(String(32))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"), index=True)
    engineer_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"), index=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(100), unique=True)
    request_hash: Mapped[str | None] = mapped_column(String(64))
    cancel_reason: Mapped[str | None] = mapped_column(String(400))
    findings: Mapped[str | None] = mapped_column(Text)
    parts_used: Mapped[str | None] = mapped_column(Text)
    rating_overall: Mapped[int | None] = mapped_column(Integer)
    rating_speed: Mapped[int | None] = mapped_column(Integer)
    rating_attitude: Mapped[int | None] = mapped_column(Integer)
    rating_skill: Mapped[int | None] = mapped_column(Integer)
    rating_comment: Mapped[str | None] = mapped_column(String(1000))
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    # The level the case was solved at (set by the resolving action, cleared on reopening; state.tier_after).
    tier: Mapped[Tier | None] = mapped_column(Enum(Tier, name="ticket_tier", native_enum=False, length=20),
                                              index=True)
    # What the fault was (maintenance profiles, issue #11): a code of the managed list (fault_category.code for
    # the device's category), the root cause in words, the parts used [{"name", "part_no"?, "qty"}], and how
    # often the case was reopened (0 = fixed the first time).
    fault_category: Mapped[str | None] = mapped_column(String(50), index=True)
    root_cause: Mapped[str | None] = mapped_column(Text)
    parts: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    reopen_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The basic/advanced predictor's estimate at submission: the probability that an engineer must go on site.
    onsite_probability: Mapped[float | None] = mapped_column(Float)
    # A ticket escalated from a bot conversation carries it: [{"who": user|bot|agent, "text", "at", "entry_id"?}],
    # and the bot ask log rows (bot_ask.id) it came from.
    conversation: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    ask_ids: Mapped[list[int] | None] = mapped_column(JSON)
    offered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_response_due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    resolution_due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    first_responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # Optimistic concurrency: every UPDATE checks and bumps it, so two agents never overwrite each other.
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}

    device: Mapped[Device | None] = relationship()
    group: Mapped[DeviceGroup | None] = relationship()
    attachments: Mapped[list[TicketAttachment]] = relationship(
        back_populates="ticket", order_by="TicketAttachment.id")


class AttachmentKind(enum.StrEnum):
    """What an uploaded file is."""

    photo = "photo"
    voice = "voice"


class TicketAttachment(Base):
    """A photo or voice note; uploaded first (ticket_id empty), then bound to a ticket on submission."""

    __tablename__ = "ticket_attachment"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"), index=True)
    kind: Mapped[AttachmentKind] = mapped_column(
        Enum(AttachmentKind, name="attachment_kind", native_enum=False, length=20))
    path: Mapped[str] = mapped_column(String(300))  # relative to the data folder
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    duration_s: Mapped[int | None] = mapped_column(Integer)
    transcript: Mapped[str | None] = mapped_column(Text)
    # Proof of having uploaded it: only the uploader can bind it to a ticket.
    upload_key_hash: Mapped[str] = mapped_column(String(64))
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    # ready; pending while WeChat media is fetched and converted in the background (cloud/wechat/media_worker.py);
    # failed when that did not work (a voice note then keeps its original recording, if it was fetched).
    state: Mapped[str] = mapped_column(String(20), default="ready", server_default="ready")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    ticket: Mapped[Ticket | None] = relationship(back_populates="attachments")


class PrecheckAnswer(enum.StrEnum):
    """How a checklist item was answered."""

    done = "done"
    not_applicable = "not_applicable"


class PrecheckOutcome(enum.StrEnum):
    """How a pre-check ended."""

    fault_confirmed = "fault_confirmed"  # the repair goes on through the normal states
    false_alarm = "false_alarm"  # the alerts were wrong: policy feedback, the ticket resolves
    fixed = "fixed"  # fixed during the pre-check: the ticket resolves


class PrecheckTask(Base):
    """A predictive ticket's pre-check: a checklist chosen by the device's category and the alerting metric.

    Its alerts are the ticket's (alert.ticket_id); `metric` is the first one's, the one the checklist was chosen by.
    """

    __tablename__ = "precheck_task"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"), unique=True)
    hospital_id: Mapped[int] = mapped_column(ForeignKey("hospital.id", ondelete="RESTRICT"), index=True)
    category: Mapped[str | None] = mapped_column(String(50))
    metric: Mapped[str] = mapped_column(String(128))
    checklist: Mapped[str] = mapped_column(String(64))  # e.g. "temperature:chemistry" (cloud/tickets/checklists)
    outcome: Mapped[PrecheckOutcome | None] = mapped_column(
        Enum(PrecheckOutcome, name="precheck_outcome", native_enum=False, length=20))  # NULL: still open
    outcome_note: Mapped[str | None] = mapped_column(Text)
    finished_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # Every answer bumps it, so finishing on a checklist someone changed meanwhile is a clear 409.
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}

    items: Mapped[list[PrecheckItem]] = relationship(
        back_populates="task", order_by="PrecheckItem.position", cascade="all, delete-orphan")


class PrecheckItem(Base):
    """One check of a pre-check, with who answered it when."""

    __tablename__ = "precheck_item"
    __table_args__ = (UniqueConstraint("task_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("precheck_task.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(String(400))  # the English key; pages translate it
    metric: Mapped[str] = mapped_column(String(128))  # the alert's metric that brought the check in
    answer: Mapped[PrecheckAnswer | None] = mapped_column(
        Enum(PrecheckAnswer, name="precheck_answer", native_enum=False, length=20))
    note: Mapped[str | None] = mapped_column(Text)
    answered_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    task: Mapped[PrecheckTask] = relationship(back_populates="items")


class FaultCategory(Base):
    """One kind of fault (temperature control, optics/lamp, …) for devices of one category, or of all (None)."""

    __tablename__ = "fault_category"
    __table_args__ = (UniqueConstraint("device_category", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Device.category this entry applies to (chemistry, hematology, …); None: every category.
    device_category: Mapped[str | None] = mapped_column(String(50), index=True)
    code: Mapped[str] = mapped_column(String(50))  # stable: tickets keep it (ticket.fault_category)
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100), default="")
    # Solved without an engineer on site as a rule (operator error, reagents): a basic fault.
    basic: Mapped[bool] = mapped_column(Boolean, default=False)
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
