"""The service desk's inbox: search and filters with per-view counts, a ticket's relatives, merging duplicates.

Status changes still go through `tickets.service.apply_action` and the table in tickets/state.py only.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from cloud.auth.models import DESK_ROLES
from cloud.config import Settings
from cloud.errors import Conflict, Forbidden, Invalid
from cloud.registry.models import Device
from cloud.tenancy import Scope
from cloud.tickets.models import Source, Ticket
from cloud.tickets.schemas import ActionIn
from cloud.tickets.service import MERGING, Viewer, apply_action
from cloud.tickets.state import OPEN, Action, Status, Tier


class View(enum.StrEnum):
    """The console's three inboxes."""

    mine = "mine"  # the desk owner or the engineer is the viewer
    unassigned = "unassigned"  # no desk owner yet
    all = "all"


class Origin(enum.StrEnum):
    """Where tickets came from, as the desk filters them."""

    reported = "reported"  # a person reported it (web, WeChat, the desk)
    predictive = "predictive"  # opened by the predictive alerts


@dataclass(frozen=True)
class Filters:
    """What the desk narrows the list by; empty fields do not filter."""

    q: str | None = None
    hospital_id: int | None = None
    statuses: list[Status] = field(default_factory=list)
    priorities: list[int] = field(default_factory=list)
    assignee_id: int | None = None
    origin: Origin | None = None
    tiers: list[Tier] = field(default_factory=list)
    device_id: int | None = None
    engineer_id: int | None = None
    open_only: bool = False


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _filtered(stmt: Select[Any], scope: Scope, filters: Filters) -> Select[Any]:
    stmt = scope.restrict(stmt, Ticket.hospital_id, engineer_column=Ticket.engineer_id)
    if filters.hospital_id is not None:
        stmt = stmt.where(Ticket.hospital_id == filters.hospital_id)
    if filters.statuses:
        stmt = stmt.where(Ticket.status.in_(filters.statuses))
    if filters.open_only:
        stmt = stmt.where(Ticket.status.in_(list(OPEN | {Status.resolved})))
    if filters.priorities:
        stmt = stmt.where(Ticket.priority.in_(filters.priorities))
    if filters.assignee_id is not None:
        stmt = stmt.where(or_(Ticket.agent_id == filters.assignee_id, Ticket.engineer_id == filters.assignee_id))
    if filters.origin == Origin.predictive:
        stmt = stmt.where(Ticket.source == Source.predictive)
    elif filters.origin == Origin.reported:
        stmt = stmt.where(Ticket.source != Source.predictive)
    if filters.tiers:
        stmt = stmt.where(Ticket.tier.in_(filters.tiers))
    if filters.device_id is not None:
        stmt = stmt.where(Ticket.device_id == filters.device_id)
    if filters.engineer_id is not None:
        stmt = stmt.where(Ticket.engineer_id == filters.engineer_id)
    text = (filters.q or "").strip()
    if text:
        # One box for everything an agent has at hand on the phone: number, device, serial, reporter, words.
        pattern = _like(text)
        device_ids = select(Device.id).where(or_(Device.system_number.ilike(pattern, escape="\\"),
                                                 Device.serial.ilike(pattern, escape="\\")))
        stmt = stmt.where(or_(
            Ticket.number.ilike(pattern, escape="\\"), Ticket.device_id.in_(device_ids),
            Ticket.reporter_name.ilike(pattern, escape="\\"), Ticket.reporter_phone.ilike(pattern, escape="\\"),
            Ticket.description.ilike(pattern, escape="\\")))
    return stmt


def _in_view(stmt: Select[Any], view: View, user_id: int) -> Select[Any]:
    if view == View.mine:
        return stmt.where(or_(Ticket.agent_id == user_id, Ticket.engineer_id == user_id))
    if view == View.unassigned:
        return stmt.where(Ticket.agent_id.is_(None))
    return stmt


def search(
    session: Session, *, scope: Scope, filters: Filters, view: View = View.all, user_id: int, limit: int = 50,
    offset: int = 0,
) -> tuple[list[Ticket], int]:
    """Tickets in scope matching the filters and the view, newest first, with the total."""
    stmt = _in_view(_filtered(select(Ticket), scope, filters), view, user_id)
    total = session.execute(select(func.count()).select_from(stmt.order_by(None).subquery())).scalar_one()
    rows = session.execute(stmt.order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(limit).offset(offset))
    return list(rows.scalars()), int(total)


def counts(session: Session, *, scope: Scope, filters: Filters, view: View, user_id: int) -> dict[str, Any]:
    """Open tickets per view (status filter aside) and tickets per status in the chosen view."""
    open_filters = replace(filters, statuses=list(OPEN), open_only=False)
    views = {}
    for each in View:
        stmt = _in_view(_filtered(select(func.count(Ticket.id)), scope, open_filters), each, user_id)
        views[each.value] = int(session.execute(stmt).scalar_one())
    by_status = _in_view(_filtered(select(Ticket.status, func.count(Ticket.id)), scope,
                                   replace(filters, statuses=[], open_only=False)), view, user_id)
    statuses = {s.value: 0 for s in Status} | {
        str(getattr(s, "value", s)): int(n) for s, n in session.execute(by_status.group_by(Ticket.status)).all()}
    return {"views": views, "statuses": statuses}


def duplicates(session: Session, tickets: list[Ticket]) -> dict[int, list[int]]:
    """For each open ticket, the other open tickets of the same device (one query for the whole page)."""
    devices = {t.device_id for t in tickets if t.device_id is not None and t.status in OPEN}
    if not devices:
        return {}
    rows = session.execute(select(Ticket.id, Ticket.device_id).where(
        Ticket.device_id.in_(devices), Ticket.status.in_(list(OPEN))).order_by(Ticket.id)).all()
    by_device: dict[int, list[int]] = {}
    for ticket_id, device_id in rows:
        by_device.setdefault(int(device_id), []).append(int(ticket_id))
    return {t.id: [i for i in by_device.get(t.device_id, []) if i != t.id]  # type: ignore[arg-type]
            for t in tickets if t.status in OPEN and t.device_id is not None}


def reporter_tickets(session: Session, *, ticket: Ticket, scope: Scope, limit: int = 10) -> list[Ticket]:
    """The same reporter's other tickets (by account, else by phone number), newest first."""
    if ticket.reporter_user_id is not None:
        same = Ticket.reporter_user_id == ticket.reporter_user_id
    elif ticket.reporter_phone.strip():
        same = Ticket.reporter_phone == ticket.reporter_phone
    else:
        return []
    stmt = _filtered(select(Ticket).where(same, Ticket.id != ticket.id), scope, Filters())
    return list(session.execute(stmt.order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(limit)).scalars())


def merge(
    session: Session, *, first: Ticket, second: Ticket, viewer: Viewer, settings: Settings,
    now: datetime | None = None,
) -> tuple[Ticket, Ticket]:
    """Merge the newer of two open tickets of the same device into the older: (kept, merged); callers commit.

    The newer one's photos and voice notes move to the older, both timelines say so, the newer one ends as
    'merged' (never counted as solved) and its reporter is told through the ticket.merge notification.
    """
    user = viewer.user
    if user is None or user.role not in DESK_ROLES:
        raise Forbidden("only the service desk merges tickets")
    if first.id == second.id:
        raise Invalid("choose another ticket to merge with", [{"field": "other_id", "message": "same ticket"}])
    if first.device_id is None or first.device_id != second.device_id:
        raise Invalid("only tickets of the same device can be merged",
                      [{"field": "other_id", "message": "another device"}])
    for ticket in (first, second):
        if ticket.status not in OPEN:
            raise Conflict(f"ticket {ticket.number} is {ticket.status.value}; only open tickets can be merged",
                           status=ticket.status.value)
    kept, merged = sorted((first, second), key=lambda t: (t.created_at, t.id))
    moved = [a.id for a in merged.attachments]
    for attachment in list(merged.attachments):
        attachment.ticket_id = kept.id
    session.flush()
    session.expire(kept, ["attachments"])
    session.expire(merged, ["attachments"])
    # The duplicate's report joins the kept ticket as information the reporters see too (an internal note hid the
    # merged reporter's own words from them), its photos among the photos taken before the repair.
    apply_action(session, ticket=kept, data=ActionIn(action=Action.add_info, text=merged.description), viewer=viewer,
                 settings=settings, now=now, recorded={"merged_from": merged.number, "merged_from_id": merged.id,
                                                       "reporter": merged.reporter_name, "attachments": moved})
    session.info[MERGING] = merged.id
    try:
        apply_action(session, ticket=merged, data=ActionIn(action=Action.merge, text=kept.number), viewer=viewer,
                     settings=settings, now=now, recorded={"merged_into": kept.number, "merged_into_id": kept.id,
                                                           "attachments": moved})
    finally:
        session.info.pop(MERGING, None)
    return kept, merged
