"""One row of facts per ticket: the single definition every dashboard number, rollup and drill-down is built from.

A ticket is counted in the month it was reported (created_at, in the hospital's time zone), with the dimensions
of its device as the registry has them now. Merged tickets (duplicates folded into another) never count.
What each measure counts (all are 0/1 per ticket except the sums of seconds and stars):

- tickets: every ticket; reports: those a person reported (not opened by the predictive alerts), the 报修 of the
  repair rate.
- faults: tickets that were a real fault: not cancelled and not a predictive false alarm (pre-check outcome).
- repaired / repair_s: faults with a resolution, and their report-to-resolution seconds (MTTR).
- ftf_base / ftf: faults resolved at least once (or reopened), and those resolved without ever being reopened
  (first-time fix).
- fr_met / fr_late, res_met / res_late: first response and resolution against their due times (SLA); a ticket
  still waiting past its due time counts as late from the open-ticket facts (OPEN_MEASURES, which depend on now).
- basic / remote / on_site: the tier that solved it; predictive / pred_confirmed / pred_false: tickets the
  alerts opened, and how their pre-check ended (a fault confirmed or fixed, or a false alarm).
- rated / rating_sum and speed/attitude/skill _n/_sum: the reporter's stars.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Integer, and_, case, cast, func, literal, not_, or_, select
from sqlalchemy.sql import Select

from cloud.registry.models import Device, DeviceGroup
from cloud.tickets.models import PrecheckOutcome, PrecheckTask, Source, Ticket
from cloud.tickets.state import OPEN, Status, Tier

# Device age when the ticket was reported, in years of 365.25 days: (code, lower bound in years).
AGE_BANDS = (("0-1", 0.0), ("1-3", 1.0), ("3-5", 3.0), ("5-8", 5.0), ("8+", 8.0))
AGE_UNKNOWN = "unknown"  # the device has no install date (or the ticket no device)
AGE_BAND_CODES = (*(code for code, _ in AGE_BANDS), AGE_UNKNOWN)
ORIGINS = ("reported", "predictive")

DIMENSION_COLUMNS = ("hospital_id", "department_id", "group_id", "category", "model", "age_band", "origin")
MEASURES = (
    "tickets", "reports", "faults", "repaired", "repair_s", "ftf_base", "ftf", "fr_met", "fr_late", "res_met",
    "res_late", "basic", "remote", "on_site", "predictive", "pred_confirmed", "pred_false", "rated", "rating_sum",
    "speed_n", "speed_sum", "attitude_n", "attitude_sum", "skill_n", "skill_sum",
)
# Facts of tickets still open, which grow with the clock: the time a fault has been down so far, and first
# responses and resolutions that are overdue now.
OPEN_MEASURES = ("open_faults", "open_down_s", "fr_overdue", "res_overdue")

T = Ticket.__table__
D = Device.__table__
G = DeviceGroup.__table__
P = PrecheckTask.__table__


def seconds_between(dialect: str, later: Any, earlier: Any) -> ColumnElement[Any]:
    """Whole seconds from earlier to later, on PostgreSQL and SQLite alike."""
    if dialect == "postgresql":
        return cast(func.round(func.extract("epoch", later - earlier)), Integer)
    return cast(func.round((func.julianday(later) - func.julianday(earlier)) * 86400.0), Integer)


def _age_days(dialect: str) -> ColumnElement[Any]:
    # Days from the install date to the report (UTC dates; a day's error cannot move a band in practice).
    if dialect == "postgresql":
        return cast(func.timezone("UTC", T.c.created_at), D.c.install_date.type) - D.c.install_date
    return func.julianday(func.date(T.c.created_at)) - func.julianday(D.c.install_date)


def age_band_expr(dialect: str) -> ColumnElement[Any]:
    """The AGE_BANDS code of the device's age when the ticket was reported."""
    days = _age_days(dialect)
    whens = [(days >= lower * 365.25, code) for code, lower in reversed(AGE_BANDS) if lower > 0]
    return case((D.c.install_date.is_(None), AGE_UNKNOWN), *whens, else_=AGE_BANDS[0][0])


def _flag(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return case((condition, 1), else_=0)


def dimension_exprs(dialect: str) -> dict[str, ColumnElement[Any]]:
    """The dimension columns of a ticket's fact row (device values; a group ticket takes its group's department)."""
    return {
        "hospital_id": T.c.hospital_id,
        "department_id": func.coalesce(D.c.department_id, G.c.department_id),
        "group_id": func.coalesce(T.c.group_id, D.c.group_id),
        "category": D.c.category,
        "model": D.c.model,
        "age_band": age_band_expr(dialect),
        "origin": case((T.c.source == Source.predictive.value, "predictive"), else_="reported"),
    }


def is_fault() -> ColumnElement[bool]:
    """A real fault: not withdrawn and not a predictive false alarm."""
    return and_(T.c.status != Status.cancelled.value,
                or_(P.c.outcome.is_(None), P.c.outcome != PrecheckOutcome.false_alarm.value))


def measure_exprs(dialect: str) -> dict[str, ColumnElement[Any]]:
    """MEASURES as per-ticket expressions (see the module's description)."""
    fault = is_fault()
    resolved = T.c.resolved_at.is_not(None)
    repaired = and_(fault, resolved)
    confirmed = (PrecheckOutcome.fault_confirmed.value, PrecheckOutcome.fixed.value)
    exprs: dict[str, ColumnElement[Any]] = {
        "tickets": literal(1),
        "reports": _flag(T.c.source != Source.predictive.value),
        "faults": _flag(fault),
        "repaired": _flag(repaired),
        "repair_s": case((repaired, seconds_between(dialect, T.c.resolved_at, T.c.created_at)), else_=0),
        "ftf_base": _flag(and_(fault, or_(resolved, T.c.reopen_count > 0))),
        "ftf": _flag(and_(repaired, T.c.reopen_count == 0)),
        "fr_met": _flag(T.c.first_responded_at <= T.c.first_response_due_at),
        "fr_late": _flag(T.c.first_responded_at > T.c.first_response_due_at),
        "res_met": _flag(T.c.resolved_at <= T.c.resolution_due_at),
        "res_late": _flag(T.c.resolved_at > T.c.resolution_due_at),
        "basic": _flag(T.c.tier == Tier.basic.value),
        "remote": _flag(T.c.tier == Tier.remote.value),
        "on_site": _flag(T.c.tier == Tier.on_site.value),
        "predictive": _flag(T.c.source == Source.predictive.value),
        "pred_confirmed": _flag(and_(T.c.source == Source.predictive.value, P.c.outcome.in_(confirmed))),
        "pred_false": _flag(and_(T.c.source == Source.predictive.value,
                                 P.c.outcome == PrecheckOutcome.false_alarm.value)),
        "rated": _flag(T.c.rating_overall.is_not(None)),
        "rating_sum": func.coalesce(T.c.rating_overall, 0),
    }
    for part in ("speed", "attitude", "skill"):
        column = T.c[f"rating_{part}"]
        exprs[f"{part}_n"] = _flag(column.is_not(None))
        exprs[f"{part}_sum"] = func.coalesce(column, 0)
    return exprs


def open_measure_exprs(dialect: str, now: datetime) -> dict[str, ColumnElement[Any]]:
    """OPEN_MEASURES for a ticket that is still open (callers restrict rows with `still_open()`).

    An open ticket is always a fault: it is not cancelled, and a pre-check that finds a false alarm resolves it;
    so these need no pre-check join.
    """
    return {
        "open_faults": literal(1),
        "open_down_s": seconds_between(dialect, literal(now, T.c.created_at.type), T.c.created_at),
        "fr_overdue": _flag(and_(T.c.first_responded_at.is_(None), T.c.first_response_due_at < now)),
        "res_overdue": _flag(and_(T.c.resolved_at.is_(None), T.c.resolution_due_at < now)),
    }


def still_open() -> ColumnElement[bool]:
    """Tickets somebody is still working on (resolved ones await only the reporter's word)."""
    return T.c.status.in_([s.value for s in OPEN])


def joined(*, precheck: bool = True) -> Any:
    """ticket ⟕ device ⟕ device_group ⟕ precheck_task: the FROM of every fact query."""
    devices = (T.outerjoin(D, D.c.id == T.c.device_id)
               .outerjoin(G, G.c.id == func.coalesce(T.c.group_id, D.c.group_id)))
    return devices.outerjoin(P, P.c.ticket_id == T.c.id) if precheck else devices


def counted() -> ColumnElement[bool]:
    """Every ticket but merged duplicates."""
    return T.c.status != Status.merged.value


def fact_select(dialect: str, extra: dict[str, ColumnElement[Any]] | None = None) -> Select[Any]:
    """SELECT <dimensions>, <measures>, <extra> per ticket FROM joined() WHERE counted()."""
    dims = dimension_exprs(dialect)
    measures = measure_exprs(dialect)
    columns = [expr.label(name) for name, expr in {**dims, **measures, **(extra or {})}.items()]
    return select(*columns).select_from(joined()).where(counted())


def not_fault() -> ColumnElement[bool]:
    """The opposite of is_fault(), for drill-downs into what was not a fault."""
    return not_(is_fault())
