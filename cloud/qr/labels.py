"""Printable label sheets (PDF, reportlab): an A4 3x8 grid and 50x30 mm thermal labels."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas

from cloud.qr import render
from cloud.registry.models import Device, DeviceGroup

# Adobe's CID font ships with reportlab and needs no font file; PDF viewers and printers substitute their
# own Simplified Chinese face. ASCII-only text uses the base-14 Helvetica, whose metrics are exact.
CJK_FONT = "STSong-Light"
LATIN_FONT = "Helvetica"
LATIN_BOLD = "Helvetica-Bold"
ELLIPSIS = "…"
CALL_TO_ACTION = "扫码报修"  # what a passer-by should do with the label (issue 12, defect 10)
HOTLINE_PREFIX = "报修热线 "


@dataclass(frozen=True)
class Label:
    """What one label shows; `big` is the large-type fallback read (and typed) when the QR is damaged."""

    qr_content: str
    title: str
    lines: tuple[str, ...]
    caption: str
    big: str
    call_to_action: str = ""  # printed at the foot of the text column, e.g. 扫码报修
    hotline: str = ""  # the hospital's service hotline, under the call to action


@dataclass(frozen=True)
class Template:
    """Geometry of a label stock, in points; labels fill each page row by row from the top left."""

    name: str
    page_width: float
    page_height: float
    label_width: float
    label_height: float
    columns: int
    rows: int
    left: float
    top: float
    column_gap: float
    row_gap: float
    padding: float
    band_height: float  # the strip along the bottom carrying the large-type serial
    title_size: float
    line_size: float
    big_size: float

    @property
    def per_page(self) -> int:
        """Labels on one page."""
        return self.columns * self.rows

    def origin(self, slot: int) -> tuple[float, float]:
        """Lower-left corner of the label in slot (0-based, row-major from the top left)."""
        row, column = divmod(slot, self.columns)
        x = self.left + column * (self.label_width + self.column_gap)
        y = self.page_height - self.top - (row + 1) * self.label_height - row * self.row_gap
        return x, y


TEMPLATES: dict[str, Template] = {
    # 24 labels of 63.5 x 33.9 mm: the common A4 stock (Avery L7159 / J8159 and their many equivalents).
    "a4-3x8": Template(
        name="a4-3x8", page_width=A4[0], page_height=A4[1], label_width=63.5 * mm, label_height=33.9 * mm,
        columns=3, rows=8, left=7.25 * mm, top=12.9 * mm, column_gap=2.5 * mm, row_gap=0,
        padding=2.2 * mm, band_height=8 * mm, title_size=10, line_size=7, big_size=17),
    # One 50 x 30 mm label per page, the usual roll for desktop thermal-transfer printers.
    "thermal-50x30": Template(
        name="thermal-50x30", page_width=50 * mm, page_height=30 * mm, label_width=50 * mm, label_height=30 * mm,
        columns=1, rows=1, left=0, top=0, column_gap=0, row_gap=0,
        padding=1.8 * mm, band_height=7 * mm, title_size=8, line_size=6, big_size=15),
}


def device_label(device: Device, qr_content: str) -> Label:
    """A device's label: system number, model, hospital, department; nameplate serial in large type."""
    return Label(
        qr_content=qr_content,
        title=device.system_number,
        lines=(f"{device.manufacturer} {device.model}".strip(), device.hospital.name,
               device.department.name if device.department else ""),
        caption="S/N",
        big=device.serial,
        call_to_action=CALL_TO_ACTION,
        hotline=device.hospital.hotline or "",
    )


def group_label(group: DeviceGroup, qr_content: str) -> Label:
    """A device group's label: name, member count, hospital, department; system number in large type."""
    return Label(
        qr_content=qr_content,
        title=group.name,
        lines=(f"设备组 · {len(group.members)} 台设备", group.hospital.name,
               group.department.name if group.department else ""),
        caption="组号",
        big=group.system_number,
        call_to_action=CALL_TO_ACTION,
        hotline=group.hospital.hotline or "",
    )


@cache
def _register_fonts() -> None:
    pdfmetrics.registerFont(UnicodeCIDFont(CJK_FONT))


def _font(text: str, *, bold: bool = False) -> str:
    if text.isascii():
        return LATIN_BOLD if bold else LATIN_FONT
    return CJK_FONT  # no bold face ships for the CID font; size carries the emphasis instead


def _width(text: str, font: str, size: float) -> float:
    return float(pdfmetrics.stringWidth(text, font, size))


def _truncate(text: str, font: str, size: float, width: float) -> str:
    """text cut with an ellipsis so it fits width (a label never spills into its neighbour)."""
    if _width(text, font, size) <= width:
        return text
    while text and _width(text + ELLIPSIS, font, size) > width:
        text = text[:-1]
    return text.rstrip() + ELLIPSIS


def _fit(text: str, font: str, size: float, min_size: float, width: float) -> tuple[str, float]:
    """The largest size from size down to min_size at which text fits width, truncating below that."""
    natural = _width(text, font, 1)
    if natural * size <= width:
        return text, size
    if natural * min_size <= width:
        return text, width / natural
    return _truncate(text, font, min_size, width), min_size


def _wrap(text: str, font: str, size: float, width: float, max_lines: int) -> list[str]:
    """Wrapping at spaces when there are any, else between characters (as Chinese wraps), lines balanced."""
    total = _width(text, font, size)
    if width < total <= width * max_lines:
        # Aim for lines of equal length so a long hospital name does not leave one orphaned character.
        widest = max(_width(ch, font, size) for ch in text)
        target = min(width, total / math.ceil(total / width) + widest)
        balanced = _greedy(text, font, size, target, max_lines)
        if not balanced[-1].endswith(ELLIPSIS):
            return balanced
    return _greedy(text, font, size, width, max_lines)


def _greedy(text: str, font: str, size: float, width: float, max_lines: int) -> list[str]:
    """Greedy wrapping into at most max_lines; the last line is truncated if text remains."""
    lines: list[str] = []
    rest = text
    while rest and len(lines) < max_lines - 1:
        if _width(rest, font, size) <= width:
            break
        cut = len(rest)
        while cut > 1 and _width(rest[:cut], font, size) > width:
            cut -= 1
        space = rest.rfind(" ", 0, cut + 1)
        if space > 0:
            cut = space
        lines.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        lines.append(_truncate(rest, font, size, width))
    return lines


def _draw_qr(canvas: Canvas, content: str, x: float, y: float, side: float) -> None:
    """The symbol as one filled path, each row's runs of dark modules merged into one rectangle."""
    modules = render.matrix(content)
    unit = side / (len(modules) + 2)  # one light module of margin inside the square; the padding adds more
    ops: list[str] = []
    for r, row in enumerate(modules):
        c, count = 0, len(row)
        while c < count:
            if not row[c]:
                c += 1
                continue
            start = c
            while c < count and row[c]:
                c += 1
            ops.append(f"{start} {r} {c - start} 1 re")
    ops.append("f")
    canvas.saveState()
    # Module coordinates (row down, column right) as small integers written straight into the content
    # stream: reportlab's per-number float formatting was most of a 1,000-label batch.
    canvas.translate(x + unit, y + side - unit)
    canvas.scale(unit, -unit)
    canvas.setFillGray(0)
    canvas.addLiteral("\n".join(ops))
    canvas.restoreState()


def _draw_text_column(canvas: Canvas, label: Label, t: Template, left: float, bottom: float, right: float,
                      top: float) -> None:
    """Title, then the small lines (shrunk a little, then wrapped to two lines), as far as they fit; the call to
    action and the hotline keep their place at the foot, so a long hospital name never pushes them off."""
    width = right - left
    bottom = _draw_footer(canvas, label, t, left, bottom, width)
    font = _font(label.title, bold=True)
    text, size = _fit(label.title, font, t.title_size, t.title_size * 0.7, width)
    cursor = top - size
    canvas.setFont(font, size)
    canvas.drawString(left, cursor, text)
    cursor -= size * 0.45
    for i, line in enumerate(label.lines):
        if not line:
            continue
        font = _font(line)
        size = t.line_size * (1.1 if i == 0 else 1.0)
        natural = _width(line, font, 1)
        if natural * size > width:
            size = max(size * 0.85, width / natural)
        for part in _wrap(line, font, size, width, max_lines=2):
            if cursor - size * 1.2 < bottom:
                return
            cursor -= size * 1.2
            canvas.setFont(font, size)
            canvas.drawString(left, cursor, part)


def _draw_footer(canvas: Canvas, label: Label, t: Template, left: float, bottom: float, width: float) -> float:
    """The call to action (slightly larger) over the hotline at the bottom of the column; returns the new bottom."""
    rows = [(label.call_to_action, t.line_size * 1.25), (HOTLINE_PREFIX + label.hotline if label.hotline else "",
                                                         t.line_size)]
    cursor = bottom
    for text, size in reversed([r for r in rows if r[0]]):
        font = _font(text, bold=True)
        fitted, fitted_size = _fit(text, font, size, size * 0.7, width)
        canvas.setFont(font, fitted_size)
        canvas.drawString(left, cursor + fitted_size * 0.2, fitted)
        cursor += fitted_size * 1.2
    return cursor + (t.line_size * 0.3 if cursor > bottom else 0)


def _draw_label(canvas: Canvas, label: Label, t: Template, x: float, y: float, *, outline: bool) -> None:
    if outline:
        canvas.saveState()
        canvas.setStrokeGray(0.75)
        canvas.setLineWidth(0.3)
        canvas.roundRect(x + 0.3, y + 0.3, t.label_width - 0.6, t.label_height - 0.6, 2 * mm, stroke=1, fill=0)
        canvas.restoreState()
    p = t.padding
    side = t.label_height - 2 * p - t.band_height
    _draw_qr(canvas, label.qr_content, x + p, y + p + t.band_height, side)

    _draw_text_column(canvas, label, t, x + p + side + 1.5 * mm, y + p + t.band_height, x + t.label_width - p,
                      y + t.label_height - p)

    # Bottom band: a hairline, the small caption, then the large-type fallback identifier.
    band_top = y + p + t.band_height - 0.8 * mm
    canvas.saveState()
    canvas.setLineWidth(0.4)
    canvas.line(x + p, band_top, x + t.label_width - p, band_top)
    canvas.restoreState()
    caption_font = _font(label.caption)
    caption_size = t.line_size
    caption_width = _width(label.caption, caption_font, caption_size)
    big_font = _font(label.big, bold=True)
    big_width = t.label_width - 2 * p - caption_width - 1.5 * mm
    big, big_size = _fit(label.big, big_font, t.big_size, t.big_size * 0.45, big_width)
    baseline = y + p + (t.band_height - 0.8 * mm - big_size * 0.72) / 2
    canvas.setFont(caption_font, caption_size)
    canvas.drawString(x + p, baseline, label.caption)
    canvas.setFont(big_font, big_size)
    canvas.drawString(x + p + caption_width + 1.5 * mm, baseline, big)


def render_pdf(labels: Sequence[Label], template: str | Template, *, outline: bool = False,
               title: str = "medfix QR labels") -> bytes:
    """A PDF with labels in the given order; outline draws the cut lines (for preview and plain paper)."""
    _register_fonts()
    t = TEMPLATES[template] if isinstance(template, str) else template
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=(t.page_width, t.page_height), pageCompression=1)
    canvas.setTitle(title)
    canvas.setCreator("medfix")
    for index, label in enumerate(labels):
        slot = index % t.per_page
        if index and slot == 0:
            canvas.showPage()
        x, y = t.origin(slot)
        _draw_label(canvas, label, t, x, y, outline=outline)
    canvas.showPage()
    canvas.save()
    return out.getvalue()
