"""A year of service history for the demo (`make run`): closed tickets with fault categories, tiers, ratings,
predictive alerts with their pre-checks, the timeline rows behind them, the predictor trained on them and every
device's score and risk computed, so dashboards, profiles and the risk ranking show something real at once.

Deterministic for a given day (the generator is seeded; the year ends at today's midnight UTC) and fast: a few
hundred tickets written in bulk through the ORM.
"""

from __future__ import annotations

import random
from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.alerts.models import Alert, AlertStatus
from cloud.alerts.policy import severity_for
from cloud.alerts.service import predictive_text
from cloud.audit.models import AuditLog
from cloud.auth.models import Role, User
from cloud.config import get_settings
from cloud.db import utcnow
from cloud.numbering import next_number
from cloud.profiles import predictor
from cloud.profiles.history import FleetDevice, HistoryCase, generate
from cloud.profiles.service import refresh_all
from cloud.registry.models import Device, DeviceStatus
from cloud.tickets import policy
from cloud.tickets.checklists import checklist_for
from cloud.tickets.models import (
    PrecheckAnswer,
    PrecheckItem,
    PrecheckOutcome,
    PrecheckTask,
    Source,
    Ticket,
    Urgency,
)
from cloud.tickets.state import Status, Tier
from models.maintenance.onsite import OnsitePredictor

DAYS = 365
REPORTERS = ("陈老师", "李老师", "王技师", "张主任", "刘技师", "赵老师", "孙技师", "周老师")


def _users(session: Session, role: Role) -> list[User]:
    return list(session.execute(select(User).where(User.role == role, User.is_active.is_(True))
                                .order_by(User.id)).scalars())


def seed_history(session: Session, *, connected: Collection[str] = (), seed: int = 11,
                 now: datetime | None = None) -> int:
    """Write a year of closed cases for every device in service; returns how many tickets. Callers commit.

    connected: system numbers of devices that send run data (their faults may be caught by alerts).
    """
    now = now or utcnow()
    end = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    devices = list(session.execute(select(Device).where(Device.status != DeviceStatus.retired)
                                   .order_by(Device.id)).scalars())
    fleet = [FleetDevice(id=d.id, hospital_id=d.hospital_id, category=d.category, model=d.model,
                         manufacturer=d.manufacturer, install_date=d.install_date, condition=d.maintenance_score,
                         connected=d.system_number in connected) for d in devices]
    cases = generate(fleet, start=end - timedelta(days=DAYS), end=end, seed=seed)
    by_id = {d.id: d for d in devices}
    agents = _users(session, Role.agent) + _users(session, Role.service_center)
    engineers = _users(session, Role.engineer)
    settings = get_settings()
    rng = random.Random(seed)
    tickets: list[tuple[HistoryCase, Ticket]] = []
    with session.no_autoflush:  # one bulk INSERT at the end rather than one per ticket numbered
        for case in cases:
            device = by_id[case.device_id]
            tickets.append((case, _ticket(session, case, device, agents, engineers, settings, rng)))
    session.flush()
    audit: list[AuditLog] = []
    for case, ticket in tickets:
        audit.extend(_timeline(case, ticket, agents, engineers))
        if case.alert_metric:
            _alert(session, case, ticket, by_id[case.device_id], engineers, agents)
    session.add_all(audit)
    session.flush()
    _train(session, [t for _, t in tickets])
    refresh_all(session, now=now)
    return len(tickets)


def _ticket(session: Session, case: HistoryCase, device: Device, agents: list[User], engineers: list[User],
            settings: Any, rng: random.Random) -> Ticket:
    urgency = Urgency(case.urgency)
    priority = policy.priority_for(urgency, device.category)
    first_due, resolution_due = policy.due_times(priority, case.created_at, settings)
    predictive = case.source == "predictive"
    description = case.description
    if predictive and case.alert_metric:
        score = case.alert_score or 0.6
        description = predictive_text(device.id, device.system_number, case.alert_metric, score,
                                      severity_for(score).value, case.created_at)
    agent = rng.choice(agents) if agents else None
    engineer = engineers[0] if engineers and case.tier == "on_site" else None
    ticket = Ticket(
        number=next_number(session, "ticket"), hospital_id=device.hospital_id, device_id=device.id,
        group_id=device.group_id, source=Source(case.source), status=Status.closed, urgency=urgency,
        priority=priority, description=description, reporter_user_id=None,
        reporter_name="预测性维护" if predictive else rng.choice(REPORTERS),
        reporter_phone="" if predictive else f"1380000{rng.randint(1000, 9999)}",
        agent_id=agent.id if agent else None, engineer_id=engineer.id if engineer else None,
        idempotency_key=None, findings=case.findings,
        parts_used="、".join(str(p["name"]) for p in case.parts) or None, tier=Tier(case.tier),
        fault_category=case.fault_category, root_cause=case.root_cause, parts=case.parts or None,
        reopen_count=case.reopen_count, first_response_due_at=first_due, resolution_due_at=resolution_due,
        first_responded_at=case.first_responded_at, resolved_at=case.resolved_at, closed_at=case.closed_at,
        offered_at=case.created_at, created_at=case.created_at)
    if case.rating:
        ticket.rating_overall, ticket.rating_speed, ticket.rating_attitude, ticket.rating_skill = case.rating
        ticket.rating_comment, ticket.rated_at = case.rating_comment or None, case.rated_at
    session.add(ticket)
    return ticket


def _row(ticket: Ticket, at: datetime, action: str, status: str, who: User | None, label: str = "system",
         text: str | None = None, **details: Any) -> AuditLog:
    return AuditLog(at=at, actor_id=who.id if who else None, actor_label=who.username if who else label,
                    action=action, entity="ticket", entity_id=ticket.id, hospital_id=ticket.hospital_id,
                    after={"status": status, "text": text, "internal": False, **details})


def _timeline(case: HistoryCase, ticket: Ticket, agents: list[User], engineers: list[User]) -> list[AuditLog]:
    """The audit rows a ticket's page shows as its timeline, as the live flow would have written them."""
    agent = next((a for a in agents if a.id == ticket.agent_id), None)
    engineer = engineers[0] if engineers else None
    reporter = "predictive" if case.source == "predictive" else "reporter-link"
    rows = [_row(ticket, case.created_at, "submit", "submitted", None, reporter, ticket.description,
                 urgency=ticket.urgency.value, priority=ticket.priority)]
    respond, resolved = case.first_responded_at, case.reopened_at or case.resolved_at
    if case.tier == "on_site" and engineer is not None:
        visit = (resolved - respond) / 3
        rows += [_row(ticket, respond, "dispatch", "dispatched", agent, engineer_id=engineer.id,
                      engineer=engineer.full_name),
                 _row(ticket, respond + visit / 4, "accept", "accepted", engineer),
                 _row(ticket, respond + visit, "arrive", "on_site", engineer),
                 _row(ticket, resolved, "precheck" if case.precheck_outcome else "complete", "resolved", engineer,
                      text=case.findings, tier="on_site")]
    elif case.tier == "basic":
        rows.append(_row(ticket, resolved, "self_serve", "closed", None, reporter, tier="basic"))
    else:
        rows.append(_row(ticket, resolved, "precheck" if case.precheck_outcome else "answer", "resolved", agent,
                         text=case.findings, tier="remote"))
    if case.reopened_at is not None:
        rows.append(_row(ticket, case.reopened_at + timedelta(minutes=1), "reopen", "reopened", None, reporter,
                         "问题又出现了"))
        rows.append(_row(ticket, case.resolved_at, "answer" if case.tier != "on_site" else "complete", "resolved",
                         engineer if case.tier == "on_site" else agent, text=case.findings, tier=case.tier))
    if case.tier != "basic":
        rows.append(_row(ticket, case.closed_at, "auto_close" if case.auto_closed else "confirm", "closed", None,
                         "system" if case.auto_closed else reporter))
    if case.rating and case.rated_at:
        rows.append(_row(ticket, case.rated_at, "rate", "closed", None, reporter, case.rating_comment or None,
                         rating={"overall": case.rating[0], "speed": case.rating[1], "attitude": case.rating[2],
                                 "skill": case.rating[3]}))
    return rows


def _alert(session: Session, case: HistoryCase, ticket: Ticket, device: Device, engineers: list[User],
           agents: list[User]) -> None:
    """The predictive ticket's alert and its finished pre-check."""
    assert case.alert_metric is not None and case.precheck_outcome is not None
    score = case.alert_score or 0.6
    false_alarm = case.precheck_outcome == "false_alarm"
    started = case.created_at - timedelta(minutes=20)
    session.add(Alert(hospital_id=device.hospital_id, device_id=device.id, metric=case.alert_metric,
                      status=AlertStatus.resolved, severity=severity_for(score), started_at=started,
                      last_abnormal_at=case.created_at + timedelta(minutes=30), opened_at=case.created_at,
                      last_score=score * 0.8, peak_score=score, resolved_at=case.resolved_at,
                      resolution="false_alarm" if false_alarm else "recovered", ticket_id=ticket.id,
                      false_alarm=false_alarm, false_alarm_note=case.findings if false_alarm else None))
    checklist, checks = checklist_for(device.category, case.alert_metric)
    who = engineers[0] if case.tier == "on_site" and engineers else (agents[0] if agents else None)
    task = PrecheckTask(ticket_id=ticket.id, hospital_id=device.hospital_id, category=device.category,
                        metric=case.alert_metric, checklist=checklist, outcome=PrecheckOutcome(case.precheck_outcome),
                        outcome_note=case.findings, finished_by=who.id if who else None,
                        finished_at=case.resolved_at, created_at=case.created_at)
    task.items = [PrecheckItem(position=i, code=check.code, text=check.text, metric=case.alert_metric,
                               answer=PrecheckAnswer.done, answered_by=who.id if who else None,
                               answered_at=case.resolved_at) for i, check in enumerate(checks, start=1)]
    session.add(task)


def _train(session: Session, tickets: list[Ticket]) -> None:
    """Replay the year through the predictor, oldest first: each ticket gets the estimate it would have had at
    submission (once the model had learned enough), then teaches the model its outcome."""
    model = OnsitePredictor()
    with session.no_autoflush:  # the estimates are written in one go afterwards, not before every read
        for ticket in tickets:
            report = predictor.report_for(session, ticket=ticket)
            if model.ready:
                ticket.onsite_probability = round(model.predict_one(report), 4)
            model.learn_one(report, ticket.tier == Tier.on_site)
    # The periodic learner goes on after the last resolution of the history (it does not learn the year twice).
    last = max(tickets, key=lambda t: (t.resolved_at, t.id)) if tickets else None
    predictor.save(session, model, learned_until=(last.resolved_at, last.id) if last and last.resolved_at else None)
