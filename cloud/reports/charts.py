"""The monthly report's charts, drawn with reportlab's graphics (vector, so they print sharp; no matplotlib).

Each function returns a Drawing (a flowable) of the given size; with nothing to show it returns a quiet box
saying so, so an empty month still lays out like a full one.
"""

from __future__ import annotations

from collections.abc import Sequence

from reportlab.graphics.charts.barcharts import HorizontalBarChart, VerticalBarChart
from reportlab.graphics.charts.doughnut import Doughnut
from reportlab.graphics.charts.linecharts import HorizontalLineChart
from reportlab.graphics.shapes import Drawing, Rect, String
from reportlab.graphics.widgets.markers import makeMarker
from reportlab.lib import colors
from reportlab.pdfbase import pdfmetrics

from cloud.reports import pdf

TITLE_SIZE = 9
LABEL_SIZE = 7


def _frame(width: float, height: float, title: str) -> Drawing:
    drawing = Drawing(width, height)
    drawing.add(String(0, height - TITLE_SIZE - 1, title, fontName=pdf.font(), fontSize=TITLE_SIZE,
                       fillColor=pdf.INK))
    return drawing


def _empty(drawing: Drawing, width: float, height: float, message: str) -> Drawing:
    drawing.add(Rect(0, 0, width, height - 18, fillColor=pdf.SHADE, strokeColor=pdf.RULE, strokeWidth=0.5))
    drawing.add(String(width / 2, (height - 18) / 2 - 3, message, fontName=pdf.font(), fontSize=8.5,
                       fillColor=pdf.MUTED, textAnchor="middle"))
    return drawing


def _axis_scale(value: float, *, integer: bool) -> tuple[float, float]:
    """(top, step) of a value axis: at most five round steps (1, 2, 5 × 10^n) just above value."""
    value = max(value, 1.0 if integer else 0.1) * 1.1
    step = 1.0 if integer else 0.1
    while True:
        for factor in (1, 2, 5):
            if step * factor * 5 >= value:
                chosen = step * factor
                return chosen * -(-value // chosen), chosen
        step *= 10


def _value_axis(axis: object, value: float, *, integer: bool) -> None:
    top, step = _axis_scale(value, integer=integer)
    axis.valueMin = 0  # type: ignore[attr-defined]
    axis.valueMax = top  # type: ignore[attr-defined]
    axis.valueStep = step  # type: ignore[attr-defined]
    axis.labels.fontName = pdf.font()  # type: ignore[attr-defined]
    axis.labels.fontSize = LABEL_SIZE  # type: ignore[attr-defined]
    axis.labels.fillColor = pdf.MUTED  # type: ignore[attr-defined]
    axis.labelTextFormat = "%d" if integer or step >= 1 else "%.1f"  # type: ignore[attr-defined]
    axis.strokeColor = pdf.RULE  # type: ignore[attr-defined]
    axis.gridStrokeColor = pdf.SHADE  # type: ignore[attr-defined]
    axis.visibleGrid = True  # type: ignore[attr-defined]
    axis.gridStrokeWidth = 0.5  # type: ignore[attr-defined]


def _category_axis(axis: object, labels: Sequence[str]) -> None:
    axis.categoryNames = list(labels)  # type: ignore[attr-defined]
    axis.labels.fontName = pdf.font()  # type: ignore[attr-defined]
    axis.labels.fontSize = LABEL_SIZE  # type: ignore[attr-defined]
    axis.labels.fillColor = pdf.INK  # type: ignore[attr-defined]
    axis.strokeColor = pdf.RULE  # type: ignore[attr-defined]


def column_chart(values: Sequence[float], labels: Sequence[str], *, width: float, height: float, title: str,
                 empty: str, label_every: int = 1, integer: bool = True, show_values: bool = False) -> Drawing:
    """Vertical bars, one per label (e.g. tickets per day); every label_every-th label is printed."""
    drawing = _frame(width, height, title)
    if not values or not any(values):
        return _empty(drawing, width, height, empty)
    chart = VerticalBarChart()
    chart.x, chart.y, chart.width, chart.height = 24, 16, width - 30, height - 40
    chart.data = [list(values)]
    chart.bars[0].fillColor = pdf.PRIMARY
    chart.bars[0].strokeColor = None
    chart.barSpacing = 1
    chart.groupSpacing = 2 if len(values) > 12 else 6
    _value_axis(chart.valueAxis, max(values), integer=integer)
    _category_axis(chart.categoryAxis, [lab if i % label_every == 0 else "" for i, lab in enumerate(labels)])
    if show_values:
        chart.barLabelFormat = "%d" if integer else "%.1f"
        chart.barLabels.fontName = pdf.font()
        chart.barLabels.fontSize = LABEL_SIZE
        chart.barLabels.nudge = 6
        chart.barLabels.fillColor = pdf.INK
    drawing.add(chart)
    return drawing


def bar_list(items: Sequence[tuple[str, float]], *, width: float, height: float, title: str, empty: str) -> Drawing:
    """Horizontal bars with the names on the left, largest first (e.g. tickets per fault category)."""
    drawing = _frame(width, height, title)
    items = [(name, value) for name, value in items if value][:8]
    if not items:
        return _empty(drawing, width, height, empty)
    items = list(reversed(items))  # reportlab draws the first category at the bottom
    name_width = min(110.0, max(pdfmetrics.stringWidth(n, pdf.font(), LABEL_SIZE) for n, _ in items) + 8)
    chart = HorizontalBarChart()
    chart.x, chart.y, chart.width, chart.height = name_width, 14, width - name_width - 22, height - 38
    chart.data = [[v for _, v in items]]
    chart.bars[0].fillColor = pdf.SERIES[1]
    chart.bars[0].strokeColor = None
    chart.barSpacing = 1
    chart.groupSpacing = 4
    _value_axis(chart.valueAxis, max(v for _, v in items), integer=True)
    _category_axis(chart.categoryAxis, [n for n, _ in items])
    chart.barLabelFormat = "%d"
    chart.barLabels.fontName = pdf.font()
    chart.barLabels.fontSize = LABEL_SIZE
    chart.barLabels.boxAnchor = "w"
    chart.barLabels.dx = 3
    chart.barLabels.fillColor = pdf.INK
    drawing.add(chart)
    return drawing


def share_ring(items: Sequence[tuple[str, float]], *, width: float, height: float, title: str,
               empty: str) -> Drawing:
    """A ring of shares with a legend (name, count, percent) beside it (e.g. the tier mix)."""
    drawing = _frame(width, height, title)
    items = [(name, value) for name, value in items if value]
    if not items:
        return _empty(drawing, width, height, empty)
    total = sum(v for _, v in items)
    size = min(height - 30, width * 0.45)
    ring = Doughnut()
    ring.x, ring.y, ring.width, ring.height = 4, (height - 18 - size) / 2, size, size
    ring.data = [v for _, v in items]
    ring.innerRadiusFraction = 0.55
    ring.slices.strokeColor = colors.white
    ring.slices.strokeWidth = 1
    for i in range(len(items)):
        ring.slices[i].fillColor = pdf.SERIES[i % len(pdf.SERIES)]
    drawing.add(ring)
    drawing.add(String(4 + size / 2, ring.y + size / 2 - 4, f"{int(total)}", fontName=pdf.font(), fontSize=11,
                       fillColor=pdf.INK, textAnchor="middle"))
    x = size + 18
    top = height - 30
    for i, (name, value) in enumerate(items):
        y = top - i * 14
        drawing.add(Rect(x, y, 8, 8, fillColor=pdf.SERIES[i % len(pdf.SERIES)], strokeColor=None))
        drawing.add(String(x + 12, y + 1, f"{name}  {int(value)}（{value / total:.0%}）", fontName=pdf.font(),
                           fontSize=LABEL_SIZE + 0.5, fillColor=pdf.INK))
    return drawing


def line_chart(values: Sequence[float | None], labels: Sequence[str], *, width: float, height: float, title: str,
               empty: str, integer: bool = False) -> Drawing:
    """One series over time with markers (e.g. the mean time to repair of the last six months)."""
    drawing = _frame(width, height, title)
    if not any(v for v in values if v is not None):
        return _empty(drawing, width, height, empty)
    chart = HorizontalLineChart()
    chart.x, chart.y, chart.width, chart.height = 28, 16, width - 36, height - 40
    chart.data = [list(values)]  # a month without a value is skipped, not drawn as 0
    chart.lines[0].strokeColor = pdf.SERIES[3]
    chart.lines[0].strokeWidth = 1.6
    chart.lines[0].symbol = makeMarker("FilledCircle", size=4, fillColor=pdf.SERIES[3])
    chart.joinedLines = True
    top, _ = _axis_scale(max(v for v in values if v is not None), integer=integer)
    _value_axis(chart.valueAxis, max(v for v in values if v is not None), integer=integer)
    _category_axis(chart.categoryAxis, labels)
    drawing.add(chart)
    # Value labels drawn here: reportlab's own shift to the wrong point after a gap (a month without repairs).
    slot = chart.width / len(values)
    for i, value in enumerate(values):
        if value is None:
            continue
        drawing.add(String(chart.x + (i + 0.5) * slot, chart.y + value / top * chart.height + 5,
                           f"{value:.0f}" if integer else f"{value:.1f}", fontName=pdf.font(), fontSize=LABEL_SIZE,
                           fillColor=pdf.INK, textAnchor="middle"))
    return drawing
