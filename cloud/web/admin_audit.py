"""Admin console: the audit log with filters (actor, entity, action, time range) and paging."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.audit import service as audit_service
from cloud.audit.models import AuditLog
from cloud.auth.models import User
from cloud.db import SessionDep
from cloud.localtime import DEFAULT_TIME_ZONE, local_time, zone
from cloud.registry.models import Department, Device, DeviceGroup, Hospital
from cloud.tickets.models import Ticket
from cloud.web.admin_forms import AdminPage, translator
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


# Id fields an audit row keeps -> the record and the name people know it by (a hospital by its name, a ticket by
# WO-000175), so a change reads "医院 瑞金医院 → 中山医院", not "医院 1 → 3".
ID_FIELDS: dict[str, tuple[Any, Any]] = {
    "hospital_id": (Hospital, Hospital.name), "department_id": (Department, Department.name),
    "device_id": (Device, Device.system_number), "ticket_id": (Ticket, Ticket.number),
    "merged_id": (Ticket, Ticket.number), "group_id": (DeviceGroup, DeviceGroup.name),
    "new_group_id": (DeviceGroup, DeviceGroup.name), "agent_id": (User, User.full_name),
    "engineer_id": (User, User.full_name),
}
# Fields whose values are read by their own word first ("resolved" is 待确认 for staff; status.resolved is the
# reporter's 已处理，待您确认).
PLAIN_FIRST = frozenset({"status", "category", "urgency", "priority"})
_INSTANT = re.compile(r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d")


def raw_changes(row: AuditLog) -> list[tuple[str, Any, Any]]:
    """(field, before, after) for the fields that differ; a create or delete lists what it had (absent: "")."""
    before, after = row.before or {}, row.after or {}
    fields = [k for k in {**before, **after} if before.get(k) != after.get(k)]
    return [(k, before.get(k) if k in before else "", after.get(k) if k in after else "") for k in fields]


def id_names(session: Session, rows: list[AuditLog]) -> dict[tuple[str, int], str]:
    """The names of the records the rows' id fields point at, one query per kind of record."""
    wanted: dict[str, set[int]] = {}
    for row in rows:
        for field, old, new in raw_changes(row):
            if field in ID_FIELDS:
                wanted.setdefault(field, set()).update(v for v in (old, new) if isinstance(v, int))
    names: dict[tuple[str, int], str] = {}
    for field, ids in wanted.items():
        model, column = ID_FIELDS[field]
        if ids:
            names |= {(field, i): str(name) for i, name in session.execute(
                select(model.id, column).where(model.id.in_(ids))) if name}
    return names


def changes(row: AuditLog, translate: Callable[[str], str], time_zone: str | None,
            names: dict[tuple[str, int], str]) -> list[tuple[str, str, str]]:
    """(field, before, after) as a person reads them: field names and values in words, ids by name, instants in
    the hospital's time zone, yes or no; what is not known by a word stays as it was written."""

    def word(key: str) -> str | None:
        text = translate(key)
        return text if text != key else None

    def show(field: str, value: Any) -> str:
        if value == "":
            return ""
        if value is None:
            return "—"
        if isinstance(value, bool):
            return translate("Yes") if value else translate("No")
        if field in ID_FIELDS and isinstance(value, int):
            return names.get((field, value), f"#{value}")
        if isinstance(value, list):
            return "、".join(show(field, v) for v in value) or "—"
        if isinstance(value, str):
            if _INSTANT.match(value):
                try:
                    return local_time(datetime.fromisoformat(value), time_zone, "%Y-%m-%d %H:%M")
                except ValueError:
                    return value
            keys = [value, f"{field}.{value}"] if field in PLAIN_FIRST else [f"{field}.{value}", value]
            return next((w for w in map(word, keys) if w), value)
        return json.dumps(value, ensure_ascii=False)

    return [(word(f"field.{field}") or field, show(field, old), show(field, new))
            for field, old, new in raw_changes(row)]


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
    translate = translator(request)
    ids = id_names(session, rows)
    actor_ids = {r.actor_id for r in rows if r.actor_id is not None}
    people = {u.id: u for u in session.execute(select(User).where(User.id.in_(actor_ids))).scalars()}
    filters = {"actor": actor or "", "entity": entity or "", "entity_id": entity_id or "", "action": action or "",
               "since": since or "", "until": until or ""}
    return admin_render(
        request, session, "admin/audit.html", user, active="audit", rows=rows, total=total, page=page,
        pages=max(1, -(-total // PAGE_SIZE)), entities=entities, actions=actions, hospitals=hospitals,
        people=people, names=names, filters=filters, paging=urlencode({k: v for k, v in filters.items() if v}),
        changes={r.id: changes(r, translate, hospitals[r.hospital_id].time_zone if r.hospital_id in hospitals
                               else None, ids) for r in rows}, bad_time=bool((since and not parse_local(since))
                                                                or (until and not parse_local(until))),
        backwards=bool((start := parse_local(since)) and (end := parse_local(until)) and start >= end))
