"""Service groups through the HTTP API: membership, refusal, paging, unread, live fan-out, notices, tickets."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from starlette.websockets import WebSocketDisconnect

from cloud.auth.models import User
from cloud.notify.channels import RecordingChannel
from cloud.servicegroups import service
from cloud.servicegroups.models import ServiceGroupMember
from cloud.tickets.models import Ticket, TicketAttachment
from tests.cloud.tickets.helpers import png_bytes, upload, webm_bytes
from tests.cloud.world import World

GROUPS = "/api/v1/service-groups"


def _group_of(client: TestClient, world: World, user: str = "lab_a") -> dict[str, Any]:
    response = client.get(GROUPS, headers=world.headers(user))
    assert response.status_code == 200, response.text
    groups = response.json()
    assert len(groups) == 1
    return dict(groups[0])


def _post(client: TestClient, world: World, group_id: int, user: str, text: str, **body: Any) -> dict[str, Any]:
    response = client.post(f"{GROUPS}/{group_id}/messages", headers=world.headers(user),
                           json={"text": text, **body})
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_verified_lab_user_is_in_the_hospital_group_with_bot_desk_and_engineer(client: TestClient,
                                                                               world: World) -> None:
    group = _group_of(client, world)
    assert group["hospital_id"] == world.hospital_a and group["name"].endswith("服务群")
    members = client.get(f"{GROUPS}/{group['id']}/members", headers=world.headers("lab_a")).json()
    kinds = {(m["kind"], m["user_id"]) for m in members}
    assert ("bot", None) in kinds
    assert {("agent", world.users["agent"]), ("service_center", world.users["center"]),
            ("engineer", world.users["engineer"]), ("lab_user", world.users["lab_a"])} <= kinds


def test_unverified_lab_user_is_refused_and_joins_on_verification(client: TestClient, world: World,
                                                                  db: Any) -> None:
    group = _group_of(client, world)
    refused = client.get(GROUPS, headers=world.headers("lab_new"))
    assert refused.status_code == 403 and "验证" in refused.json()["detail"]
    assert client.get(f"{GROUPS}/{group['id']}/messages", headers=world.headers("lab_new")).status_code == 403
    assert client.post("/api/v1/auth/verify", headers=world.headers("lab_new"),
                       json={"invite_code": "RJ-INVITE"}).status_code == 200
    # Joined by the user.verified event, before ever opening the page.
    member = service.member_of(db, group_id=group["id"], user_id=world.users["lab_new"])
    assert member is not None and member.kind.value == "lab_user"


def test_another_hospitals_group_does_not_exist_for_a_lab_user(client: TestClient, world: World) -> None:
    group = _group_of(client, world)
    assert client.get(f"{GROUPS}/{group['id']}", headers=world.headers("lab_b")).status_code == 404
    assert client.post(f"{GROUPS}/{group['id']}/messages", headers=world.headers("lab_b"),
                       json={"text": "hi"}).status_code == 404
    assert client.get("/api/v1/service-groups/99999", headers=world.headers("agent")).status_code == 404


def test_history_pages_backwards_and_unread_counts_per_member(client: TestClient, world: World) -> None:
    group_id = _group_of(client, world)["id"]
    # The engineer writes (the bot answers lab users only, so no answers land in between).
    ids = [_post(client, world, group_id, "engineer", f"第{i}条：c702 反应盘温度已复查")["id"] for i in range(35)]
    page = client.get(f"{GROUPS}/{group_id}/messages?limit=20", headers=world.headers("agent")).json()
    assert [m["id"] for m in page["items"]] == ids[-20:] and page["more"] is True
    older = client.get(f"{GROUPS}/{group_id}/messages?limit=20&before_id={ids[-20]}",
                       headers=world.headers("agent")).json()
    assert [m["id"] for m in older["items"]] == ids[:15] and older["more"] is False
    mine = next(g for g in client.get(GROUPS, headers=world.headers("engineer")).json()
                if g["id"] == group_id)
    assert mine["unread"] == 0  # one's own messages are read
    assert _group_of(client, world, "lab_a")["unread"] == 35
    desk = next(g for g in client.get(GROUPS, headers=world.headers("agent")).json() if g["id"] == group_id)
    assert desk["unread"] == 35
    read = client.post(f"{GROUPS}/{group_id}/read", headers=world.headers("agent"), json={"message_id": ids[29]})
    assert read.json() == {"last_read_message_id": ids[29], "unread": 5}


def test_empty_and_oversized_messages_are_refused(client: TestClient, world: World) -> None:
    group_id = _group_of(client, world)["id"]
    empty = client.post(f"{GROUPS}/{group_id}/messages", headers=world.headers("lab_a"), json={"text": "  "})
    assert empty.status_code == 422 and "空" in empty.json()["detail"]
    huge = client.post(f"{GROUPS}/{group_id}/messages", headers=world.headers("lab_a"), json={"text": "x" * 4001})
    assert huge.status_code == 422
    forged = client.post(f"{GROUPS}/{group_id}/messages", headers=world.headers("lab_a"),
                         json={"kind": "photo", "attachments": [{"id": 1, "key": "not-the-key"}]})
    assert forged.status_code == 422


def test_a_message_reaches_the_desk_socket_and_not_another_hospital(client: TestClient, world: World) -> None:
    group_id = _group_of(client, world)["id"]
    with client.websocket_connect("/ws/groups", headers=world.headers("agent")) as desk:
        assert desk.receive_json()["type"] == "hello"
        with client.websocket_connect(f"/ws/groups?group_id={group_id}",
                                      headers=world.headers("lab_a")) as phone:
            assert phone.receive_json()["group_id"] == group_id
            posted = _post(client, world, group_id, "lab_a", "E801 提示 试剂针堵塞")
            pushed = desk.receive_json()
            assert pushed["type"] == "group.message" and pushed["message"]["id"] == posted["id"]
            assert pushed["message"]["author"]["name"] == "lab_a"
            assert phone.receive_json()["message"]["text"] == "E801 提示 试剂针堵塞"
    with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect(
            f"/ws/groups?group_id={group_id}", headers=world.headers("lab_b")) as ws:
        ws.receive_json()
    assert refused.value.code == 4404
    with pytest.raises(WebSocketDisconnect) as unverified, client.websocket_connect(
            f"/ws/groups?group_id={group_id}", headers=world.headers("lab_new")) as ws:
        ws.receive_json()
    assert unverified.value.code == 4403


def _drain_bot(app: Any) -> None:
    """Let the bot (cloud/bot, answering on its own threads) finish, so its answers do not race the test."""
    flows = getattr(app.state, "bot_flows", None)
    if flows is not None:
        flows.drain()


def _chat_notices(recording: RecordingChannel) -> list[Any]:
    return [m for m in recording.sent if m.kind == "servicegroup.message"]


def test_offline_members_are_told_once_per_ten_minutes_and_never_of_the_bots_answers(
        client: TestClient, world: World, recording: RecordingChannel, db: Any, app: Any) -> None:
    group_id = _group_of(client, world)["id"]
    _post(client, world, group_id, "lab_a", "XN-1000 吸样报警")
    _post(client, world, group_id, "lab_a", "还有一张照片稍后发")
    _drain_bot(app)
    to_agent = [m for m in _chat_notices(recording) if m.user_id == world.users["agent"]]
    assert len(to_agent) == 1 and to_agent[0].link == f"/console?group={group_id}"
    assert "XN-1000" in to_agent[0].body
    assert not [m for m in _chat_notices(recording) if m.user_id == world.users["lab_a"]
                and "lab_a：" in m.body]  # never of their own messages
    recording.sent.clear()
    # The bot answers: staff hear nothing; the asker (offline now) is told.
    for member in db.execute(select(ServiceGroupMember).where(ServiceGroupMember.group_id == group_id)).scalars():
        member.notified_at = None
        member.seen_at = None
    db.commit()
    service.post_message(db, group_id=group_id, author_user_id=None, kind="bot", text="请先执行清洗程序",
                         as_bot=True, meta={"ask_id": 1, "materials": []})
    db.commit()
    assert {m.user_id for m in _chat_notices(recording)} == {world.users["lab_a"]}


def test_a_photo_and_voice_message_becomes_a_ticket_in_one_action(client: TestClient, world: World,
                                                                   db: Any) -> None:
    group_id = _group_of(client, world)["id"]
    photo = upload(client, "photo", png_bytes(), ).json()
    voice = upload(client, "voice", webm_bytes(), duration_s=4).json()
    message = _post(client, world, group_id, "lab_a", "c702 报警 E-32", device_id=world.devices_a[0],
                    attachments=[{"id": photo["id"], "key": photo["key"]},
                                 {"id": voice["id"], "key": voice["key"], "transcript": "钾离子结果偏高"}])
    assert message["kind"] == "photo" and len(message["attachments"]) == 2
    assert message["transcript"] == "钾离子结果偏高"
    file = client.get(message["attachments"][0]["url"], headers=world.headers("agent"))
    assert file.status_code == 200 and file.headers["content-type"] == "image/png"
    refused = client.post(f"{GROUPS}/{group_id}/messages/{message['id']}/ticket",
                          headers=world.headers("lab_a"), json={})
    assert refused.status_code == 403
    made = client.post(f"{GROUPS}/{group_id}/messages/{message['id']}/ticket",
                       headers=world.headers("agent"), json={})
    assert made.status_code == 200, made.text
    ticket = db.get(Ticket, made.json()["ticket_id"])
    assert ticket.device_id == world.devices_a[0] and ticket.reporter_user_id == world.users["lab_a"]
    assert "E-32" in ticket.description
    assert {a.id for a in db.execute(select(TicketAttachment).where(
        TicketAttachment.ticket_id == ticket.id)).scalars()} == {photo["id"], voice["id"]}
    again = client.post(f"{GROUPS}/{group_id}/messages/{message['id']}/ticket",
                        headers=world.headers("agent"), json={})
    assert again.json()["ticket_id"] == ticket.id and again.json()["created"] is False
    last = client.get(f"{GROUPS}/{group_id}/messages", headers=world.headers("lab_a")).json()["items"]
    assert last[-1]["kind"] == "system" and ticket.number in last[-1]["text"]
    assert last[-2]["ticket_number"] == ticket.number


def test_a_message_without_device_asks_for_one(client: TestClient, world: World) -> None:
    group_id = _group_of(client, world)["id"]
    message = _post(client, world, group_id, "lab_a", "仪器坏了")
    answer = client.post(f"{GROUPS}/{group_id}/messages/{message['id']}/ticket",
                         headers=world.headers("agent"), json={})
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "device_id"
    other = client.post(f"{GROUPS}/{group_id}/messages/{message['id']}/ticket",
                        headers=world.headers("agent"), json={"device_id": world.devices_b[0]})
    assert other.status_code == 422


def test_a_requested_group_is_created_on_approval_and_a_claim_joins_it(client: TestClient, world: World,
                                                                       db: Any) -> None:
    _group_of(client, world)
    asked = client.post(f"{GROUPS}/requests", headers=world.headers("lab_a"),
                        json={"kind": "department", "department_id": world.dept_a, "reason": "检验科设备多，单独建群"})
    assert asked.status_code == 201, asked.text
    twice = client.post(f"{GROUPS}/requests", headers=world.headers("lab_a"),
                        json={"kind": "department", "department_id": world.dept_a, "reason": "again"})
    assert twice.status_code == 409
    assert client.post(f"{GROUPS}/requests/{asked.json()['id']}/decision", headers=world.headers("agent"),
                       json={"approve": True}).status_code == 403
    approved = client.post(f"{GROUPS}/requests/{asked.json()['id']}/decision",
                           headers=world.headers("admin"), json={"approve": True})
    assert approved.json()["status"] == "approved"
    new_group = approved.json()["group_id"]
    assert service.member_of(db, group_id=new_group, user_id=world.users["lab_a"]) is not None
    # Another verified user of the hospital joins the department's group by claiming a device of it.
    client.post("/api/v1/auth/verify", headers=world.headers("lab_new"), json={"invite_code": "RJ-INVITE"})
    assert service.member_of(db, group_id=new_group, user_id=world.users["lab_new"]) is None
    claimed = client.post("/api/v1/me/claims", headers=world.headers("lab_new"),
                          json={"device_id": world.devices_a[1]})
    assert claimed.status_code == 201, claimed.text
    db.expire_all()
    assert service.member_of(db, group_id=new_group, user_id=world.users["lab_new"]) is not None


def test_an_engineer_who_stops_serving_a_hospital_leaves_its_group_behind(
        client: TestClient, world: World, recording: RecordingChannel, db: Any, app: Any) -> None:
    group_id = _group_of(client, world)["id"]  # hospital A's group; the engineer (serving everyone) is a member
    assert service.member_of(db, group_id=group_id, user_id=world.users["engineer"]) is not None
    engineer = db.get(User, world.users["engineer"])
    engineer.service_hospital_ids = [world.hospital_b]  # reassigned to hospital B only
    db.commit()
    headers = world.headers("engineer")
    assert group_id not in {g["id"] for g in client.get(GROUPS, headers=headers).json()}
    for path in ("", "/messages", "/members", "/devices"):
        assert client.get(f"{GROUPS}/{group_id}{path}", headers=headers).status_code == 404, path
    assert client.post(f"{GROUPS}/{group_id}/messages", headers=headers, json={"text": "还在吗"}).status_code == 404
    with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect(
            f"/ws/groups?group_id={group_id}", headers=headers) as ws:
        ws.receive_json()
    assert refused.value.code == 4404
    recording.sent.clear()
    _post(client, world, group_id, "lab_a", "c702 反应盘温度报警")
    _drain_bot(app)
    assert world.users["engineer"] not in {m.user_id for m in _chat_notices(recording)}
    assert world.users["agent"] in {m.user_id for m in _chat_notices(recording)}
