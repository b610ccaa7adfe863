"""Reading the audit log under /api/v1/audit (admins only; nothing can change it)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from cloud.audit import service
from cloud.db import SessionDep
from cloud.deps import AdminUser, PaginationDep
from cloud.schemas import Page

router = APIRouter(prefix="/api/v1", tags=["audit"])


class AuditOut(BaseModel):
    """One audit row."""

    id: int
    at: datetime
    actor_id: int | None
    actor: str
    action: str
    entity: str
    entity_id: int | None
    hospital_id: int | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None


@router.get("/audit", response_model=Page[AuditOut])
def list_audit(
    session: SessionDep,
    _admin: AdminUser,
    page: PaginationDep,
    entity: str | None = None,
    entity_id: int | None = None,
    hospital_id: int | None = None,
) -> Page[AuditOut]:
    """The audit log, newest first."""
    rows, total = service.list_entries(session, entity=entity, entity_id=entity_id, hospital_id=hospital_id,
                                       limit=page.limit, offset=page.offset)
    items = [
        AuditOut(id=r.id, at=r.at, actor_id=r.actor_id, actor=r.actor_label, action=r.action, entity=r.entity,
                 entity_id=r.entity_id, hospital_id=r.hospital_id, before=r.before, after=r.after)
        for r in rows
    ]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)
