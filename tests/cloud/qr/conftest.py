"""QR fixtures: a device group in each hospital, built through the registry service."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from cloud.registry import groups
from cloud.registry.schemas import GroupCreate
from tests.cloud.world import ACTOR, World


@pytest.fixture
def group_a(db: Session, world: World) -> int:
    """A two-device line in hospital A."""
    group = groups.create_group(db, actor=ACTOR, data=GroupCreate(
        name="生化免疫流水线", device_ids=world.devices_a[:2], department_id=world.dept_a))
    db.commit()
    return group.id


@pytest.fixture
def group_b(db: Session, world: World) -> int:
    """A one-device group in hospital B."""
    group = groups.create_group(db, actor=ACTOR, data=GroupCreate(
        name="血液分析线", device_ids=world.devices_b[:1], department_id=world.dept_b))
    db.commit()
    return group.id
