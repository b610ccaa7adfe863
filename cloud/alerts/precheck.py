"""A predictive ticket's pre-check: the checklist, its answers, and how it ends.

Opened with the ticket (cloud/alerts/predictive.py calls `open_for_alert`); a later alert on the same open ticket adds
its metric's checks. The assigned engineer and the service desk answer each check (done / not applicable, with an
optional note) and finish with an outcome:

- fault confirmed: an internal note on the ticket; the repair goes on through the normal states.
- false alarm: every alert of the ticket is marked a false alarm through `cloud.alerts.service.mark_false_alarm`
  (its stream's threshold goes up a notch), the desk is told, and the ticket resolves with the findings, filed
  under the fault category 'no fault found'.
- fixed during the pre-check: the ticket resolves with the findings, filed under the fault category given, or the
  one the alert's metric points at (cloud/profiles/faults.py), with the root cause and parts when given.

Every check must be answered before finishing, except that a false alarm may be declared with a note alone.
Resolving goes through the ticket service's `apply_action` (action `precheck`, which only this module may take).
Callers commit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from cloud.alerts import explain
from cloud.alerts import service as alerts_service
from cloud.alerts.models import Alert, AlertStatus
from cloud.audit.service import Actor, record
from cloud.auth.models import User
from cloud.config import Settings
from cloud.db import utcnow
from cloud.errors import Conflict, Forbidden, Invalid, NotFound
from cloud.events import emit
from cloud.i18n import DEFAULT_LANGUAGE
from cloud.registry.models import Device
from cloud.tickets import faults
from cloud.tickets import service as ticket_service
from cloud.tickets.checklists import checklist_for
from cloud.tickets.faults import NO_FAULT
from cloud.tickets.models import PrecheckAnswer, PrecheckItem, PrecheckOutcome, PrecheckTask, Ticket
from cloud.tickets.schemas import ActionIn, PartIn
from cloud.tickets.service import PRECHECK_FINISHING, Viewer
from cloud.tickets.state import OPEN, Action, Party

WORKERS = frozenset({Party.assigned_engineer, Party.agent, Party.service_center, Party.admin})
UNSET: Any = object()  # a PATCH that leaves the note as it is

# The ticket's internal note when the fault is confirmed (timeline data, zh-CN like the predictive descriptions).
FAULT_CONFIRMED_NOTE = "预检完成：确认故障，继续维修。"


def task_of(session: Session, *, ticket_id: int) -> PrecheckTask | None:
    """The ticket's pre-check, if it has one."""
    return session.execute(select(PrecheckTask).where(PrecheckTask.ticket_id == ticket_id)).scalar()


def open_for_alert(session: Session, *, ticket: Ticket, alert: Alert, device: Device, actor: Actor,
                   ) -> PrecheckTask:
    """Give a predictive ticket its pre-check for alert; an open pre-check gains the checks the alert adds."""
    checklist, checks = checklist_for(device.category, alert.metric)
    task = task_of(session, ticket_id=ticket.id)
    if task is None:
        task = PrecheckTask(ticket_id=ticket.id, hospital_id=ticket.hospital_id, category=device.category,
                            metric=alert.metric, checklist=checklist)
        session.add(task)
        session.flush()
        added = _add_checks(session, task, checks, alert.metric)
        record(session, actor=actor, action="create", entity="precheck_task", entity_id=task.id,
               hospital_id=task.hospital_id, after={"ticket_id": ticket.id, "alert_id": alert.id,
                                                    "checklist": checklist, "checks": added})
        return task
    if task.outcome is not None:
        return task  # finished: the alert is noted on the ticket, the pre-check stays as it ended
    added = _add_checks(session, task, checks, alert.metric)
    if added:
        task.updated_at = utcnow()
        session.flush()
        record(session, actor=actor, action="extend", entity="precheck_task", entity_id=task.id,
               hospital_id=task.hospital_id, after={"alert_id": alert.id, "checklist": checklist, "checks": added})
    return task


def _add_checks(session: Session, task: PrecheckTask, checks: tuple[Any, ...], metric: str) -> list[str]:
    have = {item.code for item in task.items}
    position = max((item.position for item in task.items), default=0)
    added = []
    for check in checks:
        if check.code in have:
            continue
        position += 1
        task.items.append(PrecheckItem(position=position, code=check.code, text=check.text, metric=metric))
        added.append(check.code)
    session.flush()
    return added


def get(session: Session, *, ticket_id: int, viewer: Viewer, settings: Settings) -> tuple[Ticket, PrecheckTask]:
    """The ticket and its pre-check, for staff; other hospitals' tickets and tickets without one are 404."""
    ticket = ticket_service.get_ticket(session, ticket_id=ticket_id, viewer=viewer, settings=settings)
    if viewer.user is None or not viewer.user.is_staff:
        raise Forbidden("only service staff see the pre-check")
    task = task_of(session, ticket_id=ticket.id)
    if task is None:
        raise NotFound(f"ticket {ticket_id} has no pre-check")
    return ticket, task


def can_work(viewer: Viewer, ticket: Ticket, task: PrecheckTask, settings: Settings) -> bool:
    """Whether the viewer may answer and finish this pre-check now."""
    return (task.outcome is None and ticket.status in OPEN
            and bool(ticket_service.parties(viewer, ticket, settings) & WORKERS))


def _require_work(viewer: Viewer, ticket: Ticket, task: PrecheckTask, settings: Settings) -> User:
    if viewer.user is None or not ticket_service.parties(viewer, ticket, settings) & WORKERS:
        raise Forbidden("only the assigned engineer and the service desk work on the pre-check")
    if task.outcome is not None:
        raise Conflict("the pre-check is already finished", outcome=task.outcome.value)
    if ticket.status not in OPEN:
        raise Conflict(f"the ticket is {ticket.status.value}; its pre-check can no longer change",
                       status=ticket.status.value)
    return viewer.user


def _flush(session: Session) -> None:
    try:
        session.flush()
    except StaleDataError as exc:
        raise Conflict("someone changed the pre-check at the same moment; reload and try again") from exc


def answer_item(
    session: Session,
    *,
    ticket: Ticket,
    task: PrecheckTask,
    item_id: int,
    answer: PrecheckAnswer | None,
    note: str | None = UNSET,
    viewer: Viewer,
    settings: Settings,
    now: datetime | None = None,
) -> PrecheckItem:
    """Answer one check (None takes the answer back); the note stays unless given. Recorded and audited."""
    user = _require_work(viewer, ticket, task, settings)
    item = next((i for i in task.items if i.id == item_id), None)
    if item is None:
        raise NotFound(f"check {item_id} not found")
    now = now or utcnow()
    before = {"answer": item.answer.value if item.answer else None, "note": item.note}
    item.answer = answer
    if note is not UNSET:
        item.note = (note or "").strip() or None
    item.answered_by, item.answered_at = (user.id, now) if answer is not None else (None, None)
    task.updated_at = now  # bumps the task's version: a finish racing this answer gets a 409
    _flush(session)
    row = record(session, actor=viewer.actor, action="answer", entity="precheck_item", entity_id=item.id,
                 hospital_id=task.hospital_id, before=before,
                 after={"answer": answer.value if answer else None, "note": item.note, "code": item.code,
                        "task_id": task.id, "ticket_id": ticket.id})
    session.flush()
    _event(session, "ticket.precheck_item", ticket, seq=row.id)
    return item


def finish(
    session: Session,
    *,
    ticket: Ticket,
    task: PrecheckTask,
    outcome: PrecheckOutcome,
    note: str | None,
    viewer: Viewer,
    settings: Settings,
    version: int | None = None,
    now: datetime | None = None,
    fault_category: str | None = None,
    root_cause: str | None = None,
    parts: list[PartIn] | None = None,
) -> PrecheckTask:
    """End the pre-check with outcome; see the module's description for what each outcome does to the ticket."""
    user = _require_work(viewer, ticket, task, settings)
    if version is not None and version != task.version:
        raise Conflict("the pre-check changed meanwhile; here is the current state", current_version=task.version)
    text = (note or "").strip()
    unanswered = [item for item in task.items if item.answer is None]
    if outcome == PrecheckOutcome.false_alarm:
        if not text:
            raise Invalid("say why it is a false alarm", [{"field": "note", "message": "required"}])
    elif unanswered:
        raise Invalid("answer every check first (done or not applicable)",
                      [{"field": f"items.{item.id}", "message": "unanswered"} for item in unanswered])
    elif outcome == PrecheckOutcome.fixed and not text:
        raise Invalid("the findings are required", [{"field": "note", "message": "required"}])
    if outcome == PrecheckOutcome.fixed:
        # Checked before anything changes: the category given, else the one the alert's metric points at.
        category = device.category if (device := ticket.device) is not None else None
        if fault_category:
            faults.require(session, fault_category, category)
        elif faults.suggest(session, ticket, text=text) is None:
            faults.require(session, None, category)
    now = now or utcnow()
    task.outcome, task.outcome_note, task.finished_by, task.finished_at = outcome, text or None, user.id, now
    task.updated_at = now
    _flush(session)
    counts = {answer.value: sum(1 for i in task.items if i.answer == answer) for answer in PrecheckAnswer}
    alerts = _alerts_of(session, ticket)
    marked = []
    if outcome == PrecheckOutcome.false_alarm:
        for alert in alerts:
            if not alert.false_alarm:
                alerts_service.mark_false_alarm(session, alert=alert, user=user, note=text, settings=settings)
                marked.append(alert.id)
    row = record(session, actor=viewer.actor, action="finish", entity="precheck_task", entity_id=task.id,
                 hospital_id=task.hospital_id,
                 after={"ticket_id": ticket.id, "outcome": outcome.value, "note": task.outcome_note,
                        "unanswered": len(unanswered), "false_alarm_alerts": marked, **counts})
    session.flush()
    if outcome == PrecheckOutcome.fault_confirmed:
        for alert in alerts:
            if alert.status == AlertStatus.open:
                alerts_service.acknowledge(session, alert=alert, user=user)  # the engineer owns it now
        ticket_service.apply_action(session, ticket=ticket, viewer=viewer, settings=settings, now=now,
                             data=ActionIn(action=Action.note, text=FAULT_CONFIRMED_NOTE + text))
        return task
    session.info[PRECHECK_FINISHING] = ticket.id
    if outcome == PrecheckOutcome.false_alarm:
        fault_category, parts = NO_FAULT, None  # nothing was wrong, so nothing was replaced
    try:
        ticket_service.apply_action(session, ticket=ticket, viewer=viewer, settings=settings, now=now,
                             data=ActionIn(action=Action.precheck, findings=text, fault_category=fault_category,
                                           root_cause=root_cause, parts=parts))
    finally:
        session.info.pop(PRECHECK_FINISHING, None)
    if outcome == PrecheckOutcome.false_alarm:
        _event(session, "ticket.false_alarm", ticket, seq=row.id, text=text[:200])
    return task


def _alerts_of(session: Session, ticket: Ticket) -> list[Alert]:
    """The ticket's alerts, oldest first."""
    return list(session.execute(select(Alert).where(Alert.ticket_id == ticket.id).order_by(Alert.id)).scalars())


def _event(session: Session, name: str, ticket: Ticket, *, seq: int, text: str | None = None) -> None:
    emit(session, name, ticket_id=ticket.id, number=ticket.number, hospital_id=ticket.hospital_id,
         status=ticket.status.value, previous=ticket.status.value, engineer_id=ticket.engineer_id,
         previous_engineer_id=None, agent_id=ticket.agent_id, priority=ticket.priority, seq=seq, text=text)


def view(session: Session, *, ticket: Ticket, task: PrecheckTask, viewer: Viewer, settings: Settings,
         language: str = DEFAULT_LANGUAGE) -> dict[str, Any]:
    """The pre-check as the API answers it: the checks with who answered when, the alerts with their charts and
    why each was raised (in language)."""
    user_ids = {i.answered_by for i in task.items} | {task.finished_by}
    names = {u.id: u.full_name or u.username for u in session.execute(
        select(User).where(User.id.in_([i for i in user_ids if i is not None]))).scalars()}
    alerts = _alerts_of(session, ticket)
    alert_rows = [{"id": a.id, "metric": a.metric, "status": a.status, "severity": a.severity,
                   "false_alarm": a.false_alarm, "started_at": a.started_at, "peak_score": a.peak_score,
                   "chart_url": alerts_service.chart_link(a.device_id, a.metric, a.started_at,
                                           a.last_abnormal_at if a.status == AlertStatus.resolved else None),
                   "why": explain.describe(a.explanation, language)}
                  for a in alerts]
    items = [{"id": i.id, "position": i.position, "code": i.code, "text": i.text, "metric": i.metric,
              "answer": i.answer, "note": i.note, "answered_by": i.answered_by,
              "answered_by_name": names.get(i.answered_by) if i.answered_by else None, "answered_at": i.answered_at}
             for i in task.items]
    return {"id": task.id, "ticket_id": ticket.id, "version": task.version, "checklist": task.checklist,
            "category": task.category, "metric": task.metric, "items": items,
            "answered": sum(1 for i in task.items if i.answer is not None), "total": len(task.items),
            "outcome": task.outcome, "outcome_note": task.outcome_note, "finished_by": task.finished_by,
            "finished_by_name": names.get(task.finished_by) if task.finished_by else None,
            "finished_at": task.finished_at, "alerts": alert_rows,
            "chart_url": alert_rows[0]["chart_url"] if alert_rows else None,
            "can_work": can_work(viewer, ticket, task, settings)}
