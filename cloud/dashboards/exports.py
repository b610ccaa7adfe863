"""CSV and XLSX exports of every table view and of the whole dashboard, with headers in the reader's language.

A view is one table: summary (the cards), trend (per month), breakdown (per member of a dimension), faults (per
fault category), fault_trend, engineers, tickets (a drill-down list). CSV holds one view (UTF-8 with a byte order
mark, so Excel opens Chinese text correctly); XLSX holds one view, or with view=dashboard every view of the page
on a sheet of its own. Numbers stay numbers (rates as fractions formatted as percentages in XLSX), times are
written in the reporting zone. The file writer (CSV, XLSX) is cloud/exports.py, shared with every list export.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from sqlalchemy.orm import Session

from cloud.dashboards import aggregates as agg
from cloud.dashboards.aggregates import Dimension, Drill, Filters
from cloud.exports import Table, to_csv, to_xlsx
from cloud.i18n import translate
from cloud.i18n_catalogs import N_
from cloud.localtime import local_time

__all__ = ["Table", "build", "to_csv", "to_xlsx"]

VIEWS = ("summary", "trend", "breakdown", "faults", "fault_trend", "engineers", "tickets")
DASHBOARD_VIEWS = ("summary", "trend", "breakdown", "faults", "fault_trend", "engineers")
MAX_TICKETS = 100_000  # a drill-down export stops here (and says so in its last row)

# (Metrics field, header msgid, kind): kind int, num (2 decimals), pct (a fraction shown as %), hours.
METRIC_COLUMNS = (
    ("tickets", N_("Tickets"), "int"), ("reports", N_("Reports"), "int"), ("faults", N_("Faults"), "int"),
    ("devices", N_("Devices"), "int"), ("device_months", N_("Device-months"), "num"),
    ("failure_rate", N_("Failure rate (faults per device-month)"), "num"),
    ("repair_rate", N_("Repair rate (reports per device-month)"), "num"),
    ("mtbf_hours", N_("MTBF (h)"), "hours"), ("mttr_hours", N_("MTTR (h)"), "hours"),
    ("downtime_hours", N_("Downtime (h)"), "hours"), ("ftf_rate", N_("First-time fix"), "pct"),
    ("fr_sla", N_("First response within SLA"), "pct"), ("res_sla", N_("Resolution within SLA"), "pct"),
    ("basic", N_("tier.basic"), "int"), ("remote", N_("tier.remote"), "int"), ("on_site", N_("tier.on_site"), "int"),
    ("self_service_rate", N_("Self-service rate"), "pct"), ("predictive", N_("desk.source.predictive"), "int"),
    ("predictive_share", N_("Predictive share"), "pct"), ("pred_confirmed", N_("Confirmed by pre-check"), "int"),
    ("pred_false", N_("False alarms"), "int"), ("predictive_precision", N_("Predictive precision"), "pct"),
    ("rated", N_("Ratings"), "int"), ("rating", N_("Average rating"), "num"),
)
DIMENSION_NAMES = {Dimension.hospital: N_("Hospital"), Dimension.department: N_("Department"),
                   Dimension.group: N_("Device group"), Dimension.category: N_("Category"),
                   Dimension.model: N_("Model"), Dimension.age_band: N_("Age"), Dimension.device: N_("Device"),
                   Dimension.origin: N_("desk.Source")}
VIEW_TITLES = {"summary": N_("Summary"), "trend": N_("Monthly trend"), "breakdown": N_("By dimension"),
               "faults": N_("Fault categories"), "fault_trend": N_("Fault categories by month"),
               "engineers": N_("Engineers"), "tickets": N_("Tickets")}


def _metric_rows(items: Sequence[agg.Metrics], first: Callable[[agg.Metrics], Any]) -> list[list[Any]]:
    return [[first(m), *[getattr(m, name) for name, _, _ in METRIC_COLUMNS]] for m in items]


def build(session: Session, view: str, filters: Filters, *, language: str, by: Dimension = Dimension.hospital,
          what: Drill | None = None) -> Table:
    """The table of one view."""
    t = partial(translate, language=language)
    metric_headers = [t(h) for _, h, _ in METRIC_COLUMNS]
    metric_kinds = [k for _, _, k in METRIC_COLUMNS]
    if view == "summary":
        m = agg.metrics(session, filters)
        return Table(t(VIEW_TITLES[view]), [t("Measure"), t("Value")],
                     [[t(h), getattr(m, name)] for name, h, _ in METRIC_COLUMNS], ["text", "mixed"],
                     row_kinds=[k for _, _, k in METRIC_COLUMNS])
    if view == "trend":
        return Table(t(VIEW_TITLES[view]), [t("Month"), *metric_headers],
                     _metric_rows(agg.trend(session, filters), lambda m: m.key), ["text", *metric_kinds])
    if view == "breakdown":
        rows = agg.breakdown(session, filters, by, language=language)
        return Table(f"{t(VIEW_TITLES[view])} · {t(DIMENSION_NAMES[by])}", [t(DIMENSION_NAMES[by]), *metric_headers],
                     _metric_rows(rows, lambda m: m.label), ["text", *metric_kinds])
    if view == "faults":
        fault_rows = agg.faults(session, filters, language=language)
        return Table(t(VIEW_TITLES[view]),
                     [t("Fault category"), t("Faults"), t("Share"), t("tier.basic"), t("tier.remote"),
                      t("tier.on_site"), t("Basic fault")],
                     [[r.label, r.faults, r.share, r.basic, r.remote, r.on_site, t("Yes") if r.basic_fault else t("No")]
                      for r in fault_rows], ["text", "int", "pct", "int", "int", "int", "text"])
    if view == "fault_trend":
        over_time = agg.fault_trend(session, filters, language=language)
        return Table(t(VIEW_TITLES[view]),
                     [t("Month"), t("Fault category"), t("Faults"), t("tier.basic"), t("tier.remote"),
                      t("tier.on_site")],
                     [[r.month.strftime("%Y-%m") if r.month else "", r.label, r.faults, r.basic, r.remote, r.on_site]
                      for r in over_time], ["text", "text", "int", "int", "int", "int"])
    if view == "engineers":
        people = agg.engineers(session, filters)
        return Table(t(VIEW_TITLES[view]),
                     [t("Engineer"), t("Tickets"), t("tier.on_site"), t("Repaired"), t("MTTR (h)"), t("Open now"),
                      t("First-time fix"), t("Ratings"), t("Average rating")],
                     [[p.name, p.tickets, p.on_site, p.repaired, p.mttr_hours, p.open_now, p.ftf_rate, p.rated,
                       p.rating] for p in people],
                     ["text", "int", "int", "int", "hours", "int", "pct", "int", "num"])
    if view == "tickets":
        return _tickets(session, filters, what or Drill(), language)
    raise ValueError(view)


def _tickets(session: Session, filters: Filters, what: Drill, language: str) -> Table:
    t = partial(translate, language=language)
    ids = agg.drill_ids(session, filters, what, cap=MAX_TICKETS + 1)
    rows: list[list[Any]] = []
    zone = filters.time_zone
    for start in range(0, min(len(ids), MAX_TICKETS), 1000):
        for r in agg.ticket_rows(session, ids[start:start + 1000], language):
            rows.append([r.number, local_time(r.created_at, zone), r.hospital, r.department, r.device, r.model,
                         t(r.category) if r.category else "", t(f"desk.source.{r.origin}"), t(r.status),
                         t(f"tier.{r.tier}") if r.tier else "", r.fault_category or "", r.engineer,
                         local_time(r.resolved_at, zone), r.repair_hours, r.reopen_count, r.rating])
    if len(ids) > MAX_TICKETS:
        rows.append([t("Only the newest 100,000 tickets are exported; narrow the filters for the rest.")])
    headers = [N_("Ticket"), N_("Reported"), N_("Hospital"), N_("Department"), N_("Device"), N_("Model"),
               N_("Category"), N_("desk.Source"), N_("Status"), N_("Tier"), N_("Fault category"), N_("Engineer"),
               N_("Resolved"), N_("Repair time (h)"), N_("Reopened"), N_("Rating")]
    kinds = ["text"] * 13 + ["hours", "int", "int"]
    return Table(t(VIEW_TITLES["tickets"]), [t(h) for h in headers], rows, kinds)
