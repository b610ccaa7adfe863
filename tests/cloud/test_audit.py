"""The audit log: every registry change leaves a row; rows can never be changed or removed."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, text, update
from sqlalchemy.exc import DBAPIError

from cloud.audit.models import AuditLog
from tests.cloud.world import World


def test_device_update_records_who_what_before_and_after(client: TestClient, world: World) -> None:
    device_id = world.devices_a[0]
    client.patch(f"/api/v1/devices/{device_id}", json={"status": "fault"}, headers=world.headers("admin"))
    rows = client.get(f"/api/v1/audit?entity=device&entity_id={device_id}",
                      headers=world.headers("admin")).json()["items"]
    latest = rows[0]
    assert latest["action"] == "update"
    assert latest["actor"] == "admin" and latest["actor_id"] == world.users["admin"]
    assert latest["before"]["status"] == "in_service" and latest["after"]["status"] == "fault"
    assert latest["hospital_id"] == world.hospital_a


def test_every_group_operation_is_audited(client: TestClient, world: World) -> None:
    a, admin = world.devices_a, world.headers("admin")
    group = client.post("/api/v1/groups", json={"name": "g", "device_ids": a[:3]}, headers=admin).json()
    gid = group["id"]
    client.put(f"/api/v1/groups/{gid}/order", json={"device_ids": [a[2], a[1], a[0]]}, headers=admin)
    client.post(f"/api/v1/groups/{gid}/split", json={"name": "h", "at": 3}, headers=admin)
    client.delete(f"/api/v1/groups/{gid}/members/{a[1]}", headers=admin)
    rows = client.get(f"/api/v1/audit?entity=device_group&entity_id={gid}", headers=admin).json()["items"]
    assert [r["action"] for r in rows] == ["remove_member", "split", "reorder", "combine"]
    assert rows[2]["before"]["members"] == a[:3] and rows[2]["after"]["members"] == [a[2], a[1], a[0]]


def test_a_failed_change_leaves_no_audit_row(client: TestClient, world: World) -> None:
    admin = world.headers("admin")
    before = client.get("/api/v1/audit", headers=admin).json()["total"]
    client.post("/api/v1/devices", headers=admin, json={
        "serial": "C702-1", "manufacturer": "Roche", "model": "cobas c 702", "category": "chemistry",
        "hospital_id": world.hospital_a})
    assert client.get("/api/v1/audit", headers=admin).json()["total"] == before


def test_the_database_refuses_to_update_or_delete_audit_rows(db, world: World) -> None:
    assert db.query(AuditLog).count() > 0
    with pytest.raises(DBAPIError, match="append-only"):
        db.execute(update(AuditLog).values(actor_label="someone else"))
    db.rollback()
    with pytest.raises(DBAPIError, match="append-only"):
        db.execute(delete(AuditLog))
    db.rollback()
    assert db.execute(text("SELECT count(*) FROM audit_log WHERE actor_label = 'someone else'")).scalar() == 0


def test_postgresql_refuses_to_truncate_the_audit_log(db, world: World) -> None:
    if db.get_bind().dialect.name != "postgresql":
        pytest.skip("TRUNCATE is PostgreSQL's; SQLite has none (DELETE is refused above)")
    before = db.query(AuditLog).count()
    assert before > 0
    for statement in ("TRUNCATE audit_log", "TRUNCATE user_account CASCADE"):
        with pytest.raises(DBAPIError, match="append-only"):
            db.execute(text(statement))
        db.rollback()
    assert db.query(AuditLog).count() == before
