"""Service group pages (phone and console panel) and the flows: handovers and presence."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from cloud.db import utcnow
from cloud.events import emit
from cloud.notify.channels import RecordingChannel
from cloud.servicegroups import service
from tests.cloud.world import World, sign_in_form

GROUPS = "/api/v1/service-groups"


def _sign_in(client: TestClient, username: str) -> None:
    response = sign_in_form(client, username)
    assert response.status_code == 303


def _group_id(client: TestClient, world: World) -> int:
    return int(client.get(GROUPS, headers=world.headers("lab_a")).json()[0]["id"])


def test_the_phone_pages_list_my_groups_and_open_the_chat_in_chinese(client: TestClient, world: World) -> None:
    group_id = _group_id(client, world)
    client.post(f"{GROUPS}/{group_id}/messages", headers=world.headers("agent"), json={"text": "您好，请在群里提问"})
    _sign_in(client, "lab_a")
    listing = client.get("/groups")
    assert listing.status_code == 200
    assert "服务群" in listing.text and f'href="/groups/{group_id}"' in listing.text and "g-badge" in listing.text
    chat = client.get(f"/groups/{group_id}")
    assert chat.status_code == 200 and "groupchat.js" in chat.text and "发送" in chat.text
    assert "Asia/Shanghai" in chat.text
    from_device = client.get(f"/groups/{group_id}?device_id={world.devices_a[0]}")
    assert "关于设备" in from_device.text and '"deviceId": ' + str(world.devices_a[0]) in from_device.text
    assert client.get("/groups/99999").status_code == 404
    assert "/groups" in client.get("/my/devices").text


def test_an_unverified_lab_user_sees_why_and_another_hospital_sees_nothing(client: TestClient, world: World) -> None:
    group_id = _group_id(client, world)
    _sign_in(client, "lab_new")
    page = client.get(f"/groups/{group_id}")
    assert page.status_code == 403 and "邀请码" in page.text
    _sign_in(client, "lab_b")
    assert client.get(f"/groups/{group_id}").status_code == 404


def test_the_console_has_the_groups_panel(client: TestClient, world: World) -> None:
    _sign_in(client, "admin")
    page = client.get("/console")
    assert page.status_code == 200
    assert 'id="groups-panel"' in page.text and "console_groups.js" in page.text and "建群申请" in page.text


def test_a_handover_in_a_group_tells_the_desk_at_once(app: Any, client: TestClient, world: World,
                                                      recording: RecordingChannel, db: Any) -> None:
    group_id = _group_id(client, world)
    answer = service.post_message(db, group_id=group_id, author_user_id=None, kind="bot", as_bot=True,
                                  text="请执行 ISE 清洗", meta={"ask_id": 4242, "handoff": False, "materials": []})
    db.commit()
    emit(db, "bot.handoff", ask_id=4242, conversation_id="g1", group_id=group_id, hospital_id=world.hospital_a,
         device_id=None, text="c702 的 ISE 模块一直报 E-32", urgent=False)
    db.commit()
    told = {m.user_id: m for m in recording.sent if m.kind == "bot.handoff"}
    assert set(told) >= {world.users["agent"], world.users["center"]}
    assert told[world.users["agent"]].link == f"/console?group={group_id}" and "E-32" in told[world.users["agent"]].body
    db.refresh(answer)
    assert answer.meta["handoff"] is True  # "没解决" after this answer: it stays highlighted in the console


def test_a_member_with_the_chat_open_is_not_told_offline(client: TestClient, world: World,
                                                         recording: RecordingChannel, db: Any) -> None:
    group_id = _group_id(client, world)
    member = service.member_of(db, group_id=group_id, user_id=world.users["engineer"])
    assert member is not None
    member.seen_at = utcnow()  # the engineer's chat page pinged a moment ago
    db.commit()
    client.post(f"{GROUPS}/{group_id}/messages", headers=world.headers("agent"), json={"text": "请工程师看一下"})
    told = {m.user_id for m in recording.sent if m.kind == "servicegroup.message"}
    assert world.users["engineer"] not in told and world.users["lab_a"] in told
