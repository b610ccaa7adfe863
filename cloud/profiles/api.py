"""Maintenance profile REST API under /api/v1: a device's profile, the risk ranking, the admin's score override."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from cloud.db import SessionDep
from cloud.deps import ActorDep, AdminUser, CurrentUser
from cloud.errors import Forbidden, NotFound
from cloud.i18n import pick_language
from cloud.profiles import risk, service
from cloud.profiles.profile import device_profile, may_view, profile_json
from cloud.registry.models import Device
from cloud.web.pages import LANGUAGE_COOKIE

router = APIRouter(prefix="/api/v1", tags=["profiles"])


class OverrideIn(BaseModel):
    """An admin's score for a device, with the reason (kept in the audit log)."""

    score: int = Field(ge=0, le=100)
    reason: str = Field(min_length=1, max_length=400)


class ScoreOut(BaseModel):
    """A device's score as shown, and whether an admin's override holds it."""

    device_id: int
    maintenance_score: int
    score_override: int | None
    score_override_reason: str | None
    risk_30d: float | None


def _language(request: Request) -> str:
    return pick_language(request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language"))


def _score_out(device: Device) -> ScoreOut:
    return ScoreOut(device_id=device.id, maintenance_score=device.maintenance_score,
                    score_override=device.score_override, score_override_reason=device.score_override_reason,
                    risk_30d=device.risk_30d)


@router.get("/devices/{device_id}/profile")
def get_profile(device_id: int, request: Request, session: SessionDep, user: CurrentUser) -> dict[str, Any]:
    """The device's maintenance profile: twelve months of numbers, the score and the 30-day risk explained."""
    device = session.get(Device, device_id)
    if device is None or not may_view(user, device):
        raise NotFound(f"device {device_id} not found")
    return profile_json(device_profile(session, device=device, language=_language(request)))


@router.get("/risk")
def get_risk(
    request: Request, session: SessionDep, user: CurrentUser,
    hospital_id: int | None = None, category: Annotated[str | None, Query(max_length=50)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> list[dict[str, Any]]:
    """The devices most likely to fail within 30 days, explained, with what to check; engineers see theirs."""
    if not user.is_staff:
        raise Forbidden("only staff see the risk ranking")
    rows = risk.ranking_for(session, user, language=_language(request), hospital_id=hospital_id, category=category,
                            limit=limit)
    session.commit()
    return [{"device_id": r.device.id, "system_number": r.device.system_number, "model": r.device.model,
             "hospital_id": r.device.hospital_id, "hospital": r.device.hospital.name,
             "department": r.device.department.name if r.device.department else None, "risk_30d": r.risk,
             "maintenance_score": r.score, "reasons": r.reasons, "suggestions": r.suggestions,
             "top_fault_category": r.top_category, "repair_open": r.repair_open} for r in rows]


@router.put("/devices/{device_id}/score-override", response_model=ScoreOut)
def put_override(device_id: int, data: OverrideIn, session: SessionDep, _admin: AdminUser,
                 actor: ActorDep) -> ScoreOut:
    """Hold the device's score at a value an admin chose, for a reason (audited)."""
    device = service.set_override(session, device_id=device_id, score=data.score, reason=data.reason, actor=actor)
    session.commit()
    return _score_out(device)


@router.delete("/devices/{device_id}/score-override", response_model=ScoreOut)
def delete_override(device_id: int, session: SessionDep, _admin: AdminUser, actor: ActorDep,
                    reason: Annotated[str, Query(max_length=400)] = "") -> ScoreOut:
    """Back to the computed score (audited)."""
    device = service.clear_override(session, device_id=device_id, actor=actor, reason=reason)
    session.commit()
    return _score_out(device)
