"""Issue #12 defects a reporter meets: contact checks, the duplicate hint, group numbers, signing up outside WeChat."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cloud.audit.service import Actor
from cloud.auth.models import User
from cloud.registry.groups import create_group
from cloud.registry.schemas import GroupCreate
from cloud.telemetry import service as telemetry
from cloud.tickets.schemas import valid_phone
from protocols.telemetry import encode_batch
from tests.cloud.telemetry.conftest import T0, add_gateway, make_batch
from tests.cloud.tickets.helpers import label_code, submit
from tests.cloud.world import World

ZH = {"Accept-Language": "zh-CN"}


@pytest.mark.parametrize("phone", ["13800001111", "138 0000 1111", "+86 13800001111", "021-64041990",
                                   "0571-8888888-123", "(021)64041990", "02164041990"])
def test_mainland_mobile_and_landline_numbers_are_accepted(phone: str) -> None:
    assert valid_phone(phone)


@pytest.mark.parametrize("phone", ["abc", "12345", "12800001111", "1380000111", "021-0123", "64041990"])
def test_other_phone_numbers_are_refused(phone: str) -> None:
    assert not valid_phone(phone)


def test_anonymous_report_needs_name_and_a_real_phone(client: TestClient, world: World) -> None:
    missing = submit(client, world, reporter_name="", reporter_phone="")
    assert missing.status_code == 422
    assert {e["field"] for e in missing.json()["errors"]} == {"reporter_name", "reporter_phone"}
    wrong = submit(client, world, reporter_phone="abc")
    assert wrong.status_code == 422
    assert wrong.json()["errors"][0]["field"] == "reporter_phone"
    assert "021-64041990" in wrong.json()["errors"][0]["message"]
    assert submit(client, world, reporter_phone="021-64041990").status_code == 201
    assert submit(client, world, reporter_phone="0571-8888888-123").status_code == 201


def test_signed_in_reporter_profile_fills_the_contact(client: TestClient, world: World) -> None:
    body = submit(client, world, headers=world.headers("lab_a"), reporter_name="", reporter_phone="")
    assert body.status_code == 201
    assert body.json()["ticket"]["reporter_name"] == "lab_a"
    # A signed-in user's own phone is still checked when they type one.
    assert submit(client, world, headers=world.headers("lab_a"), reporter_phone="abc").status_code == 422


def test_report_form_marks_the_contact_fields_and_fills_them_from_the_profile(client: TestClient,
                                                                               world: World) -> None:
    code = label_code(client, world, world.devices_a[0])
    page = client.get(f"/r/{code}", headers=ZH).text
    zh_message = json.dumps("请填写正确的手机号")[1:-1]  # the form's texts travel as JSON in the page
    assert 'id="err-reporter_phone"' in page and ("请填写正确的手机号" in page or zh_message in page)
    signed_in = client.get(f"/r/{code}", headers={**ZH, **world.headers("lab_a")}).text
    assert 'name="reporter_name" maxlength="100" value="lab_a"' in signed_in


def test_open_ticket_is_shown_on_the_repair_page_and_information_added_to_it(client: TestClient,
                                                                            world: World) -> None:
    code = label_code(client, world, world.devices_a[0])
    assert "已有报修处理中" not in client.get(f"/r/{code}", headers=ZH).text
    ticket = submit(client, world).json()["ticket"]
    page = client.get(f"/r/{code}", headers=ZH).text
    assert "已有报修处理中" in page and ticket["number"] in page and "已提交，等待受理" in page
    # Another device of the same hospital has no hint.
    assert "已有报修处理中" not in client.get(f"/r/{label_code(client, world, world.devices_a[1])}", headers=ZH).text
    added = client.post(f"/r/{code}/add-info", data={"number": ticket["number"], "text": "又出现 E-05 报警",
                                                    "name": "王老师"}, follow_redirects=False)
    assert added.status_code == 303 and f"added={ticket['number']}" in added.headers["location"]
    timeline = client.get(f"/api/v1/tickets/{ticket['id']}", headers=world.headers("agent")).json()["timeline"]
    assert timeline[-1]["action"] == "add_info" and "E-05" in timeline[-1]["text"] and "王老师" in timeline[-1]["text"]
    # Submitting anyway still opens a second ticket.
    assert submit(client, world).status_code == 201


def test_add_info_after_the_ticket_closed_opens_nothing(client: TestClient, world: World) -> None:
    code = label_code(client, world, world.devices_a[0])
    ticket = submit(client, world).json()["ticket"]
    client.post(f"/api/v1/tickets/{ticket['id']}/actions", json={"action": "cancel", "reason": "误报"},
                headers=world.headers("agent"))
    back = client.post(f"/r/{code}/add-info", data={"number": ticket["number"], "text": "x"}, follow_redirects=False)
    assert back.status_code == 303 and "added" not in back.headers["location"]


def test_group_numbers_lead_to_the_group_page_with_repairs_per_member(client: TestClient, world: World,
                                                                     db: Session) -> None:
    group = create_group(db, data=GroupCreate(name="生化免疫流水线", device_ids=world.devices_a[:3]),
                         actor=Actor.system("test"))
    db.commit()
    number = group.system_number
    assert number.startswith("MG-")
    submit(client, world, device_id=world.devices_a[1], description="E801 试剂针堵塞")
    whole = submit(client, world, device_id=None, group_id=group.id, description="整线轨道卡管",
                   headers=world.headers("lab_a"))
    assert whole.status_code == 201, whole.text
    for typed in (number, number.lower().replace("-", " ")):
        response = client.post("/report", data={"number": typed}, headers=world.headers("lab_a"),
                               follow_redirects=False)
        assert response.status_code == 303, typed
    page = client.get(response.headers["location"], headers=ZH).text
    assert "各成员设备近期维修" in page and "E801 试剂针堵塞" in page and "暂无维修记录" in page
    assert "整线轨道卡管" in page


def test_report_by_hospital_outside_wechat_offers_sign_in_and_register(client: TestClient, world: World) -> None:
    first = client.get("/report/hospital", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"].startswith("/login/reporter")
    page = client.get(first.headers["location"], headers=ZH).text
    assert "注册检验科账号" in page and 'action="/login"' in page and "邀请码" in page


def test_self_registration_with_the_invite_code_is_verified_and_signed_in(client: TestClient, world: World) -> None:
    bad = client.post("/register", headers=ZH, data={"full_name": "周医生", "phone": "abc", "invite_code": "NOPE",
                                                     "username": "zhou", "password": "long-enough-pw"})
    assert bad.status_code == 422 and "请填写正确的手机号" in bad.text and "邀请码不存在" in bad.text
    good = client.post("/register", data={"full_name": "周医生", "phone": "13900001111", "invite_code": "RJ-INVITE",
                                          "username": "zhou", "password": "long-enough-pw",
                                          "next": "/report/hospital"}, follow_redirects=False)
    assert good.status_code == 303 and good.headers["location"] == "/report/hospital"
    page = client.get("/report/hospital", headers=ZH)
    assert page.status_code == 200 and 'id="hospital-q"' in page.text  # verified: the search is there
    taken = client.post("/register", headers=ZH, data={"full_name": "x", "phone": "13900001111",
                                                       "hospital": "瑞金", "username": "zhou",
                                                       "password": "long-enough-pw"})
    assert taken.status_code == 422 and "已被使用" in taken.text


def test_unverified_lab_user_binds_with_the_invite_code(client: TestClient, world: World) -> None:
    headers = {**ZH, **world.headers("lab_new")}
    page = client.get("/report/hospital", headers=headers).text
    assert 'action="/report/bind"' in page
    wrong = client.post("/report/bind", data={"invite_code": "ZS-INVITE"}, headers=headers)
    assert wrong.status_code == 403 and "邀请码不正确" in wrong.text
    right = client.post("/report/bind", data={"invite_code": "RJ-INVITE"}, headers=headers, follow_redirects=False)
    assert right.status_code == 303
    assert client.get("/api/v1/auth/me", headers=world.headers("lab_new")).json()["verification"] == "verified"


def test_geofence_refusal_carries_the_numbers_for_the_page(client: TestClient, world: World) -> None:
    far = {"latitude": 39.9, "longitude": 116.4}  # Beijing
    response = client.post(f"/api/v1/hospitals/{world.hospital_a}/nearby-devices", json=far,
                           headers=world.headers("lab_a"))
    assert response.status_code == 403
    body = response.json()
    assert body["code"] == "outside_geofence" and body["distance_m"] > 1_000_000 and body["radius_m"] == 800


def test_timeline_names_people_by_full_name(client: TestClient, world: World, db: Session) -> None:
    agent = db.get(User, world.users["agent"])
    agent.full_name = "王晓燕"
    db.commit()
    ticket = submit(client, world).json()["ticket"]
    client.post(f"/api/v1/tickets/{ticket['id']}/actions", json={"action": "note", "text": "已电话联系"},
                headers=world.headers("agent"))
    timeline = client.get(f"/api/v1/tickets/{ticket['id']}", headers=world.headers("agent")).json()["timeline"]
    assert timeline[0]["actor"] == "reporter-link" and timeline[0]["actor_name"] is None
    assert timeline[-1]["actor_name"] == "王晓燕"


def test_engineer_page_carries_its_texts_in_chinese(client: TestClient, world: World) -> None:
    ticket = submit(client, world).json()["ticket"]
    page = client.get(f"/engineer/tickets/{ticket['id']}", headers={**ZH, **world.headers("engineer")}).text
    for text in ("在地图中打开", "设备维修历史", "确认接单", "维修后", "无法识别这张照片"):
        assert text in page or json.dumps(text)[1:-1] in page, text


def test_chart_shows_metric_names_and_units_not_keys(client: TestClient, world: World, db: Session) -> None:
    gateway = add_gateway(db, world.hospital_a)
    telemetry.map_device(db, gateway_id=gateway.id, device_key="k1", device_id=world.devices_a[0],
                         actor=Actor.system("test"))
    db.commit()
    body = encode_batch(make_batch(gateway.name, readings=[("k1", "reaction_disk_temp", 37.1, T0)], events=[]))
    assert client.post("/api/v1/ingest", content=body,
                       headers={**gateway.headers, "Content-Type": "application/json"}).status_code == 200
    page = client.get(f"/devices/{world.devices_a[0]}/chart", headers={**ZH, **world.headers("engineer")}).text
    assert "反应盘温度 (°C)" in page and ">reaction_disk_temp<" not in page
    assert "chart-phone" in page  # the engineer's phone layout


def test_my_devices_and_the_repair_page_speak_chinese(client: TestClient, world: World) -> None:
    page = client.get("/my/devices", headers={**ZH, **world.headers("lab_a")}).text
    assert '"report": "\\u62a5\\u4fee"' in page or '"report": "报修"' in page  # the button says 报修, not Report
    landing = client.get(f"/r/{label_code(client, world, world.devices_a[0])}", headers=ZH).text
    assert ">in_service<" not in landing and "在用" in landing


def test_metrics_have_display_names_and_units() -> None:
    from cloud.telemetry.catalog import METRIC_UNITS, metric_label

    assert metric_label("reaction_disk_temp") == "反应盘温度" and METRIC_UNITS["reaction_disk_temp"] == "°C"
    assert metric_label("wash_pressure", "en") == "Wash pressure"
    assert metric_label("wash_pressure", "zh-CN") == "清洗压力"
    assert metric_label("vendor_special_x", "zh-CN") == "vendor_special_x"  # unknown: the key is all there is
