"""The aggregate layer of the dashboards, the monthly report and the maintenance profiles (issue #11).

Every number is computed on the server in SQL, on SQLite and PostgreSQL, from the per-ticket facts of
cloud/dashboards/facts.py (what each count means is written there). Two paths give the same numbers:

- the monthly rollups (cloud/dashboards/models.py, kept fresh by rollups.refresh): used when the time range is
  whole months in the reporting zone, every hospital in scope keeps that zone, and no single devices are asked
  for. A year of a million tickets is then a few ten thousand rows;
- the raw tickets, for everything else (single devices, engineers' devices, ranges of days), where the filters
  narrow the rows through the ticket indexes.

Derived figures, for a set of devices D over the range [start, end) cut at now:

- device-months: Σ over D and months of the share of the month the device was in service (from its install
  date; a device without one counts from the start). A whole month in service is 1.
- failure rate = faults / device-months; repair rate (报修率) = reports / device-months.
- downtime = the report-to-resolution time of the faults reported in the range, still-open faults up to now.
- MTBF = (in-service hours − downtime hours) / faults; MTTR = mean report-to-resolution hours of repaired faults.
- first-time-fix rate = faults resolved and never reopened / faults resolved at least once.
- SLA compliance = met / (met + late), where a ticket still waiting past its due time counts as late.
- tier shares = basic, remote, on-site / tickets solved at a tier; self-service rate = the basic share.
- predictive share = predictive / tickets; predictive precision = confirmed / (confirmed + false alarms).

A ticket belongs to the month it was reported in (the reporting zone: the single hospital's, else the default).
Callers pass a `Filters`; `scoped()` in cloud/dashboards/access.py narrows it to what a user may see.
"""

from __future__ import annotations

import enum
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, literal, or_, select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from cloud.auth.models import User
from cloud.dashboards import exposure as exposure_sql
from cloud.dashboards import facts, rollups
from cloud.dashboards.models import (
    MEASURE_COLUMNS,
    DeviceRollup,
    EngineerRollup,
    ExposureRollup,
    FaultRollup,
    RollupState,
    TicketRollup,
)
from cloud.db import utcnow
from cloud.errors import Invalid
from cloud.i18n import translate
from cloud.i18n_catalogs import N_
from cloud.localtime import DEFAULT_TIME_ZONE, zone
from cloud.registry.models import Department, Device, DeviceGroup, Hospital
from cloud.tickets.models import FaultCategory, Ticket

T, D = facts.T, facts.D
log = logging.getLogger("medfix.dashboards")
DAY = 86400.0
YEAR_DAYS = 365.25
MAX_IDLE_DEVICES = 1000  # a device breakdown lists devices without tickets only up to this many devices
MAX_MONTHS = 60  # a range longer than five years is refused (a chart of it would be unreadable anyway)


class Dimension(enum.StrEnum):
    """What a breakdown groups by (the profile's dimensions, plus where a ticket came from)."""

    hospital = "hospital"
    department = "department"
    group = "group"
    category = "category"
    model = "model"
    age_band = "age_band"
    device = "device"
    origin = "origin"


class Origin(enum.StrEnum):
    """Who opened the ticket: a person (reported) or the predictive alerts."""

    reported = "reported"
    predictive = "predictive"


# The fact column each dimension reads (device: raw tickets only).
DIMENSION_COLUMN = {Dimension.hospital: "hospital_id", Dimension.department: "department_id",
                    Dimension.group: "group_id", Dimension.category: "category", Dimension.model: "model",
                    Dimension.age_band: "age_band", Dimension.device: "device_id", Dimension.origin: "origin"}
AGE_BANDS = facts.AGE_BAND_CODES
# Their names, looked up as f"age_band.{code}" (listed so `make messages` keeps them in the catalogs).
AGE_BAND_NAMES = (N_("age_band.0-1"), N_("age_band.1-3"), N_("age_band.3-5"), N_("age_band.5-8"), N_("age_band.8+"),
                  N_("age_band.unknown"))


@dataclass(frozen=True)
class Filters:
    """What the numbers cover; empty tuples do not filter. start/end: UTC instants, [start, end).

    start defaults to twelve months before end, end to now. time_zone: the zone whose months the trends use
    (None: the single hospital's zone when the filters name exactly one, else Asia/Shanghai).
    """

    start: datetime | None = None
    end: datetime | None = None
    hospital_ids: tuple[int, ...] = ()
    department_ids: tuple[int, ...] = ()
    models: tuple[str, ...] = ()
    device_categories: tuple[str, ...] = ()
    device_ids: tuple[int, ...] = ()
    group_ids: tuple[int, ...] = ()
    age_bands: tuple[str, ...] = ()
    source: Origin | None = None
    time_zone: str | None = None

    def validated(self, now: datetime | None = None) -> Filters:
        """These filters with start/end filled in and checked; Invalid (a clear message) when impossible."""
        now = now or utcnow()
        end = _aware(self.end) if self.end else now
        start = _aware(self.start) if self.start else _months_back(end, 12, self.time_zone)
        if end <= start:
            raise Invalid("the end of the time range is before its start",
                          [{"field": "end", "message": "before start"}])
        if (end - start).days > MAX_MONTHS * 31:
            raise Invalid("the time range is longer than five years", [{"field": "start", "message": "too long"}])
        unknown = [band for band in self.age_bands if band not in AGE_BANDS]
        if unknown:
            raise Invalid(f"unknown age band {unknown[0]}", [{"field": "age_band", "message": "unknown"}])
        return replace(self, start=start, end=end)


@dataclass
class Metrics:
    """The numbers of one slice (everything, a month, a dimension's member, or a member's month).

    Counts are plain; rates are None when their denominator is 0 (shown as '—', never as 0).
    """

    key: str | None = None  # the member (hospital id, model, …) as text; None for the whole slice
    label: str = ""  # the member's name for people
    month: date | None = None  # the first day of the month, for trend rows
    tickets: int = 0
    reports: int = 0
    faults: int = 0
    repaired: int = 0
    repair_hours: float = 0.0
    downtime_hours: float = 0.0
    open_faults: int = 0
    devices: int | None = 0  # devices in service at the end of the slice (None in monthly rows: see device_months)
    device_months: float = 0.0
    service_hours: float = 0.0
    failure_rate: float | None = None  # faults per device-month
    repair_rate: float | None = None  # reports per device-month
    mtbf_hours: float | None = None
    mttr_hours: float | None = None
    ftf_base: int = 0
    ftf: int = 0
    ftf_rate: float | None = None
    fr_met: int = 0
    fr_late: int = 0
    fr_sla: float | None = None
    res_met: int = 0
    res_late: int = 0
    res_sla: float | None = None
    basic: int = 0
    remote: int = 0
    on_site: int = 0
    solved: int = 0
    basic_share: float | None = None
    remote_share: float | None = None
    on_site_share: float | None = None
    self_service_rate: float | None = None
    predictive: int = 0
    predictive_share: float | None = None
    pred_confirmed: int = 0
    pred_false: int = 0
    predictive_precision: float | None = None
    rated: int = 0
    rating: float | None = None  # mean overall stars
    rating_speed: float | None = None
    rating_attitude: float | None = None
    rating_skill: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (dates as ISO text)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["month"] = self.month.isoformat() if self.month else None
        return out


@dataclass
class Series:
    """One member's monthly trend (the lines of a 'per model over time' chart)."""

    key: str
    label: str
    points: list[Metrics] = field(default_factory=list)


@dataclass
class FaultRow:
    """How often one fault category occurred, and at which tier it was solved."""

    code: str  # '' = not categorised
    label: str
    basic_fault: bool  # the taxonomy says it is solved without an engineer on site as a rule
    faults: int = 0
    share: float | None = None
    basic: int = 0
    remote: int = 0
    on_site: int = 0
    key: str | None = None  # the dimension member, when grouped
    month: date | None = None


@dataclass
class EngineerRow:
    """One engineer's workload and ratings in the slice."""

    engineer_id: int
    name: str
    tickets: int = 0  # tickets dispatched to them
    on_site: int = 0  # solved by them on site
    repaired: int = 0
    mttr_hours: float | None = None
    open_now: int = 0  # of these, still open
    rated: int = 0
    rating: float | None = None
    ftf_rate: float | None = None


@dataclass(frozen=True)
class Drill:
    """The tickets behind one number: a measure, optionally of one month, member, fault category or engineer."""

    measure: str = "tickets"
    month: date | None = None
    by: Dimension | None = None
    key: str | None = None
    fault_category: str | None = None
    engineer_id: int | None = None


@dataclass
class TicketRow:
    """A ticket in a drill-down list."""

    id: int
    number: str
    created_at: datetime
    status: str
    hospital_id: int
    hospital: str
    department: str
    device_id: int | None
    device: str
    model: str
    category: str
    origin: str
    tier: str | None
    fault_category: str | None
    engineer: str
    resolved_at: datetime | None
    repair_hours: float | None
    rating: int | None
    reopen_count: int


@dataclass
class TicketPage:
    """A page of a drill-down and the total behind it."""

    items: list[TicketRow]
    total: int
    limit: int
    offset: int


@dataclass
class Profile:
    """Everything the profile page and the monthly report show for one slice."""

    filters: Filters
    summary: Metrics
    trend: list[Metrics]
    faults: list[FaultRow]
    fault_trend: list[FaultRow]


# ---------------------------------------------------------------------------------------------------- time


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _months_back(end: datetime, months: int, time_zone: str | None) -> datetime:
    local = end.astimezone(zone(time_zone))
    year, month = local.year, local.month - months
    while month < 1:
        year, month = year - 1, month + 12
    return datetime(year, month, 1, tzinfo=zone(time_zone)).astimezone(UTC)


def reporting_zone(session: Session, filters: Filters) -> str:
    """The zone whose months the trends use."""
    if filters.time_zone:
        return filters.time_zone
    if len(filters.hospital_ids) == 1:
        hospital = session.get(Hospital, filters.hospital_ids[0])
        if hospital is not None and hospital.time_zone:
            return hospital.time_zone
    return DEFAULT_TIME_ZONE


def month_range(start: datetime, end: datetime, time_zone: str) -> list[tuple[date, datetime, datetime]]:
    """The local months [start, end) touches, each with its UTC bounds cut to [start, end)."""
    out: list[tuple[date, datetime, datetime]] = []
    month = rollups.month_start(start, time_zone)
    while True:
        lower, upper = rollups.month_bounds(month, time_zone)
        if lower >= end:
            break
        out.append((month, max(lower, start), min(upper, end)))
        month = rollups.next_month(month)
    return out


def _whole_months(filters: Filters, time_zone: str) -> bool:
    assert filters.start and filters.end
    for moment in (filters.start, filters.end):
        local = moment.astimezone(zone(time_zone))
        if (local.day, local.hour, local.minute, local.second, local.microsecond) != (1, 0, 0, 0, 0):
            return False
    return True


# ---------------------------------------------------------------------------------------------------- sources


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
            rollups.refresh(session)
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
    group = _group_columns(src, by)
    stmt = select(*[c.label(n) for c, n in zip(group, by, strict=True)],
                  *[func.coalesce(func.sum(src.c[m]), 0).label(m) for m in measures])
    if group:
        stmt = stmt.group_by(*group)
    return [dict(row._mapping) for row in session.execute(stmt)]


def _open_rows(session: Session, plan: _Plan, by: Sequence[str]) -> list[dict[str, Any]]:
    """Facts of still-open tickets that grow with the clock (always from the raw tickets: there are few)."""
    inner = _raw_source_open(plan)
    stmt = select(*[inner.c[n].label(n) for n in by],
                  *[func.coalesce(func.sum(inner.c[m]), 0).label(m) for m in facts.OPEN_MEASURES])
    if by:
        stmt = stmt.group_by(*[inner.c[n] for n in by])
    return [dict(row._mapping) for row in session.execute(stmt)]


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


def _facts(session: Session, plan: _Plan, by: Sequence[str]) -> dict[tuple[Any, ...], dict[str, float]]:
    """Summed MEASURES and OPEN_MEASURES per group key (by: fact columns, 'bucket' for the month)."""
    src = _source(plan, DeviceRollup if "device_id" in by else TicketRollup, by)
    out: dict[tuple[Any, ...], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for row in _sum_rows(session, src, by, MEASURE_COLUMNS):
        out[tuple(row[n] for n in by)].update({m: float(row[m] or 0) for m in MEASURE_COLUMNS})
    for row in _open_rows(session, plan, by):
        out[tuple(row[n] for n in by)].update({m: float(row[m] or 0) for m in facts.OPEN_MEASURES})
    return out


# ---------------------------------------------------------------------------------------------------- exposure


DEVICE_KEYS = exposure_sql.DEVICE_COLUMNS


def _device_filters(f: Filters, device_ids: Iterable[int] | None = None) -> list[ColumnElement[bool]]:
    """The filters that apply to devices (all but the ticket's origin and the device's age, which varies)."""
    where: list[ColumnElement[bool]] = []
    for attr, column in (("hospital_ids", Device.hospital_id), ("department_ids", Device.department_id),
                         ("group_ids", Device.group_id), ("models", Device.model),
                         ("device_categories", Device.category), ("device_ids", Device.id)):
        values = getattr(f, attr)
        if values:
            where.append(column.in_(values))
    if device_ids is not None:
        where.append(Device.id.in_(list(device_ids)))
    return where


def _exposure(session: Session, plan: _Plan, key: str | None, per_month: bool,
              device_ids: Iterable[int] | None = None) -> dict[tuple[Any, ...], list[float]]:
    """[devices, device-months, service hours] per (member?, month index?) of the filtered devices.

    key: a device column of DEVICE_KEYS, 'age_band', or None for the whole slice. Whole past months come from the
    exposure rollup when the plan reads rollups, the rest is computed from the device table (exposure.py). An
    age-band filter keeps only the time devices spent in those bands. devices: in service at the end of the slice
    (not per month).
    """
    f = plan.filters
    assert f.end is not None
    ages = bool(f.age_bands) or key == "age_band"
    device_key = key if key in DEVICE_KEYS else None
    keyed = device_key is not None or key == "age_band"
    by = [device_key] if device_key else []
    out: dict[tuple[Any, ...], list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])

    def add(member: Any, index: int, device_months: float, hours: float) -> None:
        if not hours:
            return  # an age band the devices were never in
        group = ((member,) if keyed else ()) + ((index,) if per_month else ())
        cell = out[group]
        cell[1] += float(device_months or 0.0)
        cell[2] += float(hours or 0.0)

    kept = _exposure_kept(session) if plan.rollup and device_ids is None else None
    # Device time per device is always computed from the devices (the exposure rollup keeps no device).
    grain = None if key == "device_id" else _grain(plan, ExposureRollup, [*by, *(["age_band"] if key == "age_band"
                                                                                   else [])], exposure=True)
    # Whole months, and the running month as of the last hourly refresh (plan.now is then within the hour).
    stored = [i for i, (month, _, upper) in enumerate(plan.months)
              if grain is not None and kept is not None and kept[0] <= month <= kept[1]
              and (upper <= plan.now and month < kept[1] or month == kept[1] and upper > plan.now
                   and plan.now >= utcnow() - rollups.CURRENT_EXPOSURE_EVERY)]
    if stored:
        table = ExposureRollup.__table__
        cols = {name: table.c[name] for name in exposure_sql.DEVICE_COLUMNS if name in table.c}
        # Summed over the months in SQL unless asked per month: a year per department is 12 times fewer rows.
        index = case(*[(table.c.month == plan.months[i][0], i) for i in stored], else_=-1) if per_month \
            else literal(0)
        group_cols = [table.c[n] for n in by] + ([table.c.age_band] if ages else [])
        stmt = select(*group_cols, index.label("bucket"), func.sum(table.c.device_months),
                      func.sum(table.c.service_h)).where(
            table.c.grain == grain, table.c.month.in_([plan.months[i][0] for i in stored]))
        stmt = _apply(stmt, replace(f, source=None), cols | {"age_band": table.c.age_band})
        for row in session.execute(stmt.group_by(*group_cols, *([index] if per_month else []))):
            values = list(row)
            band = values[len(by)] if ages else None
            if f.age_bands and band not in f.age_bands:
                continue
            member = band if key == "age_band" else (values[0] if by else None)
            add(member, int(values[-3]), values[-2], values[-1])
    live = [(i, lower, min(upper, plan.now), _month_length(plan, i)) for i, (_m, lower, upper) in
            enumerate(plan.months) if i not in stored and lower < plan.now]
    if live:
        stmt = exposure_sql.exposure_select(plan.dialect, live, by=by, ages=ages,
                                            where=_device_filters(f, device_ids), per_month=per_month)
        for row in session.execute(stmt):
            data = row._mapping
            band = data["age_band"] if ages else None
            if f.age_bands and band not in f.age_bands:
                continue
            member = band if key == "age_band" else (data[by[0]] if by else None)
            add(member, int(data["bucket"]), data["device_months"], data["service_h"])
    for group, count in _devices_at_end(session, plan, key, device_ids).items():
        if per_month:
            continue
        out[group][0] = count
    return out


def _month_length(plan: _Plan, index: int) -> float:
    lower, upper = rollups.month_bounds(plan.months[index][0], plan.time_zone)
    return (upper - lower).total_seconds()


def _exposure_kept(session: Session) -> tuple[date, date] | None:
    """The first month the exposure rollup holds and the running month (held as of its last refresh)."""
    state = session.get(RollupState, 1)
    if state is None or state.exposure_from is None or state.exposure_until is None:
        return None
    return state.exposure_from, state.exposure_until


def _band_of_install(cap: datetime) -> ColumnElement[Any]:
    """The age band at cap of a device, from its install date (thresholds worked out here, so any backend)."""
    day = cap.date()
    whens = [(Device.install_date <= day - timedelta(days=lower * YEAR_DAYS), code)
             for code, lower in reversed(facts.AGE_BANDS) if lower > 0]
    return case((Device.install_date.is_(None), facts.AGE_UNKNOWN), *whens, else_=facts.AGE_BANDS[0][0])


def _devices_at_end(session: Session, plan: _Plan, key: str | None, device_ids: Iterable[int] | None
                    ) -> dict[tuple[Any, ...], float]:
    """Devices in service at the end of the slice (or now), per member of key."""
    f = plan.filters
    assert f.end is not None
    cap = min(plan.now, f.end)
    band = _band_of_install(cap)
    group = [DEVICE_KEYS[key]] if key in DEVICE_KEYS else [band] if key == "age_band" else []
    stmt = select(*group, func.count()).where(
        or_(Device.install_date.is_(None), Device.install_date < cap.date() + timedelta(days=1)),
        *_device_filters(f, device_ids))
    if f.age_bands:
        stmt = stmt.where(band.in_(f.age_bands))
    if group:
        stmt = stmt.group_by(*group)
    return {tuple(row[:-1]): float(row[-1]) for row in session.execute(stmt)}


# ---------------------------------------------------------------------------------------------------- metrics


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def _metrics(values: dict[str, float], exposure: list[float] | None) -> Metrics:
    v = defaultdict(float, values)
    m = Metrics()
    for name in ("tickets", "reports", "faults", "repaired", "ftf_base", "ftf", "fr_met", "res_met", "basic",
                 "remote", "on_site", "predictive", "pred_confirmed", "pred_false", "rated"):
        setattr(m, name, int(v[name]))
    m.open_faults = int(v["open_faults"])
    m.fr_late = int(v["fr_late"] + v["fr_overdue"])
    m.res_late = int(v["res_late"] + v["res_overdue"])
    m.repair_hours = v["repair_s"] / 3600.0
    m.downtime_hours = (v["repair_s"] + v["open_down_s"]) / 3600.0
    m.mttr_hours = _ratio(m.repair_hours, m.repaired)
    m.ftf_rate = _ratio(m.ftf, m.ftf_base)
    m.fr_sla = _ratio(m.fr_met, m.fr_met + m.fr_late)
    m.res_sla = _ratio(m.res_met, m.res_met + m.res_late)
    m.solved = m.basic + m.remote + m.on_site
    m.basic_share, m.remote_share, m.on_site_share = (_ratio(x, m.solved) for x in (m.basic, m.remote, m.on_site))
    m.self_service_rate = m.basic_share
    m.predictive_share = _ratio(m.predictive, m.tickets)
    m.predictive_precision = _ratio(m.pred_confirmed, m.pred_confirmed + m.pred_false)
    m.rating = _ratio(v["rating_sum"], v["rated"])
    m.rating_speed = _ratio(v["speed_sum"], v["speed_n"])
    m.rating_attitude = _ratio(v["attitude_sum"], v["attitude_n"])
    m.rating_skill = _ratio(v["skill_sum"], v["skill_n"])
    if exposure is not None:
        m.devices, m.device_months, m.service_hours = int(round(exposure[0])), exposure[1], exposure[2]
        m.failure_rate = _ratio(m.faults, m.device_months)
        m.repair_rate = _ratio(m.reports, m.device_months)
        m.mtbf_hours = _ratio(max(m.service_hours - m.downtime_hours, 0.0), m.faults)
    return m


def metrics(session: Session, filters: Filters, *, now: datetime | None = None, source: str = "auto") -> Metrics:
    """The numbers of the whole filtered slice (the dashboard's cards, the profile's summary)."""
    plan = _plan(session, filters, now=now, source=source)
    values = _facts(session, plan, ()).get((), {})
    return _metrics(values, _exposure(session, plan, None, per_month=False).get((), [0.0, 0.0, 0.0]))


def trend(session: Session, filters: Filters, *, now: datetime | None = None, source: str = "auto"
          ) -> list[Metrics]:
    """The numbers per month of the range (every month present, empty ones as zeros): the trend charts."""
    plan = _plan(session, filters, now=now, source=source)
    values = _facts(session, plan, ("bucket",))
    exposure = _exposure(session, plan, None, per_month=True)
    out = []
    for index, (month, _, _) in enumerate(plan.months):
        m = _metrics(values.get((index,), {}), exposure.get((index,), [0.0, 0.0, 0.0]))
        m.month, m.key, m.label = month, month.strftime("%Y-%m"), month.strftime("%Y-%m")
        m.devices = None
        out.append(m)
    return out


def breakdown(session: Session, filters: Filters, by: Dimension, *, language: str = "zh-CN",
              now: datetime | None = None, limit: int | None = None, source: str = "auto") -> list[Metrics]:
    """The numbers per member of a dimension (the profile per hospital, model, age band, …), most faults first."""
    column = DIMENSION_COLUMN[Dimension(by)]
    plan = _plan(session, filters, now=now, source=source)  # per device: the device rollup
    values = _facts(session, plan, (column,))
    exposure = _exposure(session, plan, column, per_month=False) if by != Dimension.origin else {}
    whole = _exposure(session, plan, None, per_month=False).get((), [0.0, 0.0, 0.0])
    keys = {k[0] for k in values}
    if by != Dimension.origin and not (by == Dimension.device and len(exposure) > MAX_IDLE_DEVICES):
        keys |= {k[0] for k in exposure}  # members without tickets too (thousands of quiet devices: not)
    if by == Dimension.origin:
        keys |= {o.value for o in Origin if not filters.source or filters.source == o}
    labels = member_labels(session, by, keys, language)
    rows = []
    for member in keys:
        if member is None and by not in (Dimension.department, Dimension.category, Dimension.model):
            continue
        share = whole if by == Dimension.origin else exposure.get((member,), [0.0, 0.0, 0.0])
        m = _metrics(values.get((member,), {}), share)
        m.key, m.label = _key(member), labels.get(_key(member), _key(member) or translate("(none)", language))
        rows.append(m)
    rows.sort(key=lambda r: (-r.faults, -r.tickets, r.label))
    return rows[:limit] if limit else rows


def breakdown_trend(session: Session, filters: Filters, by: Dimension, *, top: int = 8, language: str = "zh-CN",
                    now: datetime | None = None, source: str = "auto") -> list[Series]:
    """The monthly numbers of the `top` members with the most faults (a 'failure rate per model' chart)."""
    by = Dimension(by)
    column = DIMENSION_COLUMN[by]
    plan = _plan(session, filters, now=now, needs_raw=by == Dimension.device, source=source)
    values = _facts(session, plan, (column, "bucket"))
    totals: dict[Any, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for (member, _index), v in values.items():
        totals[member][0] += v.get("faults", 0.0)
        totals[member][1] += v.get("tickets", 0.0)
    # The leaders: most faults, then most tickets; members without a value (no department, …) lead nothing.
    ranked = sorted((m for m in totals if m is not None), key=lambda m: (-totals[m][0], -totals[m][1], str(m)))
    leaders = ranked[:top]
    if not leaders:
        return []
    if by == Dimension.origin:
        whole = _exposure(session, plan, None, per_month=True)
        exposure = {(o.value, i): e for o in Origin for (i,), e in whole.items()}
    else:
        exposure = _exposure(session, plan, column, per_month=True,
                             device_ids=leaders if by == Dimension.device else None)
    labels = member_labels(session, by, leaders, language)
    series = []
    for member in leaders:
        points = []
        for index, (month, _, _) in enumerate(plan.months):
            m = _metrics(values.get((member, index), {}), exposure.get((member, index), [0.0, 0.0, 0.0]))
            m.month, m.key, m.label = month, month.strftime("%Y-%m"), month.strftime("%Y-%m")
            m.devices = None
            points.append(m)
        key = str(member)
        series.append(Series(key=key, label=labels.get(key, key), points=points))
    return series


def _raw_member(by: Dimension, key: str | None) -> Any:
    if key is None:
        return None
    if by in (Dimension.hospital, Dimension.department, Dimension.group, Dimension.device):
        return int(key)
    return key


# ---------------------------------------------------------------------------------------------------- faults


def fault_names(session: Session, language: str) -> dict[tuple[str | None, str], tuple[str, bool]]:
    """(device category or None, code) → (display name in language, basic) for the whole managed list.

    A bulk stand-in for cloud/tickets/faults.fault_label, which names one code at a time.
    """
    out: dict[tuple[str | None, str], tuple[str, bool]] = {}
    for row in session.execute(select(FaultCategory)).scalars():
        name = row.name_en if language == "en" and row.name_en else row.name_zh
        out[(row.device_category, row.code)] = (name, bool(row.basic))
    return out


def fault_label_of(names: dict[tuple[str | None, str], tuple[str, bool]], code: str, category: str | None,
                   language: str) -> tuple[str, bool]:
    """The name of a code for a device category (its own entry first, then the one for every category)."""
    if not code:
        return translate("Not categorised", language), False
    found = names.get((category, code)) or names.get((None, code))
    if found is None:
        found = next((v for (c, k), v in names.items() if k == code), None)
    return found or (translate("Unknown fault category", language), False)


def faults(session: Session, filters: Filters, *, by: Dimension | None = None, language: str = "zh-CN",
           now: datetime | None = None, source: str = "auto") -> list[FaultRow]:
    """Faults per fault category (and per member of `by`), with the tier that solved them; most frequent first."""
    plan = _plan(session, filters, now=now, needs_raw=by == Dimension.device, source=source)
    column = DIMENSION_COLUMN[Dimension(by)] if by else None
    group = [column] if column else []
    single_category = filters.device_categories[0] if len(filters.device_categories) == 1 else None
    grain = _grain(plan, FaultRollup, [*group, "fault_category"])
    if grain is not None:
        src = _rollup_source(plan, FaultRollup, grain)
        rows = _sum_rows(session, src, [*group, "fault_category"], ("faults", "basic", "remote", "on_site"))
    else:
        raw = _raw_source(plan)
        stmt = select(*[raw.c[g] for g in group], raw.c.fault_category, func.sum(raw.c.faults).label("faults"),
                      func.sum(raw.c.basic).label("basic"), func.sum(raw.c.remote).label("remote"),
                      func.sum(raw.c.on_site).label("on_site")).where(raw.c.faults == 1).group_by(
            *[raw.c[g] for g in group], raw.c.fault_category)
        rows = [dict(r._mapping) for r in session.execute(stmt)]
    names = fault_names(session, language)
    totals: dict[Any, int] = defaultdict(int)
    for row in rows:
        totals[row[column] if column else None] += int(row["faults"] or 0)
    out = []
    for row in rows:
        if not row["faults"]:
            continue
        member = row[column] if column else None
        label, basic = fault_label_of(names, row["fault_category"], single_category, language)
        out.append(FaultRow(code=row["fault_category"], label=label, basic_fault=basic, faults=int(row["faults"]),
                            share=_ratio(int(row["faults"]), totals[member]), basic=int(row["basic"] or 0),
                            remote=int(row["remote"] or 0), on_site=int(row["on_site"] or 0), key=_key(member)))
    out.sort(key=lambda r: (r.key or "", -r.faults, r.label))
    return out


def fault_trend(session: Session, filters: Filters, *, language: str = "zh-CN", now: datetime | None = None,
                source: str = "auto") -> list[FaultRow]:
    """Faults per fault category per month (FaultRow.month set), for the 'distribution over time' chart."""
    plan = _plan(session, filters, now=now, source=source)
    grain = _grain(plan, FaultRollup, ["fault_category"])
    if grain is not None:
        src = _rollup_source(plan, FaultRollup, grain)
        rows = _sum_rows(session, src, ["bucket", "fault_category"], ("faults", "basic", "remote", "on_site"))
    else:
        raw = _raw_source(plan)
        rows = [dict(r._mapping) for r in session.execute(
            select(raw.c.bucket, raw.c.fault_category, func.sum(raw.c.faults).label("faults"),
                   func.sum(raw.c.basic).label("basic"), func.sum(raw.c.remote).label("remote"),
                   func.sum(raw.c.on_site).label("on_site"))
            .where(raw.c.faults == 1).group_by(raw.c.bucket, raw.c.fault_category))]
    names = fault_names(session, language)
    single_category = filters.device_categories[0] if len(filters.device_categories) == 1 else None
    out = []
    for row in rows:
        if not row["faults"] or row["bucket"] < 0:
            continue
        label, basic = fault_label_of(names, row["fault_category"], single_category, language)
        out.append(FaultRow(code=row["fault_category"], label=label, basic_fault=basic, faults=int(row["faults"]),
                            basic=int(row["basic"] or 0), remote=int(row["remote"] or 0),
                            on_site=int(row["on_site"] or 0), month=plan.months[int(row["bucket"])][0]))
    out.sort(key=lambda r: (r.month or date.min, -r.faults))
    return out


# ---------------------------------------------------------------------------------------------------- engineers


def engineers(session: Session, filters: Filters, *, now: datetime | None = None, source: str = "auto"
              ) -> list[EngineerRow]:
    """Per engineer: tickets dispatched to them, solved on site, MTTR, still open, ratings; busiest first."""
    plan = _plan(session, filters, now=now, source=source)
    src = _source(plan, EngineerRollup, ["engineer_id"])
    stmt = select(src.c.engineer_id, *[func.coalesce(func.sum(src.c[m]), 0).label(m) for m in MEASURE_COLUMNS]
                  ).where(src.c.engineer_id.is_not(None)).group_by(src.c.engineer_id)
    rows = {int(r.engineer_id): {m: float(r._mapping[m] or 0) for m in MEASURE_COLUMNS}
            for r in session.execute(stmt)}
    open_src = _raw_source_open(plan)
    open_counts: dict[int, int] = dict(session.execute(
        select(open_src.c.engineer_id, func.count()).where(open_src.c.engineer_id.is_not(None))
        .group_by(open_src.c.engineer_id)).all())
    names = {u.id: u.full_name or u.username for u in session.execute(
        select(User).where(User.id.in_(set(rows) | set(open_counts)))).scalars()}
    out = []
    for engineer_id in set(rows) | {int(k) for k in open_counts}:
        v = defaultdict(float, rows.get(engineer_id, {}))
        out.append(EngineerRow(
            engineer_id=engineer_id, name=names.get(engineer_id, f"#{engineer_id}"), tickets=int(v["tickets"]),
            on_site=int(v["on_site"]), repaired=int(v["repaired"]),
            mttr_hours=_ratio(v["repair_s"] / 3600.0, v["repaired"]), open_now=int(open_counts.get(engineer_id, 0)),
            rated=int(v["rated"]), rating=_ratio(v["rating_sum"], v["rated"]),
            ftf_rate=_ratio(v["ftf"], v["ftf_base"])))
    out.sort(key=lambda r: (-r.tickets, r.name))
    return out


# ---------------------------------------------------------------------------------------------------- labels


def member_labels(session: Session, by: Dimension, keys: Iterable[Any], language: str) -> dict[str | None, str]:
    """Display names of a dimension's members (hospital names, device numbers, translated categories, …)."""
    wanted: list[Any] = [k for k in keys if k is not None and k != ""]
    if not wanted:
        return {}
    if by in (Dimension.hospital, Dimension.department, Dimension.group, Dimension.device):
        wanted = [int(k) for k in wanted if str(k).lstrip("-").isdigit()]
    if by == Dimension.hospital:
        return {str(i): n for i, n in session.execute(
            select(Hospital.id, Hospital.name).where(Hospital.id.in_(wanted)))}
    if by == Dimension.department:
        return {str(i): f"{h} · {n}" for i, n, h in session.execute(
            select(Department.id, Department.name, Hospital.name).join(
                Hospital, Hospital.id == Department.hospital_id).where(Department.id.in_(wanted)))}
    if by == Dimension.group:
        return {str(i): f"{n} ({s})" for i, n, s in session.execute(
            select(DeviceGroup.id, DeviceGroup.name, DeviceGroup.system_number).where(
                DeviceGroup.id.in_(wanted)))}
    if by == Dimension.device:
        return {str(i): f"{s} {m}" for i, s, m in session.execute(
            select(Device.id, Device.system_number, Device.model).where(Device.id.in_(wanted)))}
    if by == Dimension.category:
        return {str(k): translate(str(k), language) for k in wanted}
    if by == Dimension.age_band:
        return {str(k): translate(f"age_band.{k}", language) for k in wanted}
    if by == Dimension.origin:
        return {str(k): translate(f"desk.source.{k}", language) for k in wanted}
    return {str(k): str(k) for k in wanted}


# ---------------------------------------------------------------------------------------------------- drill-down

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


# ---------------------------------------------------------------------------------------------------- profile


def profile(session: Session, filters: Filters, *, language: str = "zh-CN", now: datetime | None = None
            ) -> Profile:
    """The maintenance profile of a slice (one device: Filters(device_ids=(id,)), a model, a hospital, …):
    its numbers, their monthly trend, the fault distribution and its distribution over time."""
    now = now or utcnow()
    checked = filters.validated(now)
    return Profile(filters=checked, summary=metrics(session, checked, now=now),
                   trend=trend(session, checked, now=now), faults=faults(session, checked, language=language, now=now),
                   fault_trend=fault_trend(session, checked, language=language, now=now))


def month_filters(month: str, *, hospital_id: int, time_zone: str | None) -> Filters:
    """Filters of one hospital's calendar month 'YYYY-MM' in its zone (the monthly report)."""
    try:
        first = date.fromisoformat(f"{month}-01")
    except ValueError as exc:
        raise Invalid(f"not a month: {month}", [{"field": "month", "message": "use YYYY-MM"}]) from exc
    start, end = rollups.month_bounds(first, time_zone)
    return Filters(start=start, end=end, hospital_ids=(hospital_id,), time_zone=time_zone)
