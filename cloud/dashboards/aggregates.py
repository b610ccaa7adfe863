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

This module is the public face of the aggregate layer; the work is done by its parts:
- shapes.py: filters, dimensions, metric rows, pages and the time helpers;
- sources.py: the plan of a question (rollup or raw tickets), the grain that answers it, the summed facts;
- device_time.py: the devices' time in service (exposure rollup, or the device table);
- charts.py: metrics, trends, breakdowns, faults, engineers and member names;
- drilldown.py: the tickets behind a number.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy.orm import Session

from cloud.dashboards import rollups
from cloud.dashboards.charts import (
    breakdown,
    breakdown_page,
    breakdown_trend,
    engineers,
    fault_label_of,
    fault_names,
    fault_trend,
    faults,
    member_labels,
    metrics,
    trend,
)
from cloud.dashboards.drilldown import DRILL_MEASURES, WINDOWS, drill, drill_ids, ticket_rows
from cloud.dashboards.shapes import (
    AGE_BAND_NAMES,
    AGE_BANDS,
    DIMENSION_COLUMN,
    MAX_IDLE_DEVICES,
    MAX_MONTHS,
    Dimension,
    Drill,
    EngineerRow,
    FaultRow,
    Filters,
    Metrics,
    Origin,
    Profile,
    Series,
    TicketPage,
    TicketRow,
    _months_back,
    month_range,
    reporting_zone,
)
from cloud.db import utcnow
from cloud.errors import Invalid

__all__ = [
    "AGE_BANDS", "AGE_BAND_NAMES", "DIMENSION_COLUMN", "DRILL_MEASURES", "MAX_IDLE_DEVICES", "MAX_MONTHS", "WINDOWS",
    "Dimension", "Drill", "EngineerRow", "FaultRow", "Filters", "Metrics", "Origin", "Profile", "Series",
    "TicketPage", "TicketRow", "_months_back", "breakdown", "breakdown_page", "breakdown_trend", "drill", "drill_ids",
    "engineers",
    "fault_label_of", "fault_names", "fault_trend", "faults", "member_labels", "metrics", "month_filters",
    "month_range", "profile", "reporting_zone", "ticket_rows", "trend",
]

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

