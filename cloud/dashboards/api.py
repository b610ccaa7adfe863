"""The dashboards' JSON API (/api/v1/dashboards/…): the numbers of the page, its drill-down and its filter choices.

Every endpoint takes the same filters (start, end, hospital_id, department_id, model, category, device_id,
group_id, age_band, source; see access.build_filters) and answers only within what the caller may see.
A mistake in the filters is a 422 or 404 whose `message` is written for people in the caller's language.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.auth.models import User
from cloud.dashboards import access, exports
from cloud.dashboards import aggregates as agg
from cloud.dashboards.aggregates import Dimension, Drill, Filters
from cloud.db import SessionDep
from cloud.deps import CurrentUser
from cloud.errors import DomainError, Invalid, NotFound
from cloud.exports import download
from cloud.i18n import pick_language, translate
from cloud.i18n_catalogs import N_
from cloud.localtime import local_time
from cloud.registry.models import Department, Device, DeviceGroup, Hospital

router = APIRouter(prefix="/api/v1/dashboards", tags=["dashboards"])

# What a person reads for each mistake a filter can hold, by the error's field and reason (msgids; the English
# `detail` stays as it is for programs).
MESSAGES = {
    ("end", "before start"): N_("The end of the time range is before its start."),
    ("start", "too long"): N_("The time range is longer than five years."),
    ("start", "use YYYY-MM or YYYY-MM-DD"): N_("Write dates as year-month (2026-11) or year-month-day (2026-11-05)."),
    ("end", "use YYYY-MM or YYYY-MM-DD"): N_("Write dates as year-month (2026-11) or year-month-day (2026-11-05)."),
    ("month", "YYYY-MM"): N_("Write dates as year-month (2026-11) or year-month-day (2026-11-05)."),
    ("month", "outside"): N_("The month is outside the time range."),
    ("age_band", "unknown"): N_("Unknown age band."),
    ("source", "reported or predictive"): N_("Unknown source."),
    ("measure", "unknown"): N_("Unknown measure."),
    ("by", "unknown"): N_("Unknown dimension."),
    ("view", "unknown"): N_("This view cannot be exported in that format."),
    ("hospital_id", ""): N_("No such hospital, or it is not yours to see."),
    ("department_id", ""): N_("No such department, or it is not yours to see."),
    ("device_group_id", ""): N_("No such device group, or it is not yours to see."),
    ("device_id", ""): N_("No such device, or it is not yours to see."),
}


# What each drill-down measure lists, for the list's title (msgids).
DRILL_MEASURE_NAMES = {
    "tickets": N_("Tickets"), "reports": N_("Reports"), "faults": N_("Faults"), "repaired": N_("Repaired"),
    "ftf_base": N_("Resolved at least once"), "ftf": N_("Fixed the first time"),
    "not_ftf": N_("Not fixed the first time"), "fr_met": N_("First response in time"),
    "fr_late": N_("First response late"), "res_met": N_("Resolved in time"), "res_late": N_("Resolved late"),
    "basic": N_("tier.basic"), "remote": N_("tier.remote"), "on_site": N_("tier.on_site"),
    "predictive": N_("desk.source.predictive"), "pred_confirmed": N_("Confirmed by pre-check"),
    "pred_false": N_("False alarms"), "rated": N_("Ratings"), "open": N_("Still open"),
    "overdue": N_("Overdue now"),
}


def language_of(request: Request) -> str:
    """The caller's language (cookie, then Accept-Language)."""
    from cloud.web.pages import LANGUAGE_COOKIE

    return pick_language(request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language"))


def explain(exc: DomainError, language: str) -> DomainError:
    """The same error with a `message` for people, in language."""
    errors = exc.extra.get("errors") or [{}]
    field = str(exc.extra.get("field") or errors[0].get("field", ""))
    reason = "" if "field" in exc.extra else str(errors[0].get("message", ""))
    key = MESSAGES.get((field, reason), N_("The filters are not valid."))
    exc.extra["message"] = translate(key, language)
    return exc


def filters_dep(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    start: Annotated[str | None, Query(max_length=10, description="YYYY-MM or YYYY-MM-DD (first month/day)")] = None,
    end: Annotated[str | None, Query(max_length=10, description="YYYY-MM or YYYY-MM-DD (last, inclusive)")] = None,
    hospital_id: Annotated[list[int] | None, Query()] = None,
    department_id: Annotated[list[int] | None, Query()] = None,
    model: Annotated[list[str] | None, Query(max_length=100)] = None,
    category: Annotated[list[str] | None, Query(max_length=50)] = None,
    device_id: Annotated[list[int] | None, Query()] = None,
    group_id: Annotated[list[int] | None, Query()] = None,
    age_band: Annotated[list[str] | None, Query(max_length=10)] = None,
    source: Annotated[str | None, Query(max_length=12, description="reported or predictive")] = None,
) -> Filters:
    """The request's filters, checked and narrowed to what the caller may see."""
    try:
        return access.build_filters(session, user, start=start, end=end, hospital_ids=hospital_id,
                                    department_ids=department_id, models=model, categories=category,
                                    device_ids=device_id, group_ids=group_id, age_bands=age_band, source=source)
    except (Invalid, NotFound) as exc:
        raise explain(exc, language_of(request)) from exc


FiltersDep = Annotated[Filters, Depends(filters_dep)]


def dimension(request: Request, value: str) -> Dimension:
    """A dimension from the query string, or a 422 people can read."""
    try:
        return Dimension(value)
    except ValueError as exc:
        raise explain(Invalid(f"unknown dimension {value}", [{"field": "by", "message": "unknown"}]),
                      language_of(request)) from exc


def filters_out(filters: Filters) -> dict[str, Any]:
    """The filters as applied, for the page to show (UTC instants and the zone of the months)."""
    assert filters.start and filters.end
    return {"start": filters.start.isoformat(), "end": filters.end.isoformat(), "time_zone": filters.time_zone,
            "hospital_ids": list(filters.hospital_ids), "department_ids": list(filters.department_ids),
            "models": list(filters.models), "categories": list(filters.device_categories),
            "device_ids": list(filters.device_ids), "group_ids": list(filters.group_ids),
            "age_bands": list(filters.age_bands), "source": filters.source.value if filters.source else None}


def _checked(request: Request, call: Any) -> Any:
    try:
        return call()
    except (Invalid, NotFound) as exc:
        raise explain(exc, language_of(request)) from exc


@router.get("/overview")
def overview(request: Request, session: SessionDep, filters: FiltersDep) -> dict[str, Any]:
    """The cards (summary) and every monthly trend of the filtered slice."""
    summary = _checked(request, lambda: agg.metrics(session, filters))
    trend = agg.trend(session, filters)
    session.commit()  # the rollups may have been refreshed on the way
    return {"filters": filters_out(filters), "summary": summary.as_dict(),
            "trend": [m.as_dict() for m in trend]}


@router.get("/breakdown")
def breakdown(
    request: Request, session: SessionDep, filters: FiltersDep,
    by: Annotated[str, Query(description="hospital, department, group, category, model, age_band, device, "
                                         "origin")] = "hospital",
    limit: Annotated[int | None, Query(ge=1, le=5000)] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """The numbers per member of a dimension (the profile per hospital, model, age band, …), most faults first;
    `limit`/`offset` page it (a large hospital has thousands of devices) and `total` says how many members."""
    dim = dimension(request, by)
    rows, total = agg.breakdown_page(session, filters, dim, language=language_of(request), limit=limit,
                                     offset=offset)
    session.commit()
    return {"by": dim.value, "rows": [m.as_dict() for m in rows], "total": total, "offset": offset,
            "limit": limit}


@router.get("/breakdown/trend")
def breakdown_trend(
    request: Request, session: SessionDep, filters: FiltersDep,
    by: Annotated[str, Query()] = "model", top: Annotated[int, Query(ge=1, le=20)] = 8,
) -> dict[str, Any]:
    """The monthly numbers of the members with the most faults."""
    dim = dimension(request, by)
    series = agg.breakdown_trend(session, filters, dim, top=top, language=language_of(request))
    session.commit()
    return {"by": dim.value, "series": [{"key": s.key, "label": s.label, "points": [p.as_dict() for p in s.points]}
                                        for s in series]}


def _fault_dict(row: agg.FaultRow) -> dict[str, Any]:
    out = asdict(row)
    out["month"] = row.month.isoformat() if row.month else None
    return out


@router.get("/faults")
def faults(request: Request, session: SessionDep, filters: FiltersDep) -> dict[str, Any]:
    """Faults per fault category (with the tier that solved them), and per month."""
    language = language_of(request)
    rows = agg.faults(session, filters, language=language)
    over_time = agg.fault_trend(session, filters, language=language)
    session.commit()
    return {"rows": [_fault_dict(r) for r in rows], "trend": [_fault_dict(r) for r in over_time]}


@router.get("/engineers")
def engineers(session: SessionDep, filters: FiltersDep) -> dict[str, Any]:
    """Each engineer's workload and ratings."""
    rows = agg.engineers(session, filters)
    session.commit()
    return {"rows": [asdict(r) for r in rows]}


def drill_dep(
    request: Request,
    measure: Annotated[str, Query(max_length=20)] = "tickets",
    month: Annotated[str | None, Query(max_length=7, description="YYYY-MM: a month of the trend")] = None,
    by: Annotated[str | None, Query(max_length=12)] = None,
    key: Annotated[str | None, Query(max_length=100, description="the member of `by` ('' for none)")] = None,
    fault_category: Annotated[str | None, Query(max_length=50)] = None,
    engineer_id: Annotated[int | None, Query()] = None,
) -> Drill:
    """Which number's tickets to list."""
    language = language_of(request)
    if measure not in agg.DRILL_MEASURES:
        raise explain(Invalid(f"unknown measure {measure}", [{"field": "measure", "message": "unknown"}]), language)
    first = None
    if month:
        try:
            first = date.fromisoformat(f"{month}-01")
        except ValueError as exc:
            raise explain(Invalid(f"month is not a month: {month}", [{"field": "month", "message": "YYYY-MM"}]),
                          language) from exc
    return Drill(measure=measure, month=first, by=dimension(request, by) if by else None, key=key,
                 fault_category=fault_category, engineer_id=engineer_id)


DrillDep = Annotated[Drill, Depends(drill_dep)]


def ticket_link(user: User, row: agg.TicketRow) -> str:
    """Where this user opens the ticket: the console, the engineer's page, or the reporter's page."""
    if user.role.value in ("admin", "agent", "service_center"):
        return f"/console?ticket={row.id}"
    if user.role.value == "engineer":
        return f"/engineer/tickets/{row.id}"
    return f"/t/{row.number}"


def ticket_dict(user: User, row: agg.TicketRow) -> dict[str, Any]:
    """A drill-down row as JSON, with the link for this user."""
    out = asdict(row)
    out["created_at"] = row.created_at.isoformat()
    out["resolved_at"] = row.resolved_at.isoformat() if row.resolved_at else None
    out["link"] = ticket_link(user, row)
    return out


@router.get("/tickets")
def tickets(
    request: Request, session: SessionDep, user: CurrentUser, filters: FiltersDep, what: DrillDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50, offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """The tickets behind a number (drill-down), newest first."""
    page = _checked(request, lambda: agg.drill(session, filters, what, limit=limit, offset=offset,
                                               language=language_of(request)))
    return {"items": [ticket_dict(user, r) for r in page.items], "total": page.total, "limit": limit,
            "offset": offset}


@router.get("/options")
def options(request: Request, session: SessionDep, user: CurrentUser,
            hospital_id: Annotated[list[int] | None, Query()] = None) -> dict[str, Any]:
    """The choices of the filters within what the caller may see (departments of the chosen hospitals)."""
    return filter_options(session, user, hospital_id or [], language_of(request))


def filter_options(session: Session, user: User, hospital_ids: list[int], language: str) -> dict[str, Any]:
    """Hospitals, departments, device groups, models and categories the filters can choose from."""
    allowed = access.visible_hospitals(user)
    hospitals = select(Hospital.id, Hospital.name).order_by(Hospital.name)
    if allowed is not None:
        hospitals = hospitals.where(Hospital.id.in_(allowed))
    hospital_rows = [{"id": i, "name": n} for i, n in session.execute(hospitals)]
    chosen = [h for h in hospital_ids if allowed is None or h in allowed] or (list(allowed) if allowed else [])
    departments: list[dict[str, Any]] = []
    groups: list[dict[str, Any]] = []
    if chosen:
        departments = [{"id": i, "name": n, "hospital_id": h} for i, n, h in session.execute(
            select(Department.id, Department.name, Department.hospital_id).where(
                Department.hospital_id.in_(chosen)).order_by(Department.name))]
        groups = [{"id": i, "name": f"{n} ({s})"} for i, n, s in session.execute(
            select(DeviceGroup.id, DeviceGroup.name, DeviceGroup.system_number).where(
                DeviceGroup.hospital_id.in_(chosen)).order_by(DeviceGroup.name))]
    devices = select(Device.model, Device.category).distinct()
    if chosen:
        devices = devices.where(Device.hospital_id.in_(chosen))
    pairs = session.execute(devices).all()
    models = sorted({m for m, _ in pairs})
    categories = sorted({c for _, c in pairs})
    return {"hospitals": hospital_rows, "departments": departments, "groups": groups, "models": models,
            "categories": [{"code": c, "name": translate(c, language)} for c in categories],
            "age_bands": [{"code": b, "name": translate(f"age_band.{b}", language)} for b in agg.AGE_BANDS]}


@router.get("/export.{fmt}")
def export(
    request: Request, session: SessionDep, filters: FiltersDep, what: DrillDep, fmt: str,
    view: Annotated[str, Query(description="dashboard (XLSX only: every view), summary, trend, breakdown, faults, "
                                           "fault_trend, engineers or tickets")] = "dashboard",
    by: Annotated[str, Query()] = "hospital",
) -> Response:
    """A table view (or, as XLSX, the whole dashboard) as a file."""
    language = language_of(request)
    if fmt not in ("csv", "xlsx") or view not in (*exports.VIEWS, "dashboard") or (view == "dashboard"
                                                                                   and fmt == "csv"):
        raise explain(Invalid(f"no {fmt} export of {view}", [{"field": "view", "message": "unknown"}]), language)
    dim = dimension(request, by)
    views = exports.DASHBOARD_VIEWS if view == "dashboard" else (view,)
    tables = [_checked(request, lambda v=v: exports.build(session, v, filters, language=language, by=dim,
                                                           what=what)) for v in views]
    session.commit()
    assert filters.start and filters.end
    span = f"{local_time(filters.start, filters.time_zone, '%Y%m%d')}-" \
           f"{local_time(filters.end - timedelta(seconds=1), filters.time_zone, '%Y%m%d')}"
    return download(tables, fmt, f"medfix-{view}-{span}.{fmt}")
