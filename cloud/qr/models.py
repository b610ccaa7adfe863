"""The qr_code table: opaque label tokens pointing at a device or a device group."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db import Base, UTCDateTime, utcnow


class TargetKind(enum.StrEnum):
    """What a QR label is stuck on."""

    device = "device"
    device_group = "device_group"


class CodeStatus(enum.StrEnum):
    """active: the label in use; replaced: a reprinted label superseded it; revoked: no longer valid."""

    active = "active"
    replaced = "replaced"
    revoked = "revoked"


# Both SQLite (>= 3.8) and PostgreSQL enforce partial unique indexes, so "one active code per target" is a
# database rule and not only a service convention that two concurrent requests could slip past.
ACTIVE_ONLY = text("status = 'active'")


class QrCode(Base):
    """One printed (or printable) label code; a target has at most one active code at a time."""

    __tablename__ = "qr_code"
    __table_args__ = (
        Index("uq_qr_code_active_target", "target_kind", "target_id", unique=True,
              sqlite_where=ACTIVE_ONLY, postgresql_where=ACTIVE_ONLY),
        Index("ix_qr_code_target", "target_kind", "target_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    target_kind: Mapped[TargetKind] = mapped_column(
        Enum(TargetKind, name="qr_target_kind", native_enum=False, length=20))
    # Polymorphic (device or device_group), hence no foreign key; resolve() checks the target still exists.
    target_id: Mapped[int] = mapped_column(Integer)
    status: Mapped[CodeStatus] = mapped_column(
        Enum(CodeStatus, name="qr_code_status", native_enum=False, length=20), default=CodeStatus.active)
    replaced_by_code: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A WeChat parametric QR (permanent ticket, its weixin.qq.com URL and scene) filled in by the WeChat
    # issue; when present, labels encode wechat_url instead of the plain /r/ URL.
    wechat_ticket: Mapped[str | None] = mapped_column(String(200))
    wechat_url: Mapped[str | None] = mapped_column(String(500))
    wechat_scene: Mapped[str | None] = mapped_column(String(64))
