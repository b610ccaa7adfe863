"""Ticket operations. `apply_action` is the only writer of a ticket's status; callers commit."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.exc import StaleDataError

from cloud.audit.models import AuditLog
from cloud.audit.service import Actor, record
from cloud.auth.models import Role, User, Verification
from cloud.config import Settings, secret_key_bytes
from cloud.db import utcnow
from cloud.errors import Conflict, Invalid, NotFound
from cloud.events import emit
from cloud.numbering import next_number
from cloud.registry.models import Device, DeviceGroup
from cloud.tenancy import Scope, engineer_scope
from cloud.tickets import faults, policy
from cloud.tickets.models import Source, Ticket, TicketAttachment
from cloud.tickets.presence import check_label, may_skip_label
from cloud.tickets.schemas import ActionIn, AttachmentRef, Escalation, TicketSubmit
from cloud.tickets.state import (
    OPEN,
    Action,
    Party,
    Status,
    TransitionError,
    allowed_actions,
    next_status,
    tier_after,
)

# Staff actions that count as the first response to the reporter (an internal note does not).
RESPONSES = frozenset({Action.answer, Action.escalate, Action.dispatch, Action.add_info, Action.reply})
ROLE_PARTY = {Role.agent: Party.agent, Role.service_center: Party.service_center, Role.admin: Party.admin}
# Set by cloud/alerts/precheck.finish around its apply_action: the precheck action is taken there and nowhere else.
PRECHECK_FINISHING = "medfix.precheck_finishing"
# Set by cloud/tickets/desk.merge around its apply_action: a merge needs both tickets checked there.
MERGING = "medfix.merging"


@dataclass(frozen=True)
class Viewer:
    """Who is looking at or acting on tickets: a signed-in user and/or the holder of a reporter link."""

    user: User | None
    reporter_key: str | None = None

    @property
    def actor(self) -> Actor:
        """The audit actor."""
        if self.user is not None:
            return Actor(self.user.id, self.user.username)
        return Actor.system("reporter-link")


def reporter_key(settings: Settings, number: str) -> str:
    """The secret that lets a reporter without an account follow ticket `number`."""
    return hmac.new(secret_key_bytes(settings), f"ticket:{number}".encode(), hashlib.sha256).hexdigest()[:32]


def parties(viewer: Viewer, ticket: Ticket, settings: Settings) -> frozenset[Party]:
    """The parties the viewer acts as on this ticket."""
    found: set[Party] = set()
    user = viewer.user
    if user is not None:
        if user.role in ROLE_PARTY:
            found.add(ROLE_PARTY[user.role])
        if user.role == Role.engineer and ticket.engineer_id == user.id:
            found.add(Party.assigned_engineer)
        if ticket.reporter_user_id is not None and ticket.reporter_user_id == user.id:
            found.add(Party.reporter)
    if viewer.reporter_key and hmac.compare_digest(viewer.reporter_key, reporter_key(settings, ticket.number)):
        found.add(Party.reporter)
    return frozenset(found)


def visible_by_number(session: Session, number: str, viewer: Viewer, settings: Settings) -> Ticket | None:
    """The ticket with this number if the viewer may see it (a reporter's link carries its key); None otherwise,
    so a page cannot tell a missing ticket from another person's."""
    ticket = session.execute(select(Ticket).where(Ticket.number == number)).scalar()
    return ticket if ticket is not None and can_view(viewer, ticket, settings) else None


def can_view(viewer: Viewer, ticket: Ticket, settings: Settings) -> bool:
    """The desk sees every ticket, an engineer those of the hospitals they serve (all while none is listed) and
    those assigned to them, a verified lab user their hospital's, a reporter their own."""
    user = viewer.user
    served = engineer_scope(user) if user is not None else None
    if served is not None:
        return served.allows(ticket.hospital_id, engineer_id=ticket.engineer_id)
    if user is not None and user.is_staff:
        return True
    if user is not None and user.verification == Verification.verified and user.hospital_id == ticket.hospital_id:
        return True
    return Party.reporter in parties(viewer, ticket, settings)


def get_ticket(session: Session, *, ticket_id: int, viewer: Viewer, settings: Settings) -> Ticket:
    """One ticket the viewer may see, else NotFound."""
    ticket = session.get(Ticket, ticket_id)
    if ticket is None or not can_view(viewer, ticket, settings):
        raise NotFound(f"ticket {ticket_id} not found")
    return ticket


def _request_hash(data: TicketSubmit, user_id: int | None) -> str:
    canonical = json.dumps({"user": user_id, **data.model_dump(mode="json")}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _bind_attachments(session: Session, refs: list[AttachmentRef], ticket: Ticket) -> list[int]:
    bound = []
    for ref in refs:
        attachment = session.get(TicketAttachment, ref.id)
        digest = hashlib.sha256(ref.key.encode()).hexdigest()
        if attachment is None or not hmac.compare_digest(attachment.upload_key_hash, digest):
            raise Invalid("an attachment was not found; upload it again",
                          [{"field": "attachments", "message": f"unknown upload {ref.id}"}])
        if attachment.ticket_id not in (None, ticket.id):
            raise Invalid("an attachment already belongs to another ticket",
                          [{"field": "attachments", "message": f"upload {ref.id} is taken"}])
        attachment.ticket = ticket  # also into ticket.attachments, which a new ticket holds without loading it
        if ref.transcript and ref.transcript.strip():
            attachment.transcript = ref.transcript.strip()
        bound.append(attachment.id)
    ticket.attachments.sort(key=lambda attachment: attachment.id)  # the relationship's order, as if loaded
    return bound


def _target(session: Session, data: TicketSubmit, scope: Scope) -> tuple[int, Device | None, DeviceGroup | None]:
    group = None
    device = None
    if data.group_id is not None:
        group = session.get(DeviceGroup, data.group_id, options=[joinedload(DeviceGroup.hospital)])
        if group is None or not scope.allows(group.hospital_id):
            raise NotFound(f"device group {data.group_id} not found")
    if data.device_id is not None:
        # With what the answer shows of it (hospital, department, group): one query, no lazy loads later.
        device = session.get(Device, data.device_id, options=[joinedload(Device.hospital),
                                                              joinedload(Device.department), joinedload(Device.group)])
        if device is None or not scope.allows(device.hospital_id):
            raise NotFound(f"device {data.device_id} not found")
        if group is not None and device.group_id != group.id:
            raise Invalid("the device is not a member of that group",
                          [{"field": "device_id", "message": "not in the group"}])
    hospital_id = device.hospital_id if device is not None else group.hospital_id  # type: ignore[union-attr]
    return hospital_id, device, group


def pick_agent(session: Session, *, settings: Settings, exclude: set[int] | None = None) -> int | None:
    """The active agent with spare capacity and the fewest open tickets (None: everyone is full)."""
    open_load = (select(Ticket.agent_id, func.count().label("load"))
                 .where(Ticket.status.in_(list(OPEN))).group_by(Ticket.agent_id).subquery())
    rows = session.execute(
        select(User.id, func.coalesce(open_load.c.load, 0), User.capacity)
        .outerjoin(open_load, open_load.c.agent_id == User.id)
        .where(User.role == Role.agent, User.is_active.is_(True))
        .order_by(func.coalesce(open_load.c.load, 0), User.id)
    ).all()
    for user_id, load, capacity in rows:
        limit = settings.agent_capacity if capacity is None else capacity
        if user_id not in (exclude or set()) and load < limit:
            return int(user_id)
    return None


def submit(
    session: Session,
    *,
    data: TicketSubmit,
    viewer: Viewer,
    scope: Scope,
    idempotency_key: str,
    settings: Settings,
    now: datetime | None = None,
    require_contact: bool = False,
) -> tuple[Ticket, bool]:
    """Open a ticket, exactly once per idempotency key: (ticket, created). A reused key with another body is 422.

    require_contact (the public API): a reporter must leave a name and phone, or have them in their profile.
    """
    ticket, created, _ = submit_recorded(session, data=data, viewer=viewer, scope=scope,
                                         idempotency_key=idempotency_key, settings=settings, now=now,
                                         require_contact=require_contact)
    return ticket, created


def submit_recorded(
    session: Session,
    *,
    data: TicketSubmit,
    viewer: Viewer,
    scope: Scope,
    idempotency_key: str,
    settings: Settings,
    now: datetime | None = None,
    require_contact: bool = False,
) -> tuple[Ticket, bool, AuditLog | None]:
    """submit(), also handing back a new ticket's audit row: the whole of its timeline until the next change.

    A new ticket comes with its device, group, hospital, department and attachments in memory, so the answer
    to its submission needs no query after the commit (cloud/tickets/api.py)."""
    user_id = viewer.user.id if viewer.user else None
    request_hash = _request_hash(data, user_id)
    existing = session.execute(select(Ticket).where(Ticket.idempotency_key == idempotency_key)).scalar()
    if existing is not None:
        return _replay(existing, request_hash), False, None
    hospital_id, device, group = _target(session, data, scope)
    if not may_skip_label(viewer.user):
        check_label(session, data, device, group, settings)
    if require_contact and (missing := data.contact_errors(viewer.user)):
        raise Invalid("name and phone are needed to reach you about the repair", missing)
    now = now or utcnow()
    category = device.category if device is not None else None
    priority = policy.priority_for(data.urgency, category, whole_group=device is None)
    first_due, resolution_due = policy.due_times(priority, now, settings)
    user = viewer.user
    group = group or (device.group if device is not None else None)
    ticket = Ticket(
        hospital_id=hospital_id, device=device, device_id=device.id if device else None,
        group=group, group_id=group.id if group else None, attachments=[], source=data.source,
        status=Status.submitted, urgency=data.urgency, priority=priority, description=data.description.strip(),
        reporter_user_id=user_id, reporter_name=data.reporter_name or (user.full_name if user else ""),
        reporter_phone=data.reporter_phone or (user.phone if user else ""), idempotency_key=idempotency_key,
        request_hash=request_hash, first_response_due_at=first_due, resolution_due_at=resolution_due,
        agent_id=pick_agent(session, settings=settings), offered_at=now, created_at=now, updated_at=now,
    )
    # The number last: its counter row stays locked until the commit and every submission waits for it, so
    # nothing that can be done before (choosing the agent) may run while it is held. (Before the
    # savepoint, not in it: on SQLite a SAVEPOINT that opens the transaction commits it on RELEASE.)
    ticket.number = next_number(session, "ticket")
    try:
        with session.begin_nested():
            session.add(ticket)
            session.flush()
    except IntegrityError:
        # The same key raced us from another request: that one won, answer with its ticket.
        winner = session.execute(select(Ticket).where(Ticket.idempotency_key == idempotency_key)).scalar_one()
        return _replay(winner, request_hash), False, None
    bound = _bind_attachments(session, data.attachments, ticket)
    row = record(session, actor=viewer.actor, action="submit", entity="ticket", entity_id=ticket.id,
                 hospital_id=hospital_id, after={"status": ticket.status.value, "text": ticket.description,
                                                 "urgency": data.urgency.value, "priority": priority,
                                                 "attachments": bound, "agent_id": ticket.agent_id})
    session.flush()
    emit(session, "ticket.submitted", ticket_id=ticket.id, number=ticket.number, hospital_id=hospital_id,
         status=ticket.status.value, agent_id=ticket.agent_id, engineer_id=None, priority=priority, seq=row.id,
         text=ticket.description[:200])
    return ticket, True, row


def newest_open(session: Session, *, device_id: int | None, group_id: int | None = None) -> Ticket | None:
    """The newest open ticket of this device (or, without a device, of this group as a whole), if any: where what
    someone else saw of the same fault goes, rather than into a second ticket."""
    stmt = select(Ticket).where(Ticket.status.in_(list(OPEN))).order_by(Ticket.created_at.desc()).limit(1)
    if device_id is not None:
        stmt = stmt.where(Ticket.device_id == device_id)
    else:
        stmt = stmt.where(Ticket.group_id == group_id, Ticket.device_id.is_(None))
    return session.execute(stmt).scalar()


def open_escalated(
    session: Session,
    *,
    settings: Settings,
    device_id: int,
    reporter: User | None,
    text: str,
    attachments: Sequence[AttachmentRef | dict[str, Any]] = (),
    ask_ids: list[int],
    conversation: list[dict[str, Any]],
    qr_code: str | None = None,
    source: Source = Source.web,
    now: datetime | None = None,
) -> Ticket:
    """Open a ticket for what the bot could not solve and hand it to the remote service centre with the chat.

    Once per set of ask ids (a second "not solved" on the same asks answers the same ticket); callers commit.
    """
    try:
        handover = Escalation(conversation=conversation, ask_ids=ask_ids)  # type: ignore[arg-type]
        users = [turn.text for turn in handover.conversation if turn.who == "user"]
        description = (text or "").strip() or (users[-1] if users else "")
        data = TicketSubmit(device_id=device_id, description=description, qr_code=qr_code, source=source,
                            attachments=[AttachmentRef.model_validate(a) for a in attachments])
    except ValidationError as exc:
        raise Invalid("the escalation is not valid", [
            {"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]} for e in exc.errors()
        ]) from None
    ids = sorted(set(handover.ask_ids))
    origin = json.dumps([reporter.id if reporter else None, device_id, ids]).encode()
    key = f"bot:{hashlib.sha256(origin).hexdigest()[:40]}" if ids else f"bot:{uuid.uuid4().hex}"
    existing = session.execute(select(Ticket).where(Ticket.idempotency_key == key)).scalar()
    if existing is not None:
        return existing
    scope = Scope.of_hospital(reporter.hospital_id) if reporter is not None and not reporter.is_staff \
        else Scope.everything()
    ticket, created = submit(session, data=data, viewer=Viewer(user=reporter), scope=scope, idempotency_key=key,
                             settings=settings, now=now)
    if not created:
        return ticket
    ticket.conversation = [turn.model_dump(mode="json", exclude_none=True) for turn in handover.conversation]
    ticket.ask_ids = ids
    return apply_action(session, ticket=ticket, data=ActionIn(action=Action.escalate), viewer=Viewer(user=None),
                        settings=settings, now=now, recorded={"via": "bot", "conversation": len(ticket.conversation),
                                                              "ask_ids": ids})


def _replay(ticket: Ticket, request_hash: str) -> Ticket:
    if ticket.request_hash != request_hash:
        raise Invalid("this Idempotency-Key was already used for a different request",
                      [{"field": "Idempotency-Key", "message": "reused with another body"}])
    return ticket


def apply_action(
    session: Session,
    *,
    ticket: Ticket,
    data: ActionIn,
    viewer: Viewer,
    settings: Settings,
    now: datetime | None = None,
    recorded: dict[str, Any] | None = None,
) -> Ticket:
    """Take an action on a ticket: the table decides, the ticket changes, a timeline row and an event follow.

    `recorded` adds the caller's own details to the timeline row (e.g. the bot handover's conversation size).
    """
    now = now or utcnow()
    who = parties(viewer, ticket, settings) if viewer.user or viewer.reporter_key else frozenset({Party.system})
    if data.version is not None and data.version != ticket.version:
        raise Conflict("the ticket changed meanwhile; here is the current state", current_version=ticket.version,
                       status=ticket.status.value)
    before = ticket.status
    try:
        target = next_status(before, data.action, who)
    except TransitionError as exc:
        raise Conflict(str(exc), allowed_actions=[a.value for a in exc.allowed], status=before.value) from exc
    details = {**(recorded or {}), **_apply_effects(session, ticket, data, now)}
    # The desk's (or, for predictive tickets, the system's) first step towards the reporter stops the clock;
    # the system handing a bot conversation to the centre does not: the reporter still waits for a person.
    handover = data.action == Action.escalate and who == {Party.system}
    # Nor does folding a duplicate's report in (a merge): that is another reporter's words, not an answer to this one.
    folded = "merged_from" in (recorded or {})
    if data.action in RESPONSES and ticket.first_responded_at is None and not handover and not folded and who & {
            Party.agent, Party.service_center, Party.admin, Party.system}:
        ticket.first_responded_at = now
    if target == Status.resolved and before != Status.resolved:
        ticket.resolved_at = now
    if target == Status.closed:
        ticket.closed_at = now
        ticket.resolved_at = ticket.resolved_at or now  # a self-served case closes without being resolved first
    tier_before = ticket.tier
    ticket.tier = tier_after(data.action, who, target, tier_before)
    if ticket.tier != tier_before:
        details["tier"] = ticket.tier.value if ticket.tier else None
    ticket.status = target
    ticket.updated_at = now
    try:
        session.flush()
    except StaleDataError as exc:
        raise Conflict("another person changed the ticket at the same moment; reload and try again") from exc
    actor = viewer.actor if viewer.user or viewer.reporter_key else Actor.system()
    text = data.text or data.reason or data.findings
    row = record(session, actor=actor, action=data.action.value, entity="ticket", entity_id=ticket.id,
                 hospital_id=ticket.hospital_id, before={"status": before.value},
                 after={"status": target.value, "text": text, "internal": data.action == Action.note, **details})
    session.flush()
    emit(session, f"ticket.{data.action.value}", ticket_id=ticket.id, number=ticket.number,
         hospital_id=ticket.hospital_id, status=target.value, previous=before.value, engineer_id=ticket.engineer_id,
         previous_engineer_id=details.get("declined_by") or details.get("previous_engineer_id"),
         agent_id=ticket.agent_id, priority=ticket.priority,
         seq=row.id, text=None if data.action == Action.note else text,
         tier=ticket.tier.value if ticket.tier else None)
    return ticket


def _require(value: str | None, field: str, what: str) -> str:
    if not value or not value.strip():
        raise Invalid(f"{what} is required", [{"field": field, "message": "required"}])
    return value.strip()


def _apply_effects(session: Session, ticket: Ticket, data: ActionIn, now: datetime) -> dict[str, Any]:
    """The action's own changes besides the status; returns what the timeline should show."""
    action = data.action
    details: dict[str, Any] = {}
    if action in (Action.answer, Action.note, Action.reply):
        _require(data.text, "text", "a text")
    elif action == Action.merge and session.info.get(MERGING) != ticket.id:
        raise Conflict("merge through POST /api/v1/tickets/{id}/merge")
    elif action in (Action.dispatch, Action.reassign):
        engineer = session.get(User, data.engineer_id) if data.engineer_id else None
        if engineer is None or engineer.role != Role.engineer or not engineer.is_active:
            raise Invalid("choose an active engineer", [{"field": "engineer_id", "message": "not an engineer"}])
        if action == Action.reassign:
            if engineer.id == ticket.engineer_id:
                raise Invalid("choose another engineer", [{"field": "engineer_id", "message": "already assigned"}])
            details["previous_engineer_id"] = ticket.engineer_id
        ticket.engineer_id = engineer.id
        details["engineer_id"] = engineer.id
        details["engineer"] = engineer.full_name or engineer.username
    elif action == Action.decline:
        details["declined_by"] = ticket.engineer_id
        ticket.engineer_id = None
    elif action == Action.complete:
        ticket.findings = _require(data.findings, "findings", "the findings")
        ticket.parts_used = (data.parts_used or "").strip() or None
        details["parts_used"] = ticket.parts_used
    elif action == Action.precheck:
        if session.info.get(PRECHECK_FINISHING) != ticket.id:
            raise Conflict("finish the pre-check to resolve this way (POST /api/v1/tickets/{id}/precheck/finish)")
        ticket.findings = _require(data.findings, "findings", "the findings")
    elif action in (Action.cancel, Action.reopen):
        reason = _require(data.reason, "reason", "a reason")
        if action == Action.cancel:
            ticket.cancel_reason = reason
        else:
            ticket.resolved_at = None
            ticket.reopen_count = (ticket.reopen_count or 0) + 1  # first-time-fix counts tickets never reopened
            details["reopen_count"] = ticket.reopen_count
    elif action == Action.add_info:
        if not (data.text and data.text.strip()) and not data.attachments:
            raise Invalid("add a text or an attachment", [{"field": "text", "message": "nothing to add"}])
    elif action == Action.rate:
        if ticket.rated_at is not None:
            raise Conflict("this ticket was already rated")
        if data.rating_overall is None:
            raise Invalid("give an overall rating from 1 to 5", [{"field": "rating_overall", "message": "required"}])
        ticket.rating_overall, ticket.rating_speed = data.rating_overall, data.rating_speed
        ticket.rating_attitude, ticket.rating_skill = data.rating_attitude, data.rating_skill
        ticket.rating_comment, ticket.rated_at = data.rating_comment, now
        details["rating"] = {"overall": data.rating_overall, "speed": data.rating_speed,
                             "attitude": data.rating_attitude, "skill": data.rating_skill}
    if action in FAULT_ACTIONS:
        details.update(_apply_fault(session, ticket, data))
    if data.attachments:
        details["attachments"] = _bind_attachments(session, data.attachments, ticket)
    return details


# The resolving actions and whether the person must name the fault category: the engineer completing and the desk
# resolving remotely pick it (preselected with the suggestion); a predictive ticket's comes from its alert and
# pre-check when not given; self-service takes the suggestion when there is one.
FAULT_ACTIONS = {Action.complete: True, Action.answer: True, Action.precheck: True, Action.self_serve: False}


def _apply_fault(session: Session, ticket: Ticket, data: ActionIn) -> dict[str, Any]:
    """Record what the fault was (category, root cause, parts) on a resolving action; the timeline's details."""
    category = ticket.device.category if ticket.device is not None else None
    code = (data.fault_category or "").strip()
    if code == faults.NO_FAULT and data.action == Action.precheck:
        pass  # a false alarm: filed as no fault found by the pre-check itself, offered or not
    elif code:
        faults.require(session, code, category)
    else:
        suggestion = None
        if ticket.source == Source.predictive or not FAULT_ACTIONS[data.action]:
            suggestion = faults.suggest(session, ticket, text=data.findings or data.text)
        if suggestion is None and FAULT_ACTIONS[data.action]:
            faults.require(session, None, category)  # 422: choose the fault category
        code = suggestion.code if suggestion is not None else ""
    if not code:
        return {}
    ticket.fault_category = code
    ticket.root_cause = (data.root_cause or "").strip() or None
    parts = [part.model_dump(exclude_none=True) for part in data.parts or []]
    ticket.parts = parts or None
    details: dict[str, Any] = {"fault_category": code}
    if ticket.root_cause:
        details["root_cause"] = ticket.root_cause
    if parts:
        details["parts"] = parts
    return details


def allowed_for(viewer: Viewer, ticket: Ticket, settings: Settings) -> list[Action]:
    """What this viewer may do to the ticket now."""
    hidden = {Action.auto_close, Action.precheck, Action.merge}  # merge: only through tickets.desk.merge
    if ticket.rated_at is not None:
        hidden.add(Action.rate)
    return [a for a in allowed_actions(ticket.status, parties(viewer, ticket, settings)) if a not in hidden]
