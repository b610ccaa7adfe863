"""A predictive ticket's pre-check over REST, under /api/v1/tickets/{id}/precheck: read, answer a check, finish."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy.orm import Session

from cloud.alerts import precheck
from cloud.alerts.schemas import PrecheckFinishIn, PrecheckFinishOut, PrecheckItemIn, PrecheckOut
from cloud.config import Settings
from cloud.db import SessionDep
from cloud.deps import CurrentUser, SettingsDep
from cloud.i18n import DEFAULT_LANGUAGE
from cloud.tickets.api import Language, ticket_out
from cloud.tickets.models import PrecheckTask, Ticket
from cloud.tickets.service import Viewer

router = APIRouter(prefix="/api/v1", tags=["pre-check"])


def _precheck_out(session: Session, ticket: Ticket, task: PrecheckTask, viewer: Viewer, settings: Settings,
                  language: str) -> PrecheckOut:
    return PrecheckOut(**precheck.view(session, ticket=ticket, task=task, viewer=viewer, settings=settings,
                                       language=language))


@router.get("/tickets/{ticket_id}/precheck", response_model=PrecheckOut)
def get_precheck(ticket_id: int, session: SessionDep, settings: SettingsDep, user: CurrentUser,
                 language: Language = DEFAULT_LANGUAGE) -> PrecheckOut:
    """A predictive ticket's pre-check: the checklist with its answers, and the alerts with their charts."""
    viewer = Viewer(user=user)
    ticket, task = precheck.get(session, ticket_id=ticket_id, viewer=viewer, settings=settings)
    return _precheck_out(session, ticket, task, viewer, settings, language)


@router.patch("/tickets/{ticket_id}/precheck/items/{item_id}", response_model=PrecheckOut)
def answer_precheck_item(
    ticket_id: int, item_id: int, body: PrecheckItemIn, session: SessionDep, settings: SettingsDep,
    user: CurrentUser, language: Language = DEFAULT_LANGUAGE,
) -> PrecheckOut:
    """Answer one check (done / not applicable / null), with an optional note; the assigned engineer and the desk."""
    viewer = Viewer(user=user)
    ticket, task = precheck.get(session, ticket_id=ticket_id, viewer=viewer, settings=settings)
    note = body.note if "note" in body.model_fields_set else precheck.UNSET
    precheck.answer_item(session, ticket=ticket, task=task, item_id=item_id, answer=body.answer, note=note,
                         viewer=viewer, settings=settings)
    session.commit()
    return _precheck_out(session, ticket, task, viewer, settings, language)


@router.post("/tickets/{ticket_id}/precheck/finish", response_model=PrecheckFinishOut)
def finish_precheck(
    ticket_id: int, body: PrecheckFinishIn, session: SessionDep, settings: SettingsDep,
    user: CurrentUser, language: Language = DEFAULT_LANGUAGE,
) -> PrecheckFinishOut:
    """End the pre-check: fault confirmed (the repair goes on), false alarm or fixed (the ticket resolves)."""
    viewer = Viewer(user=user)
    ticket, task = precheck.get(session, ticket_id=ticket_id, viewer=viewer, settings=settings)
    precheck.finish(session, ticket=ticket, task=task, outcome=body.outcome, note=body.note, viewer=viewer,
                    settings=settings, version=body.version,
                    fault_category=body.fault_category, root_cause=body.root_cause, parts=body.parts)
    session.commit()
    return PrecheckFinishOut(
        precheck=_precheck_out(session, ticket, task, viewer, settings, language),
        ticket=ticket_out(session, ticket, viewer, settings, language=language))
