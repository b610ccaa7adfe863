"""Where a dashboard number's facts come from: the plan of a question (rollups or raw tickets, the reporting
zone and its months), the rollup grain that answers it, and the summed facts per group.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Float, Select, case, cast, func, literal, select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from cloud.dashboards import facts, rollups
from cloud.dashboards.models import (
    MEASURE_COLUMNS,
    DeviceRollup,
    TicketRollup,
)
from cloud.dashboards.shapes import Filters, Origin, _whole_months, month_range, reporting_zone
from cloud.db import utcnow
from cloud.localtime import DEFAULT_TIME_ZONE
from cloud.registry.models import Hospital

T, D = facts.T, facts.D
log = logging.getLogger("medfix.dashboards")



@dataclass(frozen=True)
class _Plan:
    filters: Filters
    time_zone: str
    months: list[tuple[date, datetime, datetime]]
    rollup: bool
    dialect: str
    now: datetime


def _plan(session: Session, filters: Filters, *, now: datetime | None, needs_raw: bool = False,
          source: str = "auto") -> _Plan:
    now = now or utcnow()
    if session.get_bind().dialect.name == "postgresql":
        # The driver prepares a statement after a few runs and PostgreSQL may then reuse a generic plan, which
        # for these filters is often a full scan (seen: 10 ms becoming 500 ms); JIT compiling costs more than
        # these queries take. Both for this transaction only.
        session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
        session.execute(text("SET LOCAL jit = off"))
        # Summing a large hospital's per-device rows (30,000 rows of 25 measures) sorted on disk with the default
        # 4 MB (seen: an external merge, 130 ms of a 190 ms query); in memory it is one hash aggregate.
        session.execute(text(f"SET LOCAL work_mem = '{WORK_MEM}'"))
    filters = filters.validated(now)
    time_zone = reporting_zone(session, filters)
    assert filters.start and filters.end
    months = month_range(filters.start, filters.end, time_zone)
    use_rollup = source == "rollup" or (source == "auto" and not needs_raw and not filters.device_ids
                                        and _whole_months(filters, time_zone)
                                        and _zones_agree(session, filters, time_zone))
    if use_rollup:
        use_rollup = _refreshed(session) or source == "rollup"
    return _Plan(filters, time_zone, months, use_rollup, session.get_bind().dialect.name, now)


def _refreshed(session: Session) -> bool:
    """Bring the rollups up to date; False when another request is building them right now (SQLite: the first
    build of several parallel requests), in which case this one reads the raw tickets instead."""
    try:
        with session.begin_nested():
            rollups.refresh(session, exposure_every=rollups.REQUEST_EXPOSURE_EVERY, wait=False)
    except rollups.RefreshBusy:
        # PostgreSQL: the background job (or another request) is folding changes in. Until it commits, the rollups
        # read here are the last committed ones, a minute old at most, and answer at once.
        return True
    except (IntegrityError, OperationalError):
        log.info("rollups busy elsewhere; answering from the raw tickets")
        return False
    return True


def _zones_agree(session: Session, filters: Filters, time_zone: str) -> bool:
    # Rollup months are each hospital's own; they line up with the reporting zone's months only when equal.
    stmt = select(Hospital.time_zone).distinct()
    if filters.hospital_ids:
        stmt = stmt.where(Hospital.id.in_(filters.hospital_ids))
    zones = {z or DEFAULT_TIME_ZONE for z in session.execute(stmt).scalars()}
    return zones <= {time_zone}


def _bucket_expr(plan: _Plan) -> ColumnElement[Any]:
    # The month index of a ticket: exact UTC bounds per local month, so DST zones and SQLite need no zone support.
    uppers = [upper for _, _, upper in plan.months]
    if len(uppers) == 1:
        return literal(0)
    return case(*[(T.c.created_at < upper, index) for index, upper in enumerate(uppers[:-1])],
                else_=len(uppers) - 1)


def _raw_source(plan: _Plan, extra: dict[str, ColumnElement[Any]] | None = None) -> Any:
    """The fact rows of the tickets reported in the range, as a subquery with a 'bucket' (month index)."""
    f = plan.filters
    stmt = facts.fact_select(plan.dialect, {
        "bucket": _bucket_expr(plan), "device_id": T.c.device_id, "engineer_id": T.c.engineer_id,
        "fault_category": func.coalesce(T.c.fault_category, ""), **(extra or {})})
    stmt = stmt.where(T.c.created_at >= f.start, T.c.created_at < f.end)
    # The filters on the underlying columns, so the ticket and device indexes serve them.
    dims = facts.dimension_exprs(plan.dialect)
    stmt = _apply(stmt, f, dims | {"device_id": T.c.device_id})
    return stmt.subquery("facts")


def _apply(stmt: Select[Any], f: Filters, cols: dict[str, Any]) -> Select[Any]:
    if f.hospital_ids:
        stmt = stmt.where(cols["hospital_id"].in_(f.hospital_ids))
    if f.department_ids:
        stmt = stmt.where(cols["department_id"].in_(f.department_ids))
    if f.group_ids:
        stmt = stmt.where(cols["group_id"].in_(f.group_ids))
    if f.models:
        stmt = stmt.where(cols["model"].in_(f.models))
    if f.device_categories:
        stmt = stmt.where(cols["category"].in_(f.device_categories))
    if f.age_bands:
        stmt = stmt.where(cols["age_band"].in_(f.age_bands))
    if f.source:
        stmt = stmt.where(cols["origin"] == Origin(f.source).value)
    if f.device_ids and "device_id" in cols:
        stmt = stmt.where(cols["device_id"].in_(f.device_ids))
    return stmt


FEW_HOSPITALS = 5  # up to this many hospitals, their fine rollup rows are read through the hospital index
# Per transaction of a dashboard question (PostgreSQL): enough for the largest per-device sum to hash in memory.
WORK_MEM = "32MB"
FILTER_DIMS = {"hospital_ids": "hospital_id", "department_ids": "department_id", "group_ids": "group_id",
               "models": "model", "device_categories": "category", "age_bands": "age_band", "source": "origin"}


def _grain(plan: _Plan, model: type, by: Iterable[str], *, exposure: bool = False) -> str | None:
    """The rollup grain that answers a question about `by` under the plan's filters; None: the raw tickets.

    exposure: for device time, which knows no origin and filters ages itself.
    """
    if not plan.rollup:
        return None
    f = plan.filters
    if f.hospital_ids and len(f.hospital_ids) <= FEW_HOSPITALS:
        return "fine"
    needed = {column for name, column in FILTER_DIMS.items() if getattr(f, name)} | {b for b in by if b != "bucket"}
    if exposure:
        needed -= {"origin"}
    grains = rollups.GRAINS[model]
    for grain in rollups.GRAIN_ORDER:
        if grain in rollups.GROUP_GRAINS and "group_id" not in needed:
            continue  # they hold device groups' rows only
        if grain in grains and needed <= set(grains[grain]):
            return grain
    if f.department_ids or f.group_ids:
        return None  # narrow enough for the ticket and device indexes
    return "fine"  # a model filter reads its fine rows through the (grain, model, month) index


def _rollup_source(plan: _Plan, model: type, grain: str) -> Any:
    f = plan.filters
    table = model.__table__  # type: ignore[attr-defined]
    first, last = plan.months[0][0], plan.months[-1][0]
    index = {month: i for i, (month, _, _) in enumerate(plan.months)}
    bucket = case(*[(table.c.month == month, i) for month, i in index.items()], else_=-1) if len(index) > 1 \
        else literal(0)
    cols = {name: table.c[name] for name in facts.DIMENSION_COLUMNS}
    extra = [table.c[name] for name in table.c.keys()
             if name not in ("id", "grain", "month", *facts.DIMENSION_COLUMNS)]
    stmt = select(*cols.values(), *extra, bucket.label("bucket")).where(
        table.c.grain == grain, table.c.month >= first, table.c.month <= last)
    return _apply(stmt, f, cols).subquery("facts")


def _source(plan: _Plan, model: type, by: Iterable[str]) -> Any:
    grain = _grain(plan, model, by)
    return _raw_source(plan) if grain is None else _rollup_source(plan, model, grain)


def _group_columns(src: Any, by: Sequence[str]) -> list[Any]:
    return [src.c[name] for name in by]


def _sum_rows(session: Session, src: Any, by: Sequence[str], measures: Sequence[str]) -> list[dict[str, Any]]:
    return [dict(row._mapping) for row in session.execute(_sum_select(src, by, measures))]


def _raw_source_open(plan: _Plan) -> Any:
    f = plan.filters
    dims = facts.dimension_exprs(plan.dialect)
    columns = {**dims, "bucket": _bucket_expr(plan), "device_id": T.c.device_id, "engineer_id": T.c.engineer_id,
               **facts.open_measure_exprs(plan.dialect, plan.now)}
    stmt = select(*[expr.label(name) for name, expr in columns.items()]).select_from(
        facts.joined(precheck=False)).where(
        facts.counted(), facts.still_open(), T.c.created_at >= f.start, T.c.created_at < f.end)
    return _apply(stmt, f, dims | {"device_id": T.c.device_id}).subquery("open_facts")


def _key(value: Any) -> str | None:
    return None if value is None else str(value)


def _facts(session: Session, plan: _Plan, by: Sequence[str], members: Sequence[Any] | None = None
           ) -> dict[tuple[Any, ...], dict[str, float]]:
    """Summed MEASURES and OPEN_MEASURES per group key (by: fact columns, 'bucket' for the month).

    members: only these values of by[0] (the leaders of a chart). Rows are read as tuples: a breakdown of 3,000
    devices spent more time in building dictionaries per row than PostgreSQL in summing them.
    """
    src = _source(plan, DeviceRollup if "device_id" in by else TicketRollup, by)
    width = len(by)
    out: dict[tuple[Any, ...], dict[str, float]] = {}
    stmt = _sum_select(src, by, MEASURE_COLUMNS, as_float=True)
    if members is not None:
        stmt = stmt.where(src.c[by[0]].in_(list(members)))
    for row in session.execute(stmt):
        out[tuple(row[:width])] = dict(zip(MEASURE_COLUMNS, row[width:], strict=True))
    open_src = _raw_source_open(plan)
    stmt = _sum_select(open_src, by, facts.OPEN_MEASURES, as_float=True)
    if members is not None:
        stmt = stmt.where(open_src.c[by[0]].in_(list(members)))
    for row in session.execute(stmt):
        values = dict(zip(facts.OPEN_MEASURES, row[width:], strict=True))
        key = tuple(row[:width])
        if key in out:
            out[key].update(values)
        else:
            out[key] = values
    return out


def _ranking_facts(session: Session, plan: _Plan, column: str) -> dict[tuple[Any, ...], dict[str, float]]:
    """Faults and tickets per member of `column`: what a breakdown is ranked by, without the other measures.

    A large hospital's device breakdown sums 30,000 per-device rows; 2 sums instead of 25 per row, and the 25 only
    for the page's members (_facts with members)."""
    src = _source(plan, DeviceRollup if column == "device_id" else TicketRollup, (column,))
    return {(row[0],): {"faults": row[1], "tickets": row[2]}
            for row in session.execute(_sum_select(src, (column,), ("faults", "tickets"), as_float=True))}


def _sum_select(src: Any, by: Sequence[str], measures: Sequence[str], *, as_float: bool = False) -> Select[Any]:
    """SELECT by..., coalesce(sum(measure), 0)... FROM src GROUP BY by (as_float: sums as double precision, which
    the driver hands over as Python floats; exact, the sums are integers far below 2**53)."""
    group = _group_columns(src, by)
    sums = [func.coalesce(func.sum(src.c[m]), 0) for m in measures]
    stmt = select(*[c.label(n) for c, n in zip(group, by, strict=True)],
                  *[(cast(total, Float) if as_float else total).label(m) for total, m in zip(sums, measures,
                                                                                             strict=True)])
    return stmt.group_by(*group) if group else stmt
