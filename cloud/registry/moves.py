"""Moving a device to another hospital or department, and what happens to its group and gateway mappings.

The rule (issue #12): a device that changes hospital leaves its device group (a group is one hospital's line)
and the old hospital's gateways forget it: their mappings to the device are removed, so data those gateways
keep sending for the key waits unmapped until an admin maps it again. Its history (readings, events, alerts,
tickets, photos) stays with the device. A move within the hospital (another department) changes nothing else.
Callers commit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.audit.service import Actor, record
from cloud.errors import Invalid
from cloud.registry import groups as group_service
from cloud.registry.models import Department, Device, Hospital
from cloud.registry.schemas import DeviceUpdate
from cloud.registry.service import get_device, update_device
from cloud.telemetry.models import Gateway, GatewayDevice
from cloud.tenancy import Scope


@dataclass
class MovePlan:
    """What a move will do, for the confirmation the admin reads before it happens."""

    device_id: int
    from_hospital: str
    to_hospital: str
    to_department: str | None
    changes_hospital: bool
    leaves_group: str | None = None  # the group's name when the device leaves it
    unmapped: list[tuple[str, str]] = field(default_factory=list)  # (gateway name, device key) to be removed


def plan_move(session: Session, *, device_id: int, hospital_id: int, department_id: int | None) -> MovePlan:
    """What moving the device to hospital/department would do; Invalid for an unknown target."""
    device = get_device(session, device_id=device_id, scope=Scope.everything())
    hospital = session.get(Hospital, hospital_id)
    if hospital is None:
        raise Invalid("unknown hospital", [{"field": "hospital_id", "message": "no such hospital"}])
    department = session.get(Department, department_id) if department_id is not None else None
    if department_id is not None and (department is None or department.hospital_id != hospital_id):
        raise Invalid("the department does not belong to the device's hospital",
                      [{"field": "department_id", "message": "not a department of this hospital"}])
    changes = hospital_id != device.hospital_id
    plan = MovePlan(device_id=device.id, from_hospital=device.hospital.name, to_hospital=hospital.name,
                    to_department=department.name if department else None, changes_hospital=changes)
    if changes:
        plan.leaves_group = device.group.name if device.group is not None else None
        rows = session.execute(
            select(Gateway.name, GatewayDevice.device_key).join(Gateway, Gateway.id == GatewayDevice.gateway_id)
            .where(GatewayDevice.device_id == device.id, Gateway.hospital_id == device.hospital_id)
            .order_by(Gateway.name, GatewayDevice.device_key))
        plan.unmapped = [(name, key) for name, key in rows]
    return plan


def move_device(session: Session, *, device_id: int, hospital_id: int, department_id: int | None,
                actor: Actor) -> MovePlan:
    """Move the device as plan_move describes: leave the group, drop the old hospital's mappings, move."""
    plan = plan_move(session, device_id=device_id, hospital_id=hospital_id, department_id=department_id)
    device = session.get(Device, device_id)
    assert device is not None  # plan_move found it
    old_hospital = device.hospital_id
    if plan.changes_hospital:
        if device.group_id is not None:
            group_service.remove_member(session, group_id=device.group_id, device_id=device.id, actor=actor)
        mappings = session.execute(
            select(GatewayDevice).join(Gateway, Gateway.id == GatewayDevice.gateway_id)
            .where(GatewayDevice.device_id == device.id, Gateway.hospital_id == old_hospital)).scalars().all()
        for mapping in mappings:
            mapping.device_id, mapping.mapped_at = None, None
        session.flush()
    update_device(session, device_id=device_id, actor=actor,
                  data=DeviceUpdate.model_validate({"hospital_id": hospital_id, "department_id": department_id}))
    if plan.changes_hospital:
        record(session, actor=actor, action="move", entity="device", entity_id=device.id, hospital_id=hospital_id,
               before={"hospital_id": old_hospital}, after={
                   "hospital_id": hospital_id, "department_id": department_id, "left_group": plan.leaves_group,
                   "unmapped": [f"{name}/{key}" for name, key in plan.unmapped]})
    return plan
