"""Registry tables: hospital, department, device, device_group."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Enum, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cloud.db import Base, UTCDateTime, utcnow


class DeviceStatus(enum.StrEnum):
    """Where a device stands in its service life."""

    in_service = "in_service"
    fault = "fault"
    under_repair = "under_repair"
    retired = "retired"


class Hospital(Base):
    """A customer site; the unit of tenant isolation."""

    __tablename__ = "hospital"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    aliases: Mapped[list[str]] = mapped_column(JSON, default=list)
    address: Mapped[str] = mapped_column(String(400), default="")
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    geofence_radius_m: Mapped[int] = mapped_column(Integer, default=1000)
    # Lab users who know this code are verified on registration (S3: "bound to a hospital").
    invite_code: Mapped[str | None] = mapped_column(String(64), unique=True)
    # After this instant the invite code verifies nobody (None: it does not expire).
    invite_code_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Pages and messages show this hospital's times in its zone; labels print its service hotline.
    time_zone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai", server_default="Asia/Shanghai")
    hotline: Mapped[str] = mapped_column(String(32), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    departments: Mapped[list[Department]] = relationship(
        back_populates="hospital", order_by="Department.name", cascade="all, delete-orphan"
    )


class Department(Base):
    """A department of a hospital (检验科, 急诊检验, ...)."""

    __tablename__ = "department"
    __table_args__ = (UniqueConstraint("hospital_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    hospital_id: Mapped[int] = mapped_column(ForeignKey("hospital.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    hospital: Mapped[Hospital] = relationship(back_populates="departments")


class DeviceGroup(Base):
    """Devices chained into one line (e.g. a track); members are ordered by device.group_position."""

    __tablename__ = "device_group"

    id: Mapped[int] = mapped_column(primary_key=True)
    system_number: Mapped[str] = mapped_column(String(32), unique=True)
    hospital_id: Mapped[int] = mapped_column(ForeignKey("hospital.id", ondelete="RESTRICT"), index=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(200))
    line: Mapped[str] = mapped_column(String(200), default="")
    # Models that belong on this line; a member of another model earns a warning, not an error.
    compatible_models: Mapped[list[str]] = mapped_column(JSON, default=list)
    # What the admins want to remember about the line, and free tags to find it by (e.g. 急诊, 24h).
    notes: Mapped[str] = mapped_column(Text, default="", server_default="")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    hospital: Mapped[Hospital] = relationship()
    department: Mapped[Department | None] = relationship()
    members: Mapped[list[Device]] = relationship(
        back_populates="group", order_by="Device.group_position", passive_deletes=True
    )


class Device(Base):
    """One analyzer (or other instrument) at a hospital."""

    __tablename__ = "device"
    __table_args__ = (UniqueConstraint("manufacturer", "serial"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    system_number: Mapped[str] = mapped_column(String(32), unique=True)
    serial: Mapped[str] = mapped_column(String(100))
    manufacturer: Mapped[str] = mapped_column(String(100))
    model: Mapped[str] = mapped_column(String(100))
    category: Mapped[str] = mapped_column(String(50))
    hospital_id: Mapped[int] = mapped_column(ForeignKey("hospital.id", ondelete="RESTRICT"), index=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id", ondelete="SET NULL"))
    install_date: Mapped[date | None] = mapped_column(Date)
    warranty_end: Mapped[date | None] = mapped_column(Date)
    keywords: Mapped[list[str]] = mapped_column(JSON, default=list)
    photos: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[DeviceStatus] = mapped_column(
        Enum(DeviceStatus, name="device_status", native_enum=False, length=20), default=DeviceStatus.in_service
    )
    # Computed from the device's maintenance profile (cloud/profiles, docs/maintenance-score.md) on every event
    # that changes it; an admin's override wins while set, with its reason (audited).
    maintenance_score: Mapped[int] = mapped_column(Integer, default=100)
    score_override: Mapped[int | None] = mapped_column(Integer)
    score_override_reason: Mapped[str | None] = mapped_column(String(400))
    score_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The estimated probability of a fault in the next 30 days (risk ranking), refreshed with the score.
    risk_30d: Mapped[float | None] = mapped_column(Float)
    # Key devices get a permanent WeChat parametric QR code (the account's supply is capped).
    is_key: Mapped[bool] = mapped_column(Boolean, default=False)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("device_group.id", ondelete="SET NULL"), index=True)
    group_position: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    hospital: Mapped[Hospital] = relationship()
    department: Mapped[Department | None] = relationship()
    group: Mapped[DeviceGroup | None] = relationship(back_populates="members")

    def audit_view(self) -> dict[str, Any]:
        """The fields an audit row keeps as before/after."""
        return {
            "system_number": self.system_number,
            "serial": self.serial,
            "manufacturer": self.manufacturer,
            "model": self.model,
            "category": self.category,
            "hospital_id": self.hospital_id,
            "department_id": self.department_id,
            "install_date": self.install_date.isoformat() if self.install_date else None,
            "warranty_end": self.warranty_end.isoformat() if self.warranty_end else None,
            "keywords": list(self.keywords or []),
            "photos": list(self.photos or []),
            "status": str(self.status),
            "maintenance_score": self.maintenance_score,
            "is_key": self.is_key,
            "group_id": self.group_id,
            "group_position": self.group_position,
        }


class DeviceClaim(Base):
    """A verified lab user's "my devices" entry: a device or a whole group they look after."""

    __tablename__ = "device_claim"
    __table_args__ = (UniqueConstraint("user_id", "device_id"), UniqueConstraint("user_id", "group_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    device_id: Mapped[int | None] = mapped_column(ForeignKey("device.id", ondelete="CASCADE"))
    group_id: Mapped[int | None] = mapped_column(ForeignKey("device_group.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    device: Mapped[Device | None] = relationship()
    group: Mapped[DeviceGroup | None] = relationship()
