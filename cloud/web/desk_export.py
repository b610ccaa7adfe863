"""The service desk's ticket list as XLSX or CSV: what the console shows for its search, filters, view (mine,
unassigned, all) and status tab, every ticket of it (up to exports.MAX_ROWS, then a note row), newest first.

The query string is the console's own (static/js/console.js query()), read by the listing's dependency
(tickets.api.desk_filters) and searched by tickets.desk.search, so the file and the list cannot disagree. Times are in
each ticket's hospital zone; statuses, sources and tiers in the reader's language; people by name.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from cloud import exports
from cloud.auth.models import User
from cloud.dashboards.aggregates import fault_label_of, fault_names
from cloud.db import SessionDep
from cloud.deps import tenant_scope
from cloud.exports import Table, capped
from cloud.i18n_catalogs import N_
from cloud.localtime import local_datetime, zone_label
from cloud.registry.models import Device, Hospital
from cloud.tickets import desk
from cloud.tickets.api import FiltersDep
from cloud.tickets.models import Ticket
from cloud.web.admin_exports import CAP_NOTE, Fmt, Translate, language_of, send, translator_for
from cloud.web.pages import page_user

router = APIRouter(include_in_schema=False)
CHUNK = 2000  # tickets fetched at a time
DeskPage = Annotated[User, page_user(*desk.DESK_ROLES)]
# Where a ticket came from, as a person says it (tickets.models.Source).
SOURCES = {"web": N_("source.web"), "wechat": N_("source.wechat"), "desk": N_("source.desk"),
           "predictive": N_("source.predictive")}
HEADERS = (N_("Ticket"), N_("Status"), N_("Priority"), N_("desk.Source"), N_("Hospital"), N_("Department"),
           N_("Device"), N_("Model"), N_("Serial"), N_("Reporter"), N_("Desk owner"), N_("Engineer"), N_("Created"),
           N_("First response"), N_("Resolved"), N_("Fault category"), N_("Tier"), N_("Rating"), N_("Time zone"))
KINDS = ["text"] * 12 + ["datetime"] * 3 + ["text", "text", "int", "text"]


def _rows(session: Session, tickets: list[Ticket], t: Translate, language: str,
          names: dict[tuple[str | None, str], tuple[str, bool]], hospitals: dict[int, Hospital],
          people: dict[int, User]) -> list[list[Any]]:
    device_ids = {x.device_id for x in tickets if x.device_id is not None}
    devices = {d.id: d for d in session.execute(select(Device).where(Device.id.in_(device_ids))
                                                .options(selectinload(Device.department))).scalars()}
    wanted = {i for x in tickets for i in (x.agent_id, x.engineer_id) if i is not None} - set(people)
    people |= {u.id: u for u in session.execute(select(User).where(User.id.in_(wanted))).scalars()}

    def name(user_id: int | None) -> str:
        person = people.get(user_id) if user_id is not None else None
        return (person.full_name or person.username) if person else ""

    out = []
    for x in tickets:
        device = devices.get(x.device_id) if x.device_id is not None else None
        hospital = hospitals.get(x.hospital_id)
        zone = hospital.time_zone if hospital else None
        fault = fault_label_of(names, x.fault_category, device.category if device else None, language)[0] \
            if x.fault_category else ""
        out.append([
            x.number, t(x.status.value),  # the desk's own words for a status (desk.JS_TEXTS)
            f"P{x.priority}", t(SOURCES.get(x.source.value, x.source.value)),
            hospital.name if hospital else "", device.department.name if device and device.department else "",
            device.system_number if device else (x.group.name if x.group else ""), device.model if device else "",
            device.serial if device else "", x.reporter_name, name(x.agent_id), name(x.engineer_id),
            local_datetime(x.created_at, zone), local_datetime(x.first_responded_at, zone),
            local_datetime(x.resolved_at, zone), fault, t(f"tier.{x.tier.value}") if x.tier else "", x.rating_overall,
            zone_label(zone, t)])
    return out


@router.get("/console/export.{fmt}")
def desk_export(
    fmt: Fmt, request: Request, session: SessionDep, user: DeskPage, filters: FiltersDep,
    view: Annotated[desk.View, Query(description="mine, unassigned or all")] = desk.View.all,
) -> Response:
    """The console's ticket list for its current search, filters, view and tab, as a file."""
    t, language = translator_for(request), language_of(request)
    scope = tenant_scope(user)
    names = fault_names(session, language)
    hospitals = {h.id: h for h in session.execute(select(Hospital)).scalars()}
    people: dict[int, User] = {}
    body: list[list[Any]] = []
    for offset in range(0, exports.MAX_ROWS + 1, CHUNK):
        tickets, _total = desk.search(session, scope=scope, filters=filters, view=view, user_id=user.id,
                                      limit=min(CHUNK, exports.MAX_ROWS + 1 - offset), offset=offset)
        body += _rows(session, tickets, t, language, names, hospitals, people)
        if len(tickets) < CHUNK:
            break
    table = Table(t("Ticket"), [t(h) for h in HEADERS], capped(body, t(CAP_NOTE)), KINDS)
    return send({"tickets": table}, fmt, "tickets")
