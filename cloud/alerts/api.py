"""Alert REST API under /api/v1: alerts (tenant-scoped), acknowledge, false alarm; policies and windows (admin)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.alerts import explain, service
from cloud.alerts.models import Alert, AlertStatus
from cloud.alerts.schemas import AlertOut, FalseAlarmIn, FalseAlarmOut, PolicyIn, PolicyOut, WindowIn, WindowOut
from cloud.db import SessionDep
from cloud.deps import ActorDep, AdminUser, CurrentUser, PaginationDep, ScopeDep, SettingsDep
from cloud.i18n import DEFAULT_LANGUAGE, request_language
from cloud.schemas import Page
from cloud.tickets.models import Ticket

router = APIRouter(prefix="/api/v1", tags=["alerts"])


def _utc(moment: datetime) -> datetime:
    # A time without an offset is read as UTC rather than refused.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def alert_outs(session: Session, alerts: Sequence[Alert], language: str = DEFAULT_LANGUAGE) -> list[AlertOut]:
    """Alerts with the links to their charts, their explanations in the reader's language and their tickets'
    numbers (one query for all)."""
    ticket_ids = {a.ticket_id for a in alerts if a.ticket_id is not None}
    numbers: dict[int, str] = dict(session.execute(
        select(Ticket.id, Ticket.number).where(Ticket.id.in_(ticket_ids))).all()) if ticket_ids else {}
    outs = []
    for alert in alerts:
        end = alert.last_abnormal_at if alert.status == AlertStatus.resolved else None
        out = AlertOut.model_validate(alert)
        out.chart_url = service.chart_link(alert.device_id, alert.metric, alert.started_at, end)
        out.why = explain.describe(alert.explanation, language)
        out.ticket_number = numbers.get(alert.ticket_id) if alert.ticket_id is not None else None
        outs.append(out)
    return outs


def alert_out(session: Session, alert: Alert, language: str = DEFAULT_LANGUAGE) -> AlertOut:
    """One alert as alert_outs gives it."""
    return alert_outs(session, [alert], language)[0]


# --- alerts -----------------------------------------------------------------------------------------


@router.get("/alerts", response_model=Page[AlertOut])
def list_alerts(
    request: Request,
    session: SessionDep,
    _user: CurrentUser,
    scope: ScopeDep,
    page: PaginationDep,
    status_: Annotated[list[AlertStatus] | None, Query(alias="status")] = None,
    device_id: int | None = None,
    metric: str | None = None,
) -> Page[AlertOut]:
    """Alerts of the caller's hospitals, newest first; filter by status (repeatable), device, metric."""
    rows, total = service.list_alerts(session, scope=scope, statuses=status_, device_id=device_id, metric=metric,
                                      limit=page.limit, offset=page.offset)
    language = request_language(request)
    return Page[AlertOut](items=alert_outs(session, rows, language), total=total, limit=page.limit,
                          offset=page.offset)


@router.get("/alerts/{alert_id}", response_model=AlertOut)
def get_alert(alert_id: int, request: Request, session: SessionDep, _user: CurrentUser, scope: ScopeDep) -> AlertOut:
    """One alert."""
    return alert_out(session, service.get_alert(session, alert_id=alert_id, scope=scope), request_language(request))


@router.post("/alerts/{alert_id}/acknowledge", response_model=AlertOut)
def acknowledge(alert_id: int, request: Request, session: SessionDep, user: CurrentUser, scope: ScopeDep
                ) -> AlertOut:
    """An engineer or agent takes the alert on (409 unless it is open)."""
    alert = service.get_alert(session, alert_id=alert_id, scope=scope)
    service.acknowledge(session, alert=alert, user=user)
    session.commit()
    return alert_out(session, alert, request_language(request))


@router.post("/alerts/{alert_id}/false-alarm", response_model=FalseAlarmOut)
def false_alarm(alert_id: int, body: FalseAlarmIn, request: Request, session: SessionDep, user: CurrentUser,
                scope: ScopeDep, settings: SettingsDep) -> FalseAlarmOut:
    """Resolve the alert as a false alarm; the stream's threshold goes up a notch."""
    alert = service.get_alert(session, alert_id=alert_id, scope=scope)
    policy = service.mark_false_alarm(session, alert=alert, user=user, note=body.note,
                                      settings=settings)
    session.commit()
    return FalseAlarmOut(alert=alert_out(session, alert, request_language(request)),
                         policy=PolicyOut.model_validate(policy))


# --- policies (admin) -------------------------------------------------------------------------------


@router.get("/alert-policies", response_model=list[PolicyOut])
def list_policies(session: SessionDep, _admin: AdminUser, device_id: int | None = None,
                  metric: str | None = None) -> list[PolicyOut]:
    """Every policy row, by metric."""
    return [PolicyOut.model_validate(p) for p in service.list_policies(session, device_id=device_id, metric=metric)]


@router.post("/alert-policies", response_model=PolicyOut, status_code=status.HTTP_201_CREATED)
def create_policy(body: PolicyIn, session: SessionDep, _admin: AdminUser, actor: ActorDep) -> PolicyOut:
    """Add a policy for a metric ('*' = every metric), optionally for one device; 409 if one exists."""
    row = service.save_policy(session, values=body.model_dump(), actor=actor)
    session.commit()
    return PolicyOut.model_validate(row)


@router.get("/alert-policies/{policy_id}", response_model=PolicyOut)
def get_policy(policy_id: int, session: SessionDep, _admin: AdminUser) -> PolicyOut:
    """One policy row."""
    return PolicyOut.model_validate(service.get_policy(session, policy_id=policy_id))


@router.put("/alert-policies/{policy_id}", response_model=PolicyOut)
def update_policy(policy_id: int, body: PolicyIn, session: SessionDep, _admin: AdminUser,
                  actor: ActorDep) -> PolicyOut:
    """Replace a policy row."""
    row = service.save_policy(session, values=body.model_dump(), actor=actor, policy_id=policy_id)
    session.commit()
    return PolicyOut.model_validate(row)


@router.delete("/alert-policies/{policy_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_policy(policy_id: int, session: SessionDep, _admin: AdminUser, actor: ActorDep) -> None:
    """Remove a policy row."""
    service.delete_policy(session, policy_id=policy_id, actor=actor)
    session.commit()


# --- maintenance windows (admin) --------------------------------------------------------------------


@router.get("/maintenance-windows", response_model=list[WindowOut])
def list_windows(session: SessionDep, _admin: AdminUser, device_id: int | None = None,
                 active_at: datetime | None = None) -> list[WindowOut]:
    """Maintenance windows, newest first; optionally of one device or active at a moment."""
    rows = service.list_windows(session, device_id=device_id, active_at=_utc(active_at) if active_at else None)
    return [WindowOut.model_validate(w) for w in rows]


@router.post("/maintenance-windows", response_model=WindowOut, status_code=status.HTTP_201_CREATED)
def create_window(body: WindowIn, session: SessionDep, _admin: AdminUser, actor: ActorDep) -> WindowOut:
    """Silence a device for a time span."""
    row = service.save_window(session, device_id=body.device_id, starts_at=_utc(body.starts_at),
                              ends_at=_utc(body.ends_at), reason=body.reason, actor=actor)
    session.commit()
    return WindowOut.model_validate(row)


@router.get("/maintenance-windows/{window_id}", response_model=WindowOut)
def get_window(window_id: int, session: SessionDep, _admin: AdminUser) -> WindowOut:
    """One maintenance window."""
    return WindowOut.model_validate(service.get_window(session, window_id=window_id))


@router.put("/maintenance-windows/{window_id}", response_model=WindowOut)
def update_window(window_id: int, body: WindowIn, session: SessionDep, _admin: AdminUser,
                  actor: ActorDep) -> WindowOut:
    """Change a maintenance window."""
    row = service.save_window(session, device_id=body.device_id, starts_at=_utc(body.starts_at),
                              ends_at=_utc(body.ends_at), reason=body.reason, actor=actor, window_id=window_id)
    session.commit()
    return WindowOut.model_validate(row)


@router.delete("/maintenance-windows/{window_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_window(window_id: int, session: SessionDep, _admin: AdminUser, actor: ActorDep) -> None:
    """End a maintenance window early by removing it."""
    service.delete_window(session, window_id=window_id, actor=actor)
    session.commit()
