"""A user's notifications under /api/v1/notifications."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from cloud.auth.models import DESK_ROLES
from cloud.db import SessionDep
from cloud.deps import CurrentUser
from cloud.errors import Forbidden
from cloud.notify import service

router = APIRouter(prefix="/api/v1", tags=["notifications"])


class NotificationOut(BaseModel):
    """One notification."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    ticket_id: int | None
    kind: str
    title: str
    body: str
    link: str
    created_at: datetime


class MarkRead(BaseModel):
    """Ids to mark read."""

    model_config = ConfigDict(extra="forbid")

    ids: list[int] = Field(min_length=1, max_length=500)


@router.get("/notifications", response_model=list[NotificationOut])
def unread(session: SessionDep, user: CurrentUser) -> list[NotificationOut]:
    """The caller's unread notifications, newest first."""
    return [NotificationOut.model_validate(n) for n in service.unread(session, user_id=user.id)]


@router.post("/notifications/read")
def mark_read(body: MarkRead, session: SessionDep, user: CurrentUser) -> dict[str, int]:
    """Mark some of the caller's notifications read."""
    count = service.mark_read(session, user_id=user.id, ids=body.ids)
    session.commit()
    return {"marked": count}


class DeliveryOut(BaseModel):
    """How one notification of a ticket went through one channel."""

    notification_id: int
    user_id: int
    recipient: str
    kind: str
    title: str
    channel: str
    status: str
    error: str | None
    at: datetime


@router.get("/tickets/{ticket_id}/deliveries", response_model=list[DeliveryOut])
def ticket_deliveries(ticket_id: int, session: SessionDep, user: CurrentUser) -> list[DeliveryOut]:
    """Every notification of a ticket and how each channel delivered it (staff), so failures are visible."""
    if user.role not in DESK_ROLES:
        raise Forbidden("only the service desk sees deliveries")
    return [DeliveryOut(**row) for row in service.deliveries_for_ticket(session, ticket_id=ticket_id)]
