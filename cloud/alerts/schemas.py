"""Request and response bodies of the alert API and of a predictive ticket's pre-check."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cloud.alerts.models import AlertSeverity, AlertStatus
from cloud.tickets.models import PrecheckAnswer, PrecheckOutcome
from cloud.tickets.schemas import PartIn, TicketOut


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
    ticket_number: str | None = None  # the predictive ticket as people name it (WO-000176)
    false_alarm: bool
    false_alarm_note: str | None
    chart_url: str = ""
    # Why, in numbers (cloud/alerts/explain.Explanation) and in the reader's words; None and "" until the alert's
    # flow has explained it (a moment after it opens).
    explanation: dict[str, Any] | None = None
    why: str = ""


FALSE_ALARM_NOTE_MAX = 2000  # characters of why an alert was wrong (the API and the alert list)


class FalseAlarmIn(BaseModel):
    """Why the engineer thinks the alert was wrong."""

    model_config = ConfigDict(extra="forbid")

    note: str = Field("", max_length=FALSE_ALARM_NOTE_MAX)


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


class PrecheckItemIn(BaseModel):
    """Answer one check: done, not applicable, or null to take the answer back; a note is optional."""

    model_config = ConfigDict(extra="forbid")

    answer: PrecheckAnswer | None
    note: str | None = Field(None, max_length=1000)  # left out: the note stays as it is


class PrecheckFinishIn(BaseModel):
    """End the pre-check. A false alarm needs a note; fixed needs the findings in the note."""

    model_config = ConfigDict(extra="forbid")

    outcome: PrecheckOutcome
    note: str | None = Field(None, max_length=5000)
    version: int | None = None  # the pre-check version the caller saw (stale: 409)
    # Fixed: what the fault was (left out: the alert's metric decides); a false alarm is filed as no fault found.
    fault_category: str | None = Field(None, max_length=50)
    root_cause: str | None = Field(None, max_length=2000)
    parts: list[PartIn] | None = Field(None, max_length=30)


class PrecheckItemOut(BaseModel):
    """One check with who answered it when."""

    id: int
    position: int
    code: str
    text: str  # the English key; pages translate it
    metric: str
    answer: PrecheckAnswer | None
    note: str | None
    answered_by: int | None
    answered_by_name: str | None
    answered_at: datetime | None


class PrecheckAlertOut(BaseModel):
    """An alert of the ticket, with the link to its chart."""

    id: int
    metric: str
    status: AlertStatus
    severity: AlertSeverity
    false_alarm: bool
    started_at: datetime
    peak_score: float
    chart_url: str
    why: str = ""  # the alert's explanation in the reader's words ("" until it is explained)


class PrecheckOut(BaseModel):
    """A predictive ticket's pre-check."""

    id: int
    ticket_id: int
    version: int
    checklist: str
    category: str | None
    metric: str
    items: list[PrecheckItemOut]
    answered: int
    total: int
    outcome: PrecheckOutcome | None
    outcome_note: str | None
    finished_by: int | None
    finished_by_name: str | None
    finished_at: datetime | None
    alerts: list[PrecheckAlertOut]
    chart_url: str | None  # the first alert's chart
    can_work: bool  # whether the caller may answer and finish it now


class PrecheckFinishOut(BaseModel):
    """The finished pre-check and the ticket after it."""

    precheck: PrecheckOut
    ticket: TicketOut
