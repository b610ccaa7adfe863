"""Admin console exports (issue #11): every list page as XLSX or CSV under /admin/exports/<list>.<fmt>.

An export holds exactly what its page selects (the same filters, read by the page's own list_filters, and every page
of it, up to exports.MAX_ROWS with a note row), for the same roles (the page's dependency: anyone else gets 403),
with headers and values in the reader's language (statuses, roles and categories through the catalogs, people by
name) and times in the record's hospital time zone. A page showing two tables (hospitals and their departments,
groups and their members, alert policies and maintenance windows) exports both as sheets of one workbook; its CSV
holds one, chosen by ?table=. Accounts and the audit log are in admin_exports_accounts.py; the writer is
cloud/exports.py.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud import exports
from cloud.alerts import service as alert_service
from cloud.db import SessionDep, utcnow
from cloud.exports import Table, capped, download, filename
from cloud.i18n import pick_language, translate
from cloud.i18n_catalogs import N_
from cloud.localtime import local_datetime, zone_label
from cloud.registry import groups as group_service
from cloud.registry import service as registry_service
from cloud.registry.models import Department, Device, DeviceGroup, Hospital
from cloud.telemetry import service as telemetry_service
from cloud.tenancy import Scope
from cloud.tickets import faults
from cloud.web import admin_alerts, admin_devices, admin_faults
from cloud.web.admin_devices import StaffPage
from cloud.web.admin_forms import AdminPage
from cloud.web.admin_gateways import last_contact
from cloud.web.pages import LANGUAGE_COOKIE

router = APIRouter(include_in_schema=False)
Fmt = Literal["csv", "xlsx"]  # the file format, from the path (anything else: 422)
Translate = Callable[[str], str]
CAP_NOTE = N_("Only the first 100,000 rows are exported; narrow the filters for the rest.")


def language_of(request: Request) -> str:
    """The reader's language: the pages' cookie, else Accept-Language."""
    return pick_language(request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language"))


def translator_for(request: Request) -> Translate:
    """`t` for the reader's language."""
    return partial(translate, language=language_of(request))


def send(tables: dict[str, Table], fmt: Fmt, stem: str, table: str = "") -> Response:
    """The file: XLSX with every table as a sheet, CSV with the chosen one (the first by default)."""
    if fmt == "xlsx":
        return download(list(tables.values()), fmt, filename(stem, fmt))
    key = table if table in tables else next(iter(tables))
    return download([tables[key]], fmt, filename(stem if len(tables) == 1 else f"{stem}-{key}", fmt))


def yes_no(t: Translate, flag: bool) -> str:
    """Yes or No in the reader's language."""
    return t("Yes") if flag else t("No")


TableChoice = Annotated[str, Query(max_length=20, description="the table a CSV holds (pages with two tables)")]


# --- devices and groups ------------------------------------------------------------------------------------


@router.get("/admin/exports/devices.{fmt}")
def devices_export(
    fmt: Fmt, request: Request, session: SessionDep, _user: StaffPage,
    q: Annotated[str | None, Query(max_length=100)] = None, hospital_id: str | None = None, status: str | None = None,
) -> Response:
    """The device list with its search, hospital and status filters, every page of it."""
    t = translator_for(request)
    rows, _total = registry_service.list_devices(session, scope=Scope.everything(),
                                                 **admin_devices.list_filters(q, hospital_id, status),
                                                 limit=exports.MAX_ROWS + 1)
    groups = {g.id: g.name for g in group_service.list_groups(session, scope=Scope.everything())}
    headers = [N_("System no."), N_("Manufacturer"), N_("Model"), N_("Serial"), N_("Category"), N_("Hospital"),
               N_("Department"), N_("Device group"), N_("Position in group"), N_("Status"), N_("Key device"),
               N_("Maintenance score"), N_("Set by an admin"), N_("Install date"), N_("Warranty end"),
               N_("Keywords")]
    body = [[d.system_number, d.manufacturer, d.model, d.serial, t(d.category), d.hospital.name,
             d.department.name if d.department else "", groups.get(d.group_id, "") if d.group_id else "",
             d.group_position if d.group_id else None, t(d.status.value), yes_no(t, d.is_key), d.maintenance_score,
             yes_no(t, d.score_override is not None), d.install_date, d.warranty_end, "、".join(d.keywords or [])]
            for d in rows]
    kinds = ["text"] * 8 + ["int", "text", "text", "int", "text", "date", "date", "text"]
    table = Table(t("Devices"), [t(h) for h in headers], capped(body, t(CAP_NOTE)), kinds)
    return send({"devices": table}, fmt, "devices")


def _groups_tables(session: Session, t: Translate) -> dict[str, Table]:
    groups = group_service.list_groups(session, scope=Scope.everything())
    heads = [N_("System no."), N_("Group name"), N_("Hospital"), N_("Department"), N_("Line"),
             N_("Compatible models"), N_("Tags"), N_("Notes"), N_("Members"), N_("Model mismatch")]
    body = [[g.system_number, g.name, g.hospital.name, g.department.name if g.department else "", g.line,
             "、".join(g.compatible_models or []), "、".join(g.tags or []), g.notes, len(g.members),
             len(group_service.model_warnings(g))] for g in groups]
    member_heads = [N_("Group name"), N_("Hospital"), N_("Position in group"), N_("System no."), N_("Manufacturer"),
                    N_("Model"), N_("Serial"), N_("Status"), N_("Maintenance score")]
    members = [[g.name, g.hospital.name, position, d.system_number, d.manufacturer, d.model, d.serial,
                t(d.status.value), d.maintenance_score]
               for g in groups for position, d in enumerate(g.members, start=1)]
    return {"groups": Table(t("Device groups"), [t(h) for h in heads], body, ["text"] * 8 + ["int", "int"]),
            "members": Table(t("Devices in groups"), [t(h) for h in member_heads], capped(members, t(CAP_NOTE)),
                             ["text", "text", "int"] + ["text"] * 5 + ["int"])}


@router.get("/admin/exports/groups.{fmt}")
def groups_export(fmt: Fmt, request: Request, session: SessionDep, _user: StaffPage,
                  table: TableChoice = "") -> Response:
    """Device groups (one row each) and their members in line order (one row per device)."""
    return send(_groups_tables(session, translator_for(request)), fmt, "groups", table)


# --- hospitals and departments, gateways --------------------------------------------------------------------------


@router.get("/admin/exports/hospitals.{fmt}")
def hospitals_export(fmt: Fmt, request: Request, session: SessionDep, _user: AdminPage,
                     table: TableChoice = "") -> Response:
    """Hospitals (address, geofence, time zone, hotline, invite code state) and their departments."""
    t = translator_for(request)
    hospitals = registry_service.list_hospitals(session, scope=Scope.everything())
    devices = dict(session.execute(select(Device.hospital_id, func.count()).group_by(Device.hospital_id)).all())
    by_department = dict(session.execute(select(Device.department_id, func.count()).group_by(Device.department_id))
                         .all())
    groups = dict(session.execute(select(DeviceGroup.department_id, func.count())
                                  .group_by(DeviceGroup.department_id)).all())

    def invite(h: Hospital) -> str:
        if not h.invite_code:
            return t("None")
        return t("Expired") if registry_service.invite_code_expired(h) else t("Valid")

    heads = [N_("Hospital name"), N_("Aliases"), N_("Address"), N_("Departments"), N_("Devices"), N_("Latitude"),
             N_("Longitude"), N_("Geofence radius (m)"), N_("Time zone"), N_("Service hotline"), N_("Invite code"),
             N_("Valid until")]
    body = [[h.name, "、".join(h.aliases or []), h.address, len(h.departments), devices.get(h.id, 0), h.latitude,
             h.longitude, h.geofence_radius_m if h.latitude is not None else None, zone_label(h.time_zone, t),
             h.hotline, invite(h), local_datetime(h.invite_code_expires_at, h.time_zone) if h.invite_code else None]
            for h in hospitals]
    departments = session.execute(select(Department).order_by(Department.hospital_id, Department.name)).scalars()
    names = {h.id: h.name for h in hospitals}
    dept_body = [[names.get(d.hospital_id, ""), d.name, by_department.get(d.id, 0), groups.get(d.id, 0)]
                 for d in departments]
    return send({"hospitals": Table(t("Hospitals"), [t(h) for h in heads], body,
                                    ["text", "text", "text", "int", "int", "num", "num", "int", "text", "text", "text",
                                     "date"]),
                 "departments": Table(t("Departments"), [t(h) for h in (N_("Hospital"), N_("Department"),
                                                                        N_("Devices"), N_("Device groups"))],
                                      dept_body, ["text", "text", "int", "int"])}, fmt, "hospitals", table)


@router.get("/admin/exports/gateways.{fmt}")
def gateways_export(fmt: Fmt, request: Request, session: SessionDep, _user: AdminPage,
                    hospital_id: str | None = None) -> Response:
    """Gateways (of the hospital chosen on the page) with state, last contact and unmapped keys."""
    t = translator_for(request)
    rows = telemetry_service.list_gateways(session, hospital_id=int(hospital_id) if hospital_id and
                                           hospital_id.isdigit() else None)
    heads = [N_("Gateway"), N_("Hospital"), N_("Status"), N_("Last contact"), N_("Last data"), N_("Token issued"),
             N_("Unmapped keys"), N_("Time zone")]
    body = [[g.name, g.hospital.name, t(f"gateway.{g.status.value}"),
             local_datetime(last_contact(g), g.hospital.time_zone) or t("Never"),
             local_datetime(g.last_batch_at, g.hospital.time_zone) or t("Never"),
             local_datetime(g.token_rotated_at, g.hospital.time_zone),
             len(telemetry_service.list_mappings(session, gateway_id=g.id, unmapped_only=True)),
             zone_label(g.hospital.time_zone, t)] for g in rows]
    kinds = ["text", "text", "text", "datetime", "datetime", "datetime", "int", "text"]
    return send({"gateways": Table(t("Gateways"), [t(h) for h in heads], body, kinds)}, fmt, "gateways")


# --- fault categories, alert policies and maintenance windows ------------------------------------------------------


@router.get("/admin/exports/fault-categories.{fmt}")
def fault_categories_export(
    fmt: Fmt, request: Request, session: SessionDep, _user: AdminPage,
    category: Annotated[str | None, Query(max_length=50)] = None,
) -> Response:
    """The fault category list the page shows (one device category's, or the general one), in its order."""
    t = translator_for(request)
    listed = admin_faults.list_param(session, category)
    entries = faults.view(session, listed, include_inactive=True)
    counts = admin_faults.ticket_counts(session, entries, listed)
    heads = [N_("Order"), N_("Chinese name"), N_("English name"), N_("Applies to"), N_("Basic fault"), N_("State"),
             N_("Tickets")]
    body = [[n, e.name_zh, e.name_en, t(e.device_category) if e.device_category else t("Every device category"),
             yes_no(t, e.basic), t("In use") if e.active else t("Deactivated"), counts.get(e.id, 0)]
            for n, e in enumerate(entries, start=1)]
    return send({"faults": Table(t("Fault categories"), [t(h) for h in heads], body,
                                 ["int", "text", "text", "text", "text", "text", "int"])},
                fmt, "fault-categories")


@router.get("/admin/exports/alerts.{fmt}")
def alerts_export(fmt: Fmt, request: Request, session: SessionDep, _user: AdminPage,
                  table: TableChoice = "") -> Response:
    """Alert policies and maintenance windows, times in each device's hospital zone."""
    t = translator_for(request)
    devices = {d.id: d for d in session.execute(select(Device)).scalars()}

    def zone_of(device_id: int | None) -> str | None:
        device = devices.get(device_id) if device_id is not None else None
        return device.hospital.time_zone if device else None

    policy_heads = [N_("Metric"), N_("Device"), N_("Model"), N_("Hospital"), N_("Sensitivity"),
                    N_("Abnormal for (min)"), N_("Quiet after (min)"), N_("Resolve after (min)"), N_("Learning (h)"),
                    N_("State"), N_("False alarms"), N_("Last changed")]
    policies = []
    for p in alert_service.list_policies(session):
        dev = devices.get(p.device_id) if p.device_id is not None else None
        policies.append([admin_alerts.metric_label(t, p.metric), dev.system_number if dev else t("All devices"),
                         dev.model if dev else "", dev.hospital.name if dev else "",
                         p.sensitivity if p.sensitivity is not None else t("Default"), p.min_duration_s / 60,
                         p.cooldown_s / 60, p.resolve_after_s / 60,
                         p.learning_hours if p.learning_hours is not None else t("Default"),
                         t("Enabled") if p.enabled else t("Disabled"),
                         p.false_alarms, local_datetime(p.updated_at, zone_of(p.device_id))])
    now = utcnow()
    window_heads = [N_("Device"), N_("Model"), N_("Hospital"), N_("Starts"), N_("Ends"), N_("Reason"), N_("State"),
                    N_("Time zone")]
    windows = [[devices[w.device_id].system_number, devices[w.device_id].model, devices[w.device_id].hospital.name,
                local_datetime(w.starts_at, zone_of(w.device_id)), local_datetime(w.ends_at, zone_of(w.device_id)),
                w.reason, t(admin_alerts.window_state(w, now)), zone_label(zone_of(w.device_id), t)]
               for w in alert_service.list_windows(session) if w.device_id in devices]
    return send({"policies": Table(t("Alert policies"), [t(h) for h in policy_heads], policies,
                                   ["text"] * 5 + ["num", "num", "num", "text", "int", "datetime"]),
                 "windows": Table(t("Maintenance windows"), [t(h) for h in window_heads], windows,
                                  ["text", "text", "text", "datetime", "datetime", "text", "text", "text"])},
                fmt, "alerts", table)
