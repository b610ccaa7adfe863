"""Who looks after what: a hospital's lab managers, a device's owners, the engineers serving a hospital.

One place for these questions, asked by the monthly report (cloud/reports), the alert notifications and the
daily digest (cloud/alerts). Only active accounts count; lab users only once verified as their hospital's.
"""

from __future__ import annotations

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from cloud.auth.models import Role, User, Verification
from cloud.registry.models import Device, DeviceClaim


def _verified_lab_users(hospital_id: int) -> Select[tuple[User]]:
    return select(User).where(User.hospital_id == hospital_id, User.role == Role.lab_user,
                              User.is_active.is_(True), User.verification == Verification.verified)


def lab_managers(session: Session, hospital_id: int) -> list[User]:
    """The hospital's lab managers: active, verified lab users marked as managing the lab."""
    return list(session.execute(_verified_lab_users(hospital_id).where(User.is_lab_manager.is_(True))
                                .order_by(User.id)).scalars())


def device_owners(session: Session, device: Device) -> list[User]:
    """The people who put the device, or its group, on their "my devices" list (still of its hospital)."""
    claimed = select(DeviceClaim.user_id).where(or_(
        DeviceClaim.device_id == device.id,
        DeviceClaim.group_id == device.group_id if device.group_id is not None else False))
    return list(session.execute(_verified_lab_users(device.hospital_id).where(User.id.in_(claimed))
                                .order_by(User.id)).scalars())


def engineers_serving(session: Session, hospital_id: int) -> list[User]:
    """Active engineers who serve the hospital (an engineer with no hospitals listed serves every one)."""
    engineers = session.execute(select(User).where(User.role == Role.engineer, User.is_active.is_(True))
                                .order_by(User.id)).scalars()
    return [e for e in engineers if not e.service_hospital_ids or hospital_id in e.service_hospital_ids]
