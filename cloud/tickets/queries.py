"""Reading tickets for display: listings, counts, a ticket's timeline, engineers to suggest. No writes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud.audit.models import AuditLog
from cloud.auth.models import Role, User
from cloud.tenancy import Scope
from cloud.tickets.models import Ticket
from cloud.tickets.state import OPEN, Status, Tier


def list_tickets(
    session: Session,
    *,
    scope: Scope,
    statuses: list[Status] | None = None,
    engineer_id: int | None = None,
    device_id: int | None = None,
    open_only: bool = False,
    tiers: list[Tier] | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Ticket], int]:
    """Tickets in scope, most urgent and oldest first among open ones."""
    stmt = select(Ticket)
    stmt = scope.restrict(stmt, Ticket.hospital_id, engineer_column=Ticket.engineer_id)
    if statuses:
        stmt = stmt.where(Ticket.status.in_(statuses))
    if open_only:
        stmt = stmt.where(Ticket.status.in_(list(OPEN | {Status.resolved})))
    if engineer_id is not None:
        stmt = stmt.where(Ticket.engineer_id == engineer_id)
    if tiers:
        stmt = stmt.where(Ticket.tier.in_(tiers))
    if device_id is not None:
        stmt = stmt.where(Ticket.device_id == device_id)
    total = session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    rows = session.execute(stmt.order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(limit).offset(offset))
    return list(rows.scalars()), int(total)


def tier_counts(session: Session, *, scope: Scope, since: datetime | None = None) -> dict[str, Any]:
    """Solved cases (with a tier) by tier, closed or resolved since `since`; basic is the self-served share."""
    stmt = select(Ticket.tier, func.count()).where(Ticket.tier.is_not(None)).group_by(Ticket.tier)
    stmt = scope.restrict(stmt, Ticket.hospital_id, engineer_column=Ticket.engineer_id)
    if since is not None:
        stmt = stmt.where(Ticket.resolved_at >= since)
    counts = {tier.value: 0 for tier in Tier} | {str(t): int(n) for t, n in session.execute(stmt).all()}
    total = sum(counts.values())
    return {**counts, "total": total, "self_served_rate": counts[Tier.basic.value] / total if total else None}


def timeline(session: Session, *, ticket: Ticket, internal: bool) -> list[dict[str, Any]]:
    """The ticket's history from its audit rows; internal notes only for staff."""
    rows = list(session.execute(select(AuditLog).where(AuditLog.entity == "ticket", AuditLog.entity_id == ticket.id)
                                .order_by(AuditLog.id)).scalars())
    # People show by their full name (one query for all of them); system actors keep their label.
    ids = {row.actor_id for row in rows if row.actor_id is not None}
    names = dict(session.execute(select(User.id, User.full_name).where(User.id.in_(ids))).all()) if ids else {}
    return timeline_entries(rows, names, internal=internal)


def timeline_entries(rows: Sequence[AuditLog], names: dict[int, str], *, internal: bool) -> list[dict[str, Any]]:
    """Timeline entries of a ticket's audit rows (oldest first); names: the full name of each acting user."""
    entries = []
    for row in rows:
        after = dict(row.after or {})
        is_internal = bool(after.pop("internal", False))
        if is_internal and not internal:
            continue
        person = (names.get(row.actor_id) or row.actor_label) if row.actor_id is not None else None
        entries.append({"at": row.at, "action": row.action, "actor": row.actor_label, "actor_name": person,
                        "status": after.pop("status", None), "text": after.pop("text", None),
                        "internal": is_internal, "details": after})
    return entries


def suggest_engineers(session: Session, *, ticket: Ticket) -> list[dict[str, Any]]:
    """Active engineers, those matching the device category first, then by fewest open tickets."""
    category = ticket.device.category if ticket.device else None
    load = dict(session.execute(select(Ticket.engineer_id, func.count()).where(
        Ticket.status.in_([Status.dispatched, Status.accepted, Status.on_site])).group_by(Ticket.engineer_id)).all())
    engineers = session.execute(select(User).where(User.role == Role.engineer, User.is_active.is_(True))).scalars()
    suggestions = []
    for engineer in engineers:
        if engineer.service_hospital_ids and ticket.hospital_id not in engineer.service_hospital_ids:
            continue
        matches = not engineer.categories or category in engineer.categories
        suggestions.append({"id": engineer.id, "name": engineer.full_name or engineer.username,
                            "open_tickets": int(load.get(engineer.id, 0)), "matches_category": matches})
    suggestions.sort(key=lambda s: (not s["matches_category"], s["open_tickets"], s["id"]))
    return suggestions
