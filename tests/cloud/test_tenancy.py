"""Tenant isolation: a lab user reads only their own hospital; anything else answers 404."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.cloud.world import World


def _group(client: TestClient, world: World, ids: list[int]) -> int:
    response = client.post("/api/v1/groups", json={"name": "g", "device_ids": ids}, headers=world.headers("admin"))
    return int(response.json()["id"])


def test_lab_user_lists_only_their_hospitals_devices(client: TestClient, world: World) -> None:
    listing = client.get("/api/v1/devices", headers=world.headers("lab_a")).json()
    assert {d["id"] for d in listing["items"]} == set(world.devices_a)
    assert listing["total"] == len(world.devices_a)


def test_asking_for_another_hospital_by_filter_returns_nothing(client: TestClient, world: World) -> None:
    listing = client.get(f"/api/v1/devices?hospital_id={world.hospital_b}", headers=world.headers("lab_a")).json()
    assert listing["items"] == [] and listing["total"] == 0


def test_another_hospitals_ids_answer_404_never_data(client: TestClient, world: World) -> None:
    headers = world.headers("lab_a")
    group_b = _group(client, world, world.devices_b)
    for url in (f"/api/v1/devices/{world.devices_b[0]}", f"/api/v1/hospitals/{world.hospital_b}",
                f"/api/v1/groups/{group_b}"):
        response = client.get(url, headers=headers)
        assert response.status_code == 404, url
        assert "复旦" not in response.text and "XN-B1" not in response.text


def test_404_for_foreign_and_missing_ids_look_the_same(client: TestClient, world: World) -> None:
    headers = world.headers("lab_a")
    foreign = client.get(f"/api/v1/devices/{world.devices_b[0]}", headers=headers)
    missing = client.get("/api/v1/devices/987654", headers=headers)
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json()["detail"].replace(str(world.devices_b[0]), "N") == \
        missing.json()["detail"].replace("987654", "N")


def test_lab_user_sees_only_their_groups_and_hospital(client: TestClient, world: World) -> None:
    group_a = _group(client, world, world.devices_a[:2])
    _group(client, world, world.devices_b)
    groups = client.get("/api/v1/groups", headers=world.headers("lab_b")).json()
    assert [g["hospital_id"] for g in groups] == [world.hospital_b]
    assert group_a not in [g["id"] for g in groups]
    hospitals = client.get("/api/v1/hospitals", headers=world.headers("lab_b")).json()
    assert [h["id"] for h in hospitals] == [world.hospital_b]


def test_staff_see_every_hospital(client: TestClient, world: World) -> None:
    for role in ("agent", "engineer", "center", "admin"):
        listing = client.get("/api/v1/devices", headers=world.headers(role)).json()
        assert listing["total"] == len(world.devices_a) + len(world.devices_b), role


def test_lab_users_cannot_change_the_registry(client: TestClient, world: World) -> None:
    headers = world.headers("lab_a")
    assert client.patch(f"/api/v1/devices/{world.devices_a[0]}", json={"model": "x"},
                        headers=headers).status_code == 403
    assert client.post("/api/v1/groups", json={"name": "g", "device_ids": world.devices_a[:2]},
                       headers=headers).status_code == 403
    assert client.get("/api/v1/audit", headers=headers).status_code == 403
