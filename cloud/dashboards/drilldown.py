"""The tickets behind a number (drill-downs): the page of a chart's number, newest first, and its total.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, literal, or_, select
from sqlalchemy.orm import Session

from cloud.auth.models import User
from cloud.dashboards import facts
from cloud.dashboards.charts import _raw_member, fault_label_of, fault_names
from cloud.dashboards.models import (
    EngineerRollup,
    FaultRollup,
    TicketRollup,
)
from cloud.dashboards.shapes import DIMENSION_COLUMN, Dimension, Drill, Filters, TicketPage, TicketRow
from cloud.dashboards.sources import T, _grain, _Plan, _plan, _raw_source, _raw_source_open, _rollup_source
from cloud.errors import Invalid
from cloud.registry.models import Department, Device, Hospital
from cloud.tickets.models import Ticket

# Measures a drill-down can ask for: a fact column that is 1, or a predicate on the facts (open: still open).
DRILL_MEASURES = ("tickets", "reports", "faults", "repaired", "ftf_base", "ftf", "not_ftf", "fr_met", "fr_late",
                  "res_met", "res_late", "basic", "remote", "on_site", "predictive", "pred_confirmed", "pred_false",
                  "rated", "open", "overdue")


def _drill_predicate(src: Any, measure: str) -> ColumnElement[bool]:
    if measure == "tickets":
        return literal(True)
    if measure == "not_ftf":
        return and_(src.c.ftf_base == 1, src.c.ftf == 0)
    if measure == "fr_late":
        return or_(src.c.fr_late == 1, src.c.fr_overdue == 1)
    if measure == "res_late":
        return or_(src.c.res_late == 1, src.c.res_overdue == 1)
    if measure == "open":
        return src.c.is_open == 1  # type: ignore[no-any-return]
    if measure == "overdue":
        return or_(src.c.fr_overdue == 1, src.c.res_overdue == 1)
    return src.c[measure] == 1  # type: ignore[no-any-return]


def drill(session: Session, filters: Filters, what: Drill, *, limit: int = 50, offset: int = 0,
          language: str = "zh-CN", now: datetime | None = None) -> TicketPage:
    """The tickets behind a number of any chart or table, newest first, with the total behind the number."""
    if what.measure not in DRILL_MEASURES:
        raise Invalid(f"unknown measure {what.measure}", [{"field": "measure", "message": "unknown"}])
    plan = _plan(session, filters, now=now, needs_raw=True)
    stmt, src = _drill_select(plan, what)
    total = _drill_total(session, filters, what, now=plan.now)
    if total is None:
        total = int(session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one())
    ids = _newest(session, plan, stmt, src, limit=limit, offset=offset, total=total)
    return TicketPage(items=ticket_rows(session, ids, language), total=total, limit=limit, offset=offset)


# Windows a drill-down page looks back over, newest first: most numbers have their newest tickets within days,
# and the planner cannot know that (the filters are expressions), so it would otherwise sort a whole year.
WINDOWS = (timedelta(days=1), timedelta(days=7), timedelta(days=31), timedelta(days=92))


def _newest(session: Session, plan: _Plan, stmt: Select[Any], src: Any, *, limit: int, offset: int,
            total: int) -> list[int]:
    """ids of the page [offset, offset + limit) of stmt's tickets, newest first."""
    assert plan.filters.start and plan.filters.end
    ordered = stmt.with_only_columns(src.c.id).order_by(src.c.created_at.desc(), src.c.id.desc())
    wanted = min(limit, max(total - offset, 0)) if total >= 0 else limit
    last = min(plan.filters.end, plan.now + timedelta(seconds=1))
    for window in WINDOWS:
        since = last - window
        if since <= plan.filters.start:
            break
        ids = [int(i) for i in session.execute(ordered.where(src.c.created_at >= since).limit(limit)
                                               .offset(offset)).scalars()]
        if len(ids) >= wanted:
            return ids
    return [int(i) for i in session.execute(ordered.limit(limit).offset(offset)).scalars()]


def drill_ids(session: Session, filters: Filters, what: Drill, *, cap: int, now: datetime | None = None
              ) -> list[int]:
    """Up to cap ids of the tickets behind a number, newest first (exports)."""
    plan = _plan(session, filters, now=now, needs_raw=True)
    stmt, src = _drill_select(plan, what)
    return [int(i) for i in session.execute(stmt.with_only_columns(src.c.id).order_by(
        src.c.created_at.desc(), src.c.id.desc()).limit(cap)).scalars()]


def _member_conditions(plan: _Plan, src: Any, what: Drill) -> list[ColumnElement[bool]]:
    """What narrows a drill-down besides the filters, on a fact source (raw or rollup)."""
    out: list[ColumnElement[bool]] = []
    if what.month is not None:
        index = next((i for i, (m, _, _) in enumerate(plan.months) if m == what.month), None)
        if index is None:
            raise Invalid("the month is outside the time range", [{"field": "month", "message": "outside"}])
        out.append(src.c.bucket == index)
    if what.by is not None:
        column = src.c[DIMENSION_COLUMN[Dimension(what.by)]]
        member = _raw_member(Dimension(what.by), what.key) if what.key not in (None, "") else None
        out.append(column.is_(None) if member is None else column == member)
    if what.fault_category is not None:
        out.append(src.c.fault_category == what.fault_category)
    if what.engineer_id is not None:
        out.append(src.c.engineer_id == what.engineer_id)
    return out


def _drill_total(session: Session, filters: Filters, what: Drill, *, now: datetime) -> int | None:
    """The total behind a drill-down from the rollups (the number the chart showed); None: count the tickets."""
    if what.measure in ("open", "overdue") or (what.fault_category is not None and (
            what.measure != "faults" or what.engineer_id is not None)):
        return None
    plan = _plan(session, filters, now=now, needs_raw=what.by == Dimension.device)
    model = FaultRollup if what.fault_category is not None else EngineerRollup if what.engineer_id is not None \
        else TicketRollup
    need = [DIMENSION_COLUMN[Dimension(what.by)]] if what.by else []
    need += ["fault_category"] if what.fault_category is not None else []
    need += ["engineer_id"] if what.engineer_id is not None else []
    grain = _grain(plan, model, need)
    if grain is None:
        return None
    src = _rollup_source(plan, model, grain)
    parts = {"not_ftf": (("ftf_base", 1), ("ftf", -1))}.get(what.measure, ((what.measure, 1),))
    total_expr = sum((func.coalesce(func.sum(src.c[name]), 0) * sign for name, sign in parts), literal(0))
    total = int(session.execute(select(total_expr).where(*_member_conditions(plan, src, what))).scalar_one())
    if what.measure in ("fr_late", "res_late"):  # plus those waiting past their due time now
        open_src = _raw_source_open(plan)
        overdue = open_src.c["fr_overdue" if what.measure == "fr_late" else "res_overdue"]
        total += int(session.execute(select(func.coalesce(func.sum(overdue), 0)).where(
            *_member_conditions(plan, open_src, replace(what, fault_category=None)))).scalar_one())
    return total


def _drill_select(plan: _Plan, what: Drill) -> tuple[Select[Any], Any]:
    open_exprs = facts.open_measure_exprs(plan.dialect, plan.now)
    still = facts.still_open()
    src = _raw_source(plan, {
        "id": T.c.id, "created_at": T.c.created_at,
        "is_open": case((still, 1), else_=0),
        "fr_overdue": case((still, open_exprs["fr_overdue"]), else_=0),
        "res_overdue": case((still, open_exprs["res_overdue"]), else_=0)})
    stmt = select(src.c.id).where(_drill_predicate(src, what.measure), *_member_conditions(plan, src, what))
    if what.month is not None:  # the month's bounds too, so the created_at index finds its tickets
        _, lower, upper = next(m for m in plan.months if m[0] == what.month)
        stmt = stmt.where(src.c.created_at >= lower, src.c.created_at < upper)
    if what.fault_category is not None:
        stmt = stmt.where(src.c.faults == 1)
    return stmt, src


def ticket_rows(session: Session, ids: Sequence[int], language: str) -> list[TicketRow]:
    """Drill-down rows for ticket ids, in the order given."""
    if not ids:
        return []
    stmt = (select(Ticket, Hospital.name, Department.name, Device.system_number, Device.model, Device.category,
                   User.full_name, User.username)
            .join(Hospital, Hospital.id == Ticket.hospital_id)
            .outerjoin(Device, Device.id == Ticket.device_id)
            .outerjoin(Department, Department.id == Device.department_id)
            .outerjoin(User, User.id == Ticket.engineer_id)
            .where(Ticket.id.in_(list(ids))))
    names = fault_names(session, language)
    by_id = {}
    for ticket, hospital, department, number, model, category, full_name, username in session.execute(stmt):
        fault = fault_label_of(names, ticket.fault_category, category, language)[0] if ticket.fault_category \
            else None
        repair = ((ticket.resolved_at - ticket.created_at).total_seconds() / 3600.0
                  if ticket.resolved_at else None)
        by_id[ticket.id] = TicketRow(
            id=ticket.id, number=ticket.number, created_at=ticket.created_at, status=ticket.status.value,
            hospital_id=ticket.hospital_id, hospital=hospital, department=department or "",
            device_id=ticket.device_id, device=number or (ticket.group.name if ticket.group else ""),
            model=model or "", category=category or "",
            origin="predictive" if ticket.source.value == "predictive" else "reported",
            tier=ticket.tier.value if ticket.tier else None, fault_category=fault,
            engineer=(full_name or username or "") if ticket.engineer_id else "", resolved_at=ticket.resolved_at,
            repair_hours=repair, rating=ticket.rating_overall, reopen_count=ticket.reopen_count)
    return [by_id[i] for i in ids if i in by_id]
