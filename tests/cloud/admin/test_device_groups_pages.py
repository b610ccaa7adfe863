"""Admin console, device groups: combine from a selection, notes and tags, split, merge, add, remove, move between
groups with the model-mismatch warning, dissolve."""

from __future__ import annotations

from cloud.registry.models import Device, DeviceGroup


def _post(client, world, path, data, user="admin"):  # noqa: ANN001, ANN202
    return client.post(path, data=data, headers={**world.headers(user), "Accept": "application/json"})


def test_combine_edit_split_merge_and_dissolve(client, world, db) -> None:
    a = world.devices_a
    none = _post(client, world, "/admin/groups/new", {"name": "线", "device_ids": ""})
    assert none.status_code == 422 and "请先在列表中勾选" in none.json()["detail"]
    mixed = _post(client, world, "/admin/groups/new", {"name": "线", "device_ids": f"{a[0]},{world.devices_b[0]}"})
    assert mixed.status_code == 422 and "同一家医院" in mixed.json()["detail"]
    made = _post(client, world, "/admin/groups/new", {"name": "生化流水线", "device_ids": f"{a[1]},{a[0]},{a[2]}",
                                                     "compatible_models": "cobas c 702, cobas c 502"})
    assert made.status_code == 200
    assert made.json()["warnings"] == [
        "MF-000003 的型号为 cobas e 801，不属于本线的兼容型号（cobas c 702、cobas c 502）。"]
    group = db.query(DeviceGroup).filter_by(name="生化流水线").one()
    assert [d.id for d in group.members] == [a[1], a[0], a[2]]
    taken = _post(client, world, "/admin/groups/new", {"name": "二号线", "device_ids": f"{a[0]}"})
    assert taken.status_code == 409 and "只能属于一个设备组" in taken.json()["detail"]
    edited = _post(client, world, f"/admin/groups/{group.id}", {"name": "生化流水线", "line": "A 线",
                                                                "compatible_models": "cobas c 702, cobas c 502",
                                                                "notes": "每周一保养", "tags": "急诊, 24h"})
    assert edited.status_code == 200
    page = client.get("/admin/groups", headers=world.headers("admin")).text
    assert "每周一保养" in page and "#急诊" in page and "型号不符" in page and "cobas e 801，不属于" in page
    split = _post(client, world, f"/admin/groups/{group.id}/split", {"name": "免疫线", "device_ids": [str(a[2])]})
    assert split.status_code == 200
    db.expire_all()
    new = db.query(DeviceGroup).filter_by(name="免疫线").one()
    assert [d.id for d in new.members] == [a[2]] and new.tags == []
    assert db.get(DeviceGroup, group.id).tags == ["急诊", "24h"]
    everyone = _post(client, world, f"/admin/groups/{group.id}/split", {"name": "x", "device_ids": [str(a[1]),
                                                                                                    str(a[0])]})
    assert everyone.status_code == 422 and "两组都至少要有一台设备" in everyone.json()["detail"]
    new_id, group_id = new.id, group.id
    merged = _post(client, world, f"/admin/groups/{group_id}/merge", {"other_id": str(new_id)})
    assert merged.status_code == 200
    db.expire_all()
    assert db.get(DeviceGroup, new_id) is None and [d.id for d in db.get(DeviceGroup, group_id).members] == [
        a[1], a[0], a[2]]
    assert _post(client, world, f"/admin/groups/{group_id}/delete", {}).status_code == 200
    db.expire_all()
    assert db.get(DeviceGroup, group_id) is None and db.get(Device, a[0]).group_id is None


def test_add_remove_and_drag_a_device_between_groups(client, world, db) -> None:
    a = world.devices_a
    _post(client, world, "/admin/groups/new", {"name": "一号线", "device_ids": f"{a[0]},{a[1]}"})
    _post(client, world, "/admin/groups/new", {"name": "二号线", "device_ids": f"{a[2]}",
                                               "compatible_models": "cobas e 801"})
    one = db.query(DeviceGroup).filter_by(name="一号线").one()
    two = db.query(DeviceGroup).filter_by(name="二号线").one()
    page = client.get("/admin/groups", headers=world.headers("admin")).text
    assert "本院未分组的设备" in page and f'<option value="{a[3]}">' in page
    assert _post(client, world, f"/admin/groups/{one.id}/add", {"device_id": str(a[3])}).status_code == 200
    moved = _post(client, world, f"/admin/groups/{two.id}/move", {"device_id": str(a[0]), "position": "1"})
    assert moved.status_code == 200 and "不属于本线的兼容型号" in moved.json()["warnings"][0]
    db.expire_all()
    assert [d.id for d in db.get(DeviceGroup, two.id).members] == [a[0], a[2]]
    assert [d.id for d in db.get(DeviceGroup, one.id).members] == [a[1], a[3]]
    assert [d.group_position for d in db.get(DeviceGroup, one.id).members] == [1, 2]
    other = _post(client, world, f"/admin/groups/{two.id}/move", {"device_id": str(world.devices_b[0])})
    assert other.status_code == 422
    assert _post(client, world, f"/admin/groups/{one.id}/remove", {"device_id": str(a[3])}).status_code == 200
    db.expire_all()
    assert db.get(Device, a[3]).group_id is None
    assert _post(client, world, f"/admin/groups/{one.id}/remove", {"device_id": str(a[1])}, "agent").status_code == 403
    agent = client.get("/admin/groups", headers=world.headers("agent"))
    assert agent.status_code == 200 and "拆分" not in agent.text
