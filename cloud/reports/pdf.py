"""What both report PDFs share: the embedded Chinese font, colours, paragraph styles, headings, tables, the page
frame (letterhead, footer with "page n of N") and photos scaled for print.

The font is a TrueType face from a Debian package (fonts-wqy-microhei, installed by `make system`), embedded as a
subset, so a report looks the same in WeChat's viewer, on a phone, in a browser and on paper. Without it the
reports fall back to Adobe's STSong-Light CID font, which ships with reportlab but is not embedded: viewers then
substitute a face of their own (and pdftoppm needs poppler-data for it).
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from PIL import Image, UnidentifiedImageError
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_LEFT, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFError, TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, Paragraph, Table, TableStyle
from reportlab.platypus import Image as PdfImage

log = logging.getLogger("medfix.reports.pdf")

# TrueType (glyf) faces only: reportlab cannot embed the CFF outlines of Noto CJK / Source Han.
FONT_FILES: tuple[tuple[str, int], ...] = (
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
    ("/usr/share/fonts/truetype/arphic/uming.ttc", 0),
    ("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf", 0),
)
EMBEDDED_FONT = "MedfixCJK"
CID_FONT = "STSong-Light"

PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN = 16 * mm
FRAME_PADDING = 6  # platypus frames keep 6 pt inside each edge
CONTENT_WIDTH = PAGE_WIDTH - 2 * MARGIN - 2 * FRAME_PADDING

# A sober palette: one deep blue for structure, greys for rules and shading, green/amber/red for outcomes only.
INK = colors.HexColor("#1f2933")
MUTED = colors.HexColor("#6b7785")
PRIMARY = colors.HexColor("#1d4f8c")
PRIMARY_LIGHT = colors.HexColor("#e8eff8")
RULE = colors.HexColor("#c9d3de")
SHADE = colors.HexColor("#f4f6f9")
GOOD = colors.HexColor("#1a7f4b")
WARN = colors.HexColor("#b7791f")
BAD = colors.HexColor("#c0392b")
SERIES = [colors.HexColor(c) for c in ("#1d4f8c", "#3d8bd4", "#5fb49c", "#e0a33b", "#d9644a", "#8e6bbf",
                                       "#7a8a99", "#b5c7d9", "#c2a878", "#4f6d7a")]

_font_lock = threading.Lock()
_font_name: str | None = None


def font() -> str:
    """The registered Chinese font's name (registered on first use, once per process)."""
    global _font_name
    with _font_lock:
        if _font_name is None:
            _font_name = _register()
        return _font_name


def _register() -> str:
    for path, index in FONT_FILES:
        if not Path(path).is_file():
            continue
        try:
            pdfmetrics.registerFont(TTFont(EMBEDDED_FONT, path, subfontIndex=index))
        except (TTFError, OSError) as exc:
            log.warning("font %s not usable for reports: %s", path, exc)
            continue
        return EMBEDDED_FONT
    log.warning("no embeddable Chinese TrueType font (apt-get install fonts-wqy-microhei); reports use %s, "
                "which viewers must substitute", CID_FONT)
    pdfmetrics.registerFont(UnicodeCIDFont(CID_FONT))
    return CID_FONT


def embedded() -> bool:
    """Whether reports carry their font (else viewers substitute one for STSong-Light)."""
    return font() == EMBEDDED_FONT


@dataclass(frozen=True)
class Styles:
    """The paragraph styles of a report, all in the Chinese font (CJK line breaking)."""

    body: ParagraphStyle
    small: ParagraphStyle
    muted: ParagraphStyle
    cell: ParagraphStyle
    cell_right: ParagraphStyle
    cell_center: ParagraphStyle
    head_cell: ParagraphStyle
    label: ParagraphStyle
    big_number: ParagraphStyle
    title: ParagraphStyle
    subtitle: ParagraphStyle


def styles() -> Styles:
    """Fresh styles (cheap; reportlab styles are plain objects)."""
    name = font()

    def style(key: str, size: float, *, color: Any = INK, align: int = TA_LEFT, leading: float | None = None,
              ) -> ParagraphStyle:
        return ParagraphStyle(key, fontName=name, fontSize=size, leading=leading or size * 1.45, textColor=color,
                              alignment=align, wordWrap="CJK")

    return Styles(
        body=style("body", 9.5), small=style("small", 8), muted=style("muted", 8, color=MUTED),
        cell=style("cell", 8.5), cell_right=style("cell_right", 8.5, align=TA_RIGHT),
        cell_center=style("cell_center", 8.5, align=TA_CENTER),
        head_cell=style("head_cell", 8.5, color=colors.white),
        label=style("label", 8.5, color=MUTED), big_number=style("big", 17, color=PRIMARY, leading=21),
        title=style("title", 19, color=PRIMARY, leading=24), subtitle=style("subtitle", 10, color=MUTED),
    )


def para(text: object, style: ParagraphStyle) -> Paragraph:
    """A paragraph of plain text (escaped; line breaks kept)."""
    return Paragraph(escape(str(text)).replace("\n", "<br/>"), style)


def fit(text: object, width: float, size: float = 8.5) -> str:
    """text cut with an ellipsis to fit width on one line: a plain table cell is many times cheaper to lay out
    than a wrapping paragraph, which matters in a month's list of hundreds of tickets."""
    value = str(text)
    name = font()
    if pdfmetrics.stringWidth(value, name, size) <= width:
        return value
    while value and pdfmetrics.stringWidth(value + "…", name, size) > width:
        value = value[:-1]
    return value + "…"


def draw_bold(canvas: Canvas, x: float, y: float, text: str, size: float, color: Any = INK,
              *, align: str = "left") -> None:
    """Text drawn filled and stroked: a bold look from the one-weight Chinese face."""
    name = font()
    width = pdfmetrics.stringWidth(text, name, size)
    if align == "right":
        x -= width
    elif align == "center":
        x -= width / 2
    canvas.saveState()
    canvas.setFillColor(color)
    canvas.setStrokeColor(color)
    canvas.setLineWidth(size * 0.035)
    obj = canvas.beginText(x, y)
    obj.setFont(name, size)
    obj.setTextRenderMode(2)
    obj.textOut(text)
    canvas.drawText(obj)
    canvas.restoreState()


class SectionHeading(Flowable):  # type: ignore[misc]  # reportlab is untyped
    """A numbered section title with a bar on the left and a rule under it; kept with what follows."""

    def __init__(self, text: str, *, size: float = 11.5, keep_with_next: bool = True) -> None:
        super().__init__()
        self.text = text
        self.size = size
        # Off before a long table: kept together, a table longer than the rest of the page would jump to the
        # next one; a CondPageBreak in front keeps the heading from ending a page instead.
        self.keepWithNext = keep_with_next
        self.spaceBefore = 9
        self.spaceAfter = 5

    def wrap(self, available_width: float, _available_height: float) -> tuple[float, float]:
        self.width = available_width
        return available_width, self.size + 8

    def draw(self) -> None:
        canvas = self.canv
        canvas.saveState()
        canvas.setFillColor(PRIMARY)
        canvas.rect(0, 3, 3.2, self.size + 2, stroke=0, fill=1)
        canvas.setStrokeColor(RULE)
        canvas.setLineWidth(0.6)
        canvas.line(0, 0, self.width, 0)
        canvas.restoreState()
        draw_bold(canvas, 9, 5, self.text, self.size, PRIMARY)


class TitleBlock(Flowable):  # type: ignore[misc]  # reportlab is untyped
    """The report's title, hospital and device, and the ticket number with its status on the right."""

    def __init__(self, title: str, lines: list[str], number_label: str, number: str, status: str,
                 status_colour: Any) -> None:
        super().__init__()
        self.title, self.lines = title, lines
        self.number_label, self.number, self.status, self.status_colour = number_label, number, status, status_colour

    def wrap(self, available_width: float, _available_height: float) -> tuple[float, float]:
        self.width = available_width
        self.height = 30 + 13 * len(self.lines)
        return available_width, self.height

    def draw(self) -> None:
        canvas = self.canv
        name = font()
        top = self.height
        draw_bold(canvas, 0, top - 21, self.title, 19, PRIMARY)
        canvas.setFont(name, 9.5)
        canvas.setFillColor(INK)
        for i, line in enumerate(self.lines):  # clear of the number and status on the right
            canvas.drawString(0, top - 38 - 13 * i, fit(line, self.width - 150, 9.5))
        # the number and a status pill, right-aligned
        canvas.setFont(name, 8)
        canvas.setFillColor(MUTED)
        canvas.drawRightString(self.width, top - 9, self.number_label)
        draw_bold(canvas, self.width, top - 24, self.number, 13, INK, align="right")
        pill_width = pdfmetrics.stringWidth(self.status, name, 9) + 14
        canvas.setFillColor(self.status_colour)
        canvas.roundRect(self.width - pill_width, top - 44, pill_width, 15, 7.5, stroke=0, fill=1)
        canvas.setFillColor(colors.white)
        canvas.setFont(name, 9)
        canvas.drawCentredString(self.width - pill_width / 2, top - 40, self.status)


def grid_table(rows: Sequence[Sequence[Any]], widths: Sequence[float], *, header: bool = True,
               zebra: bool = True, repeat_header: bool = True) -> Table:
    """A ruled table: a blue header row (when header), light zebra rows, cells top-aligned."""
    table = Table([list(r) for r in rows], colWidths=list(widths), repeatRows=1 if header and repeat_header else 0)
    commands: list[tuple[Any, ...]] = [
        ("FONTNAME", (0, 0), (-1, -1), font()), ("FONTSIZE", (0, 0), (-1, -1), 8.5),
        ("VALIGN", (0, 0), (-1, -1), "TOP"), ("LINEBELOW", (0, 0), (-1, -1), 0.4, RULE),
        ("BOX", (0, 0), (-1, -1), 0.6, RULE), ("TOPPADDING", (0, 0), (-1, -1), 3.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 3.5), ("LEFTPADDING", (0, 0), (-1, -1), 5),
        ("RIGHTPADDING", (0, 0), (-1, -1), 5),
    ]
    if header:
        commands += [("BACKGROUND", (0, 0), (-1, 0), PRIMARY), ("TEXTCOLOR", (0, 0), (-1, 0), colors.white)]
    if zebra:
        first = 1 if header else 0
        commands += [("BACKGROUND", (0, i), (-1, i), SHADE) for i in range(first + 1, len(rows), 2)]
    table.setStyle(TableStyle(commands))
    return table


def key_value_table(pairs: Sequence[tuple[str, Any]], st: Styles, *, columns: int = 2) -> Table:
    """Label/value pairs laid out in `columns` pairs per row, labels shaded."""
    label_width = 24 * mm
    value_width = CONTENT_WIDTH / columns - label_width
    rows: list[list[Any]] = []
    for start in range(0, len(pairs), columns):
        row: list[Any] = []
        for label, value in pairs[start:start + columns]:
            row += [para(label, st.label), value if isinstance(value, Flowable) else para(value or "—", st.cell)]
        row += [""] * (2 * columns - len(row))
        rows.append(row)
    table = Table(rows, colWidths=[label_width, value_width] * columns)
    commands: list[tuple[Any, ...]] = [
        ("VALIGN", (0, 0), (-1, -1), "TOP"), ("BOX", (0, 0), (-1, -1), 0.6, RULE),
        ("INNERGRID", (0, 0), (-1, -1), 0.4, RULE), ("TOPPADDING", (0, 0), (-1, -1), 3.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 3.5), ("LEFTPADDING", (0, 0), (-1, -1), 5),
    ]
    commands += [("BACKGROUND", (c, 0), (c, -1), SHADE) for c in range(0, 2 * columns, 2)]
    table.setStyle(TableStyle(commands))
    return table


def photo(path: Path, max_width: float, max_height: float) -> PdfImage | None:
    """A photo scaled to fit the box, re-encoded small (JPEG, at most ~2x the printed size); None if unreadable.

    JPEGs are decoded at a reduced scale (draft mode), so a 12-megapixel phone photo costs milliseconds.
    """
    target = (int(max_width / 72 * 150), int(max_height / 72 * 150))  # 150 dpi is plenty for a report photo
    try:
        with Image.open(path) as image:
            image.draft("RGB", target)
            image.load()
            picture = image.convert("RGB")
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as exc:
        log.warning("photo %s left out of a report: %s", path, exc)
        return None
    picture.thumbnail(target)
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=82, optimize=True)
    buffer.seek(0)
    width, height = picture.size
    scale = min(max_width / width, max_height / height)
    return PdfImage(buffer, width=width * scale, height=height * scale)


@dataclass(frozen=True)
class Frame:
    """What the letterhead and footer of every page say."""

    brand: str  # top left, e.g. "medfix 医疗设备维保服务"
    reference: str  # top right, e.g. the ticket number or the hospital and month
    footer: str  # bottom left, e.g. "本报告由系统自动生成 · 2026-12-01 08:00"
    page_label: Callable[[int, int], str]  # (page, pages) -> "第 1 页 / 共 2 页"


def canvas_maker(frame: Frame) -> type[Canvas]:
    """A canvas class that draws the letterhead and footer once the page count is known."""

    class FramedCanvas(Canvas):  # type: ignore[misc]  # reportlab is untyped
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []

        def showPage(self) -> None:  # noqa: N802 (reportlab's name)
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            for number, state in enumerate(self._pages, start=1):
                self.__dict__.update(state)
                self._decorate(number, total)
                super().showPage()
            super().save()

        def _decorate(self, number: int, total: int) -> None:
            name = font()
            self.saveState()
            top = PAGE_HEIGHT - 10 * mm
            draw_bold(self, MARGIN, top, frame.brand, 8.5, PRIMARY)
            self.setFont(name, 8)
            self.setFillColor(MUTED)
            self.drawRightString(PAGE_WIDTH - MARGIN, top, frame.reference)
            self.setStrokeColor(PRIMARY)
            self.setLineWidth(1.2)
            self.line(MARGIN, top - 3.5 * mm, PAGE_WIDTH - MARGIN, top - 3.5 * mm)
            bottom = 9 * mm
            self.setStrokeColor(RULE)
            self.setLineWidth(0.5)
            self.line(MARGIN, bottom + 4 * mm, PAGE_WIDTH - MARGIN, bottom + 4 * mm)
            self.drawString(MARGIN, bottom, frame.footer)
            self.drawRightString(PAGE_WIDTH - MARGIN, bottom, frame.page_label(number, total))
            self.restoreState()

    return FramedCanvas
