"""A stream's alert opens on its device's predictive ticket: the one still open, or a new one dispatched by rule.

The alerts package builds on tickets (never the reverse): the ticket is opened through the ticket service, its
pre-check through cloud/alerts/precheck.py. The scorer and the instrument signals call `open_alert`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.alerts import precheck
from cloud.alerts.models import Alert, AlertStatus
from cloud.alerts.policy import SEVERITY_URGENCY, severity_for
from cloud.alerts.service import SYSTEM, alert_event, chart_link, note_abnormal, predictive_text, unresolved_alert
from cloud.audit.service import record
from cloud.config import Settings
from cloud.db import utcnow
from cloud.errors import NotFound
from cloud.events import emit
from cloud.numbering import next_number
from cloud.registry.models import Device
from cloud.tickets import policy as ticket_policy
from cloud.tickets.models import Source, Ticket
from cloud.tickets.queries import suggest_engineers
from cloud.tickets.schemas import ActionIn
from cloud.tickets.service import Viewer, apply_action, pick_agent
from cloud.tickets.state import OPEN, Action, Status


def open_alert(session: Session, *, device_id: int, metric: str, started_at: datetime, at: datetime, score: float,
               settings: Settings) -> Alert:
    """Open the stream's alert (or carry on the one already open) and put it on the device's predictive ticket."""
    # The episode's own alert, whatever its status: a stream restored from its checkpoint replays readings that a
    # process which died had already scored, and deciding them again must not open a second alert for them.
    existing = session.execute(select(Alert).where(Alert.device_id == device_id, Alert.metric == metric,
                                                   Alert.started_at == started_at)).scalar()
    if existing is None:
        existing = unresolved_alert(session, device_id=device_id, metric=metric)
    if existing is not None:
        note_abnormal(session, alert=existing, at=at, score=score)
        return existing
    device = session.get(Device, device_id)
    if device is None:
        raise NotFound(f"device {device_id} not found")
    alert = Alert(hospital_id=device.hospital_id, device_id=device_id, metric=metric, status=AlertStatus.open,
                  severity=severity_for(score), started_at=started_at, last_abnormal_at=at, last_score=score,
                  peak_score=score, opened_at=utcnow())
    session.add(alert)
    session.flush()
    ticket, created = _predictive_ticket(session, alert=alert, device=device, settings=settings)
    alert.ticket_id = ticket.id
    session.flush()
    record(session, actor=SYSTEM, action="open", entity="alert", entity_id=alert.id, hospital_id=alert.hospital_id,
           after={"device_id": device_id, "metric": metric, "score": round(score, 4),
                  "severity": alert.severity.value, "ticket_id": ticket.id, "new_ticket": created})
    alert_event(session, "alert.opened", alert, number=ticket.number, new_ticket=created,
           link=chart_link(device_id, metric, started_at))
    return alert


def _predictive_ticket(session: Session, *, alert: Alert, device: Device, settings: Settings) -> tuple[Ticket, bool]:
    """The device's open predictive ticket with this alert added, or a new one dispatched by rule.

    Tickets are created and moved through the tickets package's own parts (numbering, priority and SLA rules,
    agent pick, audit row, `ticket.*` events, `apply_action`), so the ticket flows notify people exactly as for
    any other ticket. Each predictive ticket gets a pre-check whose checklist follows the device's category and
    the alerting metric.
    """
    text = predictive_text(device.id, device.system_number, alert.metric, alert.last_score, alert.severity.value,
                           alert.started_at)
    ticket = session.execute(select(Ticket).where(
        Ticket.device_id == device.id, Ticket.source == Source.predictive, Ticket.status.in_(list(OPEN)))
        .order_by(Ticket.id.desc()).limit(1)).scalar()
    if ticket is not None:
        apply_action(session, ticket=ticket, data=ActionIn(action=Action.note, text=text), viewer=Viewer(user=None),
                     settings=settings)
        precheck.open_for_alert(session, ticket=ticket, alert=alert, device=device, actor=SYSTEM)
        return ticket, False
    now = utcnow()
    urgency = SEVERITY_URGENCY[alert.severity]
    # A device the risk ranking expects to fail soon gets its predictive ticket one level sooner (cloud/profiles).
    priority = ticket_policy.predictive_priority(ticket_policy.priority_for(urgency, device.category),
                                                 device.risk_30d)
    first_due, resolution_due = ticket_policy.due_times(priority, now, settings)
    ticket = Ticket(
        number=next_number(session, "ticket"), hospital_id=device.hospital_id, device_id=device.id,
        group_id=device.group_id, source=Source.predictive, status=Status.submitted, urgency=urgency,
        priority=priority, description=text, reporter_user_id=None, reporter_name="预测性维护", reporter_phone="",
        idempotency_key=f"alert:{alert.id}", first_response_due_at=first_due, resolution_due_at=resolution_due,
        agent_id=pick_agent(session, settings=settings), offered_at=now, created_at=now, updated_at=now)
    session.add(ticket)
    session.flush()
    row = record(session, actor=SYSTEM, action="submit", entity="ticket", entity_id=ticket.id,
                 hospital_id=device.hospital_id, after={"status": ticket.status.value, "text": text,
                                                        "urgency": urgency.value, "priority": priority,
                                                        "attachments": [], "agent_id": ticket.agent_id,
                                                        "alert_id": alert.id})
    session.flush()
    emit(session, "ticket.submitted", ticket_id=ticket.id, number=ticket.number, hospital_id=device.hospital_id,
         status=ticket.status.value, agent_id=ticket.agent_id, engineer_id=None, priority=priority, seq=row.id,
         text=text[:200])
    precheck.open_for_alert(session, ticket=ticket, alert=alert, device=device, actor=SYSTEM)
    engineers = suggest_engineers(session, ticket=ticket)
    if engineers:  # the best match gets it; with nobody to send, the desk dispatches by hand
        apply_action(session, ticket=ticket, data=ActionIn(action=Action.dispatch, engineer_id=engineers[0]["id"]),
                     viewer=Viewer(user=None), settings=settings)
    return ticket, True
