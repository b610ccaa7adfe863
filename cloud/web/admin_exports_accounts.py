"""Admin console exports of accounts, the verification queue and the audit log (the rules: admin_exports.py).

The audit log export keeps the page's filters (actor, record type and number, action, time range) and writes each
entry's time in its hospital's zone (Beijing time when it has none), with the zone in a column of its own.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud import exports
from cloud.audit import service as audit_service
from cloud.auth import accounts
from cloud.auth.models import User
from cloud.db import SessionDep
from cloud.exports import Table, capped
from cloud.i18n_catalogs import N_
from cloud.localtime import local_datetime, zone_label
from cloud.registry.models import Hospital
from cloud.web import admin_audit, admin_users
from cloud.web.admin_exports import CAP_NOTE, Fmt, Translate, send, translator_for, yes_no
from cloud.web.admin_forms import AdminPage

router = APIRouter(include_in_schema=False)
CHUNK = 5000  # audit rows fetched at a time: the export never holds more than this many ORM rows


def _hospitals(session: Session) -> dict[int, Hospital]:
    return {h.id: h for h in session.execute(select(Hospital)).scalars()}


def _zone(hospitals: dict[int, Hospital], hospital_id: int | None) -> str | None:
    hospital = hospitals.get(hospital_id) if hospital_id is not None else None
    return hospital.time_zone if hospital else None


@router.get("/admin/exports/users.{fmt}")
def users_export(
    fmt: Fmt, request: Request, session: SessionDep, _user: AdminPage,
    q: Annotated[str | None, Query(max_length=100)] = None, role: str | None = None, hospital_id: str | None = None,
    active: str | None = None, verification: str | None = None,
) -> Response:
    """Accounts with the page's filters (role, hospital, enabled, verification), every page of them."""
    t = translator_for(request)
    rows, _total = accounts.search_users(session, **admin_users.list_filters(q, role, hospital_id, active,
                                                                             verification), limit=exports.MAX_ROWS + 1)
    hospitals = _hospitals(session)
    heads = [N_("Name"), N_("Username"), N_("Role"), N_("Hospital"), N_("Phone"), N_("Verification"),
             N_("Account"), N_("Lab manager"), N_("Created on")]
    body = [[u.full_name or u.username, u.username, t(f"role.{u.role.value}"),
             hospitals[u.hospital_id].name if u.hospital_id in hospitals else "", u.phone,
             t(f"verification.{u.verification.value}"), t("Enabled") if u.is_active else t("Disabled"),
             yes_no(t, u.is_lab_manager), local_datetime(u.created_at, _zone(hospitals, u.hospital_id))]
            for u in rows]
    return send({"users": Table(t("Users"), [t(h) for h in heads], capped(body, t(CAP_NOTE)),
                                ["text"] * 8 + ["datetime"])}, fmt, "users")


@router.get("/admin/exports/verifications.{fmt}")
def verifications_export(fmt: Fmt, request: Request, session: SessionDep, _user: AdminPage) -> Response:
    """Lab users waiting for an admin to confirm their hospital."""
    t = translator_for(request)
    hospitals = _hospitals(session)
    heads = [N_("Name"), N_("Username"), N_("Phone"), N_("Hospital"), N_("Registered")]
    body = [[u.full_name or u.username, u.username, u.phone,
             hospitals[u.hospital_id].name if u.hospital_id in hospitals else "",
             local_datetime(u.created_at, _zone(hospitals, u.hospital_id))]
            for u in accounts.verification_queue(session)]
    return send({"verifications": Table(t("Verification queue"), [t(h) for h in heads], body,
                                        ["text"] * 4 + ["datetime"])}, fmt, "verifications")


def label(t: Translate, prefix: str, value: str) -> str:
    """An audit value as the page names it: prefix.value translated (a ticket step under action.*), else as is."""
    key = prefix + value
    text = t(key)
    if text == key and prefix == "audit.":
        key = f"action.{value}"
        text = t(key)
    return value if text == key else text


@router.get("/admin/exports/audit.{fmt}")
def audit_export(
    fmt: Fmt, request: Request, session: SessionDep, _user: AdminPage,
    actor: Annotated[str | None, Query(max_length=100)] = None, entity: str | None = None,
    entity_id: str | None = None, action: str | None = None, since: str | None = None, until: str | None = None,
) -> Response:
    """The audit log with the page's filters, newest first: who did what to which record, when, what changed."""
    t = translator_for(request)
    filters = admin_audit.list_filters(actor, entity, entity_id, action, since, until)
    hospitals = _hospitals(session)
    people: dict[int, User] = {}
    body: list[list[object]] = []
    for offset in range(0, exports.MAX_ROWS + 1, CHUNK):
        rows, _total = audit_service.search_entries(session, **filters, limit=min(CHUNK, exports.MAX_ROWS + 1 - offset),
                                                    offset=offset)
        wanted = {r.actor_id for r in rows if r.actor_id is not None} - set(people)
        people |= {u.id: u for u in session.execute(select(User).where(User.id.in_(wanted))).scalars()}
        ids = admin_audit.id_names(session, list(rows))
        for r in rows:
            person = people.get(r.actor_id) if r.actor_id is not None else None
            zone = _zone(hospitals, r.hospital_id)
            diff = "；".join(f"{name}: {old or '—'} → {new or '—'}"
                            for name, old, new in admin_audit.changes(r, t, zone, ids))
            body.append([local_datetime(r.at, zone), zone_label(zone, t),
                         (person.full_name or person.username) if person else label(t, "actor.", r.actor_label),
                         person.username if person else "", label(t, "audit.", r.action),
                         label(t, "entity.", r.entity), r.entity_id,
                         hospitals[r.hospital_id].name if r.hospital_id in hospitals else "", diff])
        if len(rows) < CHUNK:
            break
    heads = [N_("Time"), N_("Time zone"), N_("Actor"), N_("Username"), N_("Action"), N_("Record type"),
             N_("Record no."), N_("Hospital"), N_("Changes")]
    return send({"audit": Table(t("Audit log"), [t(h) for h in heads], capped(body, t(CAP_NOTE)),
                                ["datetime", "text", "text", "text", "text", "text", "int", "text", "text"])},
                fmt, "audit")
