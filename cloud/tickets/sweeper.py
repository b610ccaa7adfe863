"""Time-driven ticket rules: re-offer unanswered tickets, escalate overdue ones, close unconfirmed ones.

Each ticket is handled in its own transaction; the ticket's version column makes two workers sweeping at
once harmless (the slower one gets a stale-data error for that ticket and leaves it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from cloud.audit.models import AuditLog
from cloud.audit.service import Actor, record
from cloud.config import Settings
from cloud.db import utcnow
from cloud.errors import DomainError
from cloud.events import emit
from cloud.tickets.models import Ticket
from cloud.tickets.schemas import ActionIn
from cloud.tickets.service import Viewer, apply_action, pick_agent
from cloud.tickets.state import OPEN, Action, Status

log = logging.getLogger("medfix.tickets.sweeper")
SYSTEM = Actor.system("sla-timer")
WAITING = [Status.submitted, Status.reopened]


@dataclass
class SweepReport:
    """What one sweep did, by ticket id."""

    reoffered: list[int] = field(default_factory=list)
    escalated: list[int] = field(default_factory=list)
    closed: list[int] = field(default_factory=list)


def _offered_agents(session: Session, ticket: Ticket) -> set[int]:
    rows = session.execute(select(AuditLog.after).where(
        AuditLog.entity == "ticket", AuditLog.entity_id == ticket.id, AuditLog.action.in_(["submit", "reoffer"])))
    return {int(after["agent_id"]) for (after,) in rows if after and after.get("agent_id")}


def _reoffer(session: Session, ticket: Ticket, settings: Settings, now: datetime) -> bool:
    tried = _offered_agents(session, ticket)
    agent_id = pick_agent(session, settings=settings, exclude=tried)
    if agent_id is None:
        # Everyone was offered it already: start the round again rather than leave it with a silent agent.
        agent_id = pick_agent(session, settings=settings, exclude={ticket.agent_id} if ticket.agent_id else set())
    if agent_id is None or agent_id == ticket.agent_id:
        return False
    previous, ticket.agent_id, ticket.offered_at = ticket.agent_id, agent_id, now
    session.flush()
    row = record(session, actor=SYSTEM, action="reoffer", entity="ticket", entity_id=ticket.id,
                 hospital_id=ticket.hospital_id, before={"agent_id": previous},
                 after={"agent_id": agent_id, "text": None, "internal": True})
    session.flush()
    emit(session, "ticket.reoffer", ticket_id=ticket.id, number=ticket.number, hospital_id=ticket.hospital_id,
         status=ticket.status.value, agent_id=agent_id, engineer_id=ticket.engineer_id, priority=ticket.priority,
         seq=row.id, text=None)
    return True


def _escalate(session: Session, ticket: Ticket, level: int, what: str) -> None:
    ticket.escalation_level = level
    session.flush()
    row = record(session, actor=SYSTEM, action="overdue", entity="ticket", entity_id=ticket.id,
                 hospital_id=ticket.hospital_id, after={"level": level, "text": what, "internal": True})
    session.flush()
    emit(session, "ticket.overdue", ticket_id=ticket.id, number=ticket.number, hospital_id=ticket.hospital_id,
         status=ticket.status.value, agent_id=ticket.agent_id, engineer_id=ticket.engineer_id,
         priority=ticket.priority, seq=row.id, text=what)


def sweep(sessions: sessionmaker[Session], *, settings: Settings, now: datetime | None = None) -> SweepReport:
    """Apply every due time rule once."""
    now = now or utcnow()
    report = SweepReport()
    offer_before = now - timedelta(minutes=settings.offer_timeout_minutes)
    close_before = now - timedelta(hours=settings.auto_close_hours)
    with sessions() as session:
        waiting = list(session.execute(select(Ticket.id).where(
            Ticket.status.in_(WAITING), Ticket.first_responded_at.is_(None),
            or_(Ticket.agent_id.is_(None), Ticket.offered_at < offer_before))).scalars())
        overdue = list(session.execute(select(Ticket.id).where(Ticket.status.in_(list(OPEN)), or_(
            and_(Ticket.first_responded_at.is_(None), Ticket.first_response_due_at < now,
                 Ticket.escalation_level < 1),
            and_(Ticket.resolution_due_at < now, Ticket.escalation_level < 2)))).scalars())
        unconfirmed = list(session.execute(select(Ticket.id).where(
            Ticket.status == Status.resolved, Ticket.resolved_at < close_before)).scalars())

    def each(ids: list[int], work, done: list[int]) -> None:  # noqa: ANN001 - a local callback
        for ticket_id in ids:
            with sessions() as session:
                try:
                    ticket = session.get(Ticket, ticket_id)
                    if ticket is not None and work(session, ticket):
                        session.commit()
                        done.append(ticket_id)
                except (StaleDataError, DomainError):
                    session.rollback()  # someone acted on it meanwhile; the next sweep looks again
                except SQLAlchemyError:
                    session.rollback()
                    log.exception("sweeping ticket %s failed", ticket_id)

    each(waiting, lambda s, t: _reoffer(s, t, settings, now), report.reoffered)

    def escalate(session: Session, ticket: Ticket) -> bool:
        if ticket.first_responded_at is None and ticket.first_response_due_at < now and ticket.escalation_level < 1:
            _escalate(session, ticket, 1, f"首次响应超时（应于 {ticket.first_response_due_at:%m-%d %H:%M} UTC 前响应）")
            return True
        if ticket.resolution_due_at < now and ticket.escalation_level < 2:
            _escalate(session, ticket, 2, f"解决超时（应于 {ticket.resolution_due_at:%m-%d %H:%M} UTC 前解决）")
            return True
        return False

    each(overdue, escalate, report.escalated)

    def close(session: Session, ticket: Ticket) -> bool:
        apply_action(session, ticket=ticket, data=ActionIn(action=Action.auto_close), viewer=Viewer(user=None),
                     settings=settings, now=now)
        return True

    each(unconfirmed, close, report.closed)
    return report

