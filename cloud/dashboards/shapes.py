"""What the dashboards answer in: filters, dimensions, metric rows, drill-down pages and their time helpers.

The definitions cloud/dashboards/aggregates.py (the public face of the aggregate layer) re-exports.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.orm import Session

from cloud.dashboards import facts, rollups
from cloud.db import utcnow
from cloud.errors import Invalid
from cloud.i18n_catalogs import N_
from cloud.localtime import DEFAULT_TIME_ZONE, zone
from cloud.registry.models import Hospital

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
