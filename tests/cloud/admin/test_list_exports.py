"""Admin console exports: each list page's XLSX/CSV holds what its filters select (every page of it), in Chinese,
times in the hospital's zone, nothing of a hospital the filter left out, and only for the roles the page allows."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud import exports
from cloud.alerts import service as alert_service
from cloud.audit.models import AuditLog
from cloud.audit.service import Actor
from cloud.auth.models import User
from cloud.registry import groups as group_service
from cloud.registry import service as registry_service
from cloud.registry.models import Device, Hospital
from cloud.registry.schemas import DeviceIn, GroupCreate
from cloud.telemetry import service as telemetry_service
from tests.cloud.world import World

ADMIN = Actor.system("test")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _sheet(response: Any, name: str | None = None) -> list[tuple[Any, ...]]:  # noqa: ANN401
    assert response.status_code == 200, response.text[:300]
    assert response.headers["content-type"] == XLSX
    book = load_workbook(io.BytesIO(response.content))
    return list(book[name or book.sheetnames[0]].iter_rows(values_only=True))


def _csv(response: Any) -> list[list[str]]:  # noqa: ANN401
    assert response.status_code == 200, response.text[:300]
    assert response.content.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


def _add_devices(db: Session, world: World, count: int) -> None:
    for n in range(count):
        registry_service.create_device(db, actor=ADMIN, data=DeviceIn(
            serial=f"AU-{n:03d}", manufacturer="Beckman", model="AU5800", category="chemistry",
            hospital_id=world.hospital_a, department_id=world.dept_a))
    db.commit()


def test_the_device_export_holds_every_page_the_filters_select_in_chinese(client: TestClient, world: World,
                                                                          db: Session) -> None:
    _add_devices(db, world, 30)  # more than a page (25) of hospital A's devices
    page = client.get("/admin/devices", params={"hospital_id": world.hospital_a, "status": "in_service"},
                      headers=world.headers("admin"))
    assert "导出 Excel" in page.text and "导出 CSV" in page.text
    assert f'/admin/exports/devices.xlsx?hospital_id={world.hospital_a}&amp;status=in_service' in page.text
    response = client.get("/admin/exports/devices.xlsx", params={"hospital_id": world.hospital_a,
                                                                 "status": "in_service"},
                          headers=world.headers("agent"))  # staff may read the list, so they may export it
    assert 'filename="medfix-devices-' in response.headers["content-disposition"]
    rows = _sheet(response, "设备")
    assert rows[0][:6] == ("系统编号", "厂家", "型号", "铭牌序列号", "类别", "医院")
    assert len(rows) == 1 + 34  # all of hospital A, not the first page
    serials = {row[3] for row in rows[1:]}
    assert "C702-1" in serials and "XN-B1" not in serials and "ISR-B1" not in serials  # hospital B left out
    first = next(row for row in rows[1:] if row[3] == "C702-1")
    assert first[4] == "生化" and first[5] == "上海交通大学医学院附属瑞金医院" and first[6] == "检验科"
    assert first[9] == "在用" and first[10] == "否"  # status and the key-device flag in words
    searched = _csv(client.get("/admin/exports/devices.csv", params={"q": "xn"}, headers=world.headers("admin")))
    assert searched[0][0] == "系统编号"
    assert sorted(row[3] for row in searched[1:]) == ["XN-A1", "XN-B1"]
    client.cookies.set("medfix_lang", "en")
    english = _sheet(client.get("/admin/exports/devices.xlsx", params={"q": "XN-A1"},
                                headers=world.headers("admin")))
    assert english[0][:2] == ("System no.", "Manufacturer") and english[1][9] == "In service"


def test_a_role_without_the_page_gets_no_file(client: TestClient, world: World) -> None:
    assert client.get("/admin/exports/devices.xlsx", headers=world.headers("lab_a")).status_code == 403
    for path in ("users", "audit", "hospitals", "gateways", "verifications", "fault-categories", "alerts"):
        response = client.get(f"/admin/exports/{path}.csv", headers=world.headers("agent"))
        assert response.status_code == 403, path  # admin-only pages, admin-only files
        assert response.headers["content-type"] != XLSX
    anonymous = client.get("/admin/exports/users.xlsx", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
    assert client.get("/admin/exports/devices.pdf", headers=world.headers("admin")).status_code == 422


def test_a_long_export_stops_at_the_cap_and_says_so(client: TestClient, world: World, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(exports, "MAX_ROWS", 3)
    rows = _sheet(client.get("/admin/exports/devices.xlsx", headers=world.headers("admin")))
    assert len(rows) == 1 + 3 + 1 and rows[-1][0].startswith("只导出了前 100,000 行")


def test_the_user_export_keeps_the_filters_with_roles_and_times_in_words(client: TestClient, world: World,
                                                                         db: Session) -> None:
    page = client.get("/admin/users", params={"role": "lab_user", "hospital_id": world.hospital_a},
                      headers=world.headers("admin"))
    assert f"/admin/exports/users.xlsx?role=lab_user&amp;hospital_id={world.hospital_a}" in page.text
    rows = _sheet(client.get("/admin/exports/users.xlsx", params={"role": "lab_user",
                                                                  "hospital_id": world.hospital_a},
                             headers=world.headers("admin")))
    assert rows[0] == ("姓名", "用户名", "角色", "医院", "电话", "认证", "账号", "检验科负责人", "创建时间")
    by_name = {row[1]: row for row in rows[1:]}
    assert set(by_name) == {"lab_a", "lab_new"}  # lab_b is hospital B's
    assert by_name["lab_a"][2] == "检验科用户" and by_name["lab_a"][5] == "已认证"
    assert by_name["lab_new"][5] == "待认证" and by_name["lab_a"][6] == "已启用"
    created = db.get(User, world.users["lab_a"]).created_at.replace(tzinfo=UTC)
    beijing = (created + timedelta(hours=8)).replace(tzinfo=None)  # a wall-clock cell, not UTC
    assert abs((by_name["lab_a"][8] - beijing).total_seconds()) < 1
    queue = _sheet(client.get("/admin/exports/verifications.xlsx", headers=world.headers("admin")))
    assert queue[0][:4] == ("姓名", "用户名", "电话", "医院") and [row[1] for row in queue[1:]] == ["lab_new"]


def test_the_audit_export_keeps_the_page_filters_and_each_hospitals_time_zone(client: TestClient, world: World,
                                                                              db: Session) -> None:
    tokyo = db.get(Hospital, world.hospital_b)
    tokyo.time_zone = "Asia/Tokyo"
    db.add(AuditLog(at=datetime(2026, 3, 1, 1, 30, tzinfo=UTC), actor_id=world.users["admin"], actor_label="admin",
                    action="update", entity="hospital", entity_id=world.hospital_b, hospital_id=world.hospital_b,
                    before={"hotline": "021-1"}, after={"hotline": "021-2"}))
    db.add(AuditLog(at=datetime(2026, 3, 1, 1, 30, tzinfo=UTC), actor_id=None, actor_label="sla-timer",
                    action="update", entity="hospital", entity_id=world.hospital_a, hospital_id=world.hospital_a,
                    before={}, after={}))
    db.commit()
    params = {"entity": "hospital", "action": "update", "since": "2026-03-01T00:00", "until": "2026-03-02T00:00"}
    page = client.get("/admin/audit", params=params, headers=world.headers("admin"))
    assert "/admin/exports/audit.xlsx?entity=hospital&amp;action=update&amp;since=2026-03-01T00%3A00" in page.text
    rows = _sheet(client.get("/admin/exports/audit.xlsx", params=params, headers=world.headers("admin")))
    assert rows[0] == ("时间", "时区", "操作人", "用户名", "操作", "对象类型", "对象编号", "医院", "变更")
    assert len(rows) == 3  # the world's own entries were made before March 2026
    tokyo_row = next(row for row in rows[1:] if row[7] == "复旦大学附属中山医院")
    assert tokyo_row[0] == datetime(2026, 3, 1, 10, 30) and tokyo_row[1] == "东京（UTC+9）"  # not 01:30 UTC
    assert tokyo_row[2] == "admin" and tokyo_row[4] == "修改" and tokyo_row[5] == "医院"
    assert "021-1 → 021-2" in tokyo_row[8]
    shanghai_row = next(row for row in rows[1:] if row[7] == "上海交通大学医学院附属瑞金医院")
    assert shanghai_row[0] == datetime(2026, 3, 1, 9, 30) and shanghai_row[2] == "时限计时器"
    only_actor = _csv(client.get("/admin/exports/audit.csv", params={**params, "actor": "sla"},
                                 headers=world.headers("admin")))
    assert len(only_actor) == 2 and only_actor[1][0] == "2026-03-01 09:30"


def test_audit_changes_read_in_words_in_the_hospitals_time_on_the_page_and_in_the_export(
        client: TestClient, world: World, db: Session) -> None:
    # The audit found "starts_at → 2026-12-08T02:00:00+00:00", "状态 → in_service", "医院 → 3", "internal → false".
    db.add(AuditLog(at=datetime(2026, 3, 2, 1, 30, tzinfo=UTC), actor_id=world.users["admin"], actor_label="admin",
                    action="update", entity="device", entity_id=world.devices_a[0], hospital_id=world.hospital_a,
                    before={"status": "in_service", "hospital_id": world.hospital_a, "category": "chemistry",
                            "is_key": False, "metric": "incubator_temp"},
                    after={"status": "under_repair", "hospital_id": world.hospital_b, "category": "hematology",
                           "is_key": True, "metric": "reaction_disk_temp",
                           "starts_at": "2026-12-08T02:00:00+00:00"}))
    db.commit()
    params = {"entity": "device", "since": "2026-03-02T00:00", "until": "2026-03-03T00:00"}
    page = client.get("/admin/audit", params=params, headers=world.headers("admin")).text
    [cell] = _sheet(client.get("/admin/exports/audit.xlsx", params=params, headers=world.headers("admin")))[1:]
    for shown in (page, cell[8]):
        for words in ("在用", "维修中", "上海交通大学医学院附属瑞金医院", "复旦大学附属中山医院", "生化", "血液",
                      "开始时间", "2026-12-08 10:00", "孵育", "反应盘"):
            assert words in shown, words
        for raw in ("in_service", "under_repair", "chemistry", "starts_at", "T02:00", "incubator_temp", "true"):
            assert raw not in shown, raw


def test_hospitals_gateways_groups_faults_and_alerts_export_as_the_pages_show_them(
        client: TestClient, world: World, db: Session) -> None:
    hospitals = load_workbook(io.BytesIO(client.get("/admin/exports/hospitals.xlsx",
                                                    headers=world.headers("admin")).content))
    assert hospitals.sheetnames == ["医院", "科室"]
    rows = list(hospitals["医院"].iter_rows(values_only=True))
    assert rows[0][:3] == ("医院名称", "别名", "地址")
    ruijin = next(row for row in rows[1:] if row[0] == "上海交通大学医学院附属瑞金医院")
    assert ruijin[1] == "瑞金医院" and ruijin[4] == 4 and ruijin[8] == "北京时间（UTC+8）" and ruijin[10] == "有效"
    departments = _csv(client.get("/admin/exports/hospitals.csv", params={"table": "departments"},
                                  headers=world.headers("admin")))
    assert departments[0] == ["医院", "科室", "设备", "设备组"] and len(departments) == 3

    telemetry_service.create_gateway(db, name="rj-gw", hospital_id=world.hospital_a, actor=ADMIN)
    telemetry_service.create_gateway(db, name="zs-gw", hospital_id=world.hospital_b, actor=ADMIN)
    group_service.create_group(db, data=GroupCreate(name="生化线", device_ids=world.devices_a[:2]), actor=ADMIN)
    start = datetime(2026, 4, 1, 0, 0, tzinfo=UTC)
    alert_service.save_window(db, device_id=world.devices_a[0], starts_at=start, ends_at=start + timedelta(hours=2),
                              reason="年度保养", actor=ADMIN)
    db.commit()
    gateways = _sheet(client.get("/admin/exports/gateways.xlsx", params={"hospital_id": world.hospital_a},
                                 headers=world.headers("admin")))
    assert [row[0] for row in gateways[1:]] == ["rj-gw"]  # the other hospital's gateway is filtered out
    assert gateways[1][2] == "未上报状态" and gateways[1][3] == "从未"
    groups = load_workbook(io.BytesIO(client.get("/admin/exports/groups.xlsx", headers=world.headers("agent"))
                                      .content))
    members = list(groups["组内设备"].iter_rows(values_only=True))
    assert [row[6] for row in members[1:]] == ["C702-1", "C502-1"] and members[1][2] == 1
    faults = _sheet(client.get("/admin/exports/fault-categories.xlsx", headers=world.headers("admin")))
    assert faults[0][:3] == ("顺序", "中文名称", "英文名称") and faults[1][0] == 1
    assert all(row[5] in ("使用中", "已停用") for row in faults[1:])
    windows = _sheet(client.get("/admin/exports/alerts.xlsx", headers=world.headers("admin")), "维护窗口")
    assert windows[1][0] == db.get(Device, world.devices_a[0]).system_number
    assert windows[1][3] == datetime(2026, 4, 1, 8, 0) and windows[1][5] == "年度保养"
    device = db.execute(select(Device).where(Device.serial == "C702-1")).scalar_one()
    assert device.hospital.time_zone == "Asia/Shanghai"
