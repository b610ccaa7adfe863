"""A ticket's service report (维修服务报告): what was reported, what was found and done, with photos before and
after, the parts, the engineer, the service timeline in the hospital's time zone, the rating and the sign-off.

Two steps, so tests and the benchmark can look at each: `collect` reads the ticket into display-ready text in
one language (zh-CN for the stored report), `render` lays it out as an A4 PDF.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.auth.models import User
from cloud.db import utcnow
from cloud.i18n import translate
from cloud.localtime import local_time, zone_label
from cloud.registry.models import Hospital
from cloud.reports import pdf
from cloud.tickets import queries as ticket_queries
from cloud.tickets.faults import fault_label
from cloud.tickets.models import AttachmentKind, PrecheckTask, Source, Ticket
from cloud.tickets.state import Status

REPORT_LANGUAGE = "zh-CN"  # the stored report is Chinese; other languages are rendered on demand
BEFORE_ACTIONS = frozenset({"submit", "add_info"})  # photos the reporter sent show the fault; the rest the repair
TIMELINE_TEXT_MAX = 300  # a long message is cut in the timeline; the full text is in its own section


@dataclass(frozen=True)
class TimelineRow:
    """One step of the service, as the hospital reads it."""

    at: str
    event: str
    actor: str
    text: str


@dataclass(frozen=True)
class PartRow:
    """A replaced part."""

    name: str
    part_no: str
    qty: str


@dataclass(frozen=True)
class Photo:
    """A stored photo and when it was taken into the ticket."""

    path: Path
    caption: str


@dataclass
class ServiceReportData:
    """Everything a service report shows, as display text in `language`."""

    language: str
    number: str
    status_key: str
    status: str
    hospital: str
    time_zone: str
    department: str = ""
    device: str = ""
    model: str = ""
    serial: str = ""
    device_category: str = ""
    group: str = ""
    source: str = ""
    priority: str = ""
    tier: str = ""
    reporter: str = ""
    reporter_phone: str = ""
    reported_at: str = ""
    responded_at: str = ""
    resolved_at: str = ""
    closed_at: str = ""
    response_time: str = ""
    resolution_time: str = ""
    response_met: bool | None = None
    resolution_met: bool | None = None
    description: str = ""
    fault_category: str = ""
    root_cause: str = ""
    findings: str = ""
    precheck: str = ""
    parts: list[PartRow] = field(default_factory=list)
    parts_text: str = ""
    engineer: str = ""
    engineer_phone: str = ""
    ratings: list[tuple[str, int | None]] = field(default_factory=list)
    rating_comment: str = ""
    rated_at: str = ""
    before: list[Photo] = field(default_factory=list)
    after: list[Photo] = field(default_factory=list)
    timeline: list[TimelineRow] = field(default_factory=list)
    confirmation: str = ""
    generated_at: str = ""


def masked_phone(phone: str) -> str:
    """A mobile number with its middle digits hidden (138****1111): the report travels beyond the lab."""
    digits = re.sub(r"\D", "", phone or "")
    if len(digits) == 11:
        return f"{digits[:3]}****{digits[7:]}"
    return phone or ""


def duration_text(seconds: float | None, language: str) -> str:
    """A duration as people say it: 2 天 3 小时, 1 小时 25 分钟, 12 分钟."""
    if seconds is None:
        return ""
    minutes = max(0, int(round(seconds / 60)))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return translate("{days} d {hours} h", language).format(days=days, hours=hours)
    if hours:
        return translate("{hours} h {minutes} min", language).format(hours=hours, minutes=minutes)
    return translate("{minutes} min", language).format(minutes=minutes)


def _status_label(status: Status, language: str) -> str:
    # The pill on the report: neutral words, not the reporter's page's "fixed, please confirm".
    if status == Status.resolved:
        return translate("report.status.resolved", language)
    if status == Status.closed:
        return translate("report.status.closed", language)
    return translate(f"status.{status.value}", language)


def _source_label(source: Source, language: str) -> str:
    labels = {Source.web: translate("report.source.web", language),
              Source.wechat: translate("report.source.wechat", language),
              Source.predictive: translate("report.source.predictive", language),
              Source.desk: translate("report.source.desk", language)}
    return labels.get(source, "")


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return (end - start).total_seconds()


def _who(entry: dict[str, Any], language: str) -> str:
    if entry.get("actor_name"):
        return str(entry["actor_name"])
    key = f"who.{entry.get('actor') or 'system'}"
    label = translate(key, language)
    return label if label != key else translate("who.system", language)


def _timeline_text(entry: dict[str, Any], language: str) -> str:
    details = entry.get("details") or {}
    bits = []
    text = str(entry.get("text") or "").strip()
    if text:
        bits.append(text if len(text) <= TIMELINE_TEXT_MAX else text[:TIMELINE_TEXT_MAX] + "…")
    if details.get("engineer"):
        bits.append(f"{translate('Engineer', language)}：{details['engineer']}")
    if details.get("tier"):
        bits.append(f"{translate('Tier', language)}：{translate('tier.' + str(details['tier']), language)}")
    rating = details.get("rating") or {}
    if rating.get("overall"):
        bits.append(translate("Overall rating {stars} of 5", language).format(stars=rating["overall"]))
    photos = len(details.get("attachments") or [])
    if photos:
        bits.append(translate("{count} attachment(s)", language).format(count=photos))
    return "\n".join(bits)


def _confirmation(entries: list[dict[str, Any]], ticket: Ticket, time_zone: str, language: str) -> str:
    for entry in reversed(entries):
        at = local_time(entry["at"], time_zone)
        if entry["action"] == "confirm":
            return translate("{name} confirmed the repair online at {time}.", language).format(
                name=_who(entry, language), time=at)
        if entry["action"] == "auto_close":
            return translate("Not confirmed within the confirmation period; closed automatically at {time}.",
                             language).format(time=at)
        if entry["action"] == "self_serve":
            return translate("Closed as solved by self-service at {time}.", language).format(time=at)
    if ticket.status == Status.resolved:
        return translate("Awaiting the reporter's confirmation.", language)
    return ""


def collect(session: Session, ticket: Ticket, *, data_dir: Path, language: str = REPORT_LANGUAGE,
            now: datetime | None = None) -> ServiceReportData:
    """Read a ticket into its report's content; the timeline leaves internal notes out (the hospital reads it)."""
    hospital = session.get(Hospital, ticket.hospital_id)
    zone = hospital.time_zone if hospital else None
    device, group = ticket.device, ticket.group

    def when(moment: datetime | None) -> str:
        return local_time(moment, zone)

    engineer = session.get(User, ticket.engineer_id) if ticket.engineer_id else None
    entries = ticket_queries.timeline(session, ticket=ticket, internal=False)
    before_ids = {int(i) for e in entries if e["action"] in BEFORE_ACTIONS
                  for i in (e["details"].get("attachments") or [])}
    before: list[Photo] = []
    after: list[Photo] = []
    for attachment in ticket.attachments:
        if attachment.kind != AttachmentKind.photo:
            continue
        path = (data_dir / attachment.path).resolve()
        if not path.is_file() or data_dir.resolve() not in path.parents:
            continue
        (before if attachment.id in before_ids else after).append(Photo(path, when(attachment.created_at)))
    parts = [PartRow(str(p.get("name") or "").strip(), str(p.get("part_no") or "").strip(),
                     str(p.get("qty") if p.get("qty") not in (None, "") else 1))
             for p in (ticket.parts or []) if isinstance(p, dict) and str(p.get("name") or "").strip()]
    task = session.execute(select(PrecheckTask).where(PrecheckTask.ticket_id == ticket.id)).scalar()
    precheck = ""
    if task is not None and task.outcome is not None:
        precheck = translate(f"precheck.{task.outcome.value}", language)
        if task.outcome_note:
            precheck += f"：{task.outcome_note}"
    first_response = _seconds(ticket.created_at, ticket.first_responded_at)
    resolution = _seconds(ticket.created_at, ticket.resolved_at)
    department = device.department.name if device and device.department else (
        group.department.name if group and group.department else "")
    return ServiceReportData(
        language=language, number=ticket.number, status_key=ticket.status.value,
        status=_status_label(ticket.status, language),
        hospital=hospital.name if hospital else "", time_zone=zone or "",
        department=department,
        device=device.system_number if device else (group.system_number if group else ""),
        model=" ".join(x for x in (device.manufacturer, device.model) if x) if device else "",
        serial=device.serial if device else "",
        device_category=translate(device.category, language) if device else "",
        group=group.name if group else "",
        source=_source_label(ticket.source, language),
        priority=f"P{ticket.priority}",
        tier=translate(f"tier.{ticket.tier.value}", language) if ticket.tier else "",
        reporter=ticket.reporter_name or "", reporter_phone=masked_phone(ticket.reporter_phone),
        reported_at=when(ticket.created_at), responded_at=when(ticket.first_responded_at),
        resolved_at=when(ticket.resolved_at), closed_at=when(ticket.closed_at),
        response_time=duration_text(first_response, language),
        resolution_time=duration_text(resolution, language),
        response_met=None if ticket.first_responded_at is None
        else ticket.first_responded_at <= ticket.first_response_due_at,
        resolution_met=None if ticket.resolved_at is None else ticket.resolved_at <= ticket.resolution_due_at,
        description=ticket.description or "",
        fault_category=fault_label(session, ticket.fault_category, device.category if device else None, language),
        root_cause=(ticket.root_cause or "").strip(), findings=(ticket.findings or "").strip(), precheck=precheck,
        parts=parts, parts_text="" if parts else (ticket.parts_used or "").strip(),
        engineer=(engineer.full_name or engineer.username) if engineer else "",
        engineer_phone=engineer.phone if engineer else "",
        ratings=[(translate("Overall", language), ticket.rating_overall),
                 (translate("Response speed", language), ticket.rating_speed),
                 (translate("Attitude", language), ticket.rating_attitude),
                 (translate("Technical level", language), ticket.rating_skill)],
        rating_comment=(ticket.rating_comment or "").strip(), rated_at=when(ticket.rated_at),
        before=before, after=after,
        timeline=[TimelineRow(when(e["at"]), translate(f"action.{e['action']}", language), _who(e, language),
                              _timeline_text(e, language)) for e in entries],
        confirmation=_confirmation(entries, ticket, zone or "", language),
        generated_at=when(now or utcnow()),
    )


# ---------------------------------------------------------------------------------------------------- rendering

STATUS_COLOURS = {"closed": pdf.GOOD, "resolved": pdf.PRIMARY}


def _stars(value: int | None, st: pdf.Styles, language: str) -> Paragraph:
    if not value:
        return pdf.para(translate("Not rated", language), st.muted)
    value = max(1, min(5, int(value)))
    return Paragraph(f'<font color="#e0a33b">{"★" * value}</font><font color="#c9d3de">{"★" * (5 - value)}</font>'
                     f'&nbsp;&nbsp;{value}/5', st.cell)


def _metric_cards(cards: list[tuple[str, str, str, Any]], st: pdf.Styles) -> Table:
    """A row of cards: label, value (large), note (coloured)."""
    cells = []
    value_style = ParagraphStyle("card_value", parent=st.big_number, fontSize=14, leading=18)
    for label, value, note, colour in cards:
        note_style = ParagraphStyle("note", parent=st.small, textColor=colour)
        cells.append([pdf.para(label, st.label), pdf.para(value or "—", value_style), pdf.para(note, note_style)])
    width = pdf.CONTENT_WIDTH / len(cards)
    inner = [Table([[c] for c in cell], colWidths=[width - 12]) for cell in cells]
    for t in inner:
        t.setStyle(TableStyle([("LEFTPADDING", (0, 0), (-1, -1), 0), ("TOPPADDING", (0, 0), (-1, -1), 0),
                               ("BOTTOMPADDING", (0, 0), (-1, -1), 1)]))
    table = Table([inner], colWidths=[width] * len(cards))
    table.setStyle(TableStyle([
        ("BACKGROUND", (0, 0), (-1, -1), pdf.PRIMARY_LIGHT), ("LINEAFTER", (0, 0), (-2, -1), 2, colors.white),
        ("TOPPADDING", (0, 0), (-1, -1), 6), ("BOTTOMPADDING", (0, 0), (-1, -1), 6),
        ("LEFTPADDING", (0, 0), (-1, -1), 8), ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]))
    return table


def _photo_grid(data: ServiceReportData, st: pdf.Styles, t: Any) -> Table:
    """Before on the left, after on the right, two photos a row on each side."""
    side = (pdf.CONTENT_WIDTH - 6 * mm) / 2
    cell_width = side / 2 - 2 * mm
    cell_height = 38 * mm

    def pictures(photos: list[Photo]) -> list[list[Any]]:
        cells: list[Any] = []
        for item in photos:
            image = pdf.photo(item.path, cell_width, cell_height)
            if image is not None:
                cells.append([image, pdf.para(item.caption, st.muted)])
        rows = [cells[i:i + 2] for i in range(0, len(cells), 2)]
        return [row + [""] * (2 - len(row)) for row in rows] or [[pdf.para(t("No photos"), st.muted), ""]]

    def column(title: str, photos: list[Photo]) -> Table:
        rows: list[list[Any]] = [[pdf.para(f"{title}（{len(photos)}）", st.label), ""], *pictures(photos)]
        table = Table(rows, colWidths=[side / 2, side / 2])
        table.setStyle(TableStyle([("SPAN", (0, 0), (1, 0)), ("VALIGN", (0, 0), (-1, -1), "TOP"),
                                   ("LEFTPADDING", (0, 0), (-1, -1), 0), ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
                                   ("LINEBELOW", (0, 0), (1, 0), 0.6, pdf.RULE)]))
        return table

    outer = Table([[column(t("Before repair"), data.before), "", column(t("After repair"), data.after)]],
                  colWidths=[side, 6 * mm, side])
    outer.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0),
                               ("RIGHTPADDING", (0, 0), (-1, -1), 0)]))
    return outer


def render(data: ServiceReportData) -> bytes:
    """The report as an A4 PDF."""
    language = data.language

    def t(text: str) -> str:
        return translate(text, language)

    st = pdf.styles()
    story: list[Any] = []
    subtitle = [data.hospital, " · ".join(x for x in (data.department, data.device, data.model) if x)]
    story.append(pdf.TitleBlock(t("Equipment service report"), [line for line in subtitle if line],
                            t("Ticket number"), data.number, data.status,
                            STATUS_COLOURS.get(data.status_key, pdf.MUTED)))
    story.append(Spacer(1, 8))

    def met(flag: bool | None) -> tuple[str, Any]:
        if flag is None:
            return "", pdf.MUTED
        return (t("Within target"), pdf.GOOD) if flag else (t("Target missed"), pdf.BAD)

    response_note, response_colour = met(data.response_met)
    resolution_note, resolution_colour = met(data.resolution_met)
    story.append(_metric_cards([
        (t("Time to first response"), data.response_time, response_note, response_colour),
        (t("Time to repair"), data.resolution_time, resolution_note, resolution_colour),
        (t("Tier"), data.tier, "", pdf.MUTED),
        (t("Engineer"), data.engineer, "", pdf.MUTED),
    ], st))

    story.append(pdf.SectionHeading(t("1. Ticket and device")))
    story.append(pdf.key_value_table([
        (t("Hospital"), data.hospital), (t("Department"), data.department),
        (t("Device no."), data.device), (t("Model"), data.model),
        (t("Serial no."), data.serial), (t("Device category"), data.device_category),
        *([(t("Device group"), data.group)] if data.group else []),
        (t("Source"), data.source), (t("Priority"), data.priority),
        (t("Reporter"), data.reporter), (t("Phone"), data.reporter_phone),
        (t("Reported at"), data.reported_at), (t("First response"), data.responded_at),
        (t("Repaired at"), data.resolved_at), (t("Closed at"), data.closed_at),
        (t("Engineer"), data.engineer), (t("Engineer's phone"), data.engineer_phone),
    ], st))

    story.append(pdf.SectionHeading(t("2. Fault reported")))
    box = Table([[pdf.para(data.description or "—", st.body)]], colWidths=[pdf.CONTENT_WIDTH])
    box.setStyle(TableStyle([("BACKGROUND", (0, 0), (-1, -1), pdf.SHADE), ("BOX", (0, 0), (-1, -1), 0.6, pdf.RULE),
                             ("LEFTPADDING", (0, 0), (-1, -1), 8), ("TOPPADDING", (0, 0), (-1, -1), 6),
                             ("BOTTOMPADDING", (0, 0), (-1, -1), 6)]))
    story.append(box)

    story.append(pdf.SectionHeading(t("3. Diagnosis and repair")))
    story.append(pdf.key_value_table([
        (t("Fault category"), data.fault_category), (t("Root cause"), data.root_cause),
        (t("Findings and work done"), data.findings),
        *([(t("Pre-check"), data.precheck)] if data.precheck else []),
    ], st, columns=1))

    story.append(pdf.SectionHeading(t("4. Parts replaced")))
    if data.parts:
        rows: list[list[Any]] = [[t("No."), t("Part"), t("Part number"), t("Qty")]]
        rows += [[str(i), pdf.para(p.name, st.cell), pdf.para(p.part_no or "—", st.cell), p.qty]
                 for i, p in enumerate(data.parts, start=1)]
        story.append(pdf.grid_table(rows, [14 * mm, pdf.CONTENT_WIDTH - 74 * mm, 44 * mm, 16 * mm]))
    else:
        story.append(pdf.para(data.parts_text or t("No parts were replaced."), st.body))

    story.append(pdf.SectionHeading(t("5. Photos")))
    story.append(_photo_grid(data, st, t))

    story.append(pdf.SectionHeading(t("6. Service timeline")))
    rows = [[t("Time"), t("Event"), t("By"), t("Details")]]
    rows += [[pdf.para(r.at, st.cell), pdf.para(r.event, st.cell), pdf.para(r.actor, st.cell),
              pdf.para(r.text or "", st.cell)] for r in data.timeline]
    story.append(pdf.grid_table(rows, [30 * mm, 26 * mm, 28 * mm, pdf.CONTENT_WIDTH - 84 * mm]))
    story.append(pdf.para(t("Times in {zone}.").format(zone=zone_label(data.time_zone, t)), st.muted))

    rating_rows = [[pdf.para(label, st.label), _stars(value, st, language)] for label, value in data.ratings]
    if data.rating_comment:
        rating_rows.append([pdf.para(t("Comment"), st.label), pdf.para(data.rating_comment, st.cell)])
    ratings = Table(rating_rows, colWidths=[30 * mm, pdf.CONTENT_WIDTH - 30 * mm])
    ratings.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LINEBELOW", (0, 0), (-1, -1), 0.4, pdf.RULE),
                                 ("BACKGROUND", (0, 0), (0, -1), pdf.SHADE)]))
    story.append(KeepTogether([pdf.SectionHeading(t("7. Rating")), ratings]))

    signature_rows = [
        [pdf.para(t("Engineer's signature"), st.label), "", pdf.para(t("Date"), st.label), ""],
        [pdf.para(t("Lab's signature"), st.label), "", pdf.para(t("Date"), st.label), ""],
    ]
    signatures = Table(signature_rows, colWidths=[30 * mm, 70 * mm, 16 * mm, pdf.CONTENT_WIDTH - 116 * mm],
                       rowHeights=[12 * mm, 12 * mm])
    signatures.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "BOTTOM"),
                                    ("LINEBELOW", (1, 0), (1, -1), 0.6, pdf.INK),
                                    ("LINEBELOW", (3, 0), (3, -1), 0.6, pdf.INK)]))
    story.append(KeepTogether([
        pdf.SectionHeading(t("8. Confirmation and signatures")),
        pdf.para(data.confirmation or t("Not confirmed yet."), st.body), Spacer(1, 2), signatures,
    ]))

    buffer = io.BytesIO()
    document = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=pdf.MARGIN, rightMargin=pdf.MARGIN,
                                 topMargin=20 * mm, bottomMargin=18 * mm, title=f"{t('Equipment service report')} "
                                 f"{data.number}", author="medfix", subject=data.hospital, creator="medfix")
    frame = pdf.Frame(brand=t("medfix equipment service"), reference=f"{data.hospital} · {data.number}",
                      footer=t("Generated by medfix at {time}").format(time=data.generated_at),
                      page_label=lambda page, pages: t("Page {page} of {pages}").format(page=page, pages=pages))
    document.build(story, canvasmaker=pdf.canvas_maker(frame))
    return buffer.getvalue()
