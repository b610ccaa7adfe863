"""The admin user page's 'lab manager' (检验科负责人) checkbox: only a lab user can be one, and it is audited."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.audit.models import AuditLog
from cloud.auth.models import User
from tests.cloud.world import World


def _save(client: TestClient, world: World, user_id: int, **fields: str):  # noqa: ANN202
    return client.post(f"/admin/users/{user_id}", data=fields,
                       headers={**world.headers("admin"), "Accept": "application/json"})


def _checkbox(html: str) -> str:
    found = re.search(r'<input[^>]*name="is_lab_manager"[^>]*>', html)
    assert found is not None
    return found.group(0)


def test_an_admin_makes_a_lab_user_the_labs_manager_and_back(client: TestClient, db: Session, world: World) -> None:
    lab_a = world.users["lab_a"]
    page = client.get(f"/admin/users/{lab_a}", headers=world.headers("admin")).text
    assert "检验科负责人" in page and "checked" not in _checkbox(page)
    saved = _save(client, world, lab_a, full_name="陈主任", role="lab_user", hospital_id=str(world.hospital_a),
                  is_lab_manager="yes")
    assert saved.status_code == 200, saved.text
    user = db.get(User, lab_a)
    assert user is not None and user.is_lab_manager and user.full_name == "陈主任"
    assert "checked" in _checkbox(client.get(f"/admin/users/{lab_a}", headers=world.headers("admin")).text)
    audit = db.execute(select(AuditLog).where(AuditLog.entity == "user", AuditLog.entity_id == lab_a)
                       .order_by(AuditLog.id.desc())).scalars().first()
    assert audit is not None and audit.before["is_lab_manager"] is False and audit.after["is_lab_manager"] is True
    # An unticked box is not sent by the browser: saving without it takes the role away.
    _save(client, world, lab_a, full_name="陈主任", role="lab_user", hospital_id=str(world.hospital_a))
    db.expire_all()
    assert db.get(User, lab_a).is_lab_manager is False  # type: ignore[union-attr]


def test_only_a_lab_user_can_be_a_lab_manager(client: TestClient, db: Session, world: World) -> None:
    created = client.post("/admin/users/new", data={
        "username": "li.zhuren", "full_name": "李主任", "role": "lab_user", "hospital_id": str(world.hospital_b),
        "is_lab_manager": "yes", "password": "correct-horse-battery"},
        headers={**world.headers("admin"), "Accept": "application/json"})
    assert created.status_code == 200, created.text
    user = db.execute(select(User).where(User.username == "li.zhuren")).scalar_one()
    assert user.is_lab_manager and user.hospital_id == world.hospital_b
    engineer = world.users["engineer"]
    _save(client, world, engineer, full_name="engineer", role="engineer", is_lab_manager="yes")
    db.expire_all()
    assert db.get(User, engineer).is_lab_manager is False  # type: ignore[union-attr]
