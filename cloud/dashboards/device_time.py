"""How long the devices of a question were in service (the denominator of failure rate, repair rate and MTBF):
from the exposure rollup for whole stored months, from the device table (exposure.py) for the rest.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, case, func, literal, or_, select
from sqlalchemy.orm import Session

from cloud.dashboards import exposure as exposure_sql
from cloud.dashboards import facts, rollups
from cloud.dashboards.models import (
    ExposureRollup,
    RollupState,
)
from cloud.dashboards.shapes import YEAR_DAYS, Filters
from cloud.dashboards.sources import _apply, _grain, _Plan
from cloud.db import utcnow
from cloud.registry.models import Device

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
              device_ids: Iterable[int] | None = None, members: Sequence[Any] | None = None
              ) -> dict[tuple[Any, ...], list[float]]:
    """[devices, device-months, service hours] per (member?, month index?) of the filtered devices.

    key: a device column of DEVICE_KEYS, 'age_band', or None for the whole slice. Whole past months come from the
    exposure rollup when the plan reads rollups, the rest is computed from the device table (exposure.py). An
    age-band filter keeps only the time devices spent in those bands. devices: in service at the end of the slice
    (not per month). members: only these members of a device column key (a chart's leaders).
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
        if members is not None and device_key:
            stmt = stmt.where(table.c[device_key].in_(list(members)))
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
        where = _device_filters(f, device_ids)
        if members is not None and device_key:
            where.append(DEVICE_KEYS[device_key].in_(list(members)))
        stmt = exposure_sql.exposure_select(plan.dialect, live, by=by, ages=ages, where=where, per_month=per_month)
        for row in session.execute(stmt):
            data = row._mapping
            band = data["age_band"] if ages else None
            if f.age_bands and band not in f.age_bands:
                continue
            member = band if key == "age_band" else (data[by[0]] if by else None)
            add(member, int(data["bucket"]), data["device_months"], data["service_h"])
    if not per_month:  # monthly rows carry no device count
        for group, count in _devices_at_end(session, plan, key, device_ids).items():
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


def _per_device(session: Session, plan: _Plan) -> tuple[dict[tuple[Any, ...], list[float]], dict[str, str]]:
    """[devices, device-months, service hours] per device of the slice, and the devices' names, in one query.

    For the device breakdown without an age filter; the same numbers _exposure(key='device_id') computes from a
    row per device and month (exposure.per_device_select), and _devices_at_end counts, and the names
    member_labels looks up (a look-up by 3,000 ids cost more than the whole query).
    """
    f = plan.filters
    assert f.end is not None
    cap = min(plan.now, f.end)
    live = [(i, lower, min(upper, plan.now), _month_length(plan, i)) for i, (_m, lower, upper) in
            enumerate(plan.months) if lower < plan.now]
    stmt = exposure_sql.per_device_select(plan.dialect, live, where=_device_filters(f),
                                          in_service_before=cap.date() + timedelta(days=1))
    out: dict[tuple[Any, ...], list[float]] = {}
    labels: dict[str, str] = {}
    for device_id, number, model, device_months, hours, at_end in session.execute(stmt):
        labels[str(device_id)] = f"{number} {model}"
        if hours or at_end:  # in service at some time of the slice, or at its end
            out[(device_id,)] = [float(at_end), float(device_months or 0.0) if hours else 0.0, float(hours or 0.0)]
    return out, labels
