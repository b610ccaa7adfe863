"""One device's maintenance profile (维保画像): its numbers over the last twelve months, its score and risk explained,
its predictive alerts and how they ended, and its latest cases.

The numbers (faults by category over time, MTBF, MTTR, downtime, first-time fix, tier shares, predictive
precision, ratings) come from the dashboards' aggregate layer for the one device (cloud/dashboards/aggregates.py),
so the profile, the dashboards and the monthly report always agree; the score and the risk are this package's.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.alerts.models import Alert, AlertStatus
from cloud.auth.models import User, Verification
from cloud.dashboards import aggregates
from cloud.dashboards.aggregates import FaultRow, Filters, Metrics
from cloud.db import utcnow
from cloud.localtime import DEFAULT_TIME_ZONE
from cloud.profiles import risk
from cloud.profiles.service import PRIORS, Assessment, assess_device, ticket_facts
from cloud.registry.models import Device
from cloud.telemetry.catalog import metric_label
from cloud.tenancy import engineer_scope
from cloud.tickets.models import PrecheckOutcome, PrecheckTask, Ticket
from cloud.tickets.state import OPEN
from models.maintenance.score import WINDOW_DAYS

RECENT_TICKETS = 10
ALERT_ROWS = 12


@dataclass
class AlertRow:
    """A predictive alert of the device and how it ended: confirmed, false_alarm, open or undecided."""

    id: int
    metric: str
    label: str
    opened_at: datetime
    peak_score: float
    ticket_id: int | None
    outcome: str


@dataclass
class DeviceProfile:
    """Everything the profile pages show for one device."""

    device: Device
    time_zone: str
    filters: Filters  # the twelve months the numbers cover (validated: start and end set)
    summary: Metrics
    trend: list[Metrics]
    faults: list[FaultRow]
    fault_trend: list[FaultRow]
    assessment: Assessment
    reasons: list[str]
    suggestions: list[str]
    alerts: list[AlertRow]
    alert_outcomes: dict[str, int]
    recent: list[Ticket]
    fault_names: dict[int, str]  # ticket id -> its fault category's name

    @property
    def score(self) -> int:
        """The score shown everywhere (the override while an admin holds one)."""
        return self.device.maintenance_score

    @property
    def overridden(self) -> bool:
        """Whether an admin's override holds the score."""
        return self.device.score_override is not None


def may_view(user: User, device: Device) -> bool:
    """Staff see every device's profile (an engineer who serves listed hospitals: theirs); a hospital's lab
    manager sees their own hospital's."""
    served = engineer_scope(user)
    if served is not None:
        return served.allows(device.hospital_id)
    if user.is_staff:
        return True
    return (user.is_lab_manager and user.verification == Verification.verified
            and user.hospital_id == device.hospital_id)


def _outcome(alert: Alert, outcome: PrecheckOutcome | None) -> str:
    if alert.false_alarm or outcome == PrecheckOutcome.false_alarm:
        return "false_alarm"
    if outcome in (PrecheckOutcome.fault_confirmed, PrecheckOutcome.fixed):
        return "confirmed"
    if alert.status != AlertStatus.resolved:
        return "open"
    return "undecided"  # ended without a pre-check saying what it was


def device_profile(session: Session, *, device: Device, language: str, now: datetime | None = None,
                   ) -> DeviceProfile:
    """The profile of one device over the twelve months before now (in its hospital's time zone)."""
    now = now or utcnow()
    time_zone = device.hospital.time_zone or DEFAULT_TIME_ZONE
    data = aggregates.profile(session, Filters(device_ids=(device.id,), time_zone=time_zone), language=language,
                              now=now)
    assessment = assess_device(session, device=device, now=now, priors=PRIORS.get(session, now))
    names = aggregates.fault_names(session, language)
    kinds = {row.code: row.faults for row in aggregates.faults(
        session, Filters(device_ids=(device.id,), start=now - timedelta(days=WINDOW_DAYS), end=now,
                         time_zone=time_zone), language=language, now=now) if row.code}
    reasons, suggestions, _top = risk.explain(
        assessment, Counter(kinds), language=language,
        label=lambda code: aggregates.fault_label_of(names, code, device.category, language)[0])
    alert_rows = session.execute(
        select(Alert, PrecheckTask.outcome).outerjoin(PrecheckTask, PrecheckTask.ticket_id == Alert.ticket_id)
        .where(Alert.device_id == device.id, Alert.opened_at >= data.filters.start)
        .order_by(Alert.opened_at.desc(), Alert.id.desc())).all()
    alerts = [AlertRow(id=a.id, metric=a.metric, label=metric_label(a.metric, language), opened_at=a.opened_at,
                       peak_score=a.peak_score, ticket_id=a.ticket_id, outcome=_outcome(a, o)) for a, o in alert_rows]
    outcomes = {key: sum(1 for a in alerts if a.outcome == key)
                for key in ("confirmed", "false_alarm", "open", "undecided")}
    recent = list(session.execute(select(Ticket).where(Ticket.device_id == device.id)
                                  .order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(RECENT_TICKETS))
                  .scalars())
    fault_names = {t.id: aggregates.fault_label_of(names, t.fault_category, device.category, language)[0]
                   for t in recent if t.fault_category}
    return DeviceProfile(device=device, time_zone=time_zone, filters=data.filters, summary=data.summary,
                         trend=data.trend, faults=data.faults, fault_trend=data.fault_trend, assessment=assessment,
                         reasons=reasons, suggestions=suggestions, alerts=alerts[:ALERT_ROWS],
                         alert_outcomes=outcomes, recent=recent, fault_names=fault_names)


def profile_json(profile: DeviceProfile) -> dict[str, Any]:
    """The profile as the API returns it (times in UTC ISO, numbers as numbers, None for '—')."""
    d, a = profile.device, profile.assessment
    return {
        "device": {"id": d.id, "system_number": d.system_number, "manufacturer": d.manufacturer, "model": d.model,
                   "category": d.category, "hospital_id": d.hospital_id, "department_id": d.department_id,
                   "group_id": d.group_id, "install_date": d.install_date.isoformat() if d.install_date else None,
                   "age_years": round(a.age_years, 1) if a.age_years is not None else None},
        "period": {"start": profile.filters.start.isoformat() if profile.filters.start else None,
                   "end": profile.filters.end.isoformat() if profile.filters.end else None,
                   "time_zone": profile.time_zone},
        "score": {"value": d.maintenance_score, "computed": a.breakdown.score, "points_off": a.breakdown.as_dict(),
                  "override": {"score": d.score_override, "reason": d.score_override_reason}
                  if d.score_override is not None else None,
                  "updated_at": d.score_updated_at.isoformat() if d.score_updated_at else None},
        "risk": {"probability_30d": round(a.risk.probability, 4), "faults_last_90d": a.risk.recent_90,
                 "faults_previous_90d": a.risk.previous_90, "trend": round(a.risk.trend, 3),
                 "age_factor": round(a.risk.age_factor, 3), "open_alerts": a.open_alerts,
                 "reasons": profile.reasons, "suggestions": profile.suggestions},
        "summary": profile.summary.as_dict(),
        "trend": [m.as_dict() for m in profile.trend],
        "faults": [{"code": f.code, "label": f.label, "basic": f.basic_fault, "faults": f.faults, "share": f.share,
                    "tiers": {"basic": f.basic, "remote": f.remote, "on_site": f.on_site}} for f in profile.faults],
        "fault_trend": [{"month": f.month.isoformat() if f.month else None, "code": f.code, "label": f.label,
                         "faults": f.faults} for f in profile.fault_trend],
        "alerts": {"outcomes": profile.alert_outcomes, "recent": [
            {"id": r.id, "metric": r.metric, "label": r.label, "opened_at": r.opened_at.isoformat(),
             "peak_score": r.peak_score, "ticket_id": r.ticket_id, "outcome": r.outcome} for r in profile.alerts]},
        "recent_tickets": [{"id": t.id, "number": t.number, "status": t.status.value, "open": t.status in OPEN,
                            "created_at": t.created_at.isoformat(), "tier": t.tier.value if t.tier else None,
                            "fault_category": t.fault_category, "fault_label": profile.fault_names.get(t.id),
                            "onsite_probability": t.onsite_probability} for t in profile.recent],
    }


@dataclass
class RepairHistory:
    """The repair history a label's landing page shows beside the score."""

    fault_names: dict[int, str]  # ticket id -> what the fault was
    faults_last_year: int | None  # the device's faults in the last twelve months (None for a group)


def repair_history(session: Session, *, device: Device | None, tickets: list[Ticket], language: str,
                   now: datetime | None = None) -> RepairHistory:
    """Names of the listed tickets' faults and, for one device, its faults in the last year."""
    names = aggregates.fault_names(session, language)
    labels = {t.id: aggregates.fault_label_of(names, t.fault_category, device.category if device else None,
                                              language)[0] for t in tickets if t.fault_category}
    count = None
    if device is not None:
        since = (now or utcnow()) - timedelta(days=WINDOW_DAYS)
        count = sum(1 for f in ticket_facts(session, device_ids=[device.id], since=since) if f.is_fault)
    return RepairHistory(fault_names=labels, faults_last_year=count)
