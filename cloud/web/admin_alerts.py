"""Admin console: alert policies (per metric, optionally per device) and maintenance windows, in zh-CN."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from cloud.alerts import service as alert_service
from cloud.alerts.models import ANY_METRIC, MaintenanceWindow
from cloud.alerts.schemas import PolicyIn
from cloud.db import SessionDep, utcnow
from cloud.errors import Conflict, Invalid
from cloud.i18n_catalogs import N_
from cloud.localtime import zone
from cloud.registry.models import Device
from cloud.web.admin_devices import refuse_fields
from cloud.web.admin_forms import AdminPage, actor, done, refuse, translator
from cloud.web.admin_hospitals import admin_render

router = APIRouter(include_in_schema=False)

# Metrics the gateways report today (edge/simulate, the demo) with their units; the page shows display names.
KNOWN_METRICS: tuple[tuple[str, str], ...] = (
    ("reaction_disk_temp", "°C"), ("incubator_temp", "°C"), ("reagent_fridge_temp", "°C"), ("wash_pressure", "kPa"),
    ("vacuum", "kPa"), ("lamp_hours", "h"), ("sample_count", ""), ("test_count", ""),
)


def metric_label(_: Any, metric: str) -> str:
    """A metric's display name ('*' is every metric); the raw key only when no name is known."""
    if metric == ANY_METRIC:
        return str(_("All metrics"))
    label = _(f"metric.{metric}")
    return str(label) if label != f"metric.{metric}" else metric


def _int(text: str) -> int | None:
    return int(text) if text.strip().isdigit() else None


def _minutes(text: str, default: int) -> int | str:
    text = text.strip()
    if not text:
        return default
    try:
        return round(float(text) * 60)
    except ValueError:
        return text


def _devices(session: Session) -> list[Device]:
    stmt = select(Device).options(selectinload(Device.hospital)).order_by(Device.system_number)
    return list(session.execute(stmt).scalars())


@router.get("/admin/alerts")
def alerts_page(request: Request, session: SessionDep, user: AdminPage) -> Response:
    """Alert policies and maintenance windows, times in each device's hospital zone."""
    _ = translator(request)
    devices = _devices(session)
    policies = alert_service.list_policies(session)
    windows = alert_service.list_windows(session)
    metrics = dict.fromkeys([m for m, _unit in KNOWN_METRICS] + [p.metric for p in policies if p.metric != "*"])
    now = utcnow()
    return admin_render(
        request, session, "admin/alerts.html", user, active="alerts", policies=policies, windows=windows,
        # As a person types them (24, 0.05, 0.75): what an empty learning period or sensitivity means.
        default_learning_hours=f"{request.app.state.settings.alert_learning_hours:g}",
        default_threshold=f"{request.app.state.settings.alert_threshold:g}",
        devices=devices, device_by_id={d.id: d for d in devices}, now=now,
        metrics=[(m, metric_label(_, m)) for m in metrics], label={p.id: metric_label(_, p.metric) for p in policies},
        window_state={w.id: window_state(w, now) for w in windows})


def window_state(window: MaintenanceWindow, now: datetime) -> str:
    start, end = window.starts_at, window.ends_at
    return "window.active" if start <= now < end else ("window.ended" if end <= now else "window.planned")


# --- policies --------------------------------------------------------------------------------------------


def _policy_values(metric: str, device_id: str, sensitivity: str, min_duration: str, hysteresis: str,
                   cooldown: str, resolve_after: str, enabled: str, learning: str) -> dict[str, Any]:
    return {"metric": metric.strip(), "device_id": _int(device_id),
            "sensitivity": sensitivity.strip() or None, "min_duration_s": _minutes(min_duration, 0),
            "hysteresis": hysteresis.strip() or 0.1, "cooldown_s": _minutes(cooldown, 30),
            "resolve_after_s": _minutes(resolve_after, 10), "enabled": enabled in ("on", "1", "true"),
            "learning_hours": learning.strip() or None}


POLICY_MESSAGES = {
    "metric": N_("Choose a metric."),
    "sensitivity": N_("Sensitivity is a number above 0 and at most 1 (empty: the default)."),
    "min_duration_s": N_("Minutes from 0 to 10080."), "hysteresis": N_("Hysteresis is a number from 0 to 1."),
    "cooldown_s": N_("Minutes from 0 to 43200."), "resolve_after_s": N_("Minutes from 0 to 43200."),
    "learning_hours": N_("Hours from 0 to 720 (empty: the default)."),
}


def _save_policy(request: Request, session: Session, user: Any, values: dict[str, Any],
                 policy_id: int | None) -> JSONResponse:
    try:
        body = PolicyIn.model_validate(values)
    except ValidationError as exc:
        fields = list(dict.fromkeys(str(e["loc"][0]) for e in exc.errors() if e["loc"]))
        return refuse_fields(request, [{"field": f, "message": POLICY_MESSAGES.get(f, "Check this value.")}
                                       for f in fields])
    try:
        alert_service.save_policy(session, values=body.model_dump(), actor=actor(user), policy_id=policy_id)
    except Conflict:
        session.rollback()
        return refuse(request, "A policy for this metric and device exists already: edit that one.", field="metric",
                      status=409)
    except Invalid:
        session.rollback()
        return refuse(request, "Choose a device from the list.", field="device_id")
    session.commit()
    return done(request, "Saved")


PolicyForm = Annotated[str, Form()]


@router.post("/admin/alerts/policies/new")
def policy_create(request: Request, session: SessionDep, user: AdminPage, metric: PolicyForm = "",
                  device_id: PolicyForm = "", sensitivity: PolicyForm = "", min_duration: PolicyForm = "",
                  hysteresis: PolicyForm = "", cooldown: PolicyForm = "", resolve_after: PolicyForm = "",
                  enabled: PolicyForm = "", learning: PolicyForm = "") -> Response:
    """Add a policy for a metric (or every metric), for all devices or one."""
    values = _policy_values(metric, device_id, sensitivity, min_duration, hysteresis, cooldown, resolve_after,
                            enabled, learning)
    return _save_policy(request, session, user, values, None)


@router.post("/admin/alerts/policies/{policy_id}")
def policy_update(policy_id: int, request: Request, session: SessionDep, user: AdminPage, metric: PolicyForm = "",
                  device_id: PolicyForm = "", sensitivity: PolicyForm = "", min_duration: PolicyForm = "",
                  hysteresis: PolicyForm = "", cooldown: PolicyForm = "", resolve_after: PolicyForm = "",
                  enabled: PolicyForm = "", learning: PolicyForm = "") -> Response:
    """Change a policy."""
    alert_service.get_policy(session, policy_id=policy_id)
    values = _policy_values(metric, device_id, sensitivity, min_duration, hysteresis, cooldown, resolve_after,
                            enabled, learning)
    return _save_policy(request, session, user, values, policy_id)


@router.post("/admin/alerts/policies/{policy_id}/delete")
def policy_delete(policy_id: int, request: Request, session: SessionDep, user: AdminPage) -> Response:
    """Remove a policy; its streams fall back to the next most specific one."""
    alert_service.delete_policy(session, policy_id=policy_id, actor=actor(user))
    session.commit()
    return done(request, "Policy deleted")


# --- maintenance windows ---------------------------------------------------------------------------------


def _local(text: str, time_zone: str) -> datetime | None:
    """A datetime-local field typed in the hospital's zone, as UTC; None when blank or malformed."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return moment.replace(tzinfo=zone(time_zone)).astimezone(UTC) if moment.tzinfo is None else moment


def _save_window(request: Request, session: Session, user: Any, device_id: str, starts_at: str, ends_at: str,
                 reason: str, window_id: int | None) -> JSONResponse:
    device = session.get(Device, _int(device_id) or 0)
    if device is None:
        return refuse(request, "Choose a device from the list.", field="device_id")
    start, end = _local(starts_at, device.hospital.time_zone), _local(ends_at, device.hospital.time_zone)
    if start is None:
        return refuse(request, "Give the start (date and time).", field="starts_at")
    if end is None:
        return refuse(request, "Give the end (date and time).", field="ends_at")
    if len(reason) > 400:
        return refuse(request, "The reason is up to 400 characters.", field="reason")
    try:
        alert_service.save_window(session, device_id=device.id, starts_at=start, ends_at=end, reason=reason,
                                  actor=actor(user), window_id=window_id)
    except Invalid:
        return refuse(request, "The window must end after it starts.", field="ends_at")
    session.commit()
    return done(request, "Saved")


@router.post("/admin/alerts/windows/new")
def window_create(request: Request, session: SessionDep, user: AdminPage, device_id: PolicyForm = "",
                  starts_at: PolicyForm = "", ends_at: PolicyForm = "", reason: PolicyForm = "") -> Response:
    """Silence a device's alerts for a span typed in its hospital's time zone."""
    return _save_window(request, session, user, device_id, starts_at, ends_at, reason, None)


@router.post("/admin/alerts/windows/{window_id}")
def window_update(window_id: int, request: Request, session: SessionDep, user: AdminPage,
                  device_id: PolicyForm = "", starts_at: PolicyForm = "", ends_at: PolicyForm = "",
                  reason: PolicyForm = "") -> Response:
    """Change a maintenance window."""
    alert_service.get_window(session, window_id=window_id)
    return _save_window(request, session, user, device_id, starts_at, ends_at, reason, window_id)


@router.post("/admin/alerts/windows/{window_id}/delete")
def window_delete(window_id: int, request: Request, session: SessionDep, user: AdminPage) -> Response:
    """Remove a maintenance window (alerts of the device count again at once)."""
    alert_service.delete_window(session, window_id=window_id, actor=actor(user))
    session.commit()
    return done(request, "Maintenance window deleted")

