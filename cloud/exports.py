"""Tables as files: CSV (UTF-8 with a byte order mark, so Excel opens Chinese text) and XLSX (bold headers, column
widths from the content, numbers and times formatted), with a dated file name. The one writer for every export:
the dashboards' views (cloud/dashboards/exports.py), the admin console's lists and the service desk's tickets
(cloud/web/*_exports.py, cloud/web/desk_export.py).

Builders hand over plain values already in the reader's language: translated headers and enum labels, times as
naive wall-clock datetimes in the hospital's zone (cloud/localtime.local_datetime), never raw UTC.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from fastapi.responses import Response
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from cloud.db import utcnow
from cloud.localtime import local_time

MAX_ROWS = 100_000  # a list export stops here and says so in its last row
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMATS = {"int": "0", "num": "0.00", "hours": "0.0", "pct": "0.0%", "datetime": "yyyy-mm-dd hh:mm",
           "date": "yyyy-mm-dd"}
CSV_TIME = {"datetime": "%Y-%m-%d %H:%M", "date": "%Y-%m-%d"}


@dataclass
class Table:
    """One sheet: a title, headers, rows of plain values, and how each column is formatted.

    kinds: text, int, num (2 decimals), hours, pct (a fraction shown as %), datetime, date, or mixed (each row's
    kind in row_kinds, as in the dashboard's summary).
    """

    title: str
    headers: list[str]
    rows: list[list[Any]]
    kinds: list[str]
    row_kinds: list[str] | None = None


def capped(rows: list[list[Any]], note: str) -> list[list[Any]]:
    """The first MAX_ROWS rows, and the note as a last row when there were more (fetch MAX_ROWS + 1 to know)."""
    return rows[:MAX_ROWS] + [[note]] if len(rows) > MAX_ROWS else rows


def to_csv(table: Table) -> bytes:
    """One table as CSV (UTF-8 with BOM); rates as fractions, hours with two decimals, times as wall-clock text."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(table.headers)
    for row in table.rows:
        writer.writerow([_plain(value, kind) for value, kind in zip(row, table.kinds + ["text"] * len(row),
                                                                   strict=False)])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _plain(value: Any, kind: str) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return round(value, 4 if kind in ("pct", "mixed") else 2)
    if isinstance(value, datetime):
        return value.strftime(CSV_TIME["date" if kind == "date" else "datetime"])
    if isinstance(value, date):
        return value.isoformat()
    return value


def _width(value: Any) -> int:
    """How many character cells a value takes: CJK characters count twice."""
    if isinstance(value, datetime):
        return 16
    text = str(value) if value is not None else ""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def widths(table: Table, sample: int = 500) -> list[float]:
    """Column widths from the header and the first rows, between 8 and 50."""
    out = []
    for column, header in enumerate(table.headers):
        seen = [_width(row[column]) for row in table.rows[:sample] if len(row) == len(table.headers)]
        out.append(float(max(8, min(50, max([_width(header), *seen]) + 2))))
    return out


def to_xlsx(tables: Sequence[Table]) -> bytes:
    """Tables as an XLSX workbook, one sheet each: headers bold and frozen, numbers and times formatted."""
    book = Workbook(write_only=True)
    for index, table in enumerate(tables):
        title = "".join(ch for ch in table.title if ch not in "[]:*?/\\")[:28] or f"Sheet{index + 1}"
        sheet = book.create_sheet(title if title not in book.sheetnames else f"{title[:25]} {index + 1}")
        for column, width in enumerate(widths(table), start=1):
            sheet.column_dimensions[get_column_letter(column)].width = width
        sheet.freeze_panes = "B2"
        bold = Font(bold=True)
        header_cells = []
        for header in table.headers:
            cell = WriteOnlyCell(sheet, value=header)
            cell.font = bold
            header_cells.append(cell)
        sheet.append(header_cells)
        for offset, row in enumerate(table.rows):
            cells: list[Any] = []
            for column, value in enumerate(row):
                kind = table.kinds[column] if len(row) == len(table.headers) else "text"  # not on a note row
                if kind == "mixed" and table.row_kinds:
                    kind = table.row_kinds[offset]
                number_format = FORMATS.get(kind)
                if number_format and value is not None:
                    cell = WriteOnlyCell(sheet, value=_cell(value))
                    cell.number_format = number_format
                    cells.append(cell)
                else:
                    cells.append(_cell(value))
            sheet.append(cells)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    return value


def filename(stem: str, fmt: str, *, time_zone: str | None = None, now: datetime | None = None) -> str:
    """medfix-<stem>-<YYYYMMDD>.<fmt>, dated in the reader's zone (default Beijing time)."""
    return f"medfix-{stem}-{local_time(now or utcnow(), time_zone, '%Y%m%d')}.{fmt}"


def download(tables: Sequence[Table], fmt: str, name: str) -> Response:
    """The tables as a file to save: CSV holds the first table, XLSX every one on a sheet of its own."""
    if fmt == "csv":
        return Response(to_csv(tables[0]), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
    return Response(to_xlsx(tables), media_type=XLSX, headers={"Content-Disposition": f'attachment; filename="{name}"'})
