"""Hospitals, departments and devices through the REST API."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.cloud.world import World


def _device(world: World, **overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "serial": "AU58-0001", "manufacturer": "Beckman Coulter", "model": "AU5800", "category": "chemistry",
        "hospital_id": world.hospital_a, "department_id": world.dept_a, "install_date": "2021-04-01",
        "warranty_end": "2026-04-01", "keywords": ["生化", "AU"],
    }
    body.update(overrides)
    return body


def test_created_device_gets_a_stable_human_system_number(client: TestClient, world: World) -> None:
    admin = world.headers("admin")
    first = client.post("/api/v1/devices", json=_device(world), headers=admin).json()
    second = client.post("/api/v1/devices", json=_device(world, serial="AU58-0002"), headers=admin).json()
    assert re.fullmatch(r"MF-\d{6}", first["system_number"])
    assert int(second["system_number"][3:]) == int(first["system_number"][3:]) + 1
    again = client.get(f"/api/v1/devices/{first['id']}", headers=admin).json()
    assert again["system_number"] == first["system_number"]
    assert again["hospital_name"] == "上海交通大学医学院附属瑞金医院"
    assert again["department_name"] == "检验科"
    assert again["status"] == "in_service" and again["maintenance_score"] == 100


def test_same_serial_of_same_manufacturer_is_409(client: TestClient, world: World) -> None:
    admin = world.headers("admin")
    assert client.post("/api/v1/devices", json=_device(world), headers=admin).status_code == 201
    duplicate = client.post("/api/v1/devices", json=_device(world, hospital_id=world.hospital_b,
                                                             department_id=None), headers=admin)
    assert duplicate.status_code == 409
    assert "AU58-0001" in duplicate.json()["detail"]


def test_same_serial_of_another_manufacturer_is_fine(client: TestClient, world: World) -> None:
    admin = world.headers("admin")
    client.post("/api/v1/devices", json=_device(world), headers=admin)
    other = client.post("/api/v1/devices", json=_device(world, manufacturer="Mindray"), headers=admin)
    assert other.status_code == 201


def test_invalid_device_gets_field_level_422(client: TestClient, world: World) -> None:
    body = _device(world, category="toaster", maintenance_score=140, serial="")
    response = client.post("/api/v1/devices", json=body, headers=world.headers("admin"))
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert {"category", "maintenance_score", "serial"} <= fields


def test_department_of_another_hospital_is_422(client: TestClient, world: World) -> None:
    response = client.post("/api/v1/devices", json=_device(world, department_id=world.dept_b),
                           headers=world.headers("admin"))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "department_id"


def test_unknown_device_is_404(client: TestClient, world: World) -> None:
    assert client.get("/api/v1/devices/999999", headers=world.headers("admin")).status_code == 404
    assert client.patch("/api/v1/devices/999999", json={"model": "x"},
                        headers=world.headers("admin")).status_code == 404


def test_update_changes_status_and_score(client: TestClient, world: World) -> None:
    device_id = world.devices_a[0]
    response = client.patch(f"/api/v1/devices/{device_id}", json={"status": "fault", "maintenance_score": 61},
                            headers=world.headers("admin"))
    assert response.status_code == 200
    got = client.get(f"/api/v1/devices/{device_id}", headers=world.headers("agent")).json()
    assert (got["status"], got["maintenance_score"]) == ("fault", 61)


def test_moving_a_device_to_another_hospital_drops_its_department(client: TestClient, world: World) -> None:
    device_id = world.devices_a[3]
    response = client.patch(f"/api/v1/devices/{device_id}", json={"hospital_id": world.hospital_b},
                            headers=world.headers("admin"))
    assert response.status_code == 200
    assert response.json()["department_id"] is None


def test_listing_filters_and_paginates(client: TestClient, world: World) -> None:
    admin = world.headers("admin")
    everything = client.get("/api/v1/devices", headers=admin).json()
    assert everything["total"] == len(world.devices_a) + len(world.devices_b)
    by_hospital = client.get(f"/api/v1/devices?hospital_id={world.hospital_b}", headers=admin).json()
    assert {d["id"] for d in by_hospital["items"]} == set(world.devices_b)
    search = client.get("/api/v1/devices?q=COBAS", headers=admin).json()
    assert search["total"] == 3
    page = client.get("/api/v1/devices?limit=2&offset=2", headers=admin).json()
    assert len(page["items"]) == 2 and page["total"] == everything["total"]
    assert client.get("/api/v1/devices?limit=0", headers=admin).status_code == 422


def test_delete_device(client: TestClient, world: World) -> None:
    device_id = world.devices_b[1]
    assert client.delete(f"/api/v1/devices/{device_id}", headers=world.headers("admin")).status_code == 204
    assert client.get(f"/api/v1/devices/{device_id}", headers=world.headers("admin")).status_code == 404


def test_hospital_with_devices_cannot_be_deleted(client: TestClient, world: World) -> None:
    response = client.delete(f"/api/v1/hospitals/{world.hospital_b}", headers=world.headers("admin"))
    assert response.status_code == 409


def test_hospital_geofence_and_departments(client: TestClient, world: World) -> None:
    admin = world.headers("admin")
    created = client.post("/api/v1/hospitals", headers=admin, json={
        "name": "上海市第六人民医院", "aliases": ["六院"], "latitude": 31.1795, "longitude": 121.4263,
        "geofence_radius_m": 600}).json()
    assert created["geofence_radius_m"] == 600
    dept = client.post(f"/api/v1/hospitals/{created['id']}/departments", json={"name": "检验科"}, headers=admin)
    assert dept.status_code == 201
    again = client.post(f"/api/v1/hospitals/{created['id']}/departments", json={"name": "检验科"}, headers=admin)
    assert again.status_code == 409
    half = client.post("/api/v1/hospitals", headers=admin, json={"name": "X", "latitude": 31.0})
    assert half.status_code == 422


def test_invite_code_is_shown_only_to_admins(client: TestClient, world: World) -> None:
    url = f"/api/v1/hospitals/{world.hospital_a}"
    assert client.get(url, headers=world.headers("admin")).json()["invite_code"] == "RJ-INVITE"
    assert client.get(url, headers=world.headers("agent")).json()["invite_code"] is None
    assert client.get(url, headers=world.headers("lab_a")).json()["invite_code"] is None
