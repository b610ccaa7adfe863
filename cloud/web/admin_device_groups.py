"""Admin console: device groups: combine from a selection, edit (notes, tags), split, merge, add, remove, move."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from cloud.auth.models import Role
from cloud.db import SessionDep
from cloud.errors import Conflict, Invalid, NotFound
from cloud.registry import groups as group_service
from cloud.registry import service as registry_service
from cloud.registry.models import DeviceGroup
from cloud.registry.schemas import GroupCreate, GroupUpdate
from cloud.tenancy import Scope
from cloud.web.admin_devices import StaffPage, refuse_fields
from cloud.web.admin_forms import AdminPage, actor, done, refuse, translator
from cloud.web.admin_hospitals import admin_render
from cloud.web.pages import LABEL_PRINTERS

router = APIRouter(include_in_schema=False)


def _list(text: str) -> list[str]:
    return list(dict.fromkeys(p.strip() for p in re.split(r"[\n,，、;；]+", text) if p.strip()))


def _ids(text: str) -> list[int]:
    return [int(p) for p in re.split(r"[\s,]+", text) if p.isdigit()]


def warning_texts(request: Request, group: DeviceGroup) -> list[str]:
    """The group's model-mismatch warnings in the page's language."""
    _ = translator(request)
    models = "、".join(group.compatible_models or [])
    return [_("{0} is a {1}, not one of this line's models ({2}).").format(w["system_number"], w["model"], models)
            for w in group_service.model_warnings(group)]


def _answer(request: Request, message: str, group: DeviceGroup | None = None, **extra: Any) -> JSONResponse:
    warnings = warning_texts(request, group) if group is not None else []
    return done(request, message, warnings=warnings, **extra)


def _refuse(request: Request, exc: Invalid | Conflict | NotFound) -> JSONResponse:
    text = exc.message
    if "already grouped" in text:
        key = "A device belongs to at most one group; take it out of its group first."
    elif "one hospital" in text or "different hospitals" in text:
        key = "A group's devices all belong to one hospital."
    elif "both halves" in text:
        key = "Both groups need at least one device: tick some members, not all."
    elif "merge with itself" in text:
        key = "Choose another group."
    elif isinstance(exc, NotFound):
        key = "Not found; reload the page."
    else:
        key = "Check this value."
    return refuse(request, key, status=exc.status_code)


@router.get("/admin/groups")
def groups_page(request: Request, session: SessionDep, user: StaffPage) -> Response:
    """Device groups with their members in line order; admins edit, split, merge and drag members."""
    all_groups = group_service.list_groups(session, scope=Scope.everything())
    ungrouped, _total = registry_service.list_devices(session, scope=Scope.everything(), ungrouped=True, limit=2000)
    free: dict[int, list[Any]] = {}
    for device in ungrouped:
        free.setdefault(device.hospital_id, []).append(device)
    return admin_render(request, session, "admin/groups.html", user, active="groups", groups=all_groups,
                        warnings={g.id: warning_texts(request, g) for g in all_groups}, free=free,
                        can_edit=user.role == Role.admin, can_print=user.role in LABEL_PRINTERS)


@router.post("/admin/groups/new")
def group_create(request: Request, session: SessionDep, user: AdminPage, name: Annotated[str, Form()] = "",
                 device_ids: Annotated[str, Form()] = "", line: Annotated[str, Form()] = "",
                 compatible_models: Annotated[str, Form()] = "") -> Response:
    """Combine the selected devices into a new group, in the order they were listed."""
    ids = _ids(device_ids)
    if not ids:
        return refuse(request, "Select the devices to combine in the list first.", field="name")
    try:
        data = GroupCreate(name=name, device_ids=ids, line=line.strip(), compatible_models=_list(compatible_models))
    except ValidationError:
        return refuse_fields(request, [{"field": "name", "message": "Give a name (up to 200 characters)."}])
    try:
        group = group_service.create_group(session, data=data, actor=actor(user))
    except (Invalid, Conflict) as exc:
        return _refuse(request, exc)
    session.commit()
    return _answer(request, "Group created", group, redirect=f"/admin/groups#group-{group.id}")


def _group(session: Session, group_id: int) -> DeviceGroup:
    return group_service.get_group(session, group_id=group_id, scope=Scope.everything())


@router.post("/admin/groups/{group_id}")
def group_update(group_id: int, request: Request, session: SessionDep, user: AdminPage,
                 name: Annotated[str, Form()] = "", line: Annotated[str, Form()] = "",
                 compatible_models: Annotated[str, Form()] = "", notes: Annotated[str, Form()] = "",
                 tags: Annotated[str, Form()] = "") -> Response:
    """Save a group's name, line, compatible models, notes and tags."""
    _group(session, group_id)
    try:
        data = GroupUpdate(name=name, line=line.strip(), compatible_models=_list(compatible_models),
                           notes=notes.strip(), tags=_list(tags))
    except ValidationError as exc:
        field = str(exc.errors()[0]["loc"][0])
        message = {"name": "Give a name (up to 200 characters).", "notes": "Notes are up to 4000 characters.",
                   "tags": "Up to 20 tags of up to 50 characters each."}.get(field, "Check this value.")
        return refuse_fields(request, [{"field": field, "message": message}])
    group = group_service.update_group(session, group_id=group_id, data=data, actor=actor(user))
    session.commit()
    return _answer(request, "Saved", group)


@router.post("/admin/groups/{group_id}/split")
def group_split(group_id: int, request: Request, session: SessionDep, user: AdminPage,
                name: Annotated[str, Form()] = "", device_ids: Annotated[list[str] | None, Form()] = None,
                ) -> Response:
    """The ticked members form a new group (the rest stay)."""
    ids = [int(i) for i in device_ids or [] if i.isdigit()]
    if not name.strip():
        return refuse(request, "Give the new group a name.", field="name")
    if not ids:
        return refuse(request, "Tick the members that form the new group.", field="name")
    try:
        _original, new = group_service.split(session, group_id=group_id, name=name.strip(), at=None,
                                             device_ids=ids, actor=actor(user))
    except (Invalid, NotFound) as exc:
        return _refuse(request, exc)
    session.commit()
    return _answer(request, "Group split", new, redirect=f"/admin/groups#group-{new.id}")


@router.post("/admin/groups/{group_id}/merge")
def group_merge(group_id: int, request: Request, session: SessionDep, user: AdminPage,
                other_id: Annotated[str, Form()] = "") -> Response:
    """The other group's members join this one (appended in their order); the other group ends."""
    if not other_id.isdigit():
        return refuse(request, "Choose the group to merge into this one.", field="other_id")
    try:
        group = group_service.merge(session, group_id=group_id, other_id=int(other_id), actor=actor(user))
    except (Invalid, NotFound) as exc:
        return _refuse(request, exc)
    session.commit()
    return _answer(request, "Groups merged", group, redirect=f"/admin/groups#group-{group.id}")


@router.post("/admin/groups/{group_id}/add")
def group_add(group_id: int, request: Request, session: SessionDep, user: AdminPage,
              device_id: Annotated[str, Form()] = "") -> Response:
    """Add an ungrouped device of the group's hospital at the end of the line."""
    if not device_id.isdigit():
        return refuse(request, "Choose a device to add.", field="device_id")
    try:
        group = group_service.add_member(session, group_id=group_id, device_id=int(device_id), position=None,
                                         actor=actor(user))
    except (Invalid, Conflict, NotFound) as exc:
        return _refuse(request, exc)
    session.commit()
    return _answer(request, "Device added", group)


@router.post("/admin/groups/{group_id}/remove")
def group_remove(group_id: int, request: Request, session: SessionDep, user: AdminPage,
                 device_id: Annotated[str, Form()] = "") -> Response:
    """Take a device out of the group; the rest close ranks."""
    try:
        group = group_service.remove_member(session, group_id=group_id, device_id=int(device_id or 0),
                                            actor=actor(user))
    except NotFound as exc:
        return _refuse(request, exc)
    session.commit()
    return _answer(request, "Device removed from the group", group)


@router.post("/admin/groups/{group_id}/delete")
def group_delete(group_id: int, request: Request, session: SessionDep, user: AdminPage) -> Response:
    """Dissolve the group; its devices stay registered, ungrouped."""
    group_service.delete_group(session, group_id=group_id, actor=actor(user))
    session.commit()
    return done(request, "Group dissolved", redirect="/admin/groups")


@router.post("/admin/groups/{group_id}/move")
def group_move(group_id: int, request: Request, session: SessionDep, user: AdminPage,
               device_id: Annotated[str, Form()] = "", position: Annotated[str, Form()] = "") -> Response:
    """Drag and drop between groups: the device leaves its group and joins this one at position."""
    if not device_id.isdigit():
        return refuse(request, "Choose a device to add.", field="device_id")
    try:
        group = group_service.move_member(session, device_id=int(device_id), group_id=group_id,
                                          position=int(position) if position.isdigit() else None,
                                          actor=actor(user))
    except (Invalid, Conflict, NotFound) as exc:
        return _refuse(request, exc)
    session.commit()
    return _answer(request, "Device moved to the group", group)
