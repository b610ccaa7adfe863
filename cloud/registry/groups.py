"""Device-group operations: combine, split, merge, reorder, add and remove members. Callers commit."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from cloud.audit.service import Actor, record
from cloud.errors import Conflict, Invalid, NotFound
from cloud.numbering import next_number
from cloud.registry.models import Device, DeviceGroup
from cloud.registry.schemas import GroupCreate, GroupUpdate
from cloud.registry.service import flush_unique, get_device, renumber
from cloud.tenancy import Scope


def _view(group: DeviceGroup) -> dict[str, Any]:
    return {
        "name": group.name,
        "line": group.line,
        "compatible_models": list(group.compatible_models or []),
        "department_id": group.department_id,
        "notes": group.notes,
        "tags": list(group.tags or []),
        "members": [m.id for m in group.members],
    }


def model_warnings(group: DeviceGroup) -> list[dict[str, Any]]:
    """Members whose model is not among the group's compatible models (none when the list is empty)."""
    allowed = {m.casefold() for m in group.compatible_models or []}
    if not allowed:
        return []
    return [
        {
            "device_id": d.id,
            "system_number": d.system_number,
            "model": d.model,
            "message": f"{d.system_number} is a {d.model}, not one of this line's models "
            f"({', '.join(group.compatible_models)})",
        }
        for d in group.members
        if d.model.casefold() not in allowed
    ]


def list_groups(session: Session, *, scope: Scope, hospital_id: int | None = None) -> list[DeviceGroup]:
    """Groups in scope with their members loaded."""
    stmt = select(DeviceGroup).options(selectinload(DeviceGroup.members), selectinload(DeviceGroup.hospital))
    stmt = scope.restrict(stmt, DeviceGroup.hospital_id)
    if hospital_id is not None:
        stmt = stmt.where(DeviceGroup.hospital_id == hospital_id)
    return list(session.execute(stmt.order_by(DeviceGroup.system_number)).scalars())


def get_group(session: Session, *, group_id: int, scope: Scope) -> DeviceGroup:
    """One group, or NotFound when it is missing or outside scope."""
    group = session.get(DeviceGroup, group_id)
    if group is None or not scope.allows(group.hospital_id):
        raise NotFound(f"device group {group_id} not found")
    return group


def _devices_for(session: Session, device_ids: list[int], hospital_id: int | None) -> list[Device]:
    """The devices in the given order; unknown, repeated or other-hospital ids are Invalid."""
    if len(set(device_ids)) != len(device_ids):
        raise Invalid("a device is listed twice", [{"field": "device_ids", "message": "duplicate id"}])
    devices = []
    for device_id in device_ids:
        device = session.get(Device, device_id)
        if device is None:
            raise Invalid(f"device {device_id} not found",
                          [{"field": "device_ids", "message": f"unknown device {device_id}"}])
        devices.append(device)
    hospitals = {d.hospital_id for d in devices} | ({hospital_id} if hospital_id is not None else set())
    if len(hospitals) > 1:
        raise Invalid("a group's devices must all belong to one hospital",
                      [{"field": "device_ids", "message": "devices from several hospitals"}])
    return devices


def _ensure_free(devices: list[Device], allowed_group: int | None = None) -> None:
    taken = [d for d in devices if d.group_id is not None and d.group_id != allowed_group]
    if taken:
        names = ", ".join(f"{d.system_number} (group {d.group_id})" for d in taken)
        raise Conflict(f"a device belongs to at most one group; already grouped: {names}")


def create_group(session: Session, *, data: GroupCreate, actor: Actor) -> DeviceGroup:
    """Combine devices into a new group, in the given line order."""
    devices = _devices_for(session, data.device_ids, None)
    _ensure_free(devices)
    group = DeviceGroup(
        system_number=next_number(session, "device_group"),
        hospital_id=devices[0].hospital_id,
        department_id=data.department_id,
        name=data.name,
        line=data.line,
        compatible_models=data.compatible_models,
    )
    session.add(group)
    session.flush()
    for position, device in enumerate(devices, start=1):
        device.group_id, device.group_position = group.id, position
    session.flush()
    session.refresh(group)
    record(session, actor=actor, action="combine", entity="device_group", entity_id=group.id,
           hospital_id=group.hospital_id, after=_view(group))
    return group


def update_group(session: Session, *, group_id: int, data: GroupUpdate, actor: Actor) -> DeviceGroup:
    """Change a group's name, line, department or compatible models."""
    group = get_group(session, group_id=group_id, scope=Scope.everything())
    before = _view(group)
    for field, value in data.model_dump(exclude_unset=True).items():
        setattr(group, field, value)
    flush_unique(session, "the group could not be saved")
    record(session, actor=actor, action="update", entity="device_group", entity_id=group.id,
           hospital_id=group.hospital_id, before=before, after=_view(group))
    return group


def delete_group(session: Session, *, group_id: int, actor: Actor) -> None:
    """Dissolve a group; its devices stay registered, ungrouped."""
    group = get_group(session, group_id=group_id, scope=Scope.everything())
    record(session, actor=actor, action="delete", entity="device_group", entity_id=group.id,
           hospital_id=group.hospital_id, before=_view(group))
    for device in group.members:
        device.group_id, device.group_position = None, None
    session.flush()
    session.delete(group)
    session.flush()


def _set_members(session: Session, group: DeviceGroup, devices: list[Device]) -> None:
    for position, device in enumerate(devices, start=1):
        device.group_id, device.group_position = group.id, position
    session.flush()
    session.refresh(group)


def reorder(session: Session, *, group_id: int, device_ids: list[int], actor: Actor) -> DeviceGroup:
    """Put the members in the given order; the list must name every member exactly once."""
    group = get_group(session, group_id=group_id, scope=Scope.everything())
    before = _view(group)
    current = {d.id for d in group.members}
    if len(set(device_ids)) != len(device_ids) or set(device_ids) != current:
        raise Invalid("the order must list every member of the group exactly once",
                      [{"field": "device_ids", "message": f"expected a permutation of {sorted(current)}"}])
    by_id = {d.id: d for d in group.members}
    _set_members(session, group, [by_id[i] for i in device_ids])
    record(session, actor=actor, action="reorder", entity="device_group", entity_id=group.id,
           hospital_id=group.hospital_id, before=before, after=_view(group))
    return group


def add_member(
    session: Session, *, group_id: int, device_id: int, position: int | None, actor: Actor
) -> DeviceGroup:
    """Insert a device into a group at a 1-based position (default: last)."""
    group = get_group(session, group_id=group_id, scope=Scope.everything())
    before = _view(group)
    (device,) = _devices_for(session, [device_id], group.hospital_id)
    _ensure_free([device])
    members = list(group.members)
    index = len(members) if position is None else min(position - 1, len(members))
    members.insert(index, device)
    _set_members(session, group, members)
    record(session, actor=actor, action="add_member", entity="device_group", entity_id=group.id,
           hospital_id=group.hospital_id, before=before, after=_view(group))
    return group


def remove_member(session: Session, *, group_id: int, device_id: int, actor: Actor) -> DeviceGroup:
    """Take a device out of a group; the rest close ranks."""
    group = get_group(session, group_id=group_id, scope=Scope.everything())
    before = _view(group)
    device = get_device(session, device_id=device_id, scope=Scope.everything())
    if device.group_id != group.id:
        raise NotFound(f"device {device_id} is not a member of group {group_id}")
    device.group_id, device.group_position = None, None
    session.flush()
    session.refresh(group)
    renumber(group.members)
    session.flush()
    record(session, actor=actor, action="remove_member", entity="device_group", entity_id=group.id,
           hospital_id=group.hospital_id, before=before, after=_view(group))
    return group


def split(
    session: Session, *, group_id: int, name: str, at: int | None, device_ids: list[int] | None, actor: Actor
) -> tuple[DeviceGroup, DeviceGroup]:
    """Split a group in two: members from position `at` on, or the listed members, form a new group."""
    group = get_group(session, group_id=group_id, scope=Scope.everything())
    before = _view(group)
    members = list(group.members)
    if at is not None:
        if not 2 <= at <= len(members):
            raise Invalid("both halves of a split need at least one device",
                          [{"field": "at", "message": f"choose a position from 2 to {len(members)}"}])
        moving = members[at - 1:]
    else:
        wanted = set(device_ids or [])
        unknown = wanted - {d.id for d in members}
        if unknown:
            raise Invalid("only members can be split off",
                          [{"field": "device_ids", "message": f"not members: {sorted(unknown)}"}])
        moving = [d for d in members if d.id in wanted]
        if len(moving) == len(members):
            raise Invalid("both halves of a split need at least one device",
                          [{"field": "device_ids", "message": "leave at least one member behind"}])
    staying = [d for d in members if d not in moving]
    new_group = DeviceGroup(
        system_number=next_number(session, "device_group"),
        hospital_id=group.hospital_id,
        department_id=group.department_id,
        name=name,
        line=group.line,
        compatible_models=list(group.compatible_models or []),
    )
    session.add(new_group)
    session.flush()
    _set_members(session, new_group, moving)
    _set_members(session, group, staying)
    record(session, actor=actor, action="split", entity="device_group", entity_id=group.id,
           hospital_id=group.hospital_id, before=before,
           after={"original": _view(group), "new_group_id": new_group.id, "new": _view(new_group)})
    return group, new_group


def merge(session: Session, *, group_id: int, other_id: int, actor: Actor) -> DeviceGroup:
    """Append the other group's members to this one, in their order, and end the other group."""
    if group_id == other_id:
        raise Invalid("a group cannot merge with itself", [{"field": "group_id", "message": "same group"}])
    group = get_group(session, group_id=group_id, scope=Scope.everything())
    other = get_group(session, group_id=other_id, scope=Scope.everything())
    if other.hospital_id != group.hospital_id:
        raise Invalid("groups of different hospitals cannot merge",
                      [{"field": "group_id", "message": "another hospital's group"}])
    before = {"group": _view(group), "other": _view(other)}
    members = list(group.members) + list(other.members)
    _set_members(session, group, members)
    session.refresh(other)
    session.delete(other)
    session.flush()
    record(session, actor=actor, action="merge", entity="device_group", entity_id=group.id,
           hospital_id=group.hospital_id, before=before, after={"group": _view(group), "merged_id": other_id})
    return group


def move_member(session: Session, *, device_id: int, group_id: int, position: int | None, actor: Actor
                ) -> DeviceGroup:
    """Move a device from its group into another group of the same hospital at a 1-based position."""
    device = get_device(session, device_id=device_id, scope=Scope.everything())
    target = get_group(session, group_id=group_id, scope=Scope.everything())
    if target.hospital_id != device.hospital_id:
        raise Invalid("a group's devices must all belong to one hospital",
                      [{"field": "group_id", "message": "another hospital's group"}])
    if device.group_id == group_id:
        return target
    if device.group_id is not None:
        remove_member(session, group_id=device.group_id, device_id=device_id, actor=actor)
    return add_member(session, group_id=group_id, device_id=device_id, position=position, actor=actor)
