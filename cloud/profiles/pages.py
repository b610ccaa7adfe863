"""Maintenance profile pages: a device's profile (desktop, and its numbers on the engineer's phone), the risk ranking
with preventive-maintenance suggestions (desktop for the desk and admins, WeUI for engineers), and the admin's
score override on the admin device page."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from sqlalchemy import select

from cloud.auth.models import Role, User
from cloud.db import SessionDep
from cloud.deps import OptionalUser
from cloud.errors import Invalid, NotFound
from cloud.i18n import pick_language, translate
from cloud.i18n_catalogs import N_
from cloud.profiles import risk, service
from cloud.profiles.profile import DeviceProfile, device_profile, may_view
from cloud.registry.models import Device, Hospital
from cloud.registry.schemas import DeviceCategory
from cloud.web.admin_forms import AdminPage, actor, done, refuse
from cloud.web.pages import LANGUAGE_COOKIE, STAFF, LoginRequired, page_user, render

router = APIRouter(include_in_schema=False)

StaffPage = Annotated[User, page_user(*STAFF)]
EngineerPage = Annotated[User, page_user(Role.engineer)]

# The texts the profile page's script (static/js/profile.js) draws its charts with.
JS_TEXTS = ("Faults", "Not categorised", "Repair hours (MTTR)", "No faults in these twelve months.")
# Parts of the score formula, in the order docs/maintenance-score.md explains them.
SCORE_PARTS = (("frequency", N_("Faults this year")), ("downtime", N_("Downtime")),
               ("repeats", N_("Reopened cases")), ("open_issues", N_("Open faults and alerts")), ("age", N_("Age")))
# How a predictive alert ended (the pages show alert.outcome.<key>).
OUTCOMES = ("confirmed", "false_alarm", "open", "undecided")
OUTCOME_TEXTS = (N_("alert.outcome.confirmed"), N_("alert.outcome.false_alarm"), N_("alert.outcome.open"),
                 N_("alert.outcome.undecided"))
# The console's on-site estimate and its route (console_detail.js; listed in cloud/web/desk.py JS_TEXTS).
ONSITE_TEXTS = (N_("onsite.estimate"), N_("onsite.hint"), N_("onsite.route.dispatch"), N_("onsite.route.remote"))


def _language(request: Request) -> str:
    return pick_language(request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language"))


def ticket_link(user: User, ticket_id: int) -> str | None:
    """Where this user opens a ticket (None: nowhere to open it)."""
    if user.role in (Role.agent, Role.service_center, Role.admin):
        return f"/console?ticket={ticket_id}"
    if user.role == Role.engineer:
        return f"/engineer/tickets/{ticket_id}"
    return None


def _chart_data(profile: DeviceProfile, language: str) -> dict[str, Any]:
    """What profile.js draws: faults per month stacked by category, the categories, tiers and repair hours."""
    months = [m.key for m in profile.trend]
    labels = {f.code or "": f.label for f in profile.faults}
    stacks: dict[str, list[int]] = {code: [0] * len(months) for code in labels}
    for row in profile.fault_trend:
        key = row.month.strftime("%Y-%m") if row.month else None
        code = row.code or ""
        if key in months:
            stacks.setdefault(code, [0] * len(months))[months.index(key)] += row.faults
            labels.setdefault(code, row.label)
    return {
        "months": months,
        "series": [{"code": code, "label": labels[code], "data": data} for code, data in stacks.items()],
        "categories": [{"code": f.code, "label": f.label, "value": f.faults} for f in profile.faults],
        "mttr": [round(m.mttr_hours, 1) if m.mttr_hours is not None else None for m in profile.trend],
        "texts": {key: translate(key, language) for key in JS_TEXTS},
    }


def _device_or_404(session: Any, device_id: int, user: User) -> Device | None:
    device = session.get(Device, device_id)
    return device if device is not None and may_view(user, device) else None


@router.get("/devices/{device_id}/profile")
def profile_page(device_id: int, request: Request, session: SessionDep, user: OptionalUser) -> Response:
    """A device's maintenance profile (desktop): numbers, charts, score and risk explained, alerts, latest cases."""
    if user is None:
        raise LoginRequired(str(request.url.path))
    device = _device_or_404(session, device_id, user)
    if device is None:
        response = render(request, "profiles/missing.html", user, device_id=device_id)
        response.status_code = 404
        return response
    language = _language(request)
    profile = device_profile(session, device=device, language=language)
    return render(request, "profiles/device.html", user, p=profile, d=device, charts=_chart_data(profile, language),
                  parts=SCORE_PARTS, outcomes=OUTCOMES, link=lambda t: ticket_link(user, t), active="devices",
                  can_override=user.role == Role.admin)


@router.get("/engineer/devices/{device_id}")
def engineer_device(device_id: int, request: Request, session: SessionDep, user: EngineerPage) -> Response:
    """The device's numbers on the engineer's phone (WeUI): score, risk, faults, repair times, alerts, cases."""
    device = _device_or_404(session, device_id, user)
    if device is None:
        response = render(request, "profiles/missing.html", user, device_id=device_id, phone=True)
        response.status_code = 404
        return response
    profile = device_profile(session, device=device, language=_language(request))
    return render(request, "profiles/engineer_device.html", user, p=profile, d=device, parts=SCORE_PARTS,
                  outcomes=OUTCOMES, link=lambda t: ticket_link(user, t))


def _ranking(request: Request, session: Any, user: User, hospital_id: int | None, category: str | None,
             limit: int) -> list[risk.RiskRow]:
    rows = risk.ranking_for(session, user, language=_language(request), hospital_id=hospital_id, category=category,
                            limit=limit)
    session.commit()
    return rows


@router.get("/preventive")
def preventive(
    request: Request, session: SessionDep, user: StaffPage,
    hospital_id: Annotated[str | None, Query(max_length=12)] = None,
    category: Annotated[str | None, Query(max_length=50)] = None,
) -> Response:
    """The risk ranking with preventive-maintenance suggestions (desktop): the devices most likely to fail soon."""
    hospital = int(hospital_id) if hospital_id and hospital_id.isdigit() else None
    chosen = category if category in DeviceCategory.__members__ else None
    rows = _ranking(request, session, user, hospital, chosen, 30)
    hospitals = list(session.execute(select(Hospital).order_by(Hospital.name)).scalars())
    return render(request, "profiles/preventive.html", user, rows=rows, hospitals=hospitals, hospital_id=hospital,
                  category=chosen, categories=list(DeviceCategory), active="preventive")


@router.get("/engineer/preventive")
def engineer_preventive(request: Request, session: SessionDep, user: EngineerPage) -> Response:
    """The engineer's preventive-maintenance list (WeUI): their hospitals' devices most likely to fail soon."""
    return render(request, "profiles/engineer_preventive.html", user,
                  rows=_ranking(request, session, user, None, None, 15))


# --- the admin's override (the admin device page, cloud/web/templates/admin/device_edit.html) --------------


def score_panel(session: Any, device: Device) -> dict[str, Any]:
    """The admin device page's score section: the score shown, the formula's own, and the parts it lost."""
    assessment = service.assess_device(session, device=device, priors=service.PRIORS.get(session))
    return {"score": device.maintenance_score, "computed": assessment.breakdown.score,
            "parts": [(label, assessment.breakdown.as_dict()[key]) for key, label in SCORE_PARTS],
            "risk": device.risk_30d, "override": device.score_override, "reason": device.score_override_reason,
            "updated_at": device.score_updated_at}


@router.post("/admin/devices/{device_id}/score-override")
def override_submit(device_id: int, request: Request, session: SessionDep, user: AdminPage,
                    score: Annotated[str, Form()] = "", reason: Annotated[str, Form(max_length=400)] = "") -> Response:
    """Hold the device's score at the admin's value; the reason is required and audited."""
    text = score.strip()
    if not text.isdigit() or not 0 <= int(text) <= 100:
        return refuse(request, N_("The score is a whole number from 0 to 100."), field="score")
    if not reason.strip():
        return refuse(request, N_("Give the reason for the override."), field="reason")
    try:
        service.set_override(session, device_id=device_id, score=int(text), reason=reason, actor=actor(user))
    except NotFound:
        return refuse(request, N_("This device no longer exists."), status=404)
    session.commit()
    return done(request, N_("Score overridden"))


@router.post("/admin/devices/{device_id}/score-override/clear")
def override_clear(device_id: int, request: Request, session: SessionDep, user: AdminPage,
                   reason: Annotated[str, Form(max_length=400)] = "") -> Response:
    """Back to the computed score (audited)."""
    try:
        service.clear_override(session, device_id=device_id, actor=actor(user), reason=reason)
    except (NotFound, Invalid):
        return refuse(request, N_("This device no longer exists."), status=404)
    session.commit()
    return done(request, N_("The computed score applies again"))
