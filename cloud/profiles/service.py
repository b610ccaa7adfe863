"""Each device's maintenance score and 30-day risk, from its tickets and alerts; the admin's override.

Keyword-only, no HTTP; callers commit. What counts as a fault is the dashboards' definition
(cloud/dashboards/facts.py): a ticket of the device that was not cancelled or merged and is not a predictive
false alarm. The formulas are pure, in models/maintenance/ (docs/maintenance-score.md); this module only
gathers their inputs with a few queries per device.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from cloud.alerts.models import Alert, AlertStatus
from cloud.audit.service import Actor, record
from cloud.db import utcnow
from cloud.errors import Invalid, NotFound
from cloud.registry.models import Device, DeviceStatus
from cloud.tickets.models import PrecheckOutcome, PrecheckTask, Source, Ticket
from cloud.tickets.state import OPEN, Status
from models.maintenance.risk import DEFAULT_ALERT_PRECISION, RiskEstimate, RiskInputs, estimate_risk
from models.maintenance.score import WINDOW_DAYS, Fault, ScoreBreakdown, ScoreInputs, compute_score, merged_hours

NOT_FAULTS = frozenset({Status.cancelled, Status.merged})
CONFIRMED = frozenset({PrecheckOutcome.fault_confirmed, PrecheckOutcome.fixed})
DEFAULT_DAILY_RATE = 1 / 120  # a fault every four months: what a fleet without history is assumed to do
MIN_EXPOSURE_DAYS = 30  # a device counts at least a month in service, so a new one's first fault is no daily rate
PRIOR_DEVICE_DAYS = 730.0  # a device category's rate counts two device-years of the fleet's rate besides its own
# The fleet's rates change slowly: the hourly refresh hands each process fresh ones; an event computes them only
# when they are older than this (the first event after start), which costs one pass over the year's tickets.
PRIORS_TTL_S = 7200.0


@dataclass(frozen=True)
class TicketFacts:
    """The columns of one ticket the score, the risk and the profile read."""

    ticket_id: int
    device_id: int
    created_at: datetime
    resolved_at: datetime | None
    status: Status
    tier: str | None
    reopen_count: int
    source: Source
    outcome: PrecheckOutcome | None
    fault_category: str | None

    @property
    def is_fault(self) -> bool:
        """Whether it counts as a fault of the device (as cloud/dashboards/facts.is_fault says)."""
        return self.status not in NOT_FAULTS and self.outcome != PrecheckOutcome.false_alarm

    @property
    def is_open(self) -> bool:
        """Not resolved yet."""
        return self.status in OPEN


@dataclass(frozen=True)
class FleetPriors:
    """What the fleet says about devices like one: faults per device-day by category, and alert precision."""

    daily_rate: dict[str, float]
    overall_rate: float
    alert_precision: float

    def rate_for(self, category: str) -> float:
        """The category's rate, or the fleet's for a category without history."""
        return self.daily_rate.get(category, self.overall_rate)


@dataclass(frozen=True)
class Assessment:
    """A device's score and risk now, with what they came from."""

    device_id: int
    breakdown: ScoreBreakdown
    risk: RiskEstimate
    faults: int  # in the last year
    open_faults: int
    open_alerts: list[str]  # the metrics of its unresolved alerts
    downtime_hours: float
    age_years: float | None


# Built once: the per-event path runs them with new parameters only (building a statement costs more than
# running it on an indexed device).
_FACTS = (select(Ticket.id, Ticket.device_id, Ticket.created_at, Ticket.resolved_at, Ticket.status, Ticket.tier,
                 Ticket.reopen_count, Ticket.source, PrecheckTask.outcome, Ticket.fault_category)
          .outerjoin(PrecheckTask, PrecheckTask.ticket_id == Ticket.id)
          .where(Ticket.created_at >= bindparam("since"), Ticket.device_id.is_not(None)))
_FACTS_OF_ONE = _FACTS.where(Ticket.device_id == bindparam("device_id")).order_by(Ticket.created_at, Ticket.id)


def ticket_facts(session: Session, *, device_ids: Iterable[int] | None, since: datetime) -> list[TicketFacts]:
    """The tickets of these devices (None: every device) created since `since`, oldest first."""
    ids = list(device_ids) if device_ids is not None else None
    if ids is not None and len(ids) == 1:
        rows = session.execute(_FACTS_OF_ONE, {"since": since, "device_id": ids[0]}).all()
    else:
        stmt = _FACTS if ids is None else _FACTS.where(Ticket.device_id.in_(ids))
        rows = session.execute(stmt.order_by(Ticket.created_at, Ticket.id), {"since": since}).all()
    return [TicketFacts(ticket_id=r[0], device_id=r[1], created_at=r[2], resolved_at=r[3], status=Status(r[4]),
                        tier=r[5].value if r[5] is not None else None, reopen_count=r[6] or 0, source=Source(r[7]),
                        outcome=PrecheckOutcome(r[8]) if r[8] else None, fault_category=r[9]) for r in rows]


def age_years(device: Device, now: datetime) -> float | None:
    """Years since installation (None when the install date is unknown)."""
    if device.install_date is None:
        return None
    return max(0.0, (now.date() - device.install_date).days / 365.25)


def _in_service_since(device: Device) -> date:
    return device.install_date or device.created_at.date()


def exposure_days(device: Device, now: datetime) -> float:
    """Days of the last year the device was in service (installed, else registered)."""
    return float(max(MIN_EXPOSURE_DAYS, min(WINDOW_DAYS, (now.date() - _in_service_since(device)).days)))


def downtime_hours(facts: Sequence[TicketFacts], now: datetime, since: datetime) -> float:
    """Hours the device was down since `since`: faults from report to resolution (open ones to now), overlaps once."""
    spans = []
    for fact in facts:
        if not fact.is_fault:
            continue
        start = max(fact.created_at, since)
        end = fact.resolved_at if fact.resolved_at is not None and not fact.is_open else now
        spans.append(((start - since).total_seconds() / 3600, (min(end, now) - since).total_seconds() / 3600))
    return merged_hours(spans)


def fleet_priors(session: Session, *, now: datetime | None = None) -> FleetPriors:
    """The fleet's fault rate per device category over the last year, and its predictive alerts' precision."""
    now = now or utcnow()
    since = now - timedelta(days=WINDOW_DAYS)
    faults: dict[str, int] = defaultdict(int)
    rows = session.execute(
        select(Device.category, PrecheckTask.outcome, func.count()).select_from(Ticket)
        .join(Device, Device.id == Ticket.device_id)
        .outerjoin(PrecheckTask, PrecheckTask.ticket_id == Ticket.id)
        .where(Ticket.created_at >= since, Ticket.status.not_in(list(NOT_FAULTS)))
        .group_by(Device.category, PrecheckTask.outcome)).all()
    for category, outcome, count in rows:
        if outcome != PrecheckOutcome.false_alarm:
            faults[category] += int(count)
    exposure: dict[str, float] = defaultdict(float)
    devices = session.execute(select(Device.category, Device.install_date, Device.created_at)
                              .where(Device.status != DeviceStatus.retired)).all()
    for category, installed, created in devices:
        began = installed or created.date()
        exposure[category] += max(MIN_EXPOSURE_DAYS, min(WINDOW_DAYS, (now.date() - began).days))
    # The fleet's own rate leans on a default while its history is short (a fleet registered last week).
    overall = (sum(faults.values()) + PRIOR_DEVICE_DAYS * DEFAULT_DAILY_RATE) / (sum(exposure.values())
                                                                                 + PRIOR_DEVICE_DAYS)
    # A category with few devices leans on the whole fleet's rate (PRIOR_DEVICE_DAYS of it).
    rates = {c: (faults.get(c, 0) + PRIOR_DEVICE_DAYS * overall) / (days + PRIOR_DEVICE_DAYS)
             for c, days in exposure.items()}
    judged = dict(session.execute(
        select(PrecheckTask.outcome, func.count()).where(PrecheckTask.outcome.is_not(None),
                                                         PrecheckTask.finished_at >= since)
        .group_by(PrecheckTask.outcome)).all())
    confirmed = sum(int(judged.get(o, 0)) for o in CONFIRMED)
    false_alarms = int(judged.get(PrecheckOutcome.false_alarm, 0))
    # Laplace-smoothed towards the default while few alerts were judged.
    precision = (confirmed + 2 * DEFAULT_ALERT_PRECISION) / (confirmed + false_alarms + 2)
    return FleetPriors(daily_rate=rates, overall_rate=overall, alert_precision=precision)


class PriorCache:
    """fleet_priors per database, recomputed at most every ttl_s (the per-event refresh must stay cheap)."""

    def __init__(self, ttl_s: float = PRIORS_TTL_S) -> None:
        self.ttl_s = ttl_s
        self._values: dict[str, tuple[float, FleetPriors]] = {}
        self._lock = threading.Lock()

    def get(self, session: Session, now: datetime | None = None) -> FleetPriors:
        """The cached priors of session's database, recomputed when stale."""
        key = str(session.get_bind().url)
        with self._lock:
            found = self._values.get(key)
            if found is None or time.monotonic() - found[0] > self.ttl_s:
                found = (time.monotonic(), fleet_priors(session, now=now))
                self._values[key] = found
            return found[1]

    def put(self, session: Session, priors: FleetPriors) -> None:
        """Keep priors just computed elsewhere (the periodic refresh)."""
        with self._lock:
            self._values[str(session.get_bind().url)] = (time.monotonic(), priors)


PRIORS = PriorCache()  # the process's cache, shared by the event flows and the pages


def assess(device: Device, facts: Sequence[TicketFacts], open_alerts: list[str], *, now: datetime,
           priors: FleetPriors) -> Assessment:
    """Score and risk of a device from its last year's tickets and its unresolved alerts' metrics."""
    since = now - timedelta(days=WINDOW_DAYS)
    counted = [f for f in facts if f.is_fault and f.created_at >= since]
    open_faults = sum(1 for f in counted if f.is_open)
    down = downtime_hours(counted, now, since)
    years = age_years(device, now)
    days_ago = [(now - f.created_at).total_seconds() / 86400 for f in counted]
    breakdown = compute_score(ScoreInputs(
        faults=[Fault(days_ago=d, tier=None if f.is_open else f.tier, reopened=f.reopen_count)
                for f, d in zip(counted, days_ago, strict=True)],
        downtime_hours=down, open_faults=open_faults, open_alerts=len(open_alerts), age_years=years))
    risk = estimate_risk(RiskInputs(
        fault_days_ago=days_ago, exposure_days=exposure_days(device, now), age_years=years,
        open_alerts=len(open_alerts), prior_daily_rate=priors.rate_for(device.category),
        alert_precision=priors.alert_precision))
    return Assessment(device_id=device.id, breakdown=breakdown, risk=risk, faults=len(counted),
                      open_faults=open_faults, open_alerts=open_alerts, downtime_hours=down, age_years=years)


def open_alert_metrics(session: Session, *, device_ids: Iterable[int]) -> dict[int, list[str]]:
    """Per device, the metrics of its alerts not yet resolved."""
    ids = list(device_ids)
    found: dict[int, list[str]] = {i: [] for i in ids}
    if not ids:
        return found
    stmt = select(Alert.device_id, Alert.metric).where(Alert.status != AlertStatus.resolved)
    stmt = stmt.where(Alert.device_id == ids[0]) if len(ids) == 1 else stmt.where(Alert.device_id.in_(ids))
    for device_id, metric in session.execute(stmt.order_by(Alert.id)).all():
        found[device_id].append(metric)
    return found


def assess_device(session: Session, *, device: Device, now: datetime | None = None,
                  priors: FleetPriors | None = None) -> Assessment:
    """A device's score and risk now (priors: the fleet's, computed when not given)."""
    now = now or utcnow()
    facts = ticket_facts(session, device_ids=[device.id], since=now - timedelta(days=WINDOW_DAYS))
    alerts = open_alert_metrics(session, device_ids=[device.id])[device.id]
    return assess(device, facts, alerts, now=now, priors=priors or fleet_priors(session, now=now))


ALERT_SEPARATOR = "\x1f"  # between the metrics of a device's open alerts, aggregated in SQL


_OPEN_ALERT_METRICS = (select(func.aggregate_strings(Alert.metric, ALERT_SEPARATOR))
                       .where(Alert.device_id == Device.id, Alert.status != AlertStatus.resolved).scalar_subquery())
_DEVICE_BY_ID = select(Device, _OPEN_ALERT_METRICS).where(Device.id == bindparam("device_id"))
_DEVICE_BY_TICKET = select(Device, _OPEN_ALERT_METRICS).where(
    Device.id == select(Ticket.device_id).where(Ticket.id == bindparam("ticket_id")).scalar_subquery())


def _device_and_alerts(session: Session, *, device_id: int | None, ticket_id: int | None,
                       ) -> tuple[Device, list[str]] | None:
    """The device (named, or the ticket's) with the metrics of its unresolved alerts, in one query."""
    if device_id is not None:
        row = session.execute(_DEVICE_BY_ID, {"device_id": device_id}).first()
    else:
        row = session.execute(_DEVICE_BY_TICKET, {"ticket_id": ticket_id}).first()
    if row is None:
        return None
    return row[0], [m for m in (row[1] or "").split(ALERT_SEPARATOR) if m]


def _store(device: Device, assessment: Assessment, now: datetime) -> None:
    if device.score_override is None:
        device.maintenance_score = assessment.breakdown.score
    device.risk_30d = round(assessment.risk.probability, 4)
    device.score_updated_at = now


def refresh_device(session: Session, *, device_id: int | None = None, ticket_id: int | None = None,
                   now: datetime | None = None, priors: FleetPriors | None = None) -> Assessment | None:
    """Recompute one device's score (unless an admin's override holds it) and risk; None: no such device.

    Name the device, or a ticket of it (ticket events): two queries read everything, one UPDATE writes it.
    """
    now = now or utcnow()
    found = _device_and_alerts(session, device_id=device_id, ticket_id=ticket_id)
    if found is None:
        return None
    device, alerts = found
    facts = ticket_facts(session, device_ids=[device.id], since=now - timedelta(days=WINDOW_DAYS))
    assessment = assess(device, facts, alerts, now=now, priors=priors or fleet_priors(session, now=now))
    _store(device, assessment, now)
    return assessment


def refresh_all(session: Session, *, now: datetime | None = None, chunk: int = 500,
                priors: FleetPriors | None = None, only_new: bool = False) -> tuple[int, FleetPriors]:
    """Recompute every device in service (the periodic job: ages grow and old faults fade without any event).

    Devices go in chunks, each with one ticket query and one alert query; returns (devices, the priors used).
    only_new: just the devices never assessed yet (registered since, or before the first run).
    """
    now = now or utcnow()
    priors = priors or fleet_priors(session, now=now)
    since = now - timedelta(days=WINDOW_DAYS)
    stmt = select(Device.id).where(Device.status != DeviceStatus.retired)
    if only_new:
        stmt = stmt.where(Device.score_updated_at.is_(None))
    ids = list(session.execute(stmt.order_by(Device.id)).scalars())
    for start in range(0, len(ids), chunk):
        part = ids[start:start + chunk]
        devices = session.execute(select(Device).where(Device.id.in_(part))).scalars().all()
        by_device: dict[int, list[TicketFacts]] = defaultdict(list)
        for fact in ticket_facts(session, device_ids=part, since=since):
            by_device[fact.device_id].append(fact)
        alerts = open_alert_metrics(session, device_ids=part)
        for device in devices:
            _store(device, assess(device, by_device[device.id], alerts[device.id], now=now, priors=priors), now)
        session.flush()
    return len(ids), priors


# --- the admin's override -----------------------------------------------------------------------------


def _override_view(device: Device) -> dict[str, Any]:
    return {"maintenance_score": device.maintenance_score, "score_override": device.score_override,
            "reason": device.score_override_reason}


def set_override(session: Session, *, device_id: int, score: int, reason: str, actor: Actor) -> Device:
    """An admin fixes the score at `score` (0-100) for a stated reason; the change is audited."""
    device = session.get(Device, device_id)
    if device is None:
        raise NotFound(f"device {device_id} not found")
    errors = []
    if not 0 <= score <= 100:
        errors.append({"field": "score", "message": "a whole number from 0 to 100"})
    if not reason.strip():
        errors.append({"field": "reason", "message": "required"})
    if errors:
        raise Invalid("an override needs a score from 0 to 100 and a reason", errors)
    before = _override_view(device)
    device.score_override, device.score_override_reason = score, reason.strip()[:400]
    device.maintenance_score = score
    device.score_updated_at = utcnow()
    session.flush()
    record(session, actor=actor, action="score_override", entity="device", entity_id=device.id,
           hospital_id=device.hospital_id, before=before, after=_override_view(device))
    return device


def clear_override(session: Session, *, device_id: int, actor: Actor, reason: str = "") -> Device:
    """Back to the computed score (recomputed now); audited."""
    device = session.get(Device, device_id)
    if device is None:
        raise NotFound(f"device {device_id} not found")
    before = _override_view(device)
    device.score_override, device.score_override_reason = None, None
    refresh_device(session, device_id=device.id)
    session.flush()
    record(session, actor=actor, action="score_override_cleared", entity="device", entity_id=device.id,
           hospital_id=device.hospital_id, before=before, after={**_override_view(device),
                                                                 "reason": reason.strip() or None})
    return device
