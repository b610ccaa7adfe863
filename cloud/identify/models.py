"""Identify tables: device_photo (a stored device photo with its perceptual hashes)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db import Base, UTCDateTime, utcnow


class DevicePhoto(Base):
    """A photo an admin uploaded for a device; the hashes let a user's photo find it again."""

    __tablename__ = "device_photo"

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("device.id", ondelete="CASCADE"), index=True)
    # The hospital is copied from the device so matching filters one indexed column (tenant isolation).
    hospital_id: Mapped[int] = mapped_column(ForeignKey("hospital.id", ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(String(300))  # relative to the data folder, like ticket uploads
    thumb_path: Mapped[str] = mapped_column(String(300))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    phash: Mapped[str] = mapped_column(String(64))  # hex of imagehash.phash (64 bits)
    dhash: Mapped[str] = mapped_column(String(64))
    # [phash, dhash] of centre crops (90 %, 75 %): a user's closer shot still meets the stored one.
    variants: Mapped[list[list[str]]] = mapped_column(JSON, default=list)
    colors: Mapped[list[float]] = mapped_column(JSON, default=list)  # a coarse normalised HSV histogram
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
