"""Request and response bodies of the alert API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cloud.alerts.models import AlertSeverity, AlertStatus


class AlertOut(BaseModel):
    """An alert as staff and the device's hospital see it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    hospital_id: int
    device_id: int
    metric: str
    status: AlertStatus
    severity: AlertSeverity
    started_at: datetime
    last_abnormal_at: datetime
    opened_at: datetime
    last_score: float
    peak_score: float
    acknowledged_by: int | None
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    resolution: str | None
    ticket_id: int | None
    false_alarm: bool
    false_alarm_note: str | None
    chart_url: str = ""
    # Why, in numbers (cloud/alerts/explain.Explanation) and in the reader's words; None and "" until the alert's
    # flow has explained it (a moment after it opens).
    explanation: dict[str, Any] | None = None
    why: str = ""


class FalseAlarmIn(BaseModel):
    """Why the engineer thinks the alert was wrong."""

    model_config = ConfigDict(extra="forbid")

    note: str = Field("", max_length=2000)


class PolicyIn(BaseModel):
    """How a metric (or '*' for every metric) alerts, optionally for one device only."""

    model_config = ConfigDict(extra="forbid")

    metric: str = Field(min_length=1, max_length=128)
    device_id: int | None = None
    sensitivity: float | None = Field(None, gt=0.0, le=1.0,
                                      description="Score threshold; none = the service's (settings alert_threshold).")
    min_duration_s: int = Field(0, ge=0, le=7 * 86400)
    hysteresis: float = Field(0.1, ge=0.0, le=1.0)
    cooldown_s: int = Field(1800, ge=0, le=30 * 86400)
    resolve_after_s: int = Field(600, ge=0, le=30 * 86400)
    enabled: bool = True
    learning_hours: float | None = Field(None, ge=0.0, le=30 * 24, description=(
        "A new stream opens no alert for its first hours of readings; none = the service's learning period."))


class PolicyOut(PolicyIn):
    """A stored policy row."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    false_alarms: int
    updated_at: datetime


class FalseAlarmOut(BaseModel):
    """The resolved alert and the stream's policy after the feedback."""

    alert: AlertOut
    policy: PolicyOut


class WindowIn(BaseModel):
    """A maintenance window: the device raises no alerts from starts_at until ends_at."""

    model_config = ConfigDict(extra="forbid")

    device_id: int
    starts_at: datetime
    ends_at: datetime
    reason: str = Field("", max_length=400)


class WindowOut(WindowIn):
    """A stored maintenance window."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    created_by: int | None
    created_at: datetime
