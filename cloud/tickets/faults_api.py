"""REST API of the fault taxonomy: the list per device category (admins change it), and a ticket's suggestion."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status
from sqlalchemy.orm import Session

from cloud.auth.models import Role, User
from cloud.db import SessionDep
from cloud.deps import CurrentUser, SettingsDep, actor_of
from cloud.errors import Forbidden
from cloud.tickets import faults, service
from cloud.tickets.api import Language
from cloud.tickets.models import FaultCategory
from cloud.tickets.schemas import (
    FaultCategoryIn,
    FaultCategoryOut,
    FaultCategoryPatch,
    FaultSuggestionAnswer,
    FaultSuggestionOut,
)
from cloud.tickets.service import Viewer
from cloud.tickets.state import Party

router = APIRouter(prefix="/api/v1", tags=["fault taxonomy"])


def category_out(row: FaultCategory | faults.Entry, language: str) -> FaultCategoryOut:
    """An entry with its name in the caller's language."""
    name = row.name_en if language == "en" and row.name_en else row.name_zh
    return FaultCategoryOut(id=row.id, code=row.code, name=name, name_zh=row.name_zh, name_en=row.name_en,
                            device_category=row.device_category, basic=row.basic, position=row.position,
                            active=row.active)


def _admin(user: User) -> None:
    if user.role != Role.admin:
        raise Forbidden("only an administrator changes the fault categories")


@router.get("/fault-categories", response_model=list[FaultCategoryOut])
def list_categories(
    session: SessionDep, user: CurrentUser, language: Language,
    device_category: Annotated[str | None, Query(max_length=50, description="e.g. chemistry; left out: the "
                                                                             "general entries")] = None,
    include_inactive: Annotated[bool, Query(description="deactivated entries too (staff)")] = False,
    every: Annotated[bool, Query(description="every entry of every device category (staff)")] = False,
) -> list[FaultCategoryOut]:
    """The fault categories a device of device_category is filed under, in the admins' order."""
    inactive = include_inactive and user.is_staff
    if every and user.is_staff:
        rows = [e for e in faults.all_entries(session) if inactive or e.active]
    else:
        rows = faults.view(session, device_category or None, include_inactive=inactive)
    return [category_out(row, language) for row in rows]


@router.post("/fault-categories", response_model=FaultCategoryOut, status_code=status.HTTP_201_CREATED)
def create_category(body: FaultCategoryIn, session: SessionDep, user: CurrentUser, language: Language,
                    ) -> FaultCategoryOut:
    """Add an entry at the end of the list (admin); its code is made from the English name and never changes."""
    _admin(user)
    row = faults.create(session, device_category=body.device_category or None, name_zh=body.name_zh,
                          name_en=body.name_en, basic=body.basic, actor=actor_of(user))
    session.commit()
    return category_out(row, language)


@router.patch("/fault-categories/{category_id}", response_model=FaultCategoryOut)
def change_category(category_id: int, body: FaultCategoryPatch, session: SessionDep, user: CurrentUser,
                    language: Language) -> FaultCategoryOut:
    """Rename, mark basic, (de)activate or move an entry one place (admin); tickets keep its code."""
    _admin(user)
    actor = actor_of(user)
    row = faults.get(session, category_id)
    if body.name_zh is not None or body.name_en is not None or body.basic is not None:
        row = faults.update(session, category_id=category_id, name_zh=body.name_zh or row.name_zh,
                              name_en=row.name_en if body.name_en is None else body.name_en,
                              basic=row.basic if body.basic is None else body.basic, actor=actor)
    if body.active is not None:
        row = faults.set_active(session, category_id=category_id, active=body.active, actor=actor)
    if body.move is not None:
        row = faults.move(session, category_id=category_id, direction=1 if body.move == "down" else -1,
                            device_category=body.list_category or None, actor=actor)
    session.commit()
    return category_out(row, language)


def _suggestion(session: Session, ticket: object, text: str | None, language: str) -> FaultSuggestionOut | None:
    found = faults.suggestion_out(session, ticket, faults.suggest(session, ticket, text=text), language)
    return FaultSuggestionOut(**found) if found else None


@router.get("/tickets/{ticket_id}/fault-suggestion", response_model=FaultSuggestionAnswer)
def fault_suggestion(
    ticket_id: int, session: SessionDep, settings: SettingsDep, user: CurrentUser, language: Language,
    text: Annotated[str | None, Query(max_length=5000, description="what the resolver typed so far")] = None,
) -> FaultSuggestionAnswer:
    """The category to preselect when resolving the ticket, with its source, and the list to choose from."""
    viewer = Viewer(user=user)
    ticket = service.get_ticket(session, ticket_id=ticket_id, viewer=viewer, settings=settings)
    if not service.parties(viewer, ticket, settings) & {Party.agent, Party.service_center, Party.admin,
                                                        Party.assigned_engineer}:
        raise Forbidden("only the service desk and the assigned engineer resolve this ticket")
    category = ticket.device.category if ticket.device is not None else None
    return FaultSuggestionAnswer(suggestion=_suggestion(session, ticket, text, language),
                                 categories=[category_out(e, language) for e in faults.view(session, category)])
