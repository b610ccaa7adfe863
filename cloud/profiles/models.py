"""The managed list of fault categories a resolved ticket is filed under, per device category."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db import Base, UTCDateTime, utcnow


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
