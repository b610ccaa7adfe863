"""Device chart page: a device's metrics over time (ECharts) with its alerts marked, live."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.alerts.instrument import MODE_METRICS
from cloud.alerts.models import Alert
from cloud.auth.models import DESK_ROLES, Role, User, Verification
from cloud.db import SessionDep
from cloud.deps import OptionalUser
from cloud.i18n import pick_language, translate
from cloud.localtime import local_time
from cloud.registry.models import Device
from cloud.telemetry.catalog import CLOCKS_MS, SWITCHES, display_unit, metric_label
from cloud.telemetry.series import MetricSummary
from cloud.telemetry.store import timeseries_store
from cloud.tenancy import engineer_scope
from cloud.web.pages import LANGUAGE_COOKIE, LoginRequired, reading_value, render

router = APIRouter(include_in_schema=False)

# (key, seconds): the range presets; the script picks a bucket so a range never draws more than ~1,000 points.
ALERT_LEAD = timedelta(minutes=30)  # a page opened on an alert shows this much before it began
PRESETS = (("1h", 3600), ("6h", 6 * 3600), ("24h", 86400), ("7d", 7 * 86400))

# Texts the chart script shows, looked up by these English keys.
JS_TEXTS = (
    "Loading…", "No readings in this range.", "Could not load the readings.", "Live", "Alert", "Peak score",
    "Started", "Ended", "still open", "Average", "Range", "Value", "Ticket", "No alerts for this device.",
    "Raw readings", "Averaged per", "{n} points", "{n} h", "{n} min", "{n} s", "Updated", "Metric", "Status",
    "Severity", "Time", "Yes", "No", "Yes {n}% of the time",
    "alert.open", "alert.acknowledged", "alert.resolved", "severity.warning", "severity.major", "severity.critical",
)


def _parse_time(value: str | None) -> datetime | None:
    # The alert link carries ISO times; a malformed one is ignored rather than an error page.
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def value_shape(metric: str) -> str:
    """How the chart reads a metric's values: "switch" (yes or no), "clock" (a time) or "" (a number)."""
    return "switch" if metric in SWITCHES else "clock" if metric in CLOCKS_MS else ""


def last_value_text(summary: MetricSummary, language: str, time_zone: str | None) -> str:
    """A metric's latest value as the metric list shows it: a switch as yes or no, the instrument's clock as a
    time in the hospital's zone, any other number as a reading."""
    value = summary.last_value
    if value is not None and summary.metric in SWITCHES and value in (0.0, 1.0):
        return translate("Yes", language) if value else translate("No", language)
    if value is not None and summary.metric in CLOCKS_MS and 0 < value < 1e14:
        return local_time(datetime.fromtimestamp(value / 1000, UTC), time_zone, "%Y-%m-%d %H:%M:%S")
    return reading_value(value)


def duration_text(seconds: float, language: str) -> str:
    """A running time in seconds as days and hours, or hours and minutes (86,770 s is 1 天 0 小时)."""
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    if days:
        return translate("{d} d {h} h", language).format(d=days, h=hours)
    return translate("{h} h {m} min", language).format(h=hours, m=rest // 60)


def shows_as_duration(summary: MetricSummary, unit: str) -> bool:
    """Whether the metric list reads this latest value as a running time rather than a number of seconds."""
    return unit == "s" and summary.last_value is not None and summary.last_value >= 3600


def may_see(user: User, device: Device) -> bool:
    """Staff see every device (an engineer who serves listed hospitals: theirs); a verified lab user the devices
    of their own hospital."""
    served = engineer_scope(user)
    if served is not None:
        return served.allows(device.hospital_id)
    if user.is_staff:
        return True
    return user.verification == Verification.verified and user.hospital_id == device.hospital_id


def ticket_base(user: User) -> str | None:
    """Where this user opens a ticket by id (None: the chart shows no ticket links)."""
    if user.role in DESK_ROLES:
        return "/console?ticket="
    if user.role == Role.engineer:
        return "/engineer/tickets/"
    return None


def _first_view(session: Session, device_id: int, metrics: list[MetricSummary]) -> tuple[str | None, datetime | None]:
    """What a page opened without a metric shows: the metric of the device's latest alert, from a while before it
    began (what a person opening the device wants to see), else the first measured metric (a status point such as
    "calibrating" is mostly flat, or empty within the hour)."""
    names = [m.metric for m in metrics]
    latest = session.execute(select(Alert.metric, Alert.started_at).where(Alert.device_id == device_id)
                             .order_by(Alert.started_at.desc()).limit(1)).first()
    if latest is not None and latest[0] in names:
        return latest[0], latest[1] - ALERT_LEAD
    shown = [name for name in names if name not in MODE_METRICS] or names
    return (shown[0] if shown else None), None


def _preset_covering(since: datetime) -> str:
    """The shortest preset range that reaches back to ``since`` (the longest if none does)."""
    age = (datetime.now(UTC) - since).total_seconds()
    return next((key for key, seconds in PRESETS if seconds >= age), PRESETS[-1][0])


@router.get("/devices/{device_id}/chart")
def device_chart(
    device_id: int,
    request: Request,
    session: SessionDep,
    user: OptionalUser,
    metric: Annotated[str | None, Query(max_length=128)] = None,
    start: Annotated[str | None, Query(max_length=64)] = None,
    end: Annotated[str | None, Query(max_length=64)] = None,
    range_: Annotated[str | None, Query(alias="range", max_length=8)] = None,
) -> Response:
    """The device's metrics chart; ?metric=&start=&end= (the alert link) preselect metric and time range."""
    if user is None:
        raise LoginRequired(str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""))
    language = pick_language(request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language"))
    device = session.get(Device, device_id)
    if device is None or not may_see(user, device):
        # Another hospital's device reads as missing: ids must not be probeable.
        response = render(request, "charts/missing.html", user, device_id=device_id)
        response.status_code = 404
        return response
    store = timeseries_store(session, request.app.state.settings)
    metrics = [m for m in store.list_metrics(device_id) if m.last_value is not None]
    names = [m.metric for m in metrics]
    start_at, end_at = _parse_time(start), _parse_time(end)
    if start_at and end_at and start_at >= end_at:
        end_at = None
    preset = range_ if range_ in dict(PRESETS) else ("custom" if start_at else "1h")
    if metric in names:
        chosen: str | None = metric
    else:
        chosen, since = _first_view(session, device_id, metrics)
        if since is not None and not start_at and range_ not in dict(PRESETS):
            preset = _preset_covering(since)
    config = {
        "deviceId": device.id,
        "metric": chosen,
        "metrics": [{"name": m.metric, "unit": display_unit(m.metric, m.unit),
                     "label": metric_label(m.metric, language), "shape": value_shape(m.metric)} for m in metrics],
        "preset": preset,
        "presets": [{"key": k, "seconds": s} for k, s in PRESETS],
        "start": start_at.isoformat() if start_at else None,
        "end": end_at.isoformat() if end_at else None,
        "ticketBase": ticket_base(user),
        "showScores": user.role != Role.lab_user,  # a detector's score means nothing to the lab
        "timeZone": device.hospital.time_zone,  # times on the page are the hospital's, never the browser's
        "texts": {key: translate(key, language) for key in JS_TEXTS},
    }
    # The engineer came from a ticket on their phone: back to their tickets, not the admin device list.
    back = "/engineer" if user.role == Role.engineer else "/admin/devices" if user.is_staff else "/my/devices"
    labels = {m.metric: metric_label(m.metric, language) for m in metrics}
    units = {m.metric: display_unit(m.metric, m.unit) for m in metrics}
    values = {m.metric: last_value_text(m, language, device.hospital.time_zone) for m in metrics}
    value_units = dict(units)
    for m in metrics:
        if shows_as_duration(m, units[m.metric]):
            values[m.metric] = duration_text(m.last_value or 0.0, language)
            value_units[m.metric] = ""
    return render(request, "charts/device.html", user, device=device, metrics=metrics, chosen=chosen,
                  labels=labels, units=units, values=values, value_units=value_units,
                  phone=user.role in (Role.engineer, Role.lab_user), presets=PRESETS, preset=preset, config=config,
                  back=back, active="devices")
