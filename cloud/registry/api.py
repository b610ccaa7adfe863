"""Registry REST API under /api/v1: hospitals, departments, devices, device groups, audit."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Query, UploadFile, status

from cloud.auth.models import Role
from cloud.db import SessionDep
from cloud.deps import ActorDep, AdminUser, CurrentUser, PaginationDep, ScopeDep
from cloud.errors import Invalid
from cloud.registry import groups, importer, service
from cloud.registry.models import Device, DeviceGroup, DeviceStatus, Hospital
from cloud.registry.schemas import (
    DepartmentIn,
    DepartmentOut,
    DeviceIn,
    DeviceOut,
    DeviceUpdate,
    GroupCreate,
    GroupMemberAdd,
    GroupMerge,
    GroupOrder,
    GroupOut,
    GroupSplit,
    GroupSplitOut,
    GroupUpdate,
    HospitalIn,
    HospitalOut,
    HospitalUpdate,
    ImportReport,
)
from cloud.schemas import Page

router = APIRouter(prefix="/api/v1", tags=["registry"])

MAX_IMPORT_BYTES = 10 * 1024 * 1024


def hospital_out(hospital: Hospital, *, show_invite: bool) -> HospitalOut:
    """A hospital for the API; the invite code only when show_invite."""
    out = HospitalOut.model_validate(hospital)
    return out if show_invite else out.model_copy(update={"invite_code": None})


def device_out(device: Device) -> DeviceOut:
    """A device for the API, with hospital and department names."""
    return DeviceOut.model_validate(
        {
            **{c: getattr(device, c) for c in DeviceOut.model_fields if hasattr(device, c)},
            "hospital_name": device.hospital.name,
            "department_name": device.department.name if device.department else None,
        }
    )


def group_out(group: DeviceGroup) -> GroupOut:
    """A group for the API with members in line order and model warnings."""
    return GroupOut.model_validate(
        {
            "id": group.id,
            "system_number": group.system_number,
            "name": group.name,
            "hospital_id": group.hospital_id,
            "hospital_name": group.hospital.name,
            "department_id": group.department_id,
            "line": group.line,
            "compatible_models": group.compatible_models or [],
            "notes": group.notes or "",
            "tags": list(group.tags or []),
            "members": [
                {"id": d.id, "system_number": d.system_number, "serial": d.serial,
                 "manufacturer": d.manufacturer, "model": d.model, "status": d.status,
                 "maintenance_score": d.maintenance_score, "position": d.group_position or i}
                for i, d in enumerate(group.members, start=1)
            ],
            "warnings": groups.model_warnings(group),
            "created_at": group.created_at,
        }
    )


# --- hospitals -----------------------------------------------------------------------------------


@router.get("/hospitals", response_model=list[HospitalOut])
def list_hospitals(session: SessionDep, scope: ScopeDep, user: CurrentUser) -> list[HospitalOut]:
    """Hospitals the caller may see."""
    show = user.role == Role.admin
    return [hospital_out(h, show_invite=show) for h in service.list_hospitals(session, scope=scope)]


@router.post("/hospitals", response_model=HospitalOut, status_code=status.HTTP_201_CREATED)
def create_hospital(body: HospitalIn, session: SessionDep, _admin: AdminUser, actor: ActorDep) -> HospitalOut:
    """Add a hospital (admin)."""
    hospital = service.create_hospital(session, data=body, actor=actor)
    session.commit()
    session.refresh(hospital)
    return hospital_out(hospital, show_invite=True)


@router.get("/hospitals/{hospital_id}", response_model=HospitalOut)
def get_hospital(hospital_id: int, session: SessionDep, scope: ScopeDep, user: CurrentUser) -> HospitalOut:
    """One hospital."""
    hospital = service.get_hospital(session, hospital_id=hospital_id, scope=scope)
    return hospital_out(hospital, show_invite=user.role == Role.admin)


@router.patch("/hospitals/{hospital_id}", response_model=HospitalOut)
def update_hospital(
    hospital_id: int, body: HospitalUpdate, session: SessionDep, _admin: AdminUser, actor: ActorDep
) -> HospitalOut:
    """Change a hospital (admin)."""
    hospital = service.update_hospital(session, hospital_id=hospital_id, data=body, actor=actor)
    session.commit()
    return hospital_out(hospital, show_invite=True)


@router.delete("/hospitals/{hospital_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_hospital(hospital_id: int, session: SessionDep, _admin: AdminUser, actor: ActorDep) -> None:
    """Remove an empty hospital (admin)."""
    service.delete_hospital(session, hospital_id=hospital_id, actor=actor)
    session.commit()


@router.post("/hospitals/{hospital_id}/departments", response_model=DepartmentOut,
             status_code=status.HTTP_201_CREATED)
def create_department(
    hospital_id: int, body: DepartmentIn, session: SessionDep, _admin: AdminUser, actor: ActorDep
) -> DepartmentOut:
    """Add a department to a hospital (admin)."""
    department = service.create_department(session, hospital_id=hospital_id, name=body.name, actor=actor)
    session.commit()
    return DepartmentOut.model_validate(department)


@router.delete("/departments/{department_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_department(department_id: int, session: SessionDep, _admin: AdminUser, actor: ActorDep) -> None:
    """Remove a department (admin)."""
    service.delete_department(session, department_id=department_id, actor=actor)
    session.commit()


# --- devices -------------------------------------------------------------------------------------


@router.get("/devices", response_model=Page[DeviceOut])
def list_devices(
    session: SessionDep,
    scope: ScopeDep,
    page: PaginationDep,
    q: Annotated[str | None, Query(max_length=100)] = None,
    hospital_id: int | None = None,
    department_id: int | None = None,
    status: DeviceStatus | None = None,
    category: str | None = None,
    group_id: int | None = None,
    ungrouped: bool = False,
) -> Page[DeviceOut]:
    """Devices the caller may see, filtered and paginated."""
    rows, total = service.list_devices(
        session, scope=scope, q=q, hospital_id=hospital_id, department_id=department_id, status=status,
        category=category, group_id=group_id, ungrouped=ungrouped, limit=page.limit, offset=page.offset,
    )
    return Page(items=[device_out(d) for d in rows], total=total, limit=page.limit, offset=page.offset)


@router.post("/devices", response_model=DeviceOut, status_code=status.HTTP_201_CREATED)
def create_device(body: DeviceIn, session: SessionDep, _admin: AdminUser, actor: ActorDep) -> DeviceOut:
    """Register a device (admin); the system number is generated."""
    device = service.create_device(session, data=body, actor=actor)
    session.commit()
    return device_out(device)


@router.post("/devices/import", response_model=ImportReport)
async def import_devices(
    session: SessionDep,
    _admin: AdminUser,
    actor: ActorDep,
    file: Annotated[UploadFile, File(description="CSV or XLSX with one device per row")],
    dry_run: bool = False,
) -> ImportReport:
    """Import devices from CSV or XLSX, all or nothing (admin); 422 lists every bad row."""
    content = await file.read(MAX_IMPORT_BYTES + 1)
    if len(content) > MAX_IMPORT_BYTES:
        raise Invalid("the file is larger than 10 MB", [{"field": "file", "message": "too large"}])
    report = importer.import_devices(
        session, filename=file.filename or "upload.csv", content=content, actor=actor, dry_run=dry_run
    )
    if dry_run:
        session.rollback()
    else:
        session.commit()
    return report


@router.get("/devices/{device_id}", response_model=DeviceOut)
def get_device(device_id: int, session: SessionDep, scope: ScopeDep) -> DeviceOut:
    """One device."""
    return device_out(service.get_device(session, device_id=device_id, scope=scope))


@router.patch("/devices/{device_id}", response_model=DeviceOut)
def update_device(
    device_id: int, body: DeviceUpdate, session: SessionDep, _admin: AdminUser, actor: ActorDep
) -> DeviceOut:
    """Change a device (admin)."""
    device = service.update_device(session, device_id=device_id, data=body, actor=actor)
    session.commit()
    session.refresh(device)
    return device_out(device)


@router.delete("/devices/{device_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_device(device_id: int, session: SessionDep, _admin: AdminUser, actor: ActorDep) -> None:
    """Remove a device (admin)."""
    service.delete_device(session, device_id=device_id, actor=actor)
    session.commit()


# --- device groups -------------------------------------------------------------------------------


@router.get("/groups", response_model=list[GroupOut])
def list_groups(session: SessionDep, scope: ScopeDep, hospital_id: int | None = None) -> list[GroupOut]:
    """Device groups the caller may see, with ordered members."""
    return [group_out(g) for g in groups.list_groups(session, scope=scope, hospital_id=hospital_id)]


@router.post("/groups", response_model=GroupOut, status_code=status.HTTP_201_CREATED)
def create_group(body: GroupCreate, session: SessionDep, _admin: AdminUser, actor: ActorDep) -> GroupOut:
    """Combine devices into a new group (admin)."""
    group = groups.create_group(session, data=body, actor=actor)
    session.commit()
    return group_out(group)


@router.get("/groups/{group_id}", response_model=GroupOut)
def get_group(group_id: int, session: SessionDep, scope: ScopeDep) -> GroupOut:
    """One group."""
    return group_out(groups.get_group(session, group_id=group_id, scope=scope))


@router.patch("/groups/{group_id}", response_model=GroupOut)
def update_group(
    group_id: int, body: GroupUpdate, session: SessionDep, _admin: AdminUser, actor: ActorDep
) -> GroupOut:
    """Rename a group or change its line and compatible models (admin)."""
    group = groups.update_group(session, group_id=group_id, data=body, actor=actor)
    session.commit()
    return group_out(group)


@router.delete("/groups/{group_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_group(group_id: int, session: SessionDep, _admin: AdminUser, actor: ActorDep) -> None:
    """Dissolve a group; its devices stay (admin)."""
    groups.delete_group(session, group_id=group_id, actor=actor)
    session.commit()


@router.put("/groups/{group_id}/order", response_model=GroupOut)
def reorder_group(
    group_id: int, body: GroupOrder, session: SessionDep, _admin: AdminUser, actor: ActorDep
) -> GroupOut:
    """Set the members' order from the full ordered id list (admin; drag and drop sends this)."""
    group = groups.reorder(session, group_id=group_id, device_ids=body.device_ids, actor=actor)
    session.commit()
    return group_out(group)


@router.post("/groups/{group_id}/members", response_model=GroupOut)
def add_member(
    group_id: int, body: GroupMemberAdd, session: SessionDep, _admin: AdminUser, actor: ActorDep
) -> GroupOut:
    """Add a device to a group (admin)."""
    group = groups.add_member(session, group_id=group_id, device_id=body.device_id,
                              position=body.position, actor=actor)
    session.commit()
    return group_out(group)


@router.delete("/groups/{group_id}/members/{device_id}", response_model=GroupOut)
def remove_member(
    group_id: int, device_id: int, session: SessionDep, _admin: AdminUser, actor: ActorDep
) -> GroupOut:
    """Take a device out of a group (admin)."""
    group = groups.remove_member(session, group_id=group_id, device_id=device_id, actor=actor)
    session.commit()
    return group_out(group)


@router.post("/groups/{group_id}/split", response_model=GroupSplitOut)
def split_group(
    group_id: int, body: GroupSplit, session: SessionDep, _admin: AdminUser, actor: ActorDep
) -> GroupSplitOut:
    """Split a group in two (admin)."""
    original, new = groups.split(session, group_id=group_id, name=body.name, at=body.at,
                                 device_ids=body.device_ids, actor=actor)
    session.commit()
    return GroupSplitOut(original=group_out(original), new=group_out(new))


@router.post("/groups/{group_id}/merge", response_model=GroupOut)
def merge_groups(
    group_id: int, body: GroupMerge, session: SessionDep, _admin: AdminUser, actor: ActorDep
) -> GroupOut:
    """Merge another group into this one (admin)."""
    group = groups.merge(session, group_id=group_id, other_id=body.group_id, actor=actor)
    session.commit()
    return group_out(group)
