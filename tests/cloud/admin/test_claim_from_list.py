"""Defect 13: a verified lab user adds several of their hospital's devices to "my devices" from one list."""

from __future__ import annotations

from sqlalchemy import select

from cloud.registry.models import DeviceClaim


def _post(client, world, data, user="lab_a"):  # noqa: ANN001, ANN202
    return client.post("/my/devices/add", data=data, headers={**world.headers(user), "Accept": "application/json"})


def test_the_list_shows_the_hospitals_devices_by_department_and_searches(client, world) -> None:
    page = client.get("/my/devices/add", headers=world.headers("lab_a"))
    assert page.status_code == 200
    assert "检验科" in page.text and "cobas c 702" in page.text and "XN-550" not in page.text  # own hospital only
    found = client.get("/my/devices/add", params={"q": "e 801"}, headers=world.headers("lab_a"))
    assert "cobas e 801" in found.text and "cobas c 702" not in found.text
    assert "从本院设备中添加" in client.get("/my/devices", headers=world.headers("lab_a")).text


def test_several_devices_are_added_at_once_and_again_is_harmless(client, world, db) -> None:
    picked = [str(i) for i in world.devices_a[:3]]
    first = _post(client, world, {"device_ids": picked})
    assert first.status_code == 200 and first.json()["added"] == 3
    again = _post(client, world, {"device_ids": picked[:1] + [str(world.devices_a[3])]})
    assert again.status_code == 200 and again.json()["added"] == 1
    claimed = set(db.execute(select(DeviceClaim.device_id).where(
        DeviceClaim.user_id == world.users["lab_a"])).scalars())
    assert claimed == set(world.devices_a)
    page = client.get("/my/devices/add", headers=world.headers("lab_a"))
    assert page.text.count("已在我的设备中") == 4


def test_nothing_is_added_when_one_pick_is_of_another_hospital_or_the_user_is_unverified(client, world, db) -> None:
    mixed = _post(client, world, {"device_ids": [str(world.devices_a[0]), str(world.devices_b[0])]})
    assert mixed.status_code == 404 and "未添加任何设备" in mixed.json()["detail"]
    assert db.execute(select(DeviceClaim)).first() is None
    empty = _post(client, world, {})
    assert empty.status_code == 422 and "请勾选" in empty.json()["detail"]
    unverified = _post(client, world, {"device_ids": [str(world.devices_a[0])]}, user="lab_new")
    assert unverified.status_code == 403
    assert "邀请码" in client.get("/my/devices/add", headers=world.headers("lab_new")).text
