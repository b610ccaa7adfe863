"""Stored report PDFs: a ticket's service report and a hospital's monthly report."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db import Base, UTCDateTime, utcnow


class ServiceReport(Base):
    """A ticket's service report, rendered when the ticket is resolved and again when it is rated or closed."""

    __tablename__ = "service_report"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"), unique=True)
    path: Mapped[str] = mapped_column(String(300))  # relative to the data folder
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class MonthlyReport(Base):
    """A hospital's monthly service report (month: 'YYYY-MM' in the hospital's time zone)."""

    __tablename__ = "monthly_report"
    __table_args__ = (UniqueConstraint("hospital_id", "month"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    hospital_id: Mapped[int] = mapped_column(ForeignKey("hospital.id", ondelete="CASCADE"), index=True)
    month: Mapped[str] = mapped_column(String(7))
    path: Mapped[str] = mapped_column(String(300))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
