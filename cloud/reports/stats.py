"""The numbers of a hospital's monthly report, from the dashboards' aggregate layer (cloud/dashboards/aggregates).

The report and the dashboards must never disagree, so every figure comes from the same functions, with the same
meaning (cloud/dashboards/facts.py): a ticket belongs to the month it was reported in (the hospital's time zone),
merged duplicates never count, a fault is a ticket that was not cancelled and not a false alarm; MTTR, downtime,
first-time fix, SLA compliance, tiers and ratings are over the month's tickets. The raw tickets are read rather than
the rollups: one hospital's month is a few hundred rows, and a report then never writes (the rollup refresh does).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.dashboards import aggregates as agg
from cloud.localtime import zone
from cloud.registry.models import Department, Device, Hospital
from cloud.tickets.models import Ticket

TREND_MONTHS = 6
TOP_DEVICES = 10
TICKET_ROWS_MAX = 200  # the appendix lists at most this many tickets; the rest are counted
DAILY_ROWS_MAX = 20_000  # tickets read for the per-day chart (far beyond any hospital's month)
SOURCE = "raw"


@dataclass(frozen=True)
class Month:
    """A calendar month of one hospital: its bounds in UTC, from local midnight on the 1st."""

    year: int
    month: int
    time_zone: str

    @property
    def key(self) -> str:
        """'YYYY-MM'."""
        return f"{self.year:04d}-{self.month:02d}"

    def shifted(self, months: int) -> Month:
        """The month `months` later (negative: earlier)."""
        index = self.year * 12 + self.month - 1 + months
        return Month(index // 12, index % 12 + 1, self.time_zone)

    @property
    def start(self) -> datetime:
        """Local midnight on the 1st, in UTC."""
        return datetime(self.year, self.month, 1, tzinfo=zone(self.time_zone)).astimezone(UTC)

    @property
    def end(self) -> datetime:
        """The next month's start, in UTC."""
        return self.shifted(1).start

    @property
    def days(self) -> int:
        """Days in the month."""
        following = self.shifted(1)
        return (date(following.year, following.month, 1) - date(self.year, self.month, 1)).days

    def filters(self, hospital_id: int, *, months: int = 1) -> agg.Filters:
        """The aggregate filters of this month (or of `months` months ending with it) at one hospital."""
        return agg.Filters(start=self.shifted(1 - months).start, end=self.end, hospital_ids=(hospital_id,),
                           time_zone=self.time_zone)


@dataclass(frozen=True)
class DepartmentLine:
    """A department's devices and tickets."""

    name: str
    devices: int
    tickets: int
    repair_rate: float | None


@dataclass(frozen=True)
class DeviceLine:
    """One of the devices with the most faults."""

    system_number: str
    model: str
    department: str
    tickets: int
    faults: int
    downtime_hours: float


@dataclass
class MonthlyStats:
    """What the monthly report shows, for one hospital and month."""

    summary: agg.Metrics
    faults: list[agg.FaultRow] = field(default_factory=list)
    daily: list[int] = field(default_factory=list)
    departments: list[DepartmentLine] = field(default_factory=list)
    top_devices: list[DeviceLine] = field(default_factory=list)
    engineers: list[agg.EngineerRow] = field(default_factory=list)
    trend: list[agg.Metrics] = field(default_factory=list)
    lines: list[agg.TicketRow] = field(default_factory=list)  # oldest first
    lines_left_out: int = 0

    @property
    def empty(self) -> bool:
        """No ticket was reported in the month."""
        return not self.summary.tickets


def monthly_stats(session: Session, *, hospital: Hospital, month: Month, now: datetime,
                  language: str = "zh-CN") -> MonthlyStats:
    """The month's numbers for one hospital (an empty month gives zeros and empty lists, never an error)."""
    filters = month.filters(hospital.id)
    summary = agg.metrics(session, filters, now=now, source=SOURCE)
    stats = MonthlyStats(summary=summary)
    stats.faults = agg.faults(session, filters, language=language, now=now, source=SOURCE)
    stats.trend = agg.trend(session, month.filters(hospital.id, months=TREND_MONTHS), now=now, source=SOURCE)
    stats.engineers = [e for e in agg.engineers(session, filters, now=now, source=SOURCE) if e.tickets or e.on_site]

    names = dict(session.execute(select(Department.id, Department.name)
                                 .where(Department.hospital_id == hospital.id)).all())
    for row in agg.breakdown(session, filters, agg.Dimension.department, language=language, now=now, source=SOURCE):
        if row.tickets or row.devices:
            name = names.get(int(row.key)) if row.key else None
            stats.departments.append(DepartmentLine(name or "", row.devices, row.tickets, row.repair_rate))
    stats.departments.sort(key=lambda d: (-d.tickets, -d.devices, d.name))

    # Ranked most faults, then most tickets first: devices without tickets can only follow the leaders.
    leaders = [row for row in agg.breakdown(session, filters, agg.Dimension.device, language=language, now=now,
                                            limit=TOP_DEVICES, source=SOURCE) if row.tickets and row.key]
    if leaders:
        devices = {d.id: d for d in session.execute(select(Device).where(
            Device.id.in_([int(r.key) for r in leaders if r.key]))).scalars()}
        for row in leaders:
            device = devices.get(int(row.key or 0))
            if device is None:
                continue
            stats.top_devices.append(DeviceLine(
                device.system_number, " ".join(x for x in (device.manufacturer, device.model) if x),
                device.department.name if device.department else "", row.tickets, row.faults,
                round(row.downtime_hours, 1)))

    # The month's tickets as the dashboards count them (newest first): all of them for the per-day chart, the
    # first ones, oldest first, for the appendix.
    ids = agg.drill_ids(session, filters, agg.Drill(measure="tickets"), cap=DAILY_ROWS_MAX, now=now)
    local = zone(month.time_zone)
    stats.daily = [0] * month.days
    for start in range(0, len(ids), 1000):
        for (created,) in session.execute(select(Ticket.created_at).where(Ticket.id.in_(ids[start:start + 1000]))):
            moment = created if created.tzinfo else created.replace(tzinfo=UTC)
            stats.daily[moment.astimezone(local).day - 1] += 1
    listed = list(reversed(ids))[:TICKET_ROWS_MAX]
    stats.lines = agg.ticket_rows(session, listed, language)
    stats.lines_left_out = len(ids) - len(listed)
    return stats


def last_month(hospital: Hospital, now: datetime) -> Month:
    """The month before the one `now` falls in, in the hospital's time zone."""
    return month_of(hospital, now).shifted(-1)


def month_of(hospital: Hospital, now: datetime) -> Month:
    """The month `now` falls in, in the hospital's time zone."""
    local = now.astimezone(zone(hospital.time_zone))
    return Month(local.year, local.month, hospital.time_zone)
