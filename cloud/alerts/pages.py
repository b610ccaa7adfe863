"""Alert pages (WeUI, phone first: they are opened from WeChat): the alerts a person may see, newest first; the
daily digest of a hospital; how each person wants to hear of alerts. The service desk, at a desktop, gets the list
and the preferences page in the desk's layout."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from cloud.alerts import digest as digests
from cloud.alerts import explain
from cloud.alerts import service as alert_service
from cloud.alerts.models import Alert, AlertStatus
from cloud.alerts.schemas import FALSE_ALARM_NOTE_MAX
from cloud.alerts.service import ACKNOWLEDGERS, chart_link
from cloud.auth.models import DESK_ROLES, AlertNotice, Role, User, Verification
from cloud.db import SessionDep
from cloud.deps import SettingsDep, tenant_scope
from cloud.errors import Conflict, Forbidden, NotFound
from cloud.i18n import request_language, translate
from cloud.i18n_catalogs import N_
from cloud.localtime import local_time
from cloud.registry.models import Device, Hospital
from cloud.telemetry.catalog import metric_label
from cloud.web.admin_forms import done, refuse
from cloud.web.charts import ticket_base
from cloud.web.pages import page_user, render

router = APIRouter(include_in_schema=False)
SignedIn = Annotated[User, page_user()]

# How each choice reads on the preferences page (msgids; zh-CN in the catalog).
NOTICE_TEXTS = {
    AlertNotice.instant: (N_("notice.instant"), N_("notice.instant.hint")),
    AlertNotice.in_app: (N_("notice.in_app"), N_("notice.in_app.hint")),
    AlertNotice.digest: (N_("notice.digest"), N_("notice.digest.hint")),
    AlertNotice.off: (N_("notice.off"), N_("notice.off.hint")),
}

# Where each alert of a digest stands (the page shows digest.outcome.<key>).
# The alert list's action texts, for its script (the phone page's and the desk's).
ACTION_WORDS = {
    "take": N_("Take it on"), "take_text": N_("You will be the one looking into this alert."),
    "refute": N_("Mark as a false alarm"),
    "refute_text": N_("Why was this alert wrong? Your reason is kept with it, and this reading will alert a little "
                      "less readily."),
    "refute_hint": N_("e.g. planned maintenance, the probe was being cleaned"),
    "required": N_("A false alarm needs a note saying why."), "ok": N_("Confirm"), "cancel": N_("Cancel"),
    "network": N_("Network error; try again."),
}
OUTCOME_TEXTS = (N_("digest.outcome.open"), N_("digest.outcome.acknowledged"), N_("digest.outcome.resolved"),
                 N_("digest.outcome.false_alarm"))


def _alert_row(alert: Alert, language: str, time_zone: str | None, device: Device | None = None,
               time_format: str = "%m-%d %H:%M") -> dict[str, Any]:
    outcome = ("false_alarm" if alert.false_alarm else "resolved") if alert.status == AlertStatus.resolved \
        else alert.status.value
    return {"id": alert.id, "device_id": alert.device_id, "metric": metric_label(alert.metric, language),
            "severity": alert.severity.value, "outcome": outcome, "device": device,
            # When it happened (its first abnormal reading), not when the service heard of it: a gateway's
            # backlog opens a week's alerts at the upload.
            "opened": local_time(alert.started_at, time_zone, time_format),
            "why": explain.describe(alert.explanation, language),
            "chart": chart_link(alert.device_id, alert.metric, alert.started_at,
                                alert.last_abnormal_at if alert.status == AlertStatus.resolved else None)}


# The list's tabs: which alert statuses each shows (msgids of their labels; zh-CN in the catalog).
LIST_TABS: dict[str, tuple[str, list[AlertStatus]]] = {
    "ongoing": (N_("alerts.tab.ongoing"), [AlertStatus.open, AlertStatus.acknowledged]),
    "ended": (N_("alerts.tab.ended"), [AlertStatus.resolved]),
    "all": (N_("alerts.tab.all"), []),
}
LIST_PAGE = 30


@router.get("/alerts")
def alert_list(request: Request, session: SessionDep, user: SignedIn, tab: str = "ongoing", page: int = 1,
               ) -> Response:
    """The alerts the signed-in person may see, newest first: the desk every hospital's, an engineer the
    hospitals they serve, a lab manager their hospital's, a lab user the devices on their list."""
    scope = tenant_scope(user)  # an unverified lab user is refused here
    if tab not in LIST_TABS:
        tab = "ongoing"
    page = max(1, page)
    only = None
    if user.role == Role.lab_user and not (user.hospital_id and digests.sees_everything(user, user.hospital_id)):
        only = digests.owned_device_ids(session, user)
    alerts, total = alert_service.list_alerts(session, scope=scope, statuses=LIST_TABS[tab][1],
                                              device_ids=only, limit=LIST_PAGE, offset=(page - 1) * LIST_PAGE)
    language = request_language(request)
    handles = user.role in ACKNOWLEDGERS
    devices = {d.id: d for d in session.execute(select(Device).options(selectinload(Device.department))
                                                .where(Device.id.in_({a.device_id for a in alerts}))).scalars()}
    hospitals = {h.id: h for h in session.execute(
        select(Hospital).where(Hospital.id.in_({a.hospital_id for a in alerts}))).scalars()}
    rows = []
    for alert in alerts:
        hospital = hospitals.get(alert.hospital_id)
        # The list reaches back months: its times carry the year (the digest's 24 hours do not need it).
        row = _alert_row(alert, language, hospital.time_zone if hospital else None, devices.get(alert.device_id),
                         "%Y-%m-%d %H:%M")
        row["hospital"] = hospital.name if hospital else ""
        row["ticket_id"] = alert.ticket_id
        # What the person may do from the list: take an open alert on; say any alert was a false alarm (the
        # stream gets a notch less sensitive), also one that has ended on its own.
        row["can_take"] = handles and alert.status == AlertStatus.open
        row["can_refute"] = handles and not alert.false_alarm
        rows.append(row)
    pages = max(1, -(-total // LIST_PAGE))
    template = "alerts/list_desk.html" if _at_desk(user) else "alerts/list.html"
    words = {key: translate(text, language) for key, text in ACTION_WORDS.items()}
    return render(request, template, user, rows=rows, total=total, tab=tab, tabs=LIST_TABS, page=page, words=words,
                  pages=pages, several_hospitals=len({a.hospital_id for a in alerts}) > 1 or user.is_staff,
                  ticket_base=ticket_base(user), back=_home(user))


@router.post("/alerts/{alert_id}/acknowledge")
def alert_take(alert_id: int, request: Request, session: SessionDep, user: SignedIn) -> JSONResponse:
    """The list's 我来处理: an engineer or the desk takes an open alert on."""
    return _handle(request, session, user, alert_id,
                   lambda alert: alert_service.acknowledge(session, alert=alert, user=user),
                   N_("You have taken it on."))


@router.post("/alerts/{alert_id}/false-alarm")
def alert_refute(alert_id: int, request: Request, session: SessionDep, user: SignedIn, settings: SettingsDep,
                 note: Annotated[str, Form()] = "") -> JSONResponse:
    """The list's 标为误报, with the reason: the alert ends and its stream gets a notch less sensitive."""
    invalid = (N_("A false alarm needs a note saying why.") if not note.strip()
               else N_("The note is up to 2,000 characters.") if len(note) > FALSE_ALARM_NOTE_MAX else None)
    return _handle(request, session, user, alert_id,
                   lambda alert: alert_service.mark_false_alarm(session, alert=alert, user=user, note=note,
                                                                settings=settings),
                   N_("Marked as a false alarm; this reading will alert a little less readily."), invalid=invalid)


def _handle(request: Request, session: Session, user: User, alert_id: int, act: Callable[[Alert], object],
            message: str, *, invalid: str | None = None) -> JSONResponse:
    # The page's words for the service's refusals: the API's English messages are for programs.
    if user.role not in ACKNOWLEDGERS:
        return refuse(request, N_("Only engineers and the service desk handle alerts."), status=403)
    if invalid:
        return refuse(request, invalid, field="note")
    try:
        alert = alert_service.get_alert(session, alert_id=alert_id, scope=tenant_scope(user))
    except NotFound:
        return refuse(request, N_("This alert is not in your list."), status=404)
    try:
        act(alert)
    except Conflict:  # someone else was quicker, or the page is old
        session.rollback()
        return refuse(request, N_("This alert has already been handled; the list now shows where it stands."),
                      status=409)
    session.commit()
    return done(request, message)


@router.get("/alerts/digest/{hospital_id}/{day}")
def digest_page(hospital_id: int, day: date, request: Request, session: SessionDep, settings: SettingsDep,
                user: SignedIn) -> Response:
    """One hospital's alert digest of one day, as the reader may see it."""
    hospital = session.get(Hospital, hospital_id)
    if hospital is None:
        raise NotFound("hospital not found")
    if not digests.may_read(user, hospital_id):
        raise Forbidden("this hospital's digest is not yours to read")
    language = request_language(request)
    window = digests.window_of(hospital, day, settings.alert_digest_hour)
    found = digests.collect(session, hospital, window, reader=user)
    zone_name = hospital.time_zone
    prechecks = [{"number": found.tickets[p.id].number, "ticket_id": found.tickets[p.id].id,
                  "device": found.devices.get(found.tickets[p.id].device_id or 0), "outcome": p.outcome,
                  "note": p.outcome_note or "", "finished": local_time(p.finished_at, zone_name, "%m-%d %H:%M")}
                 for p in found.prechecks]
    day_label = f"{day.year}年{day.month}月{day.day}日" if language == "zh-CN" else day.strftime("%d %b %Y")
    return render(request, "alerts/digest.html", user, hospital=hospital, day_label=day_label, found=found,
                  start=local_time(window.start, zone_name, "%m-%d %H:%M"),
                  end=local_time(window.end, zone_name, "%m-%d %H:%M"),
                  open_alerts=[_alert_row(a, language, zone_name, found.devices.get(a.device_id))
                               for a in found.open_alerts],
                  new_alerts=[_alert_row(a, language, zone_name, found.devices.get(a.device_id))
                              for a in found.new_alerts],
                  prechecks=prechecks, whole=digests.sees_everything(user, hospital_id),
                  ticket_base=ticket_base(user))


def _at_desk(user: User) -> bool:
    """The service desk works at a desktop: its alert pages have the desk's layout and navigation. Engineers and lab
    users open them on their phones, from WeChat: theirs are the phone pages."""
    return user.role in DESK_ROLES


def _home(user: User) -> str:
    """Where the person's own pages start (the alert pages lead back there)."""
    return {Role.engineer: "/engineer", Role.lab_user: "/my/devices"}.get(user.role, "/console")


def _hears_of_alerts(user: User) -> bool:
    """Lab users hear of their devices' alerts (engineers hear of their tickets' alerts whatever they choose)."""
    return user.role == Role.lab_user


def _gets_digest(user: User) -> bool:
    """Lab managers and engineers may get the daily digest."""
    return user.role == Role.engineer or (user.role == Role.lab_user and user.is_lab_manager)


@router.get("/my/notifications")
def notice_page(request: Request, user: SignedIn, settings: SettingsDep) -> Response:
    """How the signed-in person hears of predictive alerts."""
    if _at_desk(user):  # nothing to choose (the desk sees every alert): one sentence, in the desk's layout
        return render(request, "alerts/notice_desk.html", user, back=_home(user))
    return render(request, "alerts/notice.html", user, choices=NOTICE_TEXTS, hears=_hears_of_alerts(user),
                  gets_digest=_gets_digest(user), digest_hour=settings.alert_digest_hour,
                  verified=user.role != Role.lab_user or user.verification == Verification.verified,
                  back=_home(user))


@router.post("/my/notifications")
def notice_submit(request: Request, session: SessionDep, user: SignedIn,
                  alert_notice: Annotated[str, Form()] = "", daily_digest: Annotated[str, Form()] = "") -> JSONResponse:
    """Save the choices; only the ones that apply to the person are read."""
    if not (_hears_of_alerts(user) or _gets_digest(user)):
        return refuse(request, N_("There is nothing to choose for your account."), status=403)
    me = session.get(User, user.id)
    assert me is not None  # signed in a moment ago
    if _hears_of_alerts(user):
        try:
            me.alert_notice = AlertNotice(alert_notice)
        except ValueError:
            return refuse(request, N_("Choose how to hear of alerts."), field="alert_notice")
    if _gets_digest(user):
        me.daily_digest = daily_digest == "yes"
    session.commit()
    return done(request, "Saved", redirect="/my/notifications")
