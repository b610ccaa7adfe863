"""How long devices were in service: the denominator of failure rate, repair rate and MTBF, computed in SQL.

A device is in service from its install date (UTC midnight; without one, always) until the end of the month or
now, whichever comes first. Its time is split by its age (facts.AGE_BANDS, years of 365.25 days) when age bands
matter. For each month of a question the query sums, per group of devices, the seconds in service, giving
device-months (seconds / the month's length: a whole month in service is 1) and service hours.

The same query fills the exposure rollup (models.ExposureRollup) for whole past months and answers the month that
is still running, or any month for the raw path.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, DateTime, Float, Select, and_, case, cast, func, literal, or_, select, union_all

from cloud.dashboards import facts
from cloud.registry.models import Device

YEAR_S = 365.25 * 86400.0
FAR = 1e13  # seconds: "no bound" for an open-ended age band or a device without an install date
DEVICE_COLUMNS: dict[str, Any] = {"hospital_id": Device.hospital_id, "department_id": Device.department_id,
                                  "group_id": Device.group_id, "category": Device.category, "model": Device.model,
                                  "device_id": Device.id}


def epoch(moment: datetime) -> float:
    """Seconds since 1970 of an aware instant."""
    return moment.astimezone(UTC).timestamp()


def _install_epoch(dialect: str) -> ColumnElement[Any]:
    if dialect == "postgresql":
        return func.extract("epoch", cast(Device.install_date, DateTime()))
    return (func.julianday(Device.install_date) - 2440587.5) * 86400.0


def _greatest(dialect: str, *args: Any) -> ColumnElement[Any]:
    return func.greatest(*args) if dialect == "postgresql" else func.max(*args)


def _least(dialect: str, *args: Any) -> ColumnElement[Any]:
    return func.least(*args) if dialect == "postgresql" else func.min(*args)


def _months(months: Sequence[tuple[int, datetime, datetime, float]]) -> Any:
    """(index, start, cap, length seconds) rows as a derived table both backends read."""
    rows = [select(literal(i).label("idx"), literal(epoch(lo), Float).label("lo"), literal(epoch(hi), Float)
                   .label("hi"), literal(length, Float).label("length")) for i, lo, hi, length in months]
    return (rows[0] if len(rows) == 1 else union_all(*rows)).subquery("months")


def _bands() -> Any:
    rows = []
    codes = facts.AGE_BANDS
    for i, (code, lower) in enumerate(codes):
        upper = codes[i + 1][1] * YEAR_S if i + 1 < len(codes) else FAR
        rows.append(select(literal(code).label("code"), literal(lower * YEAR_S, Float).label("blo"),
                           literal(upper, Float).label("bhi")))
    rows.append(select(literal(facts.AGE_UNKNOWN).label("code"), literal(-FAR, Float).label("blo"),
                       literal(FAR, Float).label("bhi")))
    return union_all(*rows).subquery("bands")


def exposure_select(dialect: str, months: Sequence[tuple[int, datetime, datetime, float]], *, by: Sequence[str],
                    ages: bool, where: Sequence[ColumnElement[bool]] = (), per_month: bool = True) -> Select[Any]:
    """SELECT <by device columns>, [age_band], bucket, device_months, service_h GROUP BY them.

    months: (bucket index, from, until, the whole month's length in seconds); until is the month's end or now.
    per_month False: the months summed together (bucket 0), a twelfth of the rows to hand back.
    """
    m = _months(months)
    install = _install_epoch(dialect)
    columns: list[Any] = [DEVICE_COLUMNS[name].label(name) for name in by]
    if ages:
        b = _bands()
        known = Device.install_date.is_not(None)
        start: ColumnElement[Any] = case((known, _greatest(dialect, m.c.lo, install, install + b.c.blo)),
                                         else_=m.c.lo)
        end: ColumnElement[Any] = case((known, _least(dialect, m.c.hi, install + b.c.bhi)), else_=m.c.hi)
        # A device with an install date has no 'unknown' time, one without has only that.
        fits = case((known, b.c.code != facts.AGE_UNKNOWN), else_=b.c.code == facts.AGE_UNKNOWN)
        seconds: ColumnElement[Any] = case((fits, _greatest(dialect, end - start, 0.0)), else_=0.0)
        columns.append(b.c.code.label("age_band"))
        source: Any = select().select_from(Device).join(m, literal(True)).join(b, literal(True))
    else:
        begin = case((Device.install_date.is_not(None), _greatest(dialect, m.c.lo, install)), else_=m.c.lo)
        seconds = _greatest(dialect, m.c.hi - begin, 0.0)
        source = select().select_from(Device).join(m, literal(True))
    bucket = m.c.idx if per_month else literal(0)
    stmt = source.add_columns(*columns, bucket.label("bucket"),
                              func.sum(seconds / m.c.length).label("device_months"),
                              func.sum(seconds / 3600.0).label("service_h"))
    if where:
        stmt = stmt.where(and_(*where))
    group = [DEVICE_COLUMNS[name] for name in by] + ([columns[-1]] if ages else []) + ([m.c.idx] if per_month else [])
    grouped: Select[Any] = stmt.group_by(*group)
    return grouped


def per_device_select(dialect: str, months: Sequence[tuple[int, datetime, datetime, float]], *,
                      where: Sequence[ColumnElement[bool]], in_service_before: Any) -> Select[Any]:
    """SELECT device id, system number, model, device_months, service_h, at_end: each device's time summed over
    the months (no age bands), without a row per device and month.

    A device's time in a month is the month from its install date on, so over consecutive months it is every
    month after the one it was installed in, plus the rest of that one: one CASE on the install instant against
    the months' bounds, with the sums of the later months worked out here. (The same sum exposure_select makes
    over device × month rows, up to the rounding of the last bit: 3,000 devices of a hospital in 3 ms instead of
    36,000 rows in 50–100 ms.) at_end: 1 when the device is in service before in_service_before (a date).
    """
    ordered = sorted(months, key=lambda m: epoch(m[1]))
    bounds = [(epoch(lo), epoch(hi), length) for _i, lo, hi, length in ordered]
    shares = [max(hi - lo, 0.0) for lo, hi, _length in bounds]
    # Months from k on, whole: device-months and seconds.
    later_months = [sum(s / b[2] for s, b in zip(shares[k:], bounds[k:], strict=True)) for k in range(len(bounds))]
    later_s = [sum(shares[k:]) for k in range(len(bounds))]
    later_months.append(0.0)
    later_s.append(0.0)
    install = _install_epoch(dialect)
    whens_months: list[Any] = [(Device.install_date.is_(None), literal(later_months[0], Float))]
    whens_s: list[Any] = [(Device.install_date.is_(None), literal(later_s[0], Float))]
    for k, (lo, hi, length) in enumerate(bounds):
        whens_months += [(install <= lo, literal(later_months[k], Float)),
                         (install < hi, (literal(hi, Float) - install) / length + later_months[k + 1])]
        whens_s += [(install <= lo, literal(later_s[k], Float)),
                    (install < hi, literal(hi, Float) - install + later_s[k + 1])]
    at_end = case((or_(Device.install_date.is_(None), Device.install_date < in_service_before), 1), else_=0)
    stmt = select(Device.id.label("device_id"), Device.system_number, Device.model,
                  case(*whens_months, else_=0.0).label("device_months"),
                  (case(*whens_s, else_=0.0) / 3600.0).label("service_h"), at_end.label("at_end"))
    return stmt.where(and_(*where)) if where else stmt
