"""Admin console, devices: create (number generated or typed and unique), edit, retire, move with its consequences
shown first, import with a dry-run preview, QR reissue (the old label then says it was replaced)."""

from __future__ import annotations

from sqlalchemy import select

from cloud.audit.service import Actor
from cloud.qr import service as qr_service
from cloud.qr.models import TargetKind
from cloud.registry import groups as group_service
from cloud.registry.models import Device, DeviceStatus
from cloud.registry.schemas import GroupCreate
from cloud.telemetry import service as telemetry_service
from cloud.telemetry.models import GatewayDevice

ADMIN = Actor.system("test")


def _post(client, world, path, data, user="admin", **kw):  # noqa: ANN001, ANN202
    return client.post(path, data=data, headers={**world.headers(user), "Accept": "application/json"}, **kw)


NEW = {"manufacturer": "Mindray", "model": "BC-6800", "serial": "BC68-001", "category": "hematology"}


def test_create_generates_or_checks_a_hand_number_and_errors_sit_next_to_fields(client, world, db) -> None:
    empty = _post(client, world, "/admin/devices/new", {"hospital_id": str(world.hospital_a)})
    assert empty.status_code == 422
    fields = {e["field"] for e in empty.json()["errors"]}
    assert {"serial", "manufacturer", "model", "category"} <= fields
    assert "请填写铭牌序列号" in empty.text
    made = _post(client, world, "/admin/devices/new", {**NEW, "hospital_id": str(world.hospital_a),
                                                      "department_id": str(world.dept_a), "keywords": "血球, 六分类"})
    assert made.status_code == 200, made.text
    device = db.execute(select(Device).where(Device.serial == "BC68-001")).scalar_one()
    assert device.system_number.startswith("MF-") and device.keywords == ["血球", "六分类"]
    hand = _post(client, world, "/admin/devices/new", {**NEW, "serial": "BC68-002", "system_number": "RJ-LAB-07",
                                                      "hospital_id": str(world.hospital_a)})
    assert hand.status_code == 200
    taken = _post(client, world, "/admin/devices/new", {**NEW, "serial": "BC68-003", "system_number": "rj-lab-07",
                                                       "hospital_id": str(world.hospital_a)})
    assert taken.status_code == 409 and taken.json()["errors"][0]["field"] == "system_number"
    assert "该系统编号已被使用" in taken.json()["detail"]
    reserved = _post(client, world, "/admin/devices/new", {**NEW, "serial": "BC68-004", "system_number": "MF-000999",
                                                          "hospital_id": str(world.hospital_a)})
    assert reserved.status_code == 422 and "由系统生成" in reserved.json()["detail"]
    # A warranty ending before the install date is a typo in the year (the audit saved one without a word).
    backwards = _post(client, world, "/admin/devices/new", {**NEW, "serial": "BC68-005", "hospital_id": str(
        world.hospital_a), "install_date": "2024-03-15", "warranty_end": "2023-03-15"})
    assert backwards.status_code == 422 and backwards.json()["errors"][0]["field"] == "warranty_end"
    assert "保修截止日期不能早于安装日期" in backwards.json()["detail"], backwards.json()
    made_id = device.id
    edited = _post(client, world, f"/admin/devices/{made_id}", {**NEW, "install_date": "2024-03-15",
                                                               "warranty_end": "2023-03-15", "status": "in_service",
                                                               "maintenance_score": "90"})
    assert edited.status_code == 422 and edited.json()["errors"][0]["field"] == "warranty_end"
    dup = _post(client, world, "/admin/devices/new", {**NEW, "hospital_id": str(world.hospital_a)})
    assert dup.status_code == 409 and dup.json()["errors"][0]["field"] == "serial"
    assert db.execute(select(Device).where(Device.serial.like("BC68-%"))).scalars().all().__len__() == 2


def test_edit_and_retire_and_the_edit_page_links_the_photos(client, world, db) -> None:
    device_id = world.devices_a[0]
    page = client.get(f"/admin/devices/{device_id}", headers=world.headers("admin"))
    assert page.status_code == 200 and f"/admin/devices/{device_id}/photos" in page.text and "报废设备" in page.text
    bad = _post(client, world, f"/admin/devices/{device_id}", {"serial": "C702-1", "manufacturer": "Roche",
                                                               "model": "cobas c 702", "category": "chemistry",
                                                               "maintenance_score": "150", "status": "in_service"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "maintenance_score"
    ok = _post(client, world, f"/admin/devices/{device_id}", {"serial": "C702-1", "manufacturer": "Roche",
                                                              "model": "cobas c 702", "category": "chemistry",
                                                              "maintenance_score": "77", "status": "in_service",
                                                              "install_date": "2024-03-01", "is_key": "on"})
    assert ok.status_code == 200
    assert _post(client, world, f"/admin/devices/{device_id}/retire", {}).status_code == 200
    db.expire_all()
    device = db.get(Device, device_id)
    assert device.maintenance_score == 77 and device.is_key and device.status == DeviceStatus.retired
    assert str(device.install_date) == "2024-03-01"
    assert client.get(f"/admin/devices/{device_id}", headers=world.headers("agent")).status_code == 403
    assert _post(client, world, f"/admin/devices/{device_id}/retire", {}, user="agent").status_code == 403


def test_a_move_to_another_hospital_says_what_happens_then_does_it(client, world, db) -> None:
    device_id, other = world.devices_a[0], world.devices_a[1]
    group_service.create_group(db, data=GroupCreate(name="生化线", device_ids=[device_id, other]), actor=ADMIN)
    gateway, _token = telemetry_service.create_gateway(db, name="rj-gw", hospital_id=world.hospital_a, actor=ADMIN)
    db.add(GatewayDevice(gateway_id=gateway.id, device_key="c702"))
    db.flush()
    telemetry_service.map_device(db, gateway_id=gateway.id, device_key="c702", device_id=device_id, actor=ADMIN)
    db.commit()
    plan = client.get(f"/admin/devices/{device_id}/move-plan", params={"hospital_id": world.hospital_b,
                                                                        "department_id": world.dept_b},
                      headers=world.headers("admin")).json()
    assert plan["ok"] and plan["unmapped"] == 1 and plan["leaves_group"] == "生化线"
    assert "rj-gw/c702" in plan["text"] and "历史数据" in plan["text"] and "退出设备组" in plan["text"]
    wrong = _post(client, world, f"/admin/devices/{device_id}/move", {"hospital_id": str(world.hospital_b),
                                                                      "department_id": str(world.dept_a)})
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "department_id"
    moved = _post(client, world, f"/admin/devices/{device_id}/move", {"hospital_id": str(world.hospital_b),
                                                                      "department_id": str(world.dept_b)})
    assert moved.status_code == 200, moved.text
    db.expire_all()
    device = db.get(Device, device_id)
    assert (device.hospital_id, device.department_id, device.group_id) == (world.hospital_b, world.dept_b, None)
    mapping = db.execute(select(GatewayDevice).where(GatewayDevice.device_key == "c702")).scalar_one()
    assert mapping.device_id is None  # the old hospital's gateway forgot it; new data for the key waits
    assert [d.id for d in db.get(Device, other).group.members] == [other]
    within = client.get(f"/admin/devices/{other}/move-plan", params={"hospital_id": world.hospital_a},
                        headers=world.headers("admin")).json()
    assert within["unmapped"] == 0 and within["leaves_group"] is None and "退出设备组" not in within["text"]


def test_reissuing_the_qr_label_retires_the_old_code_and_its_landing_says_replaced(client, world, db) -> None:
    device_id = world.devices_a[2]
    old = qr_service.code_for(db, kind=TargetKind.device, target_id=device_id, actor=ADMIN).code
    db.commit()
    answer = _post(client, world, f"/admin/devices/{device_id}/qr/reissue", {})
    assert answer.status_code == 200 and answer.json()["code"] != old and "旧标签" in answer.json()["message"]
    page = client.get(f"/admin/devices/{device_id}", headers=world.headers("admin")).text
    assert old in page and answer.json()["code"] in page and "已更换" in page
    landing = client.get(f"/r/{old}", headers={"Accept-Language": "zh-CN"})
    assert "标签已更换" in landing.text and "<textarea" not in landing.text  # no repair form behind the old label


def test_the_device_list_offers_admins_new_import_and_combine_but_not_agents(client, world) -> None:
    admin = client.get("/admin/devices", headers=world.headers("admin")).text
    assert "新建设备" in admin and "/admin/devices/import" in admin and "将所选设备组成设备组" in admin
    agent = client.get("/admin/devices", headers=world.headers("agent"))
    assert agent.status_code == 200 and "新建设备" not in agent.text and "combine-open" not in agent.text
