"""Writing and reading audit rows; the only code that touches audit_log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from cloud.audit.models import AuditLog
from cloud.auth.models import User


@dataclass(frozen=True)
class Actor:
    """Who is acting: a signed-in user, or the system itself (CLI, importer, flows)."""

    user_id: int | None
    label: str

    @classmethod
    def system(cls, label: str = "system") -> Actor:
        """An actor for work no person did directly."""
        return cls(user_id=None, label=label)


def record(
    session: Session,
    *,
    actor: Actor,
    action: str,
    entity: str,
    entity_id: int | None,
    hospital_id: int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditLog:
    """Append one audit row in the caller's transaction (so it commits or rolls back with the change)."""
    row = AuditLog(
        actor_id=actor.user_id,
        actor_label=actor.label,
        action=action,
        entity=entity,
        entity_id=entity_id,
        hospital_id=hospital_id,
        before=before,
        after=after,
    )
    session.add(row)
    return row


def list_entries(
    session: Session,
    *,
    entity: str | None = None,
    entity_id: int | None = None,
    hospital_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[AuditLog], int]:
    """Audit rows newest first, filtered, with the total count."""
    stmt = select(AuditLog)
    if entity is not None:
        stmt = stmt.where(AuditLog.entity == entity)
    if entity_id is not None:
        stmt = stmt.where(AuditLog.entity_id == entity_id)
    if hospital_id is not None:
        stmt = stmt.where(AuditLog.hospital_id == hospital_id)
    total = session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    rows = session.execute(stmt.order_by(AuditLog.id.desc()).limit(limit).offset(offset)).scalars().all()
    return list(rows), int(total)


def search_entries(
    session: Session,
    *,
    actor: str | None = None,
    entity: str | None = None,
    entity_id: int | None = None,
    action: str | None = None,
    hospital_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[AuditLog], int]:
    """Audit rows newest first, filtered (actor: part of the actor's username, label or full name), with the
    total."""
    stmt = select(AuditLog)
    if actor:
        like = f"%{actor.strip().lower()}%"
        named = select(User.id).where(func.lower(User.full_name).like(like))
        stmt = stmt.where(or_(func.lower(AuditLog.actor_label).like(like), AuditLog.actor_id.in_(named)))
    for column, value in ((AuditLog.entity, entity), (AuditLog.entity_id, entity_id), (AuditLog.action, action),
                          (AuditLog.hospital_id, hospital_id)):
        if value is not None:
            stmt = stmt.where(column == value)
    if since is not None:
        stmt = stmt.where(AuditLog.at >= since)
    if until is not None:
        stmt = stmt.where(AuditLog.at < until)
    total = session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    rows = session.execute(stmt.order_by(AuditLog.id.desc()).limit(limit).offset(offset)).scalars().all()
    return list(rows), int(total)


def distinct_values(session: Session) -> tuple[list[str], list[str]]:
    """The entities and actions the log holds, for filter choices."""
    entities = session.execute(select(AuditLog.entity).distinct().order_by(AuditLog.entity)).scalars().all()
    actions = session.execute(select(AuditLog.action).distinct().order_by(AuditLog.action)).scalars().all()
    return list(entities), list(actions)
