"""A hospital's monthly service report (设备维保服务月报): key figures, charts, departments, devices, engineers,
predictive maintenance and every ticket of the month, as an A4 PDF in the hospital's time zone.

`parse_month` checks the month a person typed; `collect` gathers the numbers (cloud/reports/stats.py) into
display text; `render` lays them out. A month without tickets gives the same report with zeros and "no data".
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import CondPageBreak, Flowable, KeepTogether, SimpleDocTemplate, Spacer, Table, TableStyle
from sqlalchemy.orm import Session

from cloud.db import utcnow
from cloud.errors import Invalid
from cloud.i18n import translate
from cloud.localtime import local_time, zone_label
from cloud.registry.models import Hospital
from cloud.reports import charts, pdf
from cloud.reports.stats import Month, MonthlyStats, month_of, monthly_stats

REPORT_LANGUAGE = "zh-CN"
MONTH_PATTERN = re.compile(r"^(\d{4})-(\d{1,2})$")
EARLIEST_YEAR = 2000


def parse_month(text: str, time_zone: str) -> Month:
    """'2026-11' as a Month of the hospital's time zone; anything else is a clear Invalid."""
    found = MONTH_PATTERN.match((text or "").strip())
    if found is None or not 1 <= int(found.group(2)) <= 12 or int(found.group(1)) < EARLIEST_YEAR:
        raise Invalid("the month is year and month as YYYY-MM, e.g. 2026-11",
                      [{"field": "month", "message": f"not a month: {text!r}"}])
    return Month(int(found.group(1)), int(found.group(2)), time_zone)


@dataclass
class MonthlyReportData:
    """A monthly report's content in `language`."""

    language: str
    hospital: str
    month: Month
    generated_at: str
    complete: bool  # the month is over (a report of the running month is marked as such)
    stats: MonthlyStats
    as_of: str = ""  # the running month: counted up to this local time


def collect(session: Session, hospital: Hospital, month: Month, *, now: datetime | None = None,
            language: str = REPORT_LANGUAGE) -> MonthlyReportData:
    """The month's numbers for the hospital (cloud/reports/stats.py)."""
    now = now or utcnow()
    stats = monthly_stats(session, hospital=hospital, month=month, now=now, language=language)
    complete = month.end <= now
    return MonthlyReportData(language=language, hospital=hospital.name, month=month,
                             generated_at=local_time(now, hospital.time_zone), complete=complete, stats=stats,
                             as_of="" if complete else local_time(now, hospital.time_zone))


def month_label(month: Month, language: str) -> str:
    """'2026年11月' / '2026-11'."""
    return translate("{year}-{month}", language).format(year=month.year, month=f"{month.month:02d}"
                                                        if language == "en" else month.month)


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def _hours(value: float | None, t: Any) -> str:
    return "—" if value is None else t("{hours} h").format(hours=f"{value:.1f}")


def _cards(rows: list[list[tuple[str, str, str]]], st: pdf.Styles) -> Table:
    """Key figures as cards: label, large value, a small note under it."""
    columns = len(rows[0])
    width = pdf.CONTENT_WIDTH / columns
    note = ParagraphStyle("note", parent=st.small, textColor=pdf.MUTED)
    cells = [[Table([[pdf.para(label, st.label)], [pdf.para(value, st.big_number)], [pdf.para(extra, note)]],
                    colWidths=[width - 14], style=[("LEFTPADDING", (0, 0), (-1, -1), 0),
                                                   ("TOPPADDING", (0, 0), (-1, -1), 0),
                                                   ("BOTTOMPADDING", (0, 0), (-1, -1), 1)])
              for label, value, extra in row] for row in rows]
    table = Table(cells, colWidths=[width] * columns)
    table.setStyle(TableStyle([
        ("BACKGROUND", (0, 0), (-1, -1), pdf.PRIMARY_LIGHT), ("GRID", (0, 0), (-1, -1), 2.5, colors.white),
        ("TOPPADDING", (0, 0), (-1, -1), 6), ("BOTTOMPADDING", (0, 0), (-1, -1), 5),
        ("LEFTPADDING", (0, 0), (-1, -1), 8), ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]))
    return table


def _side_by_side(left: Flowable, right: Flowable) -> Table:
    half = pdf.CONTENT_WIDTH / 2
    table = Table([[left, right]], colWidths=[half, half])
    table.setStyle(TableStyle([("LEFTPADDING", (0, 0), (-1, -1), 0), ("RIGHTPADDING", (0, 0), (-1, -1), 0),
                               ("VALIGN", (0, 0), (-1, -1), "TOP")]))
    return table


def render(data: MonthlyReportData) -> bytes:
    """The monthly report as an A4 PDF."""
    language, s = data.language, data.stats

    def t(text: str) -> str:
        return translate(text, language)

    st = pdf.styles()
    label = month_label(data.month, language)
    period = t("{start} to {end}").format(start=f"{data.month.key}-01", end=f"{data.month.key}-{data.month.days:02d}")
    if data.complete:
        state, colour = (t("No tickets this month"), pdf.MUTED) if s.empty else (t("Full month"), pdf.GOOD)
    else:
        state, colour = t("Month in progress"), pdf.WARN
    story: list[Any] = [pdf.TitleBlock(t("Monthly equipment service report"),
                                   [data.hospital, f"{label}（{period}）"], t("Report month"), data.month.key, state,
                                   colour), Spacer(1, 6)]
    if data.as_of:
        story.append(pdf.para(t("Counted up to {time}; the month is not over yet.").format(time=data.as_of),
                              st.muted))
    m = s.summary
    story.append(_cards([
        [(t("Tickets"), str(m.tickets), t("{reported} reported · {predictive} predictive").format(
            reported=m.reports, predictive=m.predictive)),
         (t("Repaired"), str(m.repaired), t("{open} still open").format(open=m.open_faults)),
         (t("Mean time to repair"), _hours(m.mttr_hours, t), t("from report to repair")),
         (t("First-time fix"), _percent(m.ftf_rate), t("repaired without reopening"))],
        [(t("Response within target"), _percent(m.fr_sla), t("first response SLA")),
         (t("Repair within target"), _percent(m.res_sla), t("resolution SLA")),
         (t("Repair rate"), f"{m.repair_rate:.2f}" if m.repair_rate is not None else "—",
          t("reports per device ({devices} devices)").format(devices=m.devices)),
         (t("Satisfaction"), f"{m.rating:.1f} / 5" if m.rating is not None else "—",
          t("{count} ratings").format(count=m.rated))],
    ], st))

    no_data = t("No data this month")
    width = pdf.CONTENT_WIDTH
    story.append(pdf.SectionHeading(t("1. Tickets per day")))
    story.append(charts.column_chart(s.daily, [str(d) for d in range(1, len(s.daily) + 1)], width=width,
                                     height=42 * mm, title=t("Tickets reported each day"), empty=no_data))
    story.append(pdf.SectionHeading(t("2. Faults and how they were solved")))
    by_name: dict[str, int] = {}
    for fault in s.faults:  # one name for several device categories is one bar
        by_name[fault.label] = by_name.get(fault.label, 0) + fault.faults
    tiers = [(t("tier.basic"), m.basic), (t("tier.remote"), m.remote), (t("tier.on_site"), m.on_site)]
    story.append(_side_by_side(
        charts.bar_list(sorted(by_name.items(), key=lambda item: -item[1]), width=width / 2 - 6, height=52 * mm,
                        title=t("Faults by fault category"), empty=no_data),
        charts.share_ring(tiers, width=width / 2 - 6, height=52 * mm, title=t("Solved at"), empty=no_data)))
    story.append(pdf.SectionHeading(t("3. Last six months")))
    months = [point.month.strftime("%y/%m") if point.month else "" for point in s.trend]
    story.append(_side_by_side(
        charts.column_chart([point.tickets for point in s.trend], months, width=width / 2 - 6, height=44 * mm,
                            title=t("Tickets per month"), empty=no_data, show_values=True),
        charts.line_chart([point.mttr_hours for point in s.trend], months, width=width / 2 - 6, height=44 * mm,
                          title=t("Mean time to repair (hours)"), empty=no_data)))

    nothing = t("No tickets this month.")
    story.append(pdf.SectionHeading(t("4. Departments")))
    rows: list[list[Any]] = [[t("Department"), t("Devices"), t("Tickets"), t("Repair rate")]]
    rows += [[pdf.para(d.name or t("No department"), st.cell), d.devices, d.tickets,
              f"{d.repair_rate:.2f}" if d.repair_rate is not None else "—"] for d in s.departments]
    story.append(_table_or_note(rows, [width - 96 * mm, 28 * mm, 28 * mm, 40 * mm], nothing, st))

    story.append(pdf.SectionHeading(t("5. Devices with the most tickets")))
    rows = [[t("Device no."), t("Model"), t("Department"), t("Tickets"), t("Downtime (h)")]]
    rows += [[d.system_number, pdf.para(d.model, st.cell), pdf.para(d.department or "—", st.cell), d.tickets,
              f"{d.downtime_hours:.1f}"] for d in s.top_devices]
    story.append(_table_or_note(rows, [32 * mm, width - 126 * mm, 40 * mm, 22 * mm, 32 * mm], nothing, st))

    story.append(pdf.SectionHeading(t("6. Engineers")))
    rows = [[t("Engineer"), t("Dispatched"), t("On-site repairs"), t("Average rating")]]
    rows += [[pdf.para(e.name, st.cell), e.tickets, e.on_site, f"{e.rating:.1f} / 5" if e.rating is not None else "—"]
             for e in s.engineers]
    story.append(_table_or_note(rows, [width - 108 * mm, 36 * mm, 36 * mm, 36 * mm],
                                t("No engineer was dispatched this month."), st))

    story.append(pdf.SectionHeading(t("7. Predictive maintenance")))
    outcome_rows: list[list[Any]] = [
        [t("Predictive tickets"), t("Fault confirmed"), t("False alarm"), t("Precision")],
        [m.predictive, m.pred_confirmed, m.pred_false, _percent(m.predictive_precision)]]
    story.append(pdf.grid_table(outcome_rows, [width / 4] * 4, zebra=False))

    story.append(CondPageBreak(40 * mm))
    story.append(pdf.SectionHeading(t("8. Tickets of the month"), keep_with_next=False))
    rows = [[t("Ticket"), t("Reported at"), t("Device no."), t("Fault category"), t("Solved at"), t("Status"),
             t("Time to repair")]]
    widths = [28 * mm, 22 * mm, 26 * mm, width - 148 * mm, 22 * mm, 28 * mm, 22 * mm]
    room = [w - 10 for w in widths]  # inside the cell padding
    for line in s.lines:  # one line per ticket, plain cells (see pdf.fit)
        rows.append([line.number, local_time(line.created_at, data.month.time_zone, "%m-%d %H:%M"),
                     pdf.fit(line.device or "—", room[2]), pdf.fit(line.fault_category or "—", room[3]),
                     t(f"tier.{line.tier}") if line.tier else "—", pdf.fit(_status(line.status, language), room[5]),
                     _hours(line.repair_hours, t)])
    story.append(_table_or_note(rows, widths, nothing, st))
    if s.lines_left_out:
        story.append(pdf.para(t("{count} more tickets are not listed.").format(count=s.lines_left_out), st.muted))

    story.append(KeepTogether([pdf.SectionHeading(t("How the figures are counted")), pdf.para(t(
        "A month is the hospital's calendar month in its time zone ({zone}); a ticket counts in the month it was "
        "reported, merged duplicates not at all. Faults: tickets that were neither cancelled nor a false alarm; "
        "repaired, time to repair, first-time fix, downtime and tiers are over them. Downtime: from report to "
        "repair, for faults still open up to now. A target counts as missed once it has passed. Repair rate: "
        "reports per device in service for the whole month. The same figures as the dashboards."
    ).format(zone=zone_label(data.month.time_zone, t)), st.muted)]))

    buffer = io.BytesIO()
    document = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=pdf.MARGIN, rightMargin=pdf.MARGIN,
                                 topMargin=20 * mm, bottomMargin=18 * mm,
                                 title=f"{t('Monthly equipment service report')} {data.hospital} {data.month.key}",
                                 author="medfix", subject=data.hospital, creator="medfix")
    frame = pdf.Frame(brand=t("medfix equipment service"), reference=f"{data.hospital} · {label}",
                      footer=t("Generated by medfix at {time}").format(time=data.generated_at),
                      page_label=lambda page, pages: t("Page {page} of {pages}").format(page=page, pages=pages))
    document.build(story, canvasmaker=pdf.canvas_maker(frame))
    return buffer.getvalue()


def _status(status: str, language: str) -> str:
    # the report's own neutral words for the two outcomes, the usual status names otherwise
    if status in ("resolved", "closed"):
        return translate(f"report.status.{status}", language)
    return translate(f"status.{status}", language)


def _table_or_note(rows: list[list[Any]], widths: list[float], note: str, st: pdf.Styles) -> Flowable:
    if len(rows) == 1:
        rows = [*rows, [pdf.para(note, st.muted)] + [""] * (len(rows[0]) - 1)]
        table = pdf.grid_table(rows, widths)
        table.setStyle(TableStyle([("SPAN", (0, 1), (-1, 1))]))
        return table
    return pdf.grid_table(rows, widths)


def current_month(hospital: Hospital, now: datetime | None = None) -> Month:
    """The month running now at the hospital."""
    return month_of(hospital, now or utcnow())
