"""Admin console: device import from XLSX/CSV with a dry-run preview of every error before anything is written."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select

from cloud.db import SessionDep
from cloud.errors import Invalid
from cloud.registry import importer
from cloud.registry.api import MAX_IMPORT_BYTES
from cloud.registry.models import Device
from cloud.web.admin_forms import AdminPage, actor, translator
from cloud.web.admin_hospitals import admin_render

router = APIRouter(include_in_schema=False)

TEMPLATE_HEADER = "序列号,厂家,型号,类别,医院,科室,安装日期,保修截止,关键词,重点设备\r\n"
TEMPLATE_ROW = "C702-0001,Roche,cobas c 702,chemistry,瑞金医院,检验科,2024-03-01,2027-02-28,生化;急诊,是\r\n"

# English messages the importer (and pydantic) write -> a translatable key and the value to put in it.
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"unknown hospital (.*)"), "Unknown hospital {0}: use its name or an alias."),
    (re.compile(r"duplicate of row (\d+)"), "Same manufacturer and serial as row {0}."),
    (re.compile(r".*is already registered"), "This manufacturer's serial is already registered."),
    (re.compile(r"is_key: (.*) is not yes/no"), "Key device is 是/否 (yes/no), not {0}."),
    (re.compile(r"Field required"), "Required."),
    (re.compile(r"Input should be '.*"), "Not one of the allowed values."),
    (re.compile(r"Input should be a valid date.*|Input should be a valid datetime.*"),
     "A date like 2024-03-31."),
    (re.compile(r"String should have at most (\d+) characters?"), "At most {0} characters."),
    (re.compile(r"String should have at least 1 character"), "Required."),
    (re.compile(r"Input should be (less|greater) than or equal to (\d+)"), "Out of range."),
    (re.compile(r"Input should be a valid integer.*"), "A whole number."),
    (re.compile(r"missing column"), "The header lacks this column."),
    (re.compile(r"the warranty ends before the device was installed"),
     "The warranty cannot end before the install date."),
)


def _message(_: Any, text: str) -> str:
    for pattern, key in _PATTERNS:
        match = pattern.search(text)
        if match:
            return str(_(key)).format(*(g.strip("'\"") for g in match.groups()))
    return str(_(text))


def _field(_: Any, field: str) -> str:
    name = field.split(".")[0]
    name = {"hospital": "hospital_id", "department": "department_id"}.get(name, name)
    label = _(f"field.{name}")
    return label if label != f"field.{name}" else field


def explain(request: Request, errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The importer's errors as rows of the preview table in the page's language."""
    _ = translator(request)
    return [{"row": e.get("row"), "field": _field(_, str(e.get("field") or "")),
             "message": _message(_, str(e.get("message") or ""))} for e in errors]


@router.get("/admin/devices/import")
def import_page(request: Request, session: SessionDep, user: AdminPage) -> Response:
    """Upload a spreadsheet: it is checked (dry run) and previewed before the import writes anything."""
    return admin_render(request, session, "admin/device_import.html", user, active="devices")


@router.get("/admin/devices/import/template.csv")
def import_template(_user: AdminPage) -> Response:
    """A CSV template with the Chinese headers the importer reads (UTF-8 with BOM, so Excel opens it right)."""
    return Response(("\ufeff" + TEMPLATE_HEADER + TEMPLATE_ROW).encode("utf-8"), media_type="text/csv",
                    headers={"Content-Disposition": "attachment; filename=medfix-devices.csv"})


@router.post("/admin/devices/import")
async def import_run(request: Request, session: SessionDep, user: AdminPage,
                     file: Annotated[UploadFile, File()], dry_run: Annotated[str, Form()] = "1") -> Response:
    """Check the file (dry_run=1: preview the rows, list every error) or import it, all or nothing."""
    _ = translator(request)
    content = await file.read(MAX_IMPORT_BYTES + 1)
    if len(content) > MAX_IMPORT_BYTES:
        return JSONResponse({"ok": False, "detail": _("The file is larger than 10 MB."), "errors": []}, 422)
    trying = dry_run != "0"
    before = set(session.execute(select(Device.id)).scalars()) if trying else set()
    try:
        with session.begin_nested():
            report = importer.import_devices(session, filename=file.filename or "upload.csv", content=content,
                                             actor=actor(user), dry_run=trying)
            rows = [{"serial": d.serial, "manufacturer": d.manufacturer, "model": d.model, "category": _(d.category),
                     "hospital": d.hospital.name, "department": d.department.name if d.department else ""}
                    for d in session.execute(select(Device).order_by(Device.id)).scalars() if d.id not in before
                    ] if trying else []
            if trying:
                raise _DryRun
    except _DryRun:
        session.rollback()
        return JSONResponse({"ok": True, "dry_run": True, "count": report.created, "rows": rows,
                             "created_departments": report.created_departments,
                             "message": _("No errors: {0} devices are ready to import.").format(report.created)})
    except Invalid as exc:
        session.rollback()
        errors = explain(request, exc.extra.get("errors") or [])
        if "nothing was imported" in exc.message:
            detail = _("{0} rows have errors; nothing was written.").format(len({e["row"] for e in errors}))
        else:
            detail = _message(_, exc.message)
        return JSONResponse({"ok": False, "detail": detail, "errors": errors}, status_code=422)
    session.commit()
    return JSONResponse({"ok": True, "dry_run": False, "count": report.created, "redirect": "/admin/devices",
                         "message": _("{0} devices imported.").format(report.created)})


class _DryRun(Exception):
    """Rolls the dry run's savepoint back after the preview rows are read."""
