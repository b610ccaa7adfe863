"""Exports of the knowledge base, the bot, preventive maintenance, a device's profile and WeChat's failed messages
(issue #11), by the rules of admin_exports.py: each file holds what its page selects (the same filters, every row,
up to exports.MAX_ROWS with a note row), for the page's roles only (403 for the others; a device's profile for those
who may view it, 404 for the rest, as the page), headers and values in the reader's language, people by name, times
as wall-clock in the hospital's zone (Beijing time for records of no hospital). The writer is cloud/exports.py.

- /admin/exports/kb.<fmt>: knowledge-base entries with the list's search and filters;
- /admin/exports/kb-manuals.<fmt>: the uploaded manuals;
- /admin/exports/bot-unanswered.<fmt>: the bot's unanswered question groups of the chosen period, and its weekly
  rates (two sheets; the CSV holds one, ?table=);
- /preventive/export.<fmt>: the whole risk ranking for the page's hospital and category, in the reader's scope (an
  engineer: the hospitals and categories they serve);
- /devices/<id>/profile/export.<fmt>: the profile's fault distribution (twelve months), the device's whole repair
  history and its predictive alerts (three sheets);
- /admin/exports/wechat-failed.<fmt>: every failed WeChat template message, not only the newest the page lists.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import select

from cloud import exports
from cloud.auth.models import User
from cloud.bot import pages as bot_pages
from cloud.bot import stats
from cloud.dashboards.aggregates import fault_label_of, fault_names
from cloud.db import SessionDep
from cloud.deps import OptionalUser
from cloud.errors import NotFound
from cloud.exports import Table, capped
from cloud.i18n_catalogs import N_
from cloud.kb import manuals, service
from cloud.kb.models import KbStatus
from cloud.localtime import local_datetime, zone_label
from cloud.profiles import risk
from cloud.profiles.pages import StaffPage
from cloud.profiles.profile import device_profile, may_view
from cloud.registry.models import Device, Hospital
from cloud.registry.schemas import DeviceCategory
from cloud.tickets.models import Ticket
from cloud.web import admin_wechat, kb_pages
from cloud.web.admin_exports import (
    CAP_NOTE,
    Fmt,
    TableChoice,
    Translate,
    language_of,
    send,
    translator_for,
    yes_no,
)
from cloud.web.admin_forms import AdminPage
from cloud.web.pages import LoginRequired, page_user
from cloud.wechat import status as wechat_status

router = APIRouter(include_in_schema=False)
KbReader = Annotated[User, page_user(*kb_pages.READERS)]
BotReader = Annotated[User, page_user(*bot_pages.READERS)]
JOIN = "；"  # several texts in one cell


def _people(session: Any, ids: set[int]) -> dict[int, User]:
    ids = {i for i in ids if i is not None}
    return {u.id: u for u in session.execute(select(User).where(User.id.in_(ids))).scalars()} if ids else {}


def _name(people: dict[int, User], user_id: int | None) -> str:
    person = people.get(user_id) if user_id is not None else None
    return (person.full_name or person.username) if person else ""


# --- knowledge base ------------------------------------------------------------------------------------------------


@router.get("/admin/exports/kb.{fmt}")
def kb_export(
    fmt: Fmt, request: Request, session: SessionDep, _user: KbReader,
    q: Annotated[str | None, Query(max_length=200)] = None,
    model: Annotated[str | None, Query(max_length=100)] = None,
    category: Annotated[str | None, Query(max_length=40)] = None,
    code: Annotated[str | None, Query(max_length=40)] = None,
    status: str | None = None,
) -> Response:
    """The entries the list's search and filters select (newest change first), every page of them."""
    t = translator_for(request)
    wanted = KbStatus(status) if status and status in KbStatus.__members__ else None
    rows, _total = service.list_entries(session, q=q, model=model, category=category or None, code=code,
                                        status=wanted, limit=exports.MAX_ROWS + 1)
    heads = [N_("Question"), N_("Entry id"), N_("Other wordings"), N_("Answer"), N_("Device models"), N_("Category"),
             N_("Fault codes"), N_("Status"), N_("Attachments"), N_("Updated")]
    body = [[e.question, e.key, JOIN.join(e.variants or []), e.answer,
             "、".join(e.models) if e.models else t("Any model"), t(e.category) if e.category else "",
             "、".join(e.codes or []), t(f"kb.{e.status.value}"), len(e.attachments), local_datetime(e.updated_at)]
            for e in rows]
    return send({"kb": Table(t("Knowledge base"), [t(h) for h in heads], capped(body, t(CAP_NOTE)),
                             ["text"] * 8 + ["int", "datetime"])}, fmt, "kb")


@router.get("/admin/exports/kb-manuals.{fmt}")
def kb_manuals_export(fmt: Fmt, request: Request, session: SessionDep, _user: KbReader) -> Response:
    """The uploaded manuals, newest first, with their pages, sections and who uploaded them."""
    t = translator_for(request)
    rows = manuals.list_manuals(session)
    people = _people(session, {m.uploaded_by_id for m in rows if m.uploaded_by_id is not None})
    heads = [N_("Title"), N_("Device models"), N_("Pages"), N_("Sections"), N_("Size (MB)"), N_("Uploaded by"),
             N_("Uploaded")]
    body = [[m.title, "、".join(m.models or []), m.pages, len(m.sections), m.size / (1024 * 1024),
             _name(people, m.uploaded_by_id), local_datetime(m.created_at)] for m in rows]
    return send({"manuals": Table(t("Manuals"), [t(h) for h in heads], body,
                                  ["text", "text", "int", "int", "num", "text", "datetime"])}, fmt, "kb-manuals")


# --- the bot's unanswered questions --------------------------------------------------------------------------------


@router.get("/admin/exports/bot-unanswered.{fmt}")
def bot_unanswered_export(fmt: Fmt, request: Request, session: SessionDep, _user: BotReader,
                          days: Annotated[int, Query(ge=1, le=365)] = 90, table: TableChoice = "") -> Response:
    """The unanswered question groups of the page's period (most asked first) and the bot's rates by week."""
    t = translator_for(request)
    heads = [N_("No."), N_("Question"), N_("Other wordings"), N_("Times asked"), N_("Last asked"), N_("Channels"),
             N_("Marked not solved"), N_("The bot’s best guesses")]
    body = []
    for number, cluster in enumerate(stats.unanswered(session, days=days), start=1):
        channels = sorted({str(getattr(a.channel, "value", a.channel)) for a in cluster.asks})
        body.append([number, cluster.texts[0], JOIN.join(cluster.texts[1:]), len(cluster.asks),
                     local_datetime(cluster.last_at), "、".join(t(f"channel.{c}") for c in channels),
                     sum(1 for a in cluster.asks if a.helpful is False),
                     JOIN.join(str(s.get("question") or "") for s in cluster.suggestions)])

    def share(value: float | None) -> float | None:
        return value / 100 if value is not None else None

    rate_heads = [N_("Week of"), N_("Questions"), N_("Self-service rate"), N_("Handover rate"),
                  N_("Feedback accuracy")]
    rates = [[r["week"], r["asked"], share(r["self_service"]), share(r["handover"]), share(r["accuracy"])]
             for r in reversed(stats.weekly_rates(session, weeks=12)) if r["asked"]]
    return send({"questions": Table(t("Unanswered questions"), [t(h) for h in heads], capped(body, t(CAP_NOTE)),
                                    ["int", "text", "text", "int", "datetime", "text", "int", "text"]),
                 "rates": Table(t("Bot rates by week"), [t(h) for h in rate_heads], rates,
                                ["text", "int", "pct", "pct", "pct"])}, fmt, "bot-unanswered", table)


# --- preventive maintenance and a device's profile -----------------------------------------------------------------


@router.get("/preventive/export.{fmt}")
def preventive_export(
    fmt: Fmt, request: Request, session: SessionDep, user: StaffPage,
    hospital_id: Annotated[str | None, Query(max_length=12)] = None,
    category: Annotated[str | None, Query(max_length=50)] = None,
) -> Response:
    """The risk ranking for the page's hospital and category, every ranked device the reader may see."""
    t = translator_for(request)
    hospital = int(hospital_id) if hospital_id and hospital_id.isdigit() else None
    chosen = category if category in DeviceCategory.__members__ else None
    rows = risk.ranking_for(session, user, language=language_of(request), hospital_id=hospital, category=chosen,
                            limit=exports.MAX_ROWS + 1)
    session.commit()  # devices assessed for the first time are stored, as on the page
    heads = [N_("Rank"), N_("System no."), N_("Manufacturer"), N_("Model"), N_("Category"), N_("Hospital"),
             N_("Department"), N_("30-day risk"), N_("Maintenance score"), N_("Repair in progress"), N_("Why"),
             N_("What to check")]
    body = [[n, r.device.system_number, r.device.manufacturer, r.device.model, t(r.device.category),
             r.device.hospital.name, r.device.department.name if r.device.department else "", r.risk, r.score,
             yes_no(t, r.repair_open), JOIN.join(r.reasons), JOIN.join(r.suggestions)]
            for n, r in enumerate(rows, start=1)]
    return send({"ranking": Table(t("Preventive maintenance"), [t(h) for h in heads], capped(body, t(CAP_NOTE)),
                                  ["int"] + ["text"] * 6 + ["pct", "int", "text", "text", "text"])},
                fmt, "preventive")


@router.get("/devices/{device_id}/profile/export.{fmt}")
def profile_export(device_id: int, fmt: Fmt, request: Request, session: SessionDep, user: OptionalUser,
                   table: TableChoice = "") -> Response:
    """A device's fault distribution (the profile's twelve months), its whole repair history and its alerts."""
    if user is None:
        raise LoginRequired(str(request.url.path))
    device = session.get(Device, device_id)
    if device is None or not may_view(user, device):
        raise NotFound(f"device {device_id} not found")  # as the page: no hint that another's device exists
    t, language = translator_for(request), language_of(request)
    profile = device_profile(session, device=device, language=language)
    zone = profile.time_zone
    fault_heads = [N_("Fault category"), N_("Basic fault"), N_("Faults"), N_("Share"), N_("tier.basic"),
                   N_("tier.remote"), N_("tier.on_site")]
    faults = [[f.label, yes_no(t, f.basic_fault), f.faults, f.share, f.basic, f.remote, f.on_site]
              for f in profile.faults]
    tickets = list(session.execute(select(Ticket).where(Ticket.device_id == device.id)
                                   .order_by(Ticket.created_at.desc(), Ticket.id.desc())
                                   .limit(exports.MAX_ROWS + 1)).scalars())
    names = fault_names(session, language)
    people = _people(session, {x.engineer_id for x in tickets if x.engineer_id is not None})
    history_heads = [N_("Ticket"), N_("Created"), N_("Fault category"), N_("Description"), N_("Tier"), N_("Status"),
                     N_("Resolved"), N_("Engineer"), N_("Rating"), N_("Time zone")]
    history = [[x.number, local_datetime(x.created_at, zone),
                fault_label_of(names, x.fault_category, device.category, language)[0] if x.fault_category else "",
                x.description, t(f"tier.{x.tier.value}") if x.tier else "", t(f"status.{x.status.value}"),
                local_datetime(x.resolved_at, zone), _name(people, x.engineer_id), x.rating_overall,
                zone_label(zone, t)] for x in tickets]
    numbers = dict(session.execute(select(Ticket.id, Ticket.number).where(
        Ticket.id.in_({a.ticket_id for a in profile.alerts if a.ticket_id is not None}))).all())
    alert_heads = [N_("Opened"), N_("Metric"), N_("Peak score"), N_("Outcome"), N_("Ticket")]
    alerts = [[local_datetime(a.opened_at, zone), a.label, a.peak_score, t(f"alert.outcome.{a.outcome}"),
               numbers.get(a.ticket_id, "") if a.ticket_id is not None else ""] for a in profile.alerts]
    stem = "profile-" + (re.sub(r"[^A-Za-z0-9_-]+", "-", device.system_number).strip("-") or str(device.id))
    return send({"faults": Table(t("Fault distribution"), [t(h) for h in fault_heads], faults,
                                 ["text", "text", "int", "pct", "int", "int", "int"]),
                 "history": Table(t("Repair history"), [t(h) for h in history_heads], capped(history, t(CAP_NOTE)),
                                  ["text", "datetime"] + ["text"] * 4 + ["datetime", "text", "int", "text"]),
                 "alerts": Table(t("Predictive alerts"), [t(h) for h in alert_heads], alerts,
                                 ["datetime", "text", "num", "text", "text"])}, fmt, stem, table)


# --- WeChat's failed template messages ------------------------------------------------------------------------------


@router.get("/admin/exports/wechat-failed.{fmt}")
def wechat_failed_export(fmt: Fmt, request: Request, session: SessionDep, _user: AdminPage) -> Response:
    """Every failed WeChat template message, newest first: when, for whom, what, why, how often tried."""
    t: Translate = translator_for(request)
    failed, _total = wechat_status.failed_deliveries(session, limit=exports.MAX_ROWS + 1)
    people = wechat_status.recipients(session, failed)
    hospitals = {h.id: h for h in session.execute(select(Hospital)).scalars()}

    def zone_of(user_id: int) -> str | None:
        person = people.get(user_id)
        hospital = hospitals.get(person.hospital_id) if person and person.hospital_id is not None else None
        return hospital.time_zone if hospital else None

    heads = [N_("When"), N_("Recipient"), N_("Hospital"), N_("Message"), N_("Content"), N_("Why it failed"),
             N_("Attempts"), N_("Can be resent"), N_("Time zone")]
    body = []
    for d in failed:
        note = d.notification
        person = people.get(note.user_id)
        body.append([local_datetime(d.updated_at, zone_of(note.user_id)), _name(people, note.user_id),
                     hospitals[person.hospital_id].name if person and person.hospital_id in hospitals else "",
                     note.title, note.body, admin_wechat.error_text(t, d.error), d.attempts,
                     yes_no(t, d.error != wechat_status.NOT_BOUND), zone_label(zone_of(note.user_id), t)])
    return send({"failed": Table(t("Failed template messages"), [t(h) for h in heads], capped(body, t(CAP_NOTE)),
                                 ["datetime"] + ["text"] * 5 + ["int", "text", "text"])}, fmt, "wechat-failed")
