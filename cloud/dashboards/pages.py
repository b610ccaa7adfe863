"""The /dashboards page (desktop, ECharts) and its drill-down list /dashboards/tickets.

Both read their filters from the query string, so a link or a bookmark shows the same numbers, and a filter
that is impossible or reaches into another hospital is answered on the page with a message people can read
(404 for what the user may not see, 400 for impossible filters), never with a raw error.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from cloud.auth.models import Role, User
from cloud.dashboards import access
from cloud.dashboards import aggregates as agg
from cloud.dashboards.aggregates import Dimension
from cloud.dashboards.api import DRILL_MEASURE_NAMES, drill_dep, explain, filter_options, language_of
from cloud.dashboards.exports import DIMENSION_NAMES
from cloud.db import SessionDep
from cloud.errors import Invalid, NotFound
from cloud.i18n import translate
from cloud.i18n_catalogs import N_
from cloud.localtime import local_time
from cloud.web.pages import page_user, render

router = APIRouter(include_in_schema=False)

ROLES = (Role.admin, Role.agent, Role.service_center, Role.engineer, Role.lab_user)
REFRESH_S = 60  # the page reloads its numbers this often while it is visible

# Every text the page's script shows (dashboards.js looks them up by these keys).
JS_TEXTS = (
    N_("Loading…"), N_("Could not load the numbers."), N_("Updated"), N_("No data in this range."), N_("Tickets"),
    N_("Reports"), N_("Faults"), N_("Devices"), N_("Failure rate"), N_("Repair rate"), N_("MTBF (h)"),
    N_("MTTR (h)"), N_("Downtime (h)"), N_("First-time fix"), N_("First response within SLA"),
    N_("Resolution within SLA"), N_("Self-service rate"), N_("Predictive share"), N_("Predictive precision"),
    N_("Average rating"), N_("faults per device-month"), N_("reports per device-month"), N_("tier.basic"),
    N_("tier.remote"), N_("tier.on_site"), N_("desk.source.reported"), N_("desk.source.predictive"),
    N_("Confirmed by pre-check"), N_("False alarms"), N_("Engineer"), N_("Open now"), N_("Repaired"), N_("Ratings"),
    N_("Share"), N_("Not categorised"), N_("Month"), N_("Value"), N_("(none)"), N_("Previous"), N_("Next"),
    N_("Rows {first}–{last} of {total}"),
    N_("No tickets."), N_("hours"), N_("Hospital"), N_("Department"), N_("Device group"),
    N_("Category"), N_("Model"), N_("Age"), N_("Device"), N_("desk.Source"), N_("All"), N_("Status"),
    N_("Tier"), N_("Fault category"), N_("Reported"), N_("Resolved"), N_("Repair time (h)"), N_("Rating"),
    N_("Ticket"), N_("Reopened"), N_("Still open"),
    # A ticket's status in the staff's words, as the console says it (resolved: 待确认); the reporter's words
    # (status.resolved: 已处理，待您确认) speak to the person who reported it.
    N_("submitted"), N_("escalated"), N_("dispatched"), N_("accepted"), N_("on_site"), N_("resolved"),
    N_("reopened"), N_("closed"), N_("cancelled"), N_("merged"),
)


def dashboard_user(user: User) -> User:
    """The user, if they have dashboards (lab users: only their lab's manager); else the 403 page."""
    if not access.may_use(user):
        raise StarletteHTTPException(status_code=403)
    return user


def _texts(language: str) -> dict[str, str]:
    texts = {key: translate(key, language) for key in JS_TEXTS}
    texts |= {f"age_band.{b}": translate(f"age_band.{b}", language) for b in agg.AGE_BANDS}
    texts |= {f"measure.{m}": translate(name, language) for m, name in DRILL_MEASURE_NAMES.items()}
    return texts


def _query_filters(request: Request) -> dict[str, Any]:
    """The filter fields of the query string, as the API takes them."""
    q = request.query_params
    return {"start": q.get("start") or None, "end": q.get("end") or None,
            "hospital_ids": _ints(q.getlist("hospital_id")), "department_ids": _ints(q.getlist("department_id")),
            "models": [m for m in q.getlist("model") if m], "categories": [c for c in q.getlist("category") if c],
            "device_ids": _ints(q.getlist("device_id")), "group_ids": _ints(q.getlist("group_id")),
            "age_bands": [b for b in q.getlist("age_band") if b], "source": q.get("source") or None}


def _ints(values: list[str]) -> list[int]:
    out = []
    for value in values:
        if not value:
            continue
        try:
            out.append(int(value))
        except ValueError:
            out.append(-1)  # reads as a hospital (department, …) that does not exist: a clear 404 message
    return out


def _check(request: Request, session: SessionDep, user: User) -> tuple[agg.Filters | None, str | None, int]:
    """(filters, error message, status) for the page: the error is shown instead of the numbers."""
    try:
        return access.build_filters(session, user, **_query_filters(request)), None, 200
    except NotFound as exc:
        return None, explain(exc, language_of(request)).extra["message"], 404
    except Invalid as exc:
        return None, explain(exc, language_of(request)).extra["message"], 400


@router.get("/dashboards")
def dashboards(request: Request, session: SessionDep, user: Annotated[User, page_user(*ROLES)]) -> Response:
    """The dashboards: cards, trends, breakdowns, faults and engineers under the filters of the query string."""
    dashboard_user(user)
    language = language_of(request)
    filters, error, status = _check(request, session, user)
    chosen = [h for h in _query_filters(request)["hospital_ids"] if h > 0]
    first, last = access.default_range()
    config = {
        "texts": _texts(language), "role": user.role.value, "refreshSeconds": REFRESH_S,
        "options": filter_options(session, user, chosen, language), "query": str(request.url.query),
        "defaultStart": first, "defaultEnd": last, "error": error,
        "timeZone": filters.time_zone if filters else None,
        "hospitalLocked": user.role == Role.lab_user,
    }
    response = render(request, "dashboards/index.html", user, active="dashboards", config=config, error=error,
                      lab_manager=user.role == Role.lab_user)
    response.status_code = status
    return response


@router.get("/dashboards/tickets")
def dashboard_tickets(
    request: Request, session: SessionDep, user: Annotated[User, page_user(*ROLES)],
    measure: Annotated[str, Query(max_length=20)] = "tickets",
) -> Response:
    """The tickets behind one number of the dashboards (the drill-down), with the same filters."""
    dashboard_user(user)
    language = language_of(request)
    filters, error, status = _check(request, session, user)
    title = translate(DRILL_MEASURE_NAMES.get(measure, "Tickets"), language)
    context: list[str] = []
    if filters is not None:
        try:
            context = _context(request, session, filters, language)
        except (Invalid, NotFound) as exc:
            error, status = explain(exc, language).extra["message"], 400
    config = {"texts": _texts(language), "query": str(request.url.query), "error": error,
              "timeZone": filters.time_zone if filters else None}
    response = render(request, "dashboards/tickets.html", user, active="dashboards", config=config, error=error,
                      title=title, context=context, lab_manager=user.role == Role.lab_user)
    response.status_code = status
    return response


def _context(request: Request, session: SessionDep, filters: agg.Filters, language: str) -> list[str]:
    """What the list narrows to besides the filters, for people: the month, the member, the fault, the engineer."""
    q = request.query_params
    what = drill_dep(request, measure=q.get("measure") or "tickets", month=q.get("month") or None,
                     by=q.get("by") or None, key=q.get("key"), fault_category=q.get("fault_category"),
                     engineer_id=int(q["engineer_id"]) if (q.get("engineer_id") or "").isdigit() else None)
    assert filters.start and filters.end
    # The filters first, as the dashboards showed them: the range, the hospital, …
    out = [f"{local_time(filters.start, filters.time_zone, '%Y-%m-%d')} – "
           f"{local_time(filters.end - timedelta(seconds=1), filters.time_zone, '%Y-%m-%d')}"]
    for by, values in ((Dimension.hospital, filters.hospital_ids), (Dimension.department, filters.department_ids),
                       (Dimension.group, filters.group_ids), (Dimension.device, filters.device_ids),
                       (Dimension.category, filters.device_categories), (Dimension.model, filters.models),
                       (Dimension.age_band, filters.age_bands)):
        if values:
            labels = agg.member_labels(session, by, list(values), language)
            out.append("、".join(labels.get(str(v), str(v)) for v in values))
    if filters.source is not None:
        out.append(translate(f"desk.source.{filters.source.value}", language))
    if what.month is not None:
        out.append(what.month.strftime("%Y-%m"))
    if what.by is not None:
        label = agg.member_labels(session, what.by, [what.key] if what.key else [], language).get(what.key)
        out.append(f"{translate(DIMENSION_NAMES[what.by], language)}: "
                   f"{label or what.key or translate('(none)', language)}")
    if what.fault_category is not None:
        names = agg.fault_names(session, language)
        category = filters.device_categories[0] if len(filters.device_categories) == 1 else None
        out.append(f"{translate('Fault category', language)}: "
                   f"{agg.fault_label_of(names, what.fault_category, category, language)[0]}")
    if what.engineer_id is not None:
        engineer = session.get(User, what.engineer_id)
        out.append(f"{translate('Engineer', language)}: "
                   f"{(engineer.full_name or engineer.username) if engineer else what.engineer_id}")
    return out
