"""Admin console, gateways (register, token shown once, rotation, mapping with waiting data) and the audit log."""

from __future__ import annotations

from sqlalchemy import select

from cloud.auth.models import User
from cloud.registry.models import Device, Hospital
from cloud.telemetry.models import Gateway, Reading
from cloud.web import admin_audit
from protocols.telemetry import encode_batch
from tests.cloud.telemetry.conftest import make_batch
from tests.cloud.tickets.helpers import submit


def _post(client, world, path, data, user="admin"):  # noqa: ANN001, ANN202
    return client.post(path, data=data, headers={**world.headers(user), "Accept": "application/json"})


def test_register_a_gateway_its_token_works_once_shown_and_rotation_retires_it(client, world, db) -> None:
    bad = _post(client, world, "/admin/gateways/new", {"name": "实验室 1", "hospital_id": str(world.hospital_a)})
    assert bad.status_code == 422 and "网关 ID" in bad.json()["detail"]
    created = _post(client, world, "/admin/gateways/new", {"name": "rj-lab-1", "hospital_id": str(world.hospital_a)})
    assert created.status_code == 200
    token = created.json()["secret"]
    dup = _post(client, world, "/admin/gateways/new", {"name": "rj-lab-1", "hospital_id": str(world.hospital_a)})
    assert dup.status_code == 409 and "已存在同名网关" in dup.json()["detail"]
    gateway = db.execute(select(Gateway).where(Gateway.name == "rj-lab-1")).scalar_one()
    page = client.get(f"/admin/gateways/{gateway.id}", headers=world.headers("admin"))
    assert token not in page.text and "未上报状态" in page.text
    batch = encode_batch(make_batch("rj-lab-1"))
    sent = client.post("/api/v1/ingest", content=batch, headers={"Authorization": f"Bearer {token}",
                                                                 "Content-Type": "application/json"})
    assert sent.status_code == 200, sent.text
    rotated = _post(client, world, f"/admin/gateways/{gateway.id}/token", {}).json()["secret"]
    assert rotated != token
    again = client.post("/api/v1/ingest", content=encode_batch(make_batch("rj-lab-1", 1)),
                        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    assert again.status_code == 401


def test_unmapped_keys_show_their_waiting_data_and_mapping_moves_it(client, world, db) -> None:
    token = _post(client, world, "/admin/gateways/new", {"name": "rj-lab-2",
                                                         "hospital_id": str(world.hospital_a)}).json()["secret"]
    client.post("/api/v1/ingest", content=encode_batch(make_batch("rj-lab-2")),
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    gateway = db.execute(select(Gateway).where(Gateway.name == "rj-lab-2")).scalar_one()
    hospital = db.get(Hospital, world.hospital_a)
    hospital.time_zone = "Asia/Tokyo"
    db.commit()
    listing = client.get("/admin/gateways", headers=world.headers("admin"))
    assert "rj-lab-2" in listing.text and "从未" not in listing.text.split("rj-lab-2")[1].split("</tr>")[0]
    page = client.get(f"/admin/gateways/{gateway.id}", headers=world.headers("admin"))
    assert "c702" in page.text and "3 条读数 · 1 条事件" in page.text and "未映射" in page.text
    wrong = _post(client, world, f"/admin/gateways/{gateway.id}/map",
                  {"device_key": "c702", "device_id": str(world.devices_b[0])})
    assert wrong.status_code == 422 and "网关所在医院" in wrong.json()["detail"]
    mapped = _post(client, world, f"/admin/gateways/{gateway.id}/map",
                   {"device_key": "c702", "device_id": str(world.devices_a[0])})
    assert mapped.status_code == 200
    db.expire_all()
    assert {r.device_id for r in db.execute(select(Reading).where(Reading.gateway_id == gateway.id)).scalars()} == {
        world.devices_a[0]}
    page = client.get(f"/admin/gateways/{gateway.id}", headers=world.headers("admin"))
    assert "3 条读数" not in page.text and "取消映射" in page.text
    assert _post(client, world, f"/admin/gateways/{gateway.id}/unmap", {"device_key": "c702"}).status_code == 200


def test_the_audit_log_filters_by_actor_entity_action_and_time_and_pages(client, world, db, monkeypatch) -> None:
    for i in range(5):
        _post(client, world, f"/admin/hospitals/{world.hospital_b}/departments", {"name": f"科室{i}"})
    page = client.get("/admin/audit", params={"entity": "department", "action": "create", "actor": "admin"},
                      headers=world.headers("admin"))
    assert page.status_code == 200
    rows = page.text.count('data-audit-id="')
    assert rows == 5 and "科室" in page.text and "创建" in page.text
    # By the name the column shows, not only the username (王坐席 found nothing).
    db.get(User, world.users["admin"]).full_name = "王管理员"
    db.commit()
    named = client.get("/admin/audit", params={"actor": "王管理"}, headers=world.headers("admin"))
    assert 'data-audit-id="' in named.text
    backwards = client.get("/admin/audit", params={"since": "2026-12-07T00:00", "until": "2026-12-01T00:00"},
                           headers=world.headers("admin"))
    assert "开始时间晚于结束时间" in backwards.text
    nobody = client.get("/admin/audit", params={"actor": "nobody-at-all"}, headers=world.headers("admin"))
    assert "没有符合条件的记录" in nobody.text
    future = client.get("/admin/audit", params={"since": "2099-01-01T00:00"}, headers=world.headers("admin"))
    assert 'data-audit-id="' not in future.text
    monkeypatch.setattr(admin_audit, "PAGE_SIZE", 5)
    first = client.get("/admin/audit", params={"entity": "department"}, headers=world.headers("admin"))
    assert first.text.count('data-audit-id="') == 5 and "entity=department&page=2" in first.text
    second = client.get("/admin/audit", params={"entity": "department", "page": 2}, headers=world.headers("admin"))
    assert 0 < second.text.count('data-audit-id="') <= 5 and "‹ 上一页" in second.text


def test_the_audit_log_names_tickets_and_devices_by_their_numbers(client, db, world) -> None:  # noqa: ANN001
    # The audit found "工单 #175" where the rest of the product says WO-000175.
    ticket = submit(client, world).json()["ticket"]
    device = db.get(Device, world.devices_a[0])
    page = client.get("/admin/audit", params={"entity": "ticket", "entity_id": ticket["id"]},
                      headers=world.headers("admin")).text
    assert 'data-audit-id="' in page and f">{ticket['number']}</a>" in page and f">#{ticket['id']}</a>" not in page
    _post(client, world, f"/admin/devices/{device.id}", {"serial": device.serial, "model": device.model,
                                                          "manufacturer": device.manufacturer, "notes": "改了备注"})
    devices = client.get("/admin/audit", params={"entity": "device"}, headers=world.headers("admin")).text
    assert f">{device.system_number}</a>" in devices
