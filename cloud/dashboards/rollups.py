"""Keeping the monthly rollups (cloud/dashboards/models.py) in step with the tickets and the registry.

A partition is one hospital's month (in the hospital's time zone). Rebuilding one deletes its 'fine' rows in the
ticket rollups and sums the fact rows of the tickets reported in it again, so a partition is always exactly what
the raw tickets say at the time it was rebuilt; a few hundred tickets per partition make that a matter of
milliseconds. The coarse grains of a month are then summed again from its fine rows. The exposure rollup (device
time in service) holds whole past months only; the month that is running is always computed live.

Which partitions to rebuild is found from timestamps rather than hooks on every writer: tickets and pre-checks
carry updated_at (set by the ORM on every change), so the partitions of rows changed since the last refresh, less
a safety margin for transactions that committed late, are rebuilt. Devices change often in ways that do not
matter here (their maintenance score follows every ticket), so a device counts as changed only when its
dimensions differ from the snapshot the rollups were built with (dash_device_dims): then the partitions of its
tickets and the exposure of its hospitals (before and after a move) are rebuilt.

`refresh()` runs in a background job every minute (`refresh_job`, `dashboard_refresh_interval_s`) and before a
dashboard query reads the rollups; with nothing new it costs three index look-ups. The job takes the heavy part,
the running month's device time of every device each hour (seconds on 50,000 devices), which a request then
leaves to it for a while longer (REQUEST_EXPOSURE_EVERY). PostgreSQL serialises refreshes with a
transaction-level advisory lock, so two never rebuild the same partition at once (which would double its rows);
a request that finds the lock taken reads the rollups as they were last committed instead of waiting. SQLite
serialises writers by itself.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, insert, literal, or_, select, text
from sqlalchemy.orm import Session, sessionmaker

from cloud.dashboards import exposure, facts
from cloud.dashboards.models import (
    MEASURE_COLUMNS,
    DeviceDims,
    DeviceRollup,
    EngineerRollup,
    ExposureRollup,
    FaultRollup,
    RollupState,
    TicketRollup,
)
from cloud.db import utcnow
from cloud.localtime import DEFAULT_TIME_ZONE, zone
from cloud.registry.models import Device, Hospital
from cloud.tickets.models import PrecheckTask, Ticket

log = logging.getLogger("medfix.dashboards")

# Re-read changes this far behind the watermark: a transaction stamps updated_at before it commits.
MARGIN = timedelta(minutes=2)
# More changed partitions than this and one full rebuild is cheaper than rebuilding them one by one.
FULL_REBUILD_AT = 400
ADVISORY_LOCK = 0x6D656466  # 'medf': the rollup refresher's PostgreSQL advisory lock key

T = facts.T
DIMS = facts.DIMENSION_COLUMNS
DEVICE_DIMS = ("hospital_id", "department_id", "group_id", "category", "model")
EXPOSURE_DIMS = (*DEVICE_DIMS, "age_band")

# The grains of each rollup: which dimensions their rows keep (the rest are NULL). 'fine' keeps all of them and
# is built from the tickets (or devices); the others are sums of the fine rows, for questions about every hospital
# at once. Exposure grains are the ticket grains without the origin (device time does not depend on it).
GRAINS: dict[type, dict[str, tuple[str, ...]]] = {
    TicketRollup: {
        "fine": DIMS,
        "n1": ("category", "model", "age_band", "origin"),
        "n2": ("hospital_id", "category", "model", "origin"),
        "n3": ("hospital_id", "department_id", "category", "origin"),
        "n4": ("hospital_id", "group_id", "origin"),  # only rows of device groups
        "n5": ("hospital_id", "origin"),
        "n6": ("hospital_id", "age_band", "origin"),
        # Departments under an age filter; device groups under any device filter (groups hold few devices, so
        # keeping every device dimension with them stays small); departments without a device filter.
        "n7": ("hospital_id", "department_id", "age_band", "origin"),
        "n8": ("hospital_id", "group_id", "category", "model", "age_band", "origin"),  # only rows of device groups
        "n9": ("hospital_id", "department_id", "origin"),  # the table per department: a third of n3's rows
    },
    DeviceRollup: {"fine": (*DIMS, "device_id")},
    EngineerRollup: {"fine": (*DIMS, "engineer_id"), "n1": ("engineer_id", "category", "origin"),
                     "n2": ("engineer_id", "age_band", "origin")},
    FaultRollup: {"fine": (*DIMS, "fault_category"),
                  "n1": ("category", "model", "age_band", "origin", "fault_category")},
    ExposureRollup: {
        "fine": EXPOSURE_DIMS,
        "n1": ("category", "model", "age_band"),
        "n2": ("hospital_id", "category", "model"),
        "n3": ("hospital_id", "department_id", "category"),
        "n4": ("hospital_id", "group_id"),
        "n5": ("hospital_id",),
        "n6": ("hospital_id", "age_band"),
        "n7": ("hospital_id", "department_id", "age_band"),
        "n8": ("hospital_id", "group_id", "category", "model", "age_band"),
        "n9": ("hospital_id", "department_id"),
    },
}
# The grains in the order a question tries them: the smallest that covers its dimensions wins.
GRAIN_ORDER = ("n1", "n5", "n6", "n9", "n2", "n3", "n7", "n4", "n8")
# Grains that keep only the rows of devices in a device group.
GROUP_GRAINS = ("n4", "n8")
# The running month's device time is kept as of the top of the hour (its share of a month: under 0.15 %).
CURRENT_EXPOSURE_EVERY = timedelta(hours=1)
# A request redoes that only when the background job has not for this much longer (no job running: tests, a
# service started with the job off), so a person never waits for it while the job runs.
REQUEST_EXPOSURE_EVERY = CURRENT_EXPOSURE_EVERY + timedelta(minutes=30)
FAULT_MEASURES = ("faults", "basic", "remote", "on_site")
EXPOSURE_MEASURES = ("device_months", "service_h")
TICKET_TABLES = (TicketRollup, EngineerRollup, FaultRollup, DeviceRollup)


def measures_of(model: type) -> tuple[str, ...]:
    """The summed columns of a rollup table."""
    if model is FaultRollup:
        return FAULT_MEASURES
    if model is ExposureRollup:
        return EXPOSURE_MEASURES
    return MEASURE_COLUMNS


def month_start(moment: datetime, time_zone: str | None) -> date:
    """The first day of the month moment falls in, in time_zone."""
    local = moment.astimezone(zone(time_zone))
    return date(local.year, local.month, 1)


def next_month(month: date) -> date:
    """The first day of the month after month."""
    return date(month.year + (month.month == 12), month.month % 12 + 1, 1)


def month_bounds(month: date, time_zone: str | None) -> tuple[datetime, datetime]:
    """[start, end) of a local month as UTC instants."""
    tz = zone(time_zone)
    start = datetime(month.year, month.month, 1, tzinfo=tz).astimezone(UTC)
    following = next_month(month)
    return start, datetime(following.year, following.month, 1, tzinfo=tz).astimezone(UTC)


def _insert_fine(session: Session, month: date, start: datetime, end: datetime, hospital_ids: list[int]) -> None:
    """Sum the fact rows of hospital_ids' tickets reported in [start, end) into month's fine rows."""
    dialect = session.get_bind().dialect.name
    dims = facts.dimension_exprs(dialect)
    measures = facts.measure_exprs(dialect)
    where = and_(facts.counted(), T.c.hospital_id.in_(hospital_ids), T.c.created_at >= start, T.c.created_at < end)
    dim_cols = [dims[name].label(name) for name in DIMS]
    sums = [func.sum(measures[name]).label(name) for name in MEASURE_COLUMNS]
    month_col = literal(month, TicketRollup.__table__.c.month.type).label("month")
    grain = literal("fine").label("grain")

    base = select(grain, month_col, *dim_cols, *sums).select_from(facts.joined()).where(where)
    session.execute(insert(TicketRollup).from_select(
        ["grain", "month", *DIMS, *MEASURE_COLUMNS], base.group_by(*[dims[name] for name in DIMS])))

    device = T.c.device_id
    by_device = select(grain, month_col, *dim_cols, device.label("device_id"), *sums).select_from(
        facts.joined()).where(where, device.is_not(None))
    # In hospital order, so that one hospital's rows of a month lie together on disk (read by hospital).
    session.execute(insert(DeviceRollup).from_select(
        ["grain", "month", *DIMS, "device_id", *MEASURE_COLUMNS],
        by_device.group_by(*[dims[name] for name in DIMS], device).order_by(dims["hospital_id"], device)))

    engineer = T.c.engineer_id
    by_engineer = select(grain, month_col, *dim_cols, engineer.label("engineer_id"), *sums).select_from(
        facts.joined()).where(where, engineer.is_not(None))
    session.execute(insert(EngineerRollup).from_select(
        ["grain", "month", *DIMS, "engineer_id", *MEASURE_COLUMNS],
        by_engineer.group_by(*[dims[name] for name in DIMS], engineer)))

    fault_code = func.coalesce(T.c.fault_category, "")
    tiers = [func.sum(measures[name]).label(name) for name in ("basic", "remote", "on_site")]
    by_fault = select(grain, month_col, *dim_cols, fault_code.label("fault_category"), func.count().label("faults"),
                      *tiers).select_from(facts.joined()).where(where, facts.is_fault())
    session.execute(insert(FaultRollup).from_select(
        ["grain", "month", *DIMS, "fault_category", *FAULT_MEASURES],
        by_fault.group_by(*[dims[name] for name in DIMS], fault_code)))


def _insert_exposure(session: Session, month: date, start: datetime, end: datetime, hospital_ids: list[int],
                     cap: datetime | None = None) -> None:
    """The fine exposure rows of hospital_ids' devices for a month (up to cap, for the running month)."""
    dialect = session.get_bind().dialect.name
    until = min(end, cap) if cap else end
    stmt = exposure.exposure_select(dialect, [(0, start, until, (end - start).total_seconds())], by=DEVICE_DIMS,
                                    ages=True, where=[Device.hospital_id.in_(hospital_ids)]).subquery()
    rows = select(literal("fine").label("grain"), literal(month, ExposureRollup.__table__.c.month.type)
                  .label("month"), *[stmt.c[name] for name in EXPOSURE_DIMS], stmt.c.device_months,
                  stmt.c.service_h).where(stmt.c.service_h > 0)
    session.execute(insert(ExposureRollup).from_select(
        ["grain", "month", *EXPOSURE_DIMS, *EXPOSURE_MEASURES], rows))


def _resum_coarse(session: Session, months: Iterable[date], models: Iterable[type] = (*TICKET_TABLES,)) -> None:
    """Rebuild the coarse grains of months from their fine rows."""
    for month in sorted(set(months)):
        for model in models:
            grains = GRAINS[model]
            if set(grains) == {"fine"}:
                continue  # no coarse grains (the device rollup)
            table = model.__table__  # type: ignore[attr-defined]
            session.execute(delete(model).where(table.c.grain != "fine", table.c.month == month))
            measures = measures_of(model)
            for grain, dims in grains.items():
                if grain == "fine":
                    continue
                keys = [table.c[name] for name in dims]
                stmt = select(literal(grain).label("grain"), table.c.month, *keys,
                              *[func.sum(table.c[m]).label(m) for m in measures]).where(
                    table.c.grain == "fine", table.c.month == month)
                if grain in GROUP_GRAINS:
                    stmt = stmt.where(table.c.group_id.is_not(None))
                session.execute(insert(model).from_select(
                    ["grain", "month", *dims, *measures], stmt.group_by(table.c.month, *keys)))


def _clear(session: Session, models: Iterable[type], hospital_ids: list[int] | None, month: date | None) -> None:
    for model in models:
        stmt = delete(model)
        if hospital_ids is not None:
            stmt = stmt.where(model.grain == "fine", model.hospital_id.in_(hospital_ids))  # type: ignore[attr-defined]
        if month is not None:
            stmt = stmt.where(model.month == month)  # type: ignore[attr-defined]
        session.execute(stmt)


def rebuild_partition(session: Session, hospital_id: int, month: date, time_zone: str | None,
                      *, coarse: bool = True) -> None:
    """Make one hospital's month in the ticket rollups what its tickets say now (and the month's coarse grains)."""
    _clear(session, TICKET_TABLES, [hospital_id], month)
    start, end = month_bounds(month, time_zone)
    _insert_fine(session, month, start, end, [hospital_id])
    if coarse:
        _resum_coarse(session, [month])


def _zones(session: Session, hospital_ids: Iterable[int] | None = None) -> dict[str, list[int]]:
    stmt = select(Hospital.id, Hospital.time_zone)
    if hospital_ids is not None:
        stmt = stmt.where(Hospital.id.in_(list(hospital_ids)))
    out: dict[str, list[int]] = {}
    for hospital_id, time_zone in session.execute(stmt):
        out.setdefault(time_zone or DEFAULT_TIME_ZONE, []).append(int(hospital_id))
    return out


def _ticket_months(session: Session, hospital_ids: list[int], time_zone: str, until: date | None) -> list[date]:
    first = session.execute(select(func.min(T.c.created_at)).where(T.c.hospital_id.in_(hospital_ids))).scalar()
    if first is None:
        return []
    month = month_start(_aware(first), time_zone)
    final = until or month_start(utcnow(), time_zone)
    out = []
    while month <= final:
        out.append(month)
        month = next_month(month)
    return out


def _first_month(session: Session) -> date:
    """The first month the exposure rollup keeps: the first ticket's, and at least the last twelve months."""
    current = month_start(utcnow(), DEFAULT_TIME_ZONE)
    year_ago = date(current.year - 1, current.month, 1)
    first = session.execute(select(func.min(T.c.created_at))).scalar()
    return min(month_start(_aware(first), DEFAULT_TIME_ZONE), year_ago) if first is not None else year_ago


def _rebuild_exposure(session: Session, hospital_ids: list[int] | None, months: list[date],
                      cap: datetime | None = None) -> None:
    """Fine exposure rows of months for hospital_ids (None: all), then the months' coarse grains.

    cap: the instant the running month (the last of months) is counted up to.
    """
    if not months:
        return
    for time_zone, members in _zones(session, hospital_ids).items():
        for month in months:
            _clear(session, (ExposureRollup,), members, month)
            start, end = month_bounds(month, time_zone)
            _insert_exposure(session, month, start, end, members, cap if end > (cap or end) else None)
    _resum_coarse(session, months, (ExposureRollup,))


def _stored_months(first: date | None, until: date | None) -> list[date]:
    out: list[date] = []
    month = first
    while month is not None and until is not None and month < until:
        out.append(month)
        month = next_month(month)
    return out


def _snapshot(session: Session, device_ids: list[int] | None) -> None:
    """Remember the dimensions of devices (None: all) as the rollups now count them."""
    stmt = delete(DeviceDims)
    if device_ids is not None:
        stmt = stmt.where(DeviceDims.device_id.in_(device_ids))
    session.execute(stmt)
    rows = select(Device.id, Device.hospital_id, Device.department_id, Device.group_id, Device.category,
                  Device.model, Device.install_date)
    if device_ids is not None:
        rows = rows.where(Device.id.in_(device_ids))
    session.execute(insert(DeviceDims).from_select(
        ["device_id", "hospital_id", "department_id", "group_id", "category", "model", "install_date"], rows))


def rebuild_all(session: Session) -> int:
    """Rebuild every partition (first build, or after bulk changes); returns how many months were summed."""
    _clear(session, (*TICKET_TABLES, ExposureRollup), None, None)
    months: set[date] = set()
    for time_zone, hospital_ids in _zones(session).items():
        # Hospitals sharing a zone share month bounds: one statement sums all of them for a month.
        for month in _ticket_months(session, hospital_ids, time_zone, None):
            start, end = month_bounds(month, time_zone)
            _insert_fine(session, month, start, end, hospital_ids)
            months.add(month)
    _resum_coarse(session, months)
    now = utcnow()
    until = month_start(now, DEFAULT_TIME_ZONE)
    first = _first_month(session)
    _rebuild_exposure(session, None, [*_stored_months(first, until), until], cap=now)
    _snapshot(session, None)
    state = _state(session)
    state.exposure_from, state.exposure_until, state.exposure_current_at = first, until, now
    if session.get_bind().dialect.name == "postgresql":  # fresh statistics, or the planner guesses 3 rows
        session.execute(text("ANALYZE dash_rollup, dash_engineer_rollup, dash_fault_rollup, dash_exposure, "
                             "dash_device_rollup"))
    return len(months)


def _aware(moment: datetime | str) -> datetime:
    # Raw SELECTs of min()/max() skip the column type on some backends: SQLite hands back naive UTC (or text).
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _latest_change(session: Session) -> datetime | None:
    latest = [session.execute(select(func.max(column))).scalar()
              for column in (Ticket.updated_at, PrecheckTask.updated_at, Device.updated_at)]
    present = [_aware(moment) for moment in latest if moment is not None]
    return max(present) if present else None


def _moved_devices(session: Session, since: datetime) -> tuple[list[int], set[int]]:
    """Devices changed since `since` whose dimensions differ from the snapshot, and the hospitals they touch."""
    d, s = Device.__table__, DeviceDims.__table__
    rows = session.execute(
        select(d.c.id, d.c.hospital_id, s.c.hospital_id).outerjoin(s, s.c.device_id == d.c.id).where(
            d.c.updated_at > since,
            or_(s.c.device_id.is_(None), *[d.c[name].is_distinct_from(s.c[name]) for name in (
                "hospital_id", "department_id", "group_id", "category", "model", "install_date")]))).all()
    hospitals = {int(h) for _, h, _ in rows} | {int(old) for _, _, old in rows if old is not None}
    return [int(i) for i, _, _ in rows], hospitals


def _changed_partitions(session: Session, since: datetime, devices: list[int]) -> set[tuple[int, datetime]]:
    """(hospital id, a report time) of every ticket whose facts may have changed since `since`."""
    rows: list[Any] = [
        *session.execute(select(T.c.hospital_id, T.c.created_at).where(T.c.updated_at > since)),
        *session.execute(select(T.c.hospital_id, T.c.created_at).join(
            PrecheckTask.__table__, PrecheckTask.ticket_id == T.c.id).where(PrecheckTask.updated_at > since)),
    ]
    if devices:
        rows += session.execute(select(T.c.hospital_id, T.c.created_at).where(T.c.device_id.in_(devices))).all()
    return {(int(h), _aware(created)) for h, created in rows}


class RefreshBusy(Exception):
    """Another transaction is refreshing the rollups right now (refresh(wait=False))."""


def _lock(session: Session, *, wait: bool) -> None:
    if session.get_bind().dialect.name != "postgresql":
        return
    if wait:
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK})
    elif not session.execute(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK}).scalar_one():
        raise RefreshBusy


def _state(session: Session) -> RollupState:
    state = session.get(RollupState, 1)
    if state is None:
        state = RollupState(id=1)
        session.add(state)
    return state


def refresh(session: Session, *, force: bool = False, exposure_every: timedelta = CURRENT_EXPOSURE_EVERY,
            wait: bool = True) -> int:
    """Fold ticket and registry changes into the rollups; returns how many partitions were rebuilt (the caller
    commits).

    Nothing is rebuilt while nothing changed since the last refresh, except once after the margin has passed
    since the latest change: a transaction that stamped its change before that refresh but committed after it
    is picked up then. `force` looks back over the margin regardless. A month that has ended since is added to
    the exposure rollup; the running month's device time is redone when older than `exposure_every`.
    wait=False: raise RefreshBusy rather than wait while another transaction refreshes (PostgreSQL).
    """
    now = utcnow()
    state = session.get(RollupState, 1)
    latest = _latest_change(session)
    current = month_start(now, DEFAULT_TIME_ZONE)
    if state is not None and state.refreshed_at is not None and state.watermark is not None and not force and (
            latest is None or latest <= state.watermark) and (
            now < state.watermark + MARGIN or state.refreshed_at >= state.watermark + MARGIN) and (
            state.exposure_until == current) and (
            state.exposure_current_at is not None and now - state.exposure_current_at < exposure_every):
        return 0
    _lock(session, wait=wait)
    session.expire_all()
    state = _state(session)
    if state.refreshed_at is None or state.watermark is None:
        months = rebuild_all(session)
        state.refreshed_at, state.watermark = now, latest or now
        session.flush()
        log.info("dashboard rollups built: %s month(s)", months)
        return months
    since = state.watermark - MARGIN
    devices, hospitals = _moved_devices(session, since)
    changed = _changed_partitions(session, since, devices)
    zones = dict(session.execute(select(Hospital.id, Hospital.time_zone)).all())
    partitions = {(hospital_id, month_start(created, zones.get(hospital_id))) for hospital_id, created in changed}
    if len(partitions) > FULL_REBUILD_AT:
        rebuild_all(session)
    else:
        for hospital_id, month in sorted(partitions):
            rebuild_partition(session, hospital_id, month, zones.get(hospital_id), coarse=False)
        _resum_coarse(session, {month for _, month in partitions})
        if hospitals:  # a device was added, moved or edited: its hospitals' exposure changes in every month
            _rebuild_exposure(session, sorted(hospitals), _stored_months(state.exposure_from, state.exposure_until))
            _snapshot(session, devices)
        first = _first_month(session)
        if state.exposure_from is not None and first < state.exposure_from:  # older history arrived
            _rebuild_exposure(session, None, _stored_months(first, state.exposure_from))
            state.exposure_from = first
        # Months that ended since the last refresh, and the running month up to now (hourly, or after changes).
        ended = _stored_months(state.exposure_until or first, current)
        if ended or hospitals or state.exposure_current_at is None or \
                now - state.exposure_current_at >= exposure_every:
            _rebuild_exposure(session, None, [*ended, current], cap=now)
            state.exposure_until, state.exposure_current_at = current, now
    state.watermark = max(filter(None, (state.watermark, latest)))
    state.refreshed_at = now
    session.flush()
    return len(partitions)


def refresh_job(sessions: sessionmaker[Session]) -> int:
    """The background job: one refresh in its own transaction; returns how many partitions were rebuilt."""
    with sessions() as session:
        rebuilt = refresh(session)
        session.commit()
    if rebuilt:
        log.info("dashboard rollups: %s partition(s) refreshed", rebuilt)
    return rebuilt
