"""Bulk device import from CSV or XLSX: every row is checked first, then all are written or none."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from cloud.audit.service import Actor, record
from cloud.errors import Invalid
from cloud.registry.models import Department, Device, Hospital
from cloud.registry.schemas import DeviceIn, ImportReport
from cloud.registry.service import build_device, check_dates, flush_unique

MAX_ROWS = 10_000

# Header spellings people actually use, English and Chinese, mapped to DeviceIn fields.
HEADER_ALIASES: dict[str, str] = {
    "serial": "serial", "nameplate_serial": "serial", "serial_number": "serial", "序列号": "serial",
    "铭牌序列号": "serial", "manufacturer": "manufacturer", "厂家": "manufacturer", "制造商": "manufacturer",
    "model": "model", "型号": "model", "category": "category", "类别": "category", "设备类别": "category",
    "hospital": "hospital", "医院": "hospital", "department": "department", "科室": "department",
    "install_date": "install_date", "安装日期": "install_date", "warranty_end": "warranty_end",
    "保修截止": "warranty_end", "keywords": "keywords", "关键词": "keywords", "is_key": "is_key",
    "key_device": "is_key", "重点设备": "is_key", "status": "status", "状态": "status",
    "maintenance_score": "maintenance_score", "维保评分": "maintenance_score",
}
REQUIRED = ("serial", "manufacturer", "model", "category", "hospital")
TRUE_WORDS = {"1", "true", "yes", "y", "是", "x"}
FALSE_WORDS = {"", "0", "false", "no", "n", "否"}


def read_rows(filename: str, content: bytes) -> list[dict[str, Any]]:
    """The file's rows as dicts keyed by field name; Invalid when the file itself is unreadable."""
    lower = filename.lower()
    if lower.endswith(".xlsx"):
        raw = _read_xlsx(content)
    elif lower.endswith(".csv") or lower.endswith(".txt"):
        raw = _read_csv(content)
    else:
        raise Invalid("import files must be .csv or .xlsx", [{"field": "file", "message": "unsupported type"}])
    if not raw:
        raise Invalid("the file is empty", [{"row": 1, "field": "header", "message": "no header row"}])
    header = [HEADER_ALIASES.get(str(h or "").strip().lower(), str(h or "").strip().lower()) for h in raw[0]]
    missing = [f for f in REQUIRED if f not in header]
    if missing:
        raise Invalid("the header lacks required columns",
                      [{"row": 1, "field": f, "message": "missing column"} for f in missing])
    rows = []
    for values in raw[1:]:
        if all(v is None or str(v).strip() == "" for v in values):
            rows.append({})  # keep row numbers aligned with the spreadsheet
            continue
        rows.append({h: v for h, v in zip(header, values, strict=False) if h})
    if len(rows) > MAX_ROWS:
        raise Invalid(f"at most {MAX_ROWS} rows per import", [{"field": "file", "message": "too many rows"}])
    return rows


def _read_csv(content: bytes) -> list[list[Any]]:
    for encoding in ("utf-8-sig", "gb18030"):  # Excel in China saves CSV as GB18030 by default
        try:
            text = content.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise Invalid("the CSV is neither UTF-8 nor GB18030", [{"field": "file", "message": "encoding"}])
    return list(csv.reader(io.StringIO(text)))


def _read_xlsx(content: bytes) -> list[list[Any]]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a broken file
        raise Invalid("the XLSX file cannot be read", [{"field": "file", "message": str(exc)[:200]}]) from exc
    sheet = workbook.worksheets[0]
    return [list(row) for row in sheet.iter_rows(values_only=True)]


def _as_date(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date) or value is None:
        return value
    text = str(value).strip().replace("/", "-")
    return text or None


def _as_bool(value: Any, errors: list[str]) -> bool:
    text = str(value if value is not None else "").strip().lower()
    if text in TRUE_WORDS:
        return True
    if text not in FALSE_WORDS:
        errors.append(f"is_key: {value!r} is not yes/no")
    return False


def import_devices(
    session: Session, *, filename: str, content: bytes, actor: Actor, dry_run: bool = False
) -> ImportReport:
    """Check every row, then create all devices in the caller's transaction; Invalid lists bad rows."""
    rows = read_rows(filename, content)
    hospitals = list(session.execute(select(Hospital)).scalars())
    by_name: dict[str, Hospital] = {}
    for h in hospitals:
        for name in [h.name, *(h.aliases or [])]:
            by_name[name.strip().casefold()] = h
    errors: list[dict[str, Any]] = []
    parsed: list[tuple[int, DeviceIn, Hospital, str]] = []
    seen: dict[tuple[str, str], int] = {}
    for index, row in enumerate(rows, start=2):
        if not row:
            continue
        problems: list[str] = []
        hospital = by_name.get(str(row.get("hospital") or "").strip().casefold())
        if hospital is None:
            errors.append({"row": index, "field": "hospital", "message": f"unknown hospital {row.get('hospital')!r}"})
            continue
        keywords = [k.strip() for k in str(row.get("keywords") or "").replace("；", ";").replace(",", ";").split(";")
                    if k.strip()]
        candidate: dict[str, Any] = {
            "serial": str(row.get("serial") or "").strip(),
            "manufacturer": str(row.get("manufacturer") or "").strip(),
            "model": str(row.get("model") or "").strip(),
            "category": str(row.get("category") or "").strip().lower(),
            "hospital_id": hospital.id,
            "install_date": _as_date(row.get("install_date")),
            "warranty_end": _as_date(row.get("warranty_end")),
            "keywords": keywords,
            "is_key": _as_bool(row.get("is_key"), problems),
        }
        if row.get("status"):
            candidate["status"] = str(row["status"]).strip()
        if row.get("maintenance_score") not in (None, ""):
            candidate["maintenance_score"] = row["maintenance_score"]
        try:
            data = DeviceIn.model_validate(candidate)
        except ValidationError as exc:
            for err in exc.errors():
                field = ".".join(str(p) for p in err["loc"])
                errors.append({"row": index, "field": field, "message": err["msg"]})
            continue
        for problem in problems:
            errors.append({"row": index, "field": "is_key", "message": problem})
        try:
            check_dates(data.install_date, data.warranty_end)
        except Invalid as exc:
            errors.append({"row": index, "field": "warranty_end", "message": exc.message})
            continue
        key = (data.manufacturer.casefold(), data.serial.casefold())
        if key in seen:
            errors.append({"row": index, "field": "serial",
                           "message": f"duplicate of row {seen[key]} ({data.manufacturer} {data.serial})"})
            continue
        seen[key] = index
        parsed.append((index, data, hospital, str(row.get("department") or "").strip()))

    existing = set()
    if parsed:
        pairs = [(d.manufacturer, d.serial) for _, d, _, _ in parsed]
        for chunk_start in range(0, len(pairs), 500):
            chunk = pairs[chunk_start:chunk_start + 500]
            found = session.execute(select(Device.manufacturer, Device.serial).where(
                tuple_(Device.manufacturer, Device.serial).in_(chunk)))
            existing |= {(maker, serial) for maker, serial in found}
    for index, data, _, _ in parsed:
        if (data.manufacturer, data.serial) in existing:
            errors.append({"row": index, "field": "serial",
                           "message": f"{data.manufacturer} serial {data.serial!r} is already registered"})
    if errors:
        errors.sort(key=lambda e: e["row"])
        raise Invalid(f"{len({e['row'] for e in errors})} row(s) have errors; nothing was imported", errors)

    departments = {(d.hospital_id, d.name.casefold()): d for d in session.execute(select(Department)).scalars()}
    created_departments: list[str] = []
    created = 0
    for _, data, hospital, department_name in parsed:
        department_id = None
        if department_name:
            department = departments.get((hospital.id, department_name.casefold()))
            if department is None:
                department = Department(hospital_id=hospital.id, name=department_name)
                session.add(department)
                session.flush()
                departments[(hospital.id, department_name.casefold())] = department
                created_departments.append(f"{hospital.name} / {department_name}")
            department_id = department.id
        device = build_device(session, data=data.model_copy(update={"department_id": department_id}))
        session.flush()
        record(session, actor=actor, action="import", entity="device", entity_id=device.id,
               hospital_id=device.hospital_id, after=device.audit_view())
        created += 1
    flush_unique(session, "a device in the file was registered by someone else meanwhile; try again")
    return ImportReport(created=created, created_departments=created_departments, dry_run=dry_run)
