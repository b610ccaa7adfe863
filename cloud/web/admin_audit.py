"""Admin console: the audit log with filters (actor, entity, action, time range) and paging."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import select

from cloud.audit import service as audit_service
from cloud.audit.models import AuditLog
from cloud.auth.models import User
from cloud.db import SessionDep
from cloud.localtime import DEFAULT_TIME_ZONE, zone
from cloud.registry.models import Device, Hospital
from cloud.tickets.models import Ticket
from cloud.web.admin_forms import AdminPage
from cloud.web.admin_hospitals import admin_render

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
FORM_TIME = "%Y-%m-%dT%H:%M"  # <input type=datetime-local>, read in the default (Beijing) time zone


def parse_local(value: str | None, time_zone: str = DEFAULT_TIME_ZONE) -> datetime | None:
    """A datetime-local form value in time_zone as aware UTC; None when blank or not a time."""
    if not value:
        return None
    try:
        naive = datetime.strptime(value.strip()[:16], FORM_TIME)
    except ValueError:
        return None
    return naive.replace(tzinfo=zone(time_zone)).astimezone(UTC)


def changes(row: AuditLog) -> list[tuple[str, str, str]]:
    """(field, before, after) for the fields that differ; a create or delete lists what it had."""
    before, after = row.before or {}, row.after or {}
    fields = [k for k in {**before, **after} if before.get(k) != after.get(k)]

    def show(value: Any) -> str:
        if value is None:
            return "—"
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)

    return [(k, show(before.get(k)) if k in before else "", show(after.get(k)) if k in after else "") for k in fields]


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def list_filters(actor: str | None, entity: str | None, entity_id: str | None, action: str | None,
                 since: str | None, until: str | None) -> dict[str, Any]:
    """The page's filters as search_entries arguments (times typed in Beijing time); its export reads the same."""
    return {"actor": actor or None, "entity": entity or None, "entity_id": _int(entity_id), "action": action or None,
            "since": parse_local(since), "until": parse_local(until)}


@router.get("/admin/audit")
def audit(
    request: Request, session: SessionDep, user: AdminPage,
    actor: Annotated[str | None, Query(max_length=100)] = None, entity: str | None = None,
    entity_id: str | None = None, action: str | None = None, since: str | None = None, until: str | None = None,
    page: Annotated[int, Query(ge=1)] = 1,
) -> Response:
    """Who did what to which record and when, newest first."""
    rows, total = audit_service.search_entries(session, **list_filters(actor, entity, entity_id, action, since, until),
                                               limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    entities, actions = audit_service.distinct_values(session)
    hospital_ids = {r.hospital_id for r in rows if r.hospital_id is not None}
    hospitals = {h.id: h for h in session.execute(select(Hospital).where(Hospital.id.in_(hospital_ids))).scalars()}
    # Records people know by a number of their own (WO-000175, MF-000007) are shown by it, not by their row id.
    names: dict[tuple[str, int], str] = {}
    for entity_name, model, column in (("ticket", Ticket, Ticket.number), ("device", Device, Device.system_number)):
        ids = {r.entity_id for r in rows if r.entity == entity_name and r.entity_id is not None}
        if ids:
            names |= {(entity_name, row_id): label for row_id, label in session.execute(
                select(model.id, column).where(model.id.in_(ids)))}
    actor_ids = {r.actor_id for r in rows if r.actor_id is not None}
    people = {u.id: u for u in session.execute(select(User).where(User.id.in_(actor_ids))).scalars()}
    filters = {"actor": actor or "", "entity": entity or "", "entity_id": entity_id or "", "action": action or "",
               "since": since or "", "until": until or ""}
    return admin_render(
        request, session, "admin/audit.html", user, active="audit", rows=rows, total=total, page=page,
        pages=max(1, -(-total // PAGE_SIZE)), entities=entities, actions=actions, hospitals=hospitals,
        people=people, names=names, filters=filters, paging=urlencode({k: v for k, v in filters.items() if v}),
        changes={r.id: changes(r) for r in rows}, bad_time=bool((since and not parse_local(since))
                                                                or (until and not parse_local(until))))
