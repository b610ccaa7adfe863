"""Device groups: combine, split, merge, reorder, add and remove members, model warnings."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.cloud.world import World


def _combine(client: TestClient, world: World, ids: list[int], **extra: object) -> dict:
    body = {"name": "cobas 8000 line", "device_ids": ids, **extra}
    response = client.post("/api/v1/groups", json=body, headers=world.headers("admin"))
    assert response.status_code == 201, response.text
    return response.json()


def _member_ids(group: dict) -> list[int]:
    return [m["id"] for m in group["members"]]


def test_combine_keeps_the_given_line_order(client: TestClient, world: World) -> None:
    a = world.devices_a
    group = _combine(client, world, [a[2], a[0], a[1]])
    assert group["system_number"].startswith("MG-")
    assert _member_ids(group) == [a[2], a[0], a[1]]
    assert [m["position"] for m in group["members"]] == [1, 2, 3]
    device = client.get(f"/api/v1/devices/{a[0]}", headers=world.headers("admin")).json()
    assert (device["group_id"], device["group_position"]) == (group["id"], 2)


def test_a_device_belongs_to_at_most_one_group(client: TestClient, world: World) -> None:
    a = world.devices_a
    _combine(client, world, [a[0], a[1]])
    response = client.post("/api/v1/groups", json={"name": "again", "device_ids": [a[1], a[2]]},
                           headers=world.headers("admin"))
    assert response.status_code == 409
    assert "at most one group" in response.json()["detail"]


def test_devices_of_two_hospitals_cannot_be_combined(client: TestClient, world: World) -> None:
    response = client.post("/api/v1/groups", json={"name": "x", "device_ids": [world.devices_a[0],
                                                                               world.devices_b[0]]},
                           headers=world.headers("admin"))
    assert response.status_code == 422


def test_reorder_takes_the_full_id_list(client: TestClient, world: World) -> None:
    a = world.devices_a
    group = _combine(client, world, [a[0], a[1], a[2]])
    response = client.put(f"/api/v1/groups/{group['id']}/order", json={"device_ids": [a[2], a[1], a[0]]},
                          headers=world.headers("admin"))
    assert response.status_code == 200
    assert _member_ids(response.json()) == [a[2], a[1], a[0]]
    fresh = client.get(f"/api/v1/groups/{group['id']}", headers=world.headers("agent")).json()
    assert _member_ids(fresh) == [a[2], a[1], a[0]]


def test_reorder_with_missing_or_foreign_ids_is_422_and_changes_nothing(client: TestClient, world: World) -> None:
    a = world.devices_a
    group = _combine(client, world, [a[0], a[1], a[2]])
    url = f"/api/v1/groups/{group['id']}/order"
    for bad in ([a[0], a[1]], [a[0], a[1], a[3]], [a[0], a[1], a[1]]):
        assert client.put(url, json={"device_ids": bad}, headers=world.headers("admin")).status_code == 422
    fresh = client.get(f"/api/v1/groups/{group['id']}", headers=world.headers("admin")).json()
    assert _member_ids(fresh) == [a[0], a[1], a[2]]


def test_split_at_a_position(client: TestClient, world: World) -> None:
    a = world.devices_a
    group = _combine(client, world, [a[0], a[1], a[2], a[3]])
    response = client.post(f"/api/v1/groups/{group['id']}/split", json={"name": "tail", "at": 3},
                           headers=world.headers("admin"))
    assert response.status_code == 200
    body = response.json()
    assert _member_ids(body["original"]) == [a[0], a[1]]
    assert _member_ids(body["new"]) == [a[2], a[3]]
    assert body["new"]["name"] == "tail"
    assert [m["position"] for m in body["new"]["members"]] == [1, 2]


def test_split_by_device_ids_keeps_relative_order(client: TestClient, world: World) -> None:
    a = world.devices_a
    group = _combine(client, world, [a[0], a[1], a[2], a[3]])
    body = client.post(f"/api/v1/groups/{group['id']}/split", json={"name": "odd", "device_ids": [a[3], a[1]]},
                       headers=world.headers("admin")).json()
    assert _member_ids(body["original"]) == [a[0], a[2]]
    assert _member_ids(body["new"]) == [a[1], a[3]]


def test_split_that_leaves_an_empty_half_is_422(client: TestClient, world: World) -> None:
    a = world.devices_a
    group = _combine(client, world, [a[0], a[1]])
    url = f"/api/v1/groups/{group['id']}/split"
    admin = world.headers("admin")
    assert client.post(url, json={"name": "x", "at": 1}, headers=admin).status_code == 422
    assert client.post(url, json={"name": "x", "device_ids": [a[0], a[1]]}, headers=admin).status_code == 422
    assert client.post(url, json={"name": "x", "at": 2, "device_ids": [a[1]]}, headers=admin).status_code == 422


def test_merge_appends_the_other_groups_members_and_ends_it(client: TestClient, world: World) -> None:
    a = world.devices_a
    first = _combine(client, world, [a[0], a[1]])
    second = _combine(client, world, [a[3], a[2]], name="second")
    response = client.post(f"/api/v1/groups/{first['id']}/merge", json={"group_id": second["id"]},
                           headers=world.headers("admin"))
    assert response.status_code == 200
    assert _member_ids(response.json()) == [a[0], a[1], a[3], a[2]]
    assert client.get(f"/api/v1/groups/{second['id']}", headers=world.headers("admin")).status_code == 404


def test_add_and_remove_members(client: TestClient, world: World) -> None:
    a = world.devices_a
    group = _combine(client, world, [a[0], a[1]])
    admin = world.headers("admin")
    added = client.post(f"/api/v1/groups/{group['id']}/members", json={"device_id": a[2], "position": 1},
                        headers=admin).json()
    assert _member_ids(added) == [a[2], a[0], a[1]]
    removed = client.delete(f"/api/v1/groups/{group['id']}/members/{a[0]}", headers=admin).json()
    assert _member_ids(removed) == [a[2], a[1]]
    assert [m["position"] for m in removed["members"]] == [1, 2]
    device = client.get(f"/api/v1/devices/{a[0]}", headers=admin).json()
    assert device["group_id"] is None
    foreign = client.post(f"/api/v1/groups/{group['id']}/members", json={"device_id": world.devices_b[0]},
                          headers=admin)
    assert foreign.status_code == 422


def test_model_mismatch_is_a_warning_not_an_error(client: TestClient, world: World) -> None:
    a = world.devices_a
    group = _combine(client, world, [a[0], a[1], a[3]], compatible_models=["cobas c 702", "cobas c 502"])
    assert len(group["warnings"]) == 1
    warning = group["warnings"][0]
    assert warning["device_id"] == a[3] and warning["model"] == "XN-1000"
    fixed = client.patch(f"/api/v1/groups/{group['id']}", json={"compatible_models": []},
                         headers=world.headers("admin")).json()
    assert fixed["warnings"] == []


def test_dissolving_a_group_keeps_its_devices(client: TestClient, world: World) -> None:
    a = world.devices_a
    group = _combine(client, world, [a[0], a[1]])
    assert client.delete(f"/api/v1/groups/{group['id']}", headers=world.headers("admin")).status_code == 204
    device = client.get(f"/api/v1/devices/{a[0]}", headers=world.headers("admin")).json()
    assert device["group_id"] is None and device["group_position"] is None


def test_group_operations_need_admin(client: TestClient, world: World) -> None:
    a = world.devices_a
    group = _combine(client, world, [a[0], a[1]])
    response = client.put(f"/api/v1/groups/{group['id']}/order", json={"device_ids": [a[1], a[0]]},
                          headers=world.headers("agent"))
    assert response.status_code == 403
