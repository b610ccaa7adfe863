"""Gateway admin: registration with a one-time token, roles, mapping rules, concurrent delivery, CLI, migration."""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from cloud.audit.models import AuditLog
from cloud.migrate import downgrade, upgrade
from cloud.telemetry import service
from cloud.telemetry.models import Gateway
from protocols.telemetry import BatchAck
from tests.cloud.telemetry.conftest import GatewayInfo, counts, make_batch
from tests.cloud.world import World

TELEMETRY_TABLES = {"gateway", "gateway_device", "ingested_batch", "reading", "device_event"}


def test_admin_registers_a_gateway_and_sees_its_token_once(client: TestClient, db: Session, world: World) -> None:
    response = client.post("/api/v1/gateways", json={"name": "rj-lab-1", "hospital_id": world.hospital_a},
                           headers=world.headers("admin"))
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["token"].startswith("mfgw_") and created["status"] == "unknown"
    listed = client.get("/api/v1/gateways", headers=world.headers("admin")).json()
    assert [g["name"] for g in listed] == ["rj-lab-1"]
    assert "token" not in listed[0]
    db.rollback()
    stored = db.get(Gateway, created["id"])
    assert stored is not None and created["token"] not in stored.token_hash
    assert db.execute(select(AuditLog).where(AuditLog.entity == "gateway")).scalar_one().action == "create"
    again = client.post("/api/v1/gateways", json={"name": "rj-lab-1", "hospital_id": world.hospital_a},
                        headers=world.headers("admin"))
    assert again.status_code == 409


def test_gateway_names_follow_the_wire_rule(client: TestClient, world: World) -> None:
    response = client.post("/api/v1/gateways", json={"name": "lab 1/+", "hospital_id": world.hospital_a},
                           headers=world.headers("admin"))
    assert response.status_code == 422


@pytest.mark.parametrize("user", ["agent", "engineer", "lab_a"])
def test_gateway_admin_endpoints_are_403_for_non_admins(client: TestClient, world: World, gateway: GatewayInfo,
                                                        user: str) -> None:
    headers = world.headers(user)
    calls = [
        client.post("/api/v1/gateways", json={"name": "x", "hospital_id": world.hospital_a}, headers=headers),
        client.get("/api/v1/gateways", headers=headers),
        client.post(f"/api/v1/gateways/{gateway.id}/token", headers=headers),
        client.put(f"/api/v1/gateways/{gateway.id}/devices/k", json={"device_id": world.devices_a[0]},
                   headers=headers),
        client.delete(f"/api/v1/gateways/{gateway.id}/devices/k", headers=headers),
        client.get(f"/api/v1/gateways/{gateway.id}/unmapped", headers=headers),
    ]
    assert [c.status_code for c in calls] == [403] * len(calls)


def test_a_key_cannot_be_mapped_to_another_hospitals_device(client: TestClient, world: World,
                                                            gateway: GatewayInfo) -> None:
    response = client.put(f"/api/v1/gateways/{gateway.id}/devices/k", json={"device_id": world.devices_b[0]},
                          headers=world.headers("admin"))
    assert response.status_code == 422
    assert "another hospital" in response.json()["detail"]
    missing = client.put("/api/v1/gateways/999999/devices/k", json={"device_id": world.devices_a[0]},
                         headers=world.headers("admin"))
    assert missing.status_code == 404


def test_concurrent_delivery_of_the_same_batch_is_stored_once(app, db: Session, gateway: GatewayInfo) -> None:  # noqa: ANN001
    batch = make_batch(gateway.name, 42)
    barrier = threading.Barrier(2)
    acks: list[BatchAck] = []
    errors: list[BaseException] = []

    def deliver() -> None:
        try:
            with app.state.sessionmaker() as session:
                gw = service.gateway_for_token(session, token=gateway.token)
                assert gw is not None
                barrier.wait(timeout=10)
                acks.append(service.ingest_batch(session, gateway=gw, batch=batch))
                session.commit()
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            errors.append(exc)

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert sorted(ack.duplicate for ack in acks) == [False, True]
    assert counts(db) == {"batches": 1, "readings": 3, "events": 1}


def test_cli_adds_lists_and_maps_gateways(settings, db: Session, world: World, monkeypatch) -> None:  # noqa: ANN001
    from cloud import cli
    from cloud.registry.models import Device

    monkeypatch.setattr(cli, "get_settings", lambda: settings)
    runner = CliRunner()
    added = runner.invoke(cli.app, ["gateway", "add", "cli-gw-1", "--hospital", str(world.hospital_a)])
    assert added.exit_code == 0, added.output
    assert "mfgw_" in added.output
    system_number = db.get(Device, world.devices_a[0]).system_number  # type: ignore[union-attr]
    mapped = runner.invoke(cli.app, ["gateway", "map", "cli-gw-1", "c702", system_number])
    assert mapped.exit_code == 0, mapped.output
    listed = runner.invoke(cli.app, ["gateway", "list"])
    assert "cli-gw-1" in listed.output and "unmapped" not in listed.output
    wrong = runner.invoke(cli.app, ["gateway", "map", "cli-gw-1", "k", "NO-SUCH"])
    assert wrong.exit_code == 1


def test_migration_round_trip_keeps_the_telemetry_schema(app) -> None:  # noqa: ANN001
    engine = app.state.engine
    assert TELEMETRY_TABLES <= set(inspect(engine).get_table_names())
    downgrade(engine, "0001")
    assert not TELEMETRY_TABLES & set(inspect(engine).get_table_names())
    upgrade(engine)
    assert TELEMETRY_TABLES <= set(inspect(engine).get_table_names())
    indexes = {ix["name"] for ix in inspect(engine).get_indexes("reading")}
    assert "ix_reading_device_id_metric_observed_at" in indexes
