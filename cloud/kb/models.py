"""Knowledge-base tables: entries with their history and attachments, uploaded manuals split into sections,
and the bot's ask log (bot_ask: written by cloud.bot, read here for each entry's use and feedback)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Enum, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cloud.db import Base, UTCDateTime, utcnow


class KbStatus(enum.StrEnum):
    """Whether the bot may answer with an entry."""

    active = "active"
    retired = "retired"


class AttachmentKind(enum.StrEnum):
    """What an entry's attachment is."""

    manual = "manual"
    video = "video"
    image = "image"
    link = "link"


class AskChannel(enum.StrEnum):
    """Where a question was asked."""

    web = "web"
    wechat = "wechat"
    group = "group"
    report = "report"


class KbEntry(Base):
    """One question the bot can answer: the question, its paraphrases, the answer and where it applies."""

    __tablename__ = "kb_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(100), unique=True)  # the JSONL `id`: stable across imports
    question: Mapped[str] = mapped_column(String(500))
    answer: Mapped[str] = mapped_column(Text)
    variants: Mapped[list[str]] = mapped_column(JSON, default=list)
    models: Mapped[list[str]] = mapped_column(JSON, default=list)
    category: Mapped[str] = mapped_column(String(40), default="")
    codes: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[KbStatus] = mapped_column(
        Enum(KbStatus, name="kb_status", native_enum=False, length=20), default=KbStatus.active, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))

    attachments: Mapped[list[KbAttachment]] = relationship(
        back_populates="entry", order_by="KbAttachment.position", cascade="all, delete-orphan")


class KbRevision(Base):
    """One version of an entry: a full snapshot after the change, who made it and how."""

    __tablename__ = "kb_revision"
    __table_args__ = (UniqueConstraint("entry_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("kb_entry.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(20))  # created, edited, retired, reactivated, imported, learned
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class KbManual(Base):
    """An uploaded PDF manual."""

    __tablename__ = "kb_manual"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    models: Mapped[list[str]] = mapped_column(JSON, default=list)
    path: Mapped[str] = mapped_column(String(300))  # relative to the data folder
    pages: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    sections: Mapped[list[KbManualSection]] = relationship(
        back_populates="manual", order_by="KbManualSection.number", cascade="all, delete-orphan")


class KbManualSection(Base):
    """A searchable part of a manual (from its outline, headings or pages), with its page range."""

    __tablename__ = "kb_manual_section"
    __table_args__ = (UniqueConstraint("manual_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    manual_id: Mapped[int] = mapped_column(ForeignKey("kb_manual.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)  # 1-based, in reading order
    title: Mapped[str] = mapped_column(String(300))
    text: Mapped[str] = mapped_column(Text)
    page_start: Mapped[int] = mapped_column(Integer)  # 1-based, inclusive
    page_end: Mapped[int] = mapped_column(Integer)

    manual: Mapped[KbManual] = relationship(back_populates="sections")


class KbAttachment(Base):
    """A manual section, video, image or link shown with an entry's answer."""

    __tablename__ = "kb_attachment"

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("kb_entry.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    kind: Mapped[AttachmentKind] = mapped_column(
        Enum(AttachmentKind, name="kb_attachment_kind", native_enum=False, length=20))
    title: Mapped[str] = mapped_column(String(200))
    url: Mapped[str | None] = mapped_column(String(500))  # an outside link (video or page)
    path: Mapped[str | None] = mapped_column(String(300))  # an uploaded file, relative to the data folder
    cover_path: Mapped[str | None] = mapped_column(String(300))  # a video's cover frame
    manual_id: Mapped[int | None] = mapped_column(ForeignKey("kb_manual.id", ondelete="CASCADE"), index=True)
    section_id: Mapped[int | None] = mapped_column(ForeignKey("kb_manual_section.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    entry: Mapped[KbEntry] = relationship(back_populates="attachments")
    section: Mapped[KbManualSection | None] = relationship()


class BotAsk(Base):
    """One question put to the bot: the reply, the alternatives shown, the feedback and the agent's verdict."""

    __tablename__ = "bot_ask"

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"), index=True)
    device_id: Mapped[int | None] = mapped_column(ForeignKey("device.id", ondelete="SET NULL"))
    conversation_id: Mapped[str] = mapped_column(String(64), index=True)
    channel: Mapped[AskChannel] = mapped_column(Enum(AskChannel, name="bot_ask_channel", native_enum=False, length=20))
    intent: Mapped[str] = mapped_column(String(20))  # models.bot.Intent value
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("kb_entry.id", ondelete="SET NULL"), index=True)
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    reason: Mapped[str] = mapped_column(String(40), default="")
    alternatives: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    handoff: Mapped[bool] = mapped_column(Boolean, default=False)
    helpful: Mapped[bool | None] = mapped_column(Boolean)
    feedback_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_entry_id: Mapped[int | None] = mapped_column(ForeignKey("kb_entry.id", ondelete="SET NULL"), index=True)
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    answer_text: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
