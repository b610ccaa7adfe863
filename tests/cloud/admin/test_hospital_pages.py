"""Admin console, hospitals: create and edit with clear refusals, departments, invite codes; admins only."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from cloud.audit.models import AuditLog
from cloud.db import utcnow
from cloud.registry.models import Department, Device, Hospital

HTML = {"Accept": "text/html"}


def _post(client, world, path, data, user="admin"):  # noqa: ANN001, ANN202
    return client.post(path, data=data, headers={**world.headers(user), "Accept": "application/json"})


def _form(**changes: str) -> dict[str, str]:
    base = {"name": "上海市第六人民医院", "aliases": "六院, 市六医院\nlyy", "address": "上海市徐汇区宜山路600号",
            "latitude": "31.1780", "longitude": "121.4180", "geofence_radius_m": "600",
            "time_zone": "Asia/Shanghai", "hotline": "400-820-1234"}
    return {**base, **changes}


def test_admin_creates_a_hospital_with_time_zone_hotline_and_aliases(client, world, db) -> None:
    response = _post(client, world, "/admin/hospitals/new", _form())
    assert response.status_code == 200, response.text
    hospital = db.execute(select(Hospital).where(Hospital.name == "上海市第六人民医院")).scalar_one()
    assert hospital.aliases == ["六院", "市六医院", "lyy"]
    assert (hospital.time_zone, hospital.hotline, hospital.geofence_radius_m) == ("Asia/Shanghai", "400-820-1234", 600)
    assert response.json()["redirect"] == f"/admin/hospitals/{hospital.id}"
    page = client.get(f"/admin/hospitals/{hospital.id}", headers=world.headers("admin"))
    assert "400-820-1234" in page.text and "北京时间（UTC+8）" in page.text
    listing = client.get("/admin/hospitals", headers=world.headers("admin"))
    assert "上海市第六人民医院" in listing.text and "六院" in listing.text


def test_bad_input_is_refused_in_chinese_and_nothing_is_saved(client, world, db) -> None:
    cases = [
        ({"name": "复旦大学附属中山医院"}, "name", "已存在同名医院"),
        ({"latitude": "91"}, "latitude", "纬度"),
        ({"latitude": "abc"}, "latitude", "纬度"),
        ({"longitude": ""}, "latitude", "纬度和经度需同时填写"),
        ({"geofence_radius_m": "0"}, "geofence_radius_m", "半径"),
        ({"geofence_radius_m": "-5"}, "geofence_radius_m", "半径"),
        ({"time_zone": "Mars/Olympus"}, "time_zone", "未知的时区"),
        ({"hotline": "call us"}, "hotline", "服务热线"),
    ]
    before = db.execute(select(Hospital.id)).all()
    for changes, field, text in cases:
        response = _post(client, world, "/admin/hospitals/new", _form(**changes))
        assert response.status_code in (409, 422), changes
        body = response.json()
        assert text in body["detail"], (changes, body)
        assert field in {e["field"] for e in body["errors"]}, (changes, body)
    db.expire_all()
    assert db.execute(select(Hospital.id)).all() == before


def test_editing_keeps_everything_or_nothing(client, world, db) -> None:
    path = f"/admin/hospitals/{world.hospital_a}"
    bad = _post(client, world, path, _form(name="瑞金医院新名", time_zone="Nowhere/City"))
    assert bad.status_code == 422
    db.expire_all()
    assert db.get(Hospital, world.hospital_a).name == "上海交通大学医学院附属瑞金医院"
    clash = _post(client, world, path, _form(name="复旦大学附属中山医院"))
    assert clash.status_code == 409 and "已存在同名医院" in clash.json()["detail"]
    good = _post(client, world, path, _form(name="瑞金医院（总院）", time_zone="Asia/Urumqi", hotline=""))
    assert good.status_code == 200
    db.expire_all()
    hospital = db.get(Hospital, world.hospital_a)
    assert (hospital.name, hospital.time_zone, hospital.hotline) == ("瑞金医院（总院）", "Asia/Urumqi", "")
    audit = db.execute(select(AuditLog).where(AuditLog.entity == "hospital", AuditLog.action == "update")).scalars()
    assert any(row.after and row.after.get("time_zone") == "Asia/Urumqi" for row in audit)


def test_departments_are_added_renamed_and_removed_only_when_empty(client, world, db) -> None:
    added = _post(client, world, f"/admin/hospitals/{world.hospital_a}/departments", {"name": "急诊检验"})
    assert added.status_code == 200
    dup = _post(client, world, f"/admin/hospitals/{world.hospital_a}/departments", {"name": "急诊检验"})
    assert dup.status_code == 409 and "同名科室" in dup.json()["detail"]
    dept_id = db.execute(select(Department.id).where(Department.name == "急诊检验")).scalar_one()
    renamed = _post(client, world, f"/admin/departments/{dept_id}/rename", {"name": "急诊化验室"})
    assert renamed.status_code == 200
    in_use = _post(client, world, f"/admin/departments/{world.dept_a}/delete", {})
    assert in_use.status_code == 409 and "只能删除空科室" in in_use.json()["detail"]
    db.expire_all()
    assert db.get(Device, world.devices_a[0]).department_id == world.dept_a
    db.expire_all()
    assert db.get(Department, dept_id).name == "急诊化验室"
    removed = _post(client, world, f"/admin/departments/{dept_id}/delete", {})
    assert removed.status_code == 200
    db.expire_all()
    assert db.get(Department, dept_id) is None


def test_invite_codes_are_random_rotated_and_expire(client, world, db) -> None:
    first = _post(client, world, f"/admin/hospitals/{world.hospital_a}/invite", {"valid_days": "30"}).json()["code"]
    second = _post(client, world, f"/admin/hospitals/{world.hospital_a}/invite", {"valid_days": "7"}).json()["code"]
    assert first != second and len(second) == 14 and second.count("-") == 2
    db.expire_all()
    hospital = db.get(Hospital, world.hospital_a)
    assert hospital.invite_code == second
    assert timedelta(days=6) < hospital.invite_code_expires_at - utcnow() <= timedelta(days=7)
    # The old code no longer verifies; the new one does until it expires.
    old = client.post("/api/v1/auth/verify", json={"invite_code": first}, headers=world.headers("lab_new"))
    assert old.status_code == 403
    hospital.invite_code_expires_at = utcnow() - timedelta(minutes=1)
    db.commit()
    expired = client.post("/api/v1/auth/verify", json={"invite_code": second}, headers=world.headers("lab_new"))
    assert expired.status_code == 403 and "expired" in expired.json()["detail"]
    assert expired.json()["code"] == "invite_code_expired"
    page = client.get(f"/admin/hospitals/{world.hospital_a}", headers=world.headers("admin"))
    assert "已过期" in page.text
    endless = _post(client, world, f"/admin/hospitals/{world.hospital_a}/invite", {"valid_days": ""}).json()["code"]
    ok = client.post("/api/v1/auth/verify", json={"invite_code": endless}, headers=world.headers("lab_new"))
    assert ok.status_code == 200 and ok.json()["verification"] == "verified"
    revoked = _post(client, world, f"/admin/hospitals/{world.hospital_a}/invite/revoke", {})
    assert revoked.status_code == 200
    db.expire_all()
    assert db.get(Hospital, world.hospital_a).invite_code is None


def test_other_roles_get_a_clear_no_access_page_and_strangers_the_login(client, world) -> None:
    for user in ("lab_a", "engineer", "agent"):
        for path in ("/admin/hospitals", "/admin/users", "/admin/verifications", "/admin/gateways", "/admin/audit"):
            response = client.get(path, headers={**world.headers(user), **HTML}, follow_redirects=False)
            assert response.status_code == 403, (user, path)
            assert "无权访问" in response.text
    anonymous = client.get("/admin/hospitals", headers=HTML, follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login?next=/admin/hospitals")
    refused = client.post(f"/admin/hospitals/{world.hospital_a}/invite", data={}, headers=world.headers("agent"))
    assert refused.status_code == 403


def test_the_hospital_page_links_its_monthly_reports(client, world, db) -> None:  # noqa: ANN001
    # The audit found the monthly report reachable only by typing its address or from a notification.
    from datetime import datetime
    from zoneinfo import ZoneInfo

    now = datetime.now(ZoneInfo("Asia/Shanghai"))
    page = client.get(f"/admin/hospitals/{world.hospital_a}", headers=world.headers("admin")).text
    this_month = f"/reports/monthly/{world.hospital_a}/{now:%Y-%m}.pdf"
    assert "月度服务报告" in page and this_month in page and page.count(f"/reports/monthly/{world.hospital_a}/") == 6
    pdf = client.get(this_month, headers=world.headers("admin"))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
