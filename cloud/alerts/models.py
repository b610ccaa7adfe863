"""Alert tables: detector_state, alert_policy, maintenance_window, alert."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db import Base, UTCDateTime, utcnow

# A stream has at most one alert that is not resolved yet (open or acknowledged).
UNRESOLVED_ONLY = text("status != 'resolved'")
METRIC_WIDE = text("device_id IS NULL")
ANY_METRIC = "*"  # an alert_policy row for every metric without its own


class AlertStatus(enum.StrEnum):
    """Where an alert stands."""

    open = "open"
    acknowledged = "acknowledged"
    resolved = "resolved"


class AlertSeverity(enum.StrEnum):
    """How strong the evidence is (from the peak score: score 0.5 = p 1e-5, 1.0 = p 1e-10)."""

    warning = "warning"
    major = "major"
    critical = "critical"


class DetectorState(Base):
    """A stream's pickled detector, checkpointed so a restart does not forget what it learned."""

    __tablename__ = "detector_state"
    __table_args__ = (UniqueConstraint("device_id", "metric"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("device.id", ondelete="CASCADE"))
    metric: Mapped[str] = mapped_column(String(128))
    detector: Mapped[str] = mapped_column(String(64))  # class name, so a changed production model starts fresh
    state: Mapped[bytes] = mapped_column(LargeBinary)
    points: Mapped[int] = mapped_column(BigInteger, default=0)
    last_observed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AlertPolicy(Base):
    """How a metric alerts (metric '*' = every metric); a row with device_id overrides it for one device."""

    __tablename__ = "alert_policy"
    __table_args__ = (
        UniqueConstraint("metric", "device_id"),
        # NULLs never clash in a UNIQUE constraint, so the metric-wide row needs its own partial index.
        Index("uq_alert_policy_metric_wide", "metric", unique=True, sqlite_where=METRIC_WIDE,
              postgresql_where=METRIC_WIDE),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    metric: Mapped[str] = mapped_column(String(128))
    device_id: Mapped[int | None] = mapped_column(ForeignKey("device.id", ondelete="CASCADE"), index=True)
    sensitivity: Mapped[float | None] = mapped_column(Float)  # score threshold; NULL = the detector's own
    min_duration_s: Mapped[int] = mapped_column(Integer, default=0)
    hysteresis: Mapped[float] = mapped_column(Float, default=0.1)
    cooldown_s: Mapped[int] = mapped_column(Integer, default=1800)
    resolve_after_s: Mapped[int] = mapped_column(Integer, default=600)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # A new stream of this scope opens no alert for its first hours of readings; NULL = the service's
    # (settings alert_learning_hours). A demo stream or a replaced analyzer may need less, a lab with weekly
    # routines more.
    learning_hours: Mapped[float | None] = mapped_column(Float)
    false_alarms: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class MaintenanceWindow(Base):
    """A time span in which a device raises no alerts (calibration, service, planned downtime)."""

    __tablename__ = "maintenance_window"

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("device.id", ondelete="CASCADE"), index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(String(400), default="")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Alert(Base):
    """A stream that drifted: open -> acknowledged -> resolved; linked to the device's predictive ticket."""

    __tablename__ = "alert"
    __table_args__ = (
        Index("uq_alert_unresolved_stream", "device_id", "metric", unique=True,
              sqlite_where=UNRESOLVED_ONLY, postgresql_where=UNRESOLVED_ONLY),
        Index("ix_alert_device_id_metric", "device_id", "metric"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    hospital_id: Mapped[int] = mapped_column(ForeignKey("hospital.id", ondelete="RESTRICT"), index=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("device.id", ondelete="CASCADE"))
    metric: Mapped[str] = mapped_column(String(128))
    status: Mapped[AlertStatus] = mapped_column(
        Enum(AlertStatus, name="alert_status", native_enum=False, length=20), default=AlertStatus.open, index=True)
    severity: Mapped[AlertSeverity] = mapped_column(
        Enum(AlertSeverity, name="alert_severity", native_enum=False, length=20))
    # Stream time (the readings' own timestamps) drives the policy; opened_at is when the cloud noticed.
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_abnormal_at: Mapped[datetime] = mapped_column(UTCDateTime)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_score: Mapped[float] = mapped_column(Float)
    peak_score: Mapped[float] = mapped_column(Float)
    acknowledged_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution: Mapped[str | None] = mapped_column(String(32))  # recovered | false_alarm
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id", ondelete="SET NULL"), index=True)
    # Why, in numbers (cloud/alerts/explain.py): the level before and since, what is usual for the hour.
    explanation: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    false_alarm: Mapped[bool] = mapped_column(Boolean, default=False)
    false_alarm_note: Mapped[str | None] = mapped_column(Text)
    false_alarm_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class AlertDigest(Base):
    """A hospital's daily alert digest, sent once per local day (cloud/alerts/digest.py)."""

    __tablename__ = "alert_digest"
    __table_args__ = (UniqueConstraint("hospital_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    hospital_id: Mapped[int] = mapped_column(ForeignKey("hospital.id", ondelete="CASCADE"))
    day: Mapped[str] = mapped_column(String(10))  # YYYY-MM-DD in the hospital's time zone
    recipients: Mapped[int] = mapped_column(Integer)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
