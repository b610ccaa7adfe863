"""Alerts on the database: policies, maintenance windows, the alert lifecycle, acknowledgement and false alarms.

Keyword-only, no HTTP; callers commit. Opening an alert on its device's predictive ticket is
cloud/alerts/predictive.py; the ticket's pre-check is cloud/alerts/precheck.py. Both build on this module.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from cloud.alerts.models import ANY_METRIC, Alert, AlertPolicy, AlertStatus, MaintenanceWindow
from cloud.alerts.policy import SEVERITY_RANK, Rules, raise_notch, severity_for
from cloud.audit.service import Actor, record
from cloud.auth.models import Role, User
from cloud.config import Settings
from cloud.db import utcnow
from cloud.errors import Conflict, Forbidden, Invalid, NotFound
from cloud.events import emit
from cloud.registry.models import Device
from cloud.telemetry.catalog import metric_label, severity_label
from cloud.telemetry.models import Gateway, GatewayState
from cloud.tenancy import Scope
from cloud.tickets.models import Ticket
from cloud.tickets.schemas import ActionIn
from cloud.tickets.service import Viewer, apply_action
from cloud.tickets.state import OPEN, Action

SYSTEM = Actor.system("predictive")
CHART_MARGIN = timedelta(hours=2)  # the chart link shows this much before the alert started
ACKNOWLEDGERS = frozenset({Role.engineer, Role.agent, Role.service_center, Role.admin})
RECOVERED = "recovered"  # the resolution the scorer gives an alert whose stream went back to normal


def _link_time(moment: datetime) -> str:
    """A readable UTC time for a link (2026-11-25T18:26:08Z): whole seconds, no percent-encoded offset."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.replace(tzinfo=None, microsecond=0).isoformat() + "Z"


def chart_link(device_id: int, metric: str, start: datetime, end: datetime | None = None) -> str:
    """The device's chart of metric around an alert (start - margin to end + margin, or open-ended)."""
    query = {"metric": metric, "start": _link_time(start - CHART_MARGIN)}
    if end is not None:
        query["end"] = _link_time(end + CHART_MARGIN)
    return f"/devices/{device_id}/chart?{urlencode(query, safe=':')}"


def predictive_text(device_id: int, system_number: str, metric: str, score: float, severity: str,
                    started_at: datetime) -> str:
    """What a predictive ticket says of an alert (its description, or a note on the device's open one): the
    metric's name and the severity in Chinese, never raw keys; its chart link reads as a link on every page."""
    return (f"预测性告警：{system_number} 的{metric_label(metric)}偏离正常（评分 {score:.2f}，"
            f"{severity_label(severity)}）。告警曲线：{chart_link(device_id, metric, started_at)}")


# --- policies ---------------------------------------------------------------------------------------


@dataclass
class PolicyBook:
    """The policy rows that matter for a set of streams, resolved most specific first."""

    rows: dict[tuple[int | None, str], AlertPolicy] = field(default_factory=dict)

    def row_for(self, device_id: int, metric: str) -> AlertPolicy | None:
        """The most specific row: this device and metric, the metric, this device for every metric, every metric."""
        for key in ((device_id, metric), (None, metric), (device_id, ANY_METRIC), (None, ANY_METRIC)):
            if key in self.rows:
                return self.rows[key]
        return None

    def rules(self, device_id: int, metric: str, default_threshold: float, learning_s: float = 0.0) -> Rules:
        """The effective rules of one stream (learning_s: the service's learning period, settings; a row's own
        learning_hours wins)."""
        row = self.row_for(device_id, metric)
        if row is None:
            return Rules(threshold=default_threshold, learning_s=learning_s)
        return Rules(threshold=row.sensitivity if row.sensitivity is not None else default_threshold,
                     min_duration_s=row.min_duration_s, hysteresis=row.hysteresis, cooldown_s=row.cooldown_s,
                     resolve_after_s=row.resolve_after_s, enabled=row.enabled,
                     learning_s=row.learning_hours * 3600.0 if row.learning_hours is not None else learning_s)


def policy_book(session: Session, *, device_ids: Iterable[int], metrics: Iterable[str]) -> PolicyBook:
    """Every policy row that may apply to these devices and metrics."""
    metric_set = {*metrics, ANY_METRIC}
    rows = session.execute(select(AlertPolicy).where(
        AlertPolicy.metric.in_(metric_set),
        or_(AlertPolicy.device_id.is_(None), AlertPolicy.device_id.in_(set(device_ids))))).scalars()
    return PolicyBook({(row.device_id, row.metric): row for row in rows})


def list_policies(session: Session, *, device_id: int | None = None, metric: str | None = None) -> list[AlertPolicy]:
    """Policy rows by metric, the metric-wide row before per-device ones."""
    stmt = select(AlertPolicy).order_by(AlertPolicy.metric, AlertPolicy.device_id.is_not(None), AlertPolicy.device_id)
    if device_id is not None:
        stmt = stmt.where(AlertPolicy.device_id == device_id)
    if metric is not None:
        stmt = stmt.where(AlertPolicy.metric == metric)
    return list(session.execute(stmt).scalars())


def get_policy(session: Session, *, policy_id: int) -> AlertPolicy:
    """One policy row, or NotFound."""
    row = session.get(AlertPolicy, policy_id)
    if row is None:
        raise NotFound(f"alert policy {policy_id} not found")
    return row


def _policy_view(row: AlertPolicy) -> dict[str, object]:
    return {"metric": row.metric, "device_id": row.device_id, "sensitivity": row.sensitivity,
            "min_duration_s": row.min_duration_s, "hysteresis": row.hysteresis, "cooldown_s": row.cooldown_s,
            "resolve_after_s": row.resolve_after_s, "enabled": row.enabled, "learning_hours": row.learning_hours}


def save_policy(session: Session, *, values: dict[str, object], actor: Actor, policy_id: int | None = None,
                ) -> AlertPolicy:
    """Create a policy row (one per metric and device) or update one."""
    row = get_policy(session, policy_id=policy_id) if policy_id is not None else AlertPolicy()
    before = _policy_view(row) if policy_id is not None else None
    for key, value in values.items():
        setattr(row, key, value)
    if row.device_id is not None and session.get(Device, row.device_id) is None:
        raise Invalid(f"device {row.device_id} does not exist", [{"field": "device_id", "message": "no such device"}])
    clash = session.execute(select(AlertPolicy.id).where(
        AlertPolicy.metric == row.metric, AlertPolicy.device_id.is_(None) if row.device_id is None
        else AlertPolicy.device_id == row.device_id)).scalar()
    if clash is not None and clash != policy_id:
        raise Conflict(f"a policy for {row.metric!r} on this scope exists already (id {clash})", policy_id=clash)
    session.add(row)
    session.flush()
    record(session, actor=actor, action="update" if before else "create", entity="alert_policy", entity_id=row.id,
           before=before, after=_policy_view(row))
    return row


def delete_policy(session: Session, *, policy_id: int, actor: Actor) -> None:
    """Remove a policy row; the stream falls back to the next most specific one."""
    row = get_policy(session, policy_id=policy_id)
    record(session, actor=actor, action="delete", entity="alert_policy", entity_id=row.id, before=_policy_view(row))
    session.delete(row)


# --- maintenance windows ----------------------------------------------------------------------------


def windows_covering(session: Session, *, device_ids: Iterable[int], start: datetime, end: datetime,
                     ) -> dict[int, list[tuple[datetime, datetime]]]:
    """Per device, the maintenance windows that overlap [start, end]."""
    rows = session.execute(select(MaintenanceWindow.device_id, MaintenanceWindow.starts_at,
                                  MaintenanceWindow.ends_at).where(
        MaintenanceWindow.device_id.in_(set(device_ids)), MaintenanceWindow.starts_at <= end,
        MaintenanceWindow.ends_at > start))
    found: dict[int, list[tuple[datetime, datetime]]] = {}
    for device_id, starts_at, ends_at in rows:
        found.setdefault(device_id, []).append((starts_at, ends_at))
    return found


def list_windows(session: Session, *, device_id: int | None = None, active_at: datetime | None = None,
                 ) -> list[MaintenanceWindow]:
    """Maintenance windows, newest start first."""
    stmt = select(MaintenanceWindow).order_by(MaintenanceWindow.starts_at.desc(), MaintenanceWindow.id.desc())
    if device_id is not None:
        stmt = stmt.where(MaintenanceWindow.device_id == device_id)
    if active_at is not None:
        stmt = stmt.where(MaintenanceWindow.starts_at <= active_at, MaintenanceWindow.ends_at > active_at)
    return list(session.execute(stmt).scalars())


def get_window(session: Session, *, window_id: int) -> MaintenanceWindow:
    """One maintenance window, or NotFound."""
    row = session.get(MaintenanceWindow, window_id)
    if row is None:
        raise NotFound(f"maintenance window {window_id} not found")
    return row


def save_window(session: Session, *, device_id: int, starts_at: datetime, ends_at: datetime, reason: str,
                actor: Actor, window_id: int | None = None) -> MaintenanceWindow:
    """Create or change a maintenance window; it must end after it starts."""
    if ends_at <= starts_at:
        raise Invalid("a maintenance window must end after it starts", [{"field": "ends_at", "message": "too early"}])
    device = session.get(Device, device_id)
    if device is None:
        raise Invalid(f"device {device_id} does not exist", [{"field": "device_id", "message": "no such device"}])
    row = get_window(session, window_id=window_id) if window_id is not None else MaintenanceWindow(
        created_by=actor.user_id)
    row.device_id, row.starts_at, row.ends_at, row.reason = device_id, starts_at, ends_at, reason.strip()
    session.add(row)
    session.flush()
    record(session, actor=actor, action="update" if window_id else "create", entity="maintenance_window",
           entity_id=row.id, hospital_id=device.hospital_id,
           after={"device_id": device_id, "starts_at": starts_at.isoformat(), "ends_at": ends_at.isoformat(),
                  "reason": row.reason})
    return row


def delete_window(session: Session, *, window_id: int, actor: Actor) -> None:
    """Remove a maintenance window."""
    row = get_window(session, window_id=window_id)
    record(session, actor=actor, action="delete", entity="maintenance_window", entity_id=row.id,
           before={"device_id": row.device_id, "starts_at": row.starts_at.isoformat()})
    session.delete(row)


def gateway_offline(session: Session, *, gateway_id: int) -> bool:
    """Whether the gateway said it is offline (its MQTT Last Will or its own status) and has not come back."""
    status = session.execute(select(Gateway.status).where(Gateway.id == gateway_id)).scalar()
    return status == GatewayState.offline


# --- alerts -----------------------------------------------------------------------------------------


def unresolved_alert(session: Session, *, device_id: int, metric: str) -> Alert | None:
    """The stream's open or acknowledged alert, if any."""
    return session.execute(select(Alert).where(Alert.device_id == device_id, Alert.metric == metric,
                                               Alert.status != AlertStatus.resolved)).scalar()


def last_resolved_alert(session: Session, *, device_id: int, metric: str) -> Alert | None:
    """The stream's most recently resolved alert (the cooldown runs from it)."""
    return session.execute(select(Alert).where(Alert.device_id == device_id, Alert.metric == metric,
                                               Alert.status == AlertStatus.resolved)
                           .order_by(Alert.last_abnormal_at.desc()).limit(1)).scalar()


def alert_event(session: Session, name: str, alert: Alert, **extra: object) -> None:
    """Record `alert.<what>` with the alert's plain data (delivered after commit, cloud/events.py)."""
    emit(session, name, alert_id=alert.id, device_id=alert.device_id, hospital_id=alert.hospital_id,
         metric=alert.metric, status=alert.status.value, severity=alert.severity.value, ticket_id=alert.ticket_id,
         score=alert.last_score, **extra)


def note_abnormal(session: Session, *, alert: Alert, at: datetime, score: float) -> None:
    """The stream is still abnormal: keep the newest and strongest scores; a stronger severity is noted."""
    alert.last_score = score
    alert.last_abnormal_at = max(alert.last_abnormal_at, at)
    if score > alert.peak_score:
        alert.peak_score = score
        severity = severity_for(score)
        if SEVERITY_RANK[severity] > SEVERITY_RANK[alert.severity]:
            alert.severity = severity
            alert_event(session, "alert.escalated", alert)


def resolve_alert(session: Session, *, alert: Alert, resolution: str, actor: Actor = SYSTEM) -> None:
    """End an alert (the stream recovered, or a person said it was a false alarm)."""
    if alert.status == AlertStatus.resolved:
        return
    before = alert.status
    alert.status = AlertStatus.resolved
    alert.resolved_at = utcnow()
    alert.resolution = resolution
    record(session, actor=actor, action="resolve", entity="alert", entity_id=alert.id, hospital_id=alert.hospital_id,
           before={"status": before.value}, after={"status": "resolved", "resolution": resolution})
    session.flush()
    alert_event(session, "alert.resolved", alert, resolution=resolution)


def list_alerts(
    session: Session,
    *,
    scope: Scope,
    statuses: list[AlertStatus] | None = None,
    device_id: int | None = None,
    device_ids: Iterable[int] | None = None,
    metric: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Alert], int]:
    """Alerts in scope (and of ``device_ids`` when given), newest first, with the total count."""
    stmt = select(Alert)
    stmt = scope.restrict(stmt, Alert.hospital_id)
    if statuses:
        stmt = stmt.where(Alert.status.in_(statuses))
    if device_id is not None:
        stmt = stmt.where(Alert.device_id == device_id)
    if device_ids is not None:
        stmt = stmt.where(Alert.device_id.in_(list(device_ids)))
    if metric is not None:
        stmt = stmt.where(Alert.metric == metric)
    total = session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    rows = session.execute(stmt.order_by(Alert.opened_at.desc(), Alert.id.desc()).limit(limit).offset(offset))
    return list(rows.scalars()), int(total)


def get_alert(session: Session, *, alert_id: int, scope: Scope) -> Alert:
    """One alert in scope, else NotFound (other hospitals' alerts do not exist for the caller)."""
    alert = session.get(Alert, alert_id)
    if alert is None or not scope.allows(alert.hospital_id):
        raise NotFound(f"alert {alert_id} not found")
    return alert


def _require_staff(user: User, what: str) -> None:
    if user.role not in ACKNOWLEDGERS:
        raise Forbidden(f"only engineers, agents and admins may {what}")


def acknowledge(session: Session, *, alert: Alert, user: User) -> Alert:
    """An engineer or agent has seen the alert and owns it."""
    _require_staff(user, "acknowledge an alert")
    if alert.status != AlertStatus.open:
        raise Conflict(f"the alert is {alert.status.value}; only an open alert can be acknowledged",
                       status=alert.status.value)
    alert.status = AlertStatus.acknowledged
    alert.acknowledged_by, alert.acknowledged_at = user.id, utcnow()
    record(session, actor=Actor(user.id, user.username), action="acknowledge", entity="alert", entity_id=alert.id,
           hospital_id=alert.hospital_id, before={"status": "open"}, after={"status": "acknowledged"})
    session.flush()
    alert_event(session, "alert.acknowledged", alert, user_id=user.id)
    return alert


def mark_false_alarm(session: Session, *, alert: Alert, user: User, note: str, settings: Settings) -> AlertPolicy:
    """A person says the alert was wrong: resolve it and make this stream a notch less sensitive."""
    _require_staff(user, "mark a false alarm")
    if alert.false_alarm:
        raise Conflict("this alert is already marked as a false alarm")
    actor = Actor(user.id, user.username)
    alert.false_alarm, alert.false_alarm_note, alert.false_alarm_by = True, note.strip() or None, user.id
    resolve_alert(session, alert=alert, resolution="false_alarm", actor=actor)
    book = policy_book(session, device_ids=[alert.device_id], metrics=[alert.metric])
    inherited = book.row_for(alert.device_id, alert.metric)
    rules = book.rules(alert.device_id, alert.metric, settings.alert_threshold)
    own = book.rows.get((alert.device_id, alert.metric))
    if own is None:  # the stream gets its own row, starting from what applied to it
        own = AlertPolicy(metric=alert.metric, device_id=alert.device_id, false_alarms=0,
                          **({} if inherited is None else {
                              "min_duration_s": inherited.min_duration_s, "hysteresis": inherited.hysteresis,
                              "cooldown_s": inherited.cooldown_s, "resolve_after_s": inherited.resolve_after_s,
                              "enabled": inherited.enabled, "learning_hours": inherited.learning_hours}))
        session.add(own)
    before = {"sensitivity": rules.threshold}
    own.sensitivity = raise_notch(rules.threshold)
    own.false_alarms = (own.false_alarms or 0) + 1
    session.flush()
    record(session, actor=actor, action="false_alarm", entity="alert", entity_id=alert.id,
           hospital_id=alert.hospital_id, before=before,
           after={"sensitivity": own.sensitivity, "policy_id": own.id, "note": alert.false_alarm_note})
    ticket = session.get(Ticket, alert.ticket_id) if alert.ticket_id else None
    if ticket is not None and ticket.status in OPEN:
        viewer = Viewer(user=user)
        text = f"告警 {alert.id}（{alert.metric}）被标记为误报：{alert.false_alarm_note or '无说明'}"
        try:
            apply_action(session, ticket=ticket, data=ActionIn(action=Action.note, text=text), viewer=viewer,
                         settings=settings)
        except Conflict:
            pass  # someone who may not note this ticket: the alert row and audit keep the finding anyway
    return own
