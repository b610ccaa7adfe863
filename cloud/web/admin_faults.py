"""Admin console: the fault categories tickets are filed under, per device category (add, rename, reorder,
deactivate), with their Chinese and English names."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.db import SessionDep
from cloud.errors import Conflict, Invalid, NotFound
from cloud.registry.models import Device
from cloud.registry.schemas import DeviceCategory
from cloud.tickets import faults
from cloud.web.admin_forms import AdminPage, actor, done, refuse, translator
from cloud.web.admin_hospitals import admin_render

router = APIRouter(include_in_schema=False)
PATH = "/admin/fault-categories"

# What the service says → what the admin is told (next to the field it concerns).
MESSAGES = {
    "give the Chinese name": ("Give the Chinese name.", "name_zh"),
    "a name is up to 100 characters": ("A name is up to 100 characters.", None),
    "a fault category with this name exists already": ("This list has a fault category of that name already.",
                                                       "name_zh"),
    "a fault category with this English name exists already": (
        "This list has a fault category of that English name already.", "name_en"),
    "keep at least one active fault category": ("Keep at least one active fault category.", None),
}


def device_categories(session: Session) -> list[str]:
    """The device categories to keep lists for: the known kinds and any the devices or the list use besides."""
    used = set(session.execute(select(Device.category).distinct()).scalars())
    used |= {e.device_category for e in faults.all_entries(session) if e.device_category}
    known = [c.value for c in DeviceCategory]
    return known + sorted(c for c in used if c and c not in known)


def list_param(session: Session, category: str | None) -> str | None:
    category = (category or "").strip() or None
    return category if category in device_categories(session) else None


def _refuse(request: Request, exc: Invalid | Conflict | NotFound) -> JSONResponse:
    if isinstance(exc, NotFound):
        return refuse(request, "Not found; reload the page.", status=404)
    message, field = MESSAGES.get(exc.message, ("Check this value.", None))
    if field is None and isinstance(exc, Invalid) and exc.extra.get("errors"):
        field = exc.extra["errors"][0].get("field")
    return refuse(request, message, field=field, status=exc.status_code)


@router.get(PATH)
def fault_categories_page(
    request: Request, session: SessionDep, user: AdminPage,
    category: Annotated[str | None, Query(max_length=50)] = None,
) -> Response:
    """The list one device category sees (or the general list), with how many tickets each entry names."""
    _ = translator(request)
    listed = list_param(session, category)
    entries = faults.view(session, listed, include_inactive=True)
    return admin_render(
        request, session, "admin/fault_categories.html", user, active="faults", entries=entries,
        counts=ticket_counts(session, entries, listed), listed=listed,
        categories=[(c, _(c)) for c in device_categories(session)], listed_label=_(listed) if listed else "")


def ticket_counts(session: Session, entries: list[faults.Entry], listed: str | None) -> dict[int, int]:
    """Tickets filed under each entry shown: a device category's own tickets, or in the general list every
    ticket of the code except those of device categories with an entry of their own for it."""
    used = faults.usage(session)
    if listed is not None:
        return {e.id: used.get((listed, e.code), 0) for e in entries}
    own = {(e.device_category, e.code) for e in faults.all_entries(session) if e.device_category}
    return {e.id: sum(n for (category, code), n in used.items() if code == e.code and (category, code) not in own)
            for e in entries}


def _flag(value: str) -> bool:
    return value in ("on", "1", "true")


TextForm = Annotated[str, Form()]


@router.post(f"{PATH}/new")
def create_category(request: Request, session: SessionDep, user: AdminPage, name_zh: TextForm = "",
                    name_en: TextForm = "", scope: TextForm = "", basic: TextForm = "") -> Response:
    """Add an entry at the end of the list, for one device category or for every one."""
    try:
        faults.create(session, device_category=list_param(session, scope), name_zh=name_zh, name_en=name_en,
                        basic=_flag(basic), actor=actor(user))
    except (Invalid, Conflict) as exc:
        session.rollback()
        return _refuse(request, exc)
    session.commit()
    return done(request, "Fault category added")


@router.post(f"{PATH}/{{category_id}}")
def update_category(category_id: int, request: Request, session: SessionDep, user: AdminPage,
                    name_zh: TextForm = "", name_en: TextForm = "", basic: TextForm = "") -> Response:
    """Rename an entry; tickets filed under it show the new name."""
    try:
        faults.update(session, category_id=category_id, name_zh=name_zh, name_en=name_en, basic=_flag(basic),
                        actor=actor(user))
    except (Invalid, Conflict, NotFound) as exc:
        session.rollback()
        return _refuse(request, exc)
    session.commit()
    return done(request, "Saved")


@router.post(f"{PATH}/{{category_id}}/move")
def move_category(category_id: int, request: Request, session: SessionDep, user: AdminPage,
                  direction: TextForm = "down", listed: TextForm = "") -> Response:
    """One place up or down in the list shown."""
    try:
        faults.move(session, category_id=category_id, direction=-1 if direction == "up" else 1,
                      device_category=list_param(session, listed), actor=actor(user))
    except NotFound as exc:
        session.rollback()
        return _refuse(request, exc)
    session.commit()
    return done(request, "Order saved")


@router.post(f"{PATH}/{{category_id}}/active")
def activate_category(category_id: int, request: Request, session: SessionDep, user: AdminPage,
                      active: TextForm = "") -> Response:
    """Deactivate (no longer offered; tickets keep its name) or reactivate an entry."""
    try:
        faults.set_active(session, category_id=category_id, active=_flag(active), actor=actor(user))
    except (Conflict, NotFound) as exc:
        session.rollback()
        return _refuse(request, exc)
    session.commit()
    return done(request, "Activated" if _flag(active) else "Deactivated")
