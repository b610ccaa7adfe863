"""WeChat tables: openid bindings, callback dedupe, shared cache, inbound log, permanent QR codes, media."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db import Base, UTCDateTime, utcnow


class WechatBinding(Base):
    """An Official Account openid bound to one medfix account (one each way)."""

    __tablename__ = "wechat_binding"

    id: Mapped[int] = mapped_column(primary_key=True)
    openid: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WechatDedupe(Base):
    """A callback already acted on (MsgId, or FromUserName + CreateTime for events), kept for a while."""

    __tablename__ = "wechat_dedupe"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class WechatKv(Base):
    """Shared cache rows (access token, jsapi ticket) and lock rows when Redis is not configured."""

    __tablename__ = "wechat_kv"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WechatInbound(Base):
    """One message or event from WeChat that medfix acted on (the effect a retried delivery must not repeat)."""

    __tablename__ = "wechat_inbound"

    id: Mapped[int] = mapped_column(primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(160), index=True)
    openid: Mapped[str] = mapped_column(String(64), index=True)
    msg_type: Mapped[str] = mapped_column(String(30))
    event: Mapped[str | None] = mapped_column(String(40))
    event_key: Mapped[str | None] = mapped_column(String(200))
    content: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WechatPermanentQr(Base):
    """A permanent parametric QR code issued on one Official Account (the ledger its 100,000 cap is counted on)."""

    __tablename__ = "wechat_permanent_qr"
    __table_args__ = (UniqueConstraint("appid", "scene"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    appid: Mapped[str] = mapped_column(String(32), index=True)
    scene: Mapped[str] = mapped_column(String(64))
    ticket: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WechatMedia(Base):
    """A voice or image media_id from WeChat: the upload it becomes and the original file kept.

    Fetched and converted off the request (cloud/wechat/media_worker.py): pending rows are claimed for a lease
    (claimed_until), so a row whose process died is taken up again once the lease ran out."""

    __tablename__ = "wechat_media"

    id: Mapped[int] = mapped_column(primary_key=True)
    media_id: Mapped[str] = mapped_column(String(128), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    attachment_id: Mapped[int | None] = mapped_column(ForeignKey("ticket_attachment.id", ondelete="SET NULL"))
    original_path: Mapped[str] = mapped_column(String(300))  # under the data folder (AMR for voice); "" until fetched
    original_type: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(20), default="ready", server_default="ready", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # a pending row is not tried before this
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)  # a worker has it until then
    error: Mapped[str | None] = mapped_column(String(300))
    reporter: Mapped[str | None] = mapped_column(String(80))  # whose quotas the fetched bytes are charged to
    hospital_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
