"""The desk's actions: reply (not a resolution), resolve remotely, reassign, merge duplicates, and refusals."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cloud.audit.service import Actor
from cloud.auth.models import Role
from cloud.auth.service import create_user, issue_token
from cloud.notify.channels import RecordingChannel
from tests.cloud.tickets.helpers import act, png_bytes, reporter, submit, upload
from tests.cloud.world import PASSWORD, World


def _second_engineer(db: Session) -> tuple[int, dict[str, str]]:
    user = create_user(db, username="engineer2", password=PASSWORD, role=Role.engineer, actor=Actor.system("test"),
                       full_name="张工")
    token = issue_token(db, user=user, ttl=timedelta(days=1))
    db.commit()
    return user.id, {"Authorization": f"Bearer {token}"}


def test_reply_reaches_the_reporter_and_keeps_the_status(client: TestClient, world: World,
                                                        recording: RecordingChannel) -> None:
    body = submit(client, world, headers=world.headers("lab_a")).json()
    ticket = body["ticket"]
    replied = act(client, ticket["id"], world.headers("agent"), "reply", text="请拍一张报警界面的照片发给我们")
    assert replied.status_code == 200, replied.text
    assert replied.json()["status"] == "submitted"
    assert replied.json()["first_responded_at"] is not None  # a reply is the desk's first response
    message = next(m for m in recording.sent if m.kind == "ticket.reply")
    assert message.user_id == world.users["lab_a"] and "请拍一张报警界面的照片" in message.body
    assert message.link == f"/t/{ticket['number']}"
    seen = client.get(f"/api/v1/tickets/{ticket['id']}", headers=world.headers("lab_a")).json()
    assert [(e["action"], e["text"]) for e in seen["timeline"]][-1] == ("reply", "请拍一张报警界面的照片发给我们")
    assert "reply" not in seen["allowed_actions"]
    assert act(client, ticket["id"], world.headers("agent"), "reply", text=" ").status_code == 422
    assert act(client, ticket["id"], world.headers("lab_a"), "reply", text="我自己回复").status_code == 409


def test_resolve_remotely_is_its_own_action(client: TestClient, world: World) -> None:
    body = submit(client, world).json()
    answered = act(client, body["ticket"]["id"], world.headers("agent"), "answer", text="已远程修改参数",
                   fault_category="communication_software")
    assert answered.json()["status"] == "resolved" and answered.json()["tier"] == "remote"
    still = act(client, body["ticket"]["id"], world.headers("agent"), "reply", text="请做质控后再上机")
    assert still.json()["status"] == "resolved"


def test_reassign_hands_the_ticket_to_another_engineer(client: TestClient, world: World, db: Session,
                                                       recording: RecordingChannel) -> None:
    second, second_headers = _second_engineer(db)
    ticket = submit(client, world, headers=world.headers("lab_a")).json()["ticket"]
    agent = world.headers("agent")
    act(client, ticket["id"], agent, "dispatch", engineer_id=world.users["engineer"])
    act(client, ticket["id"], world.headers("engineer"), "accept")
    moved = act(client, ticket["id"], agent, "reassign", engineer_id=second, text="原工程师休假")
    assert moved.status_code == 200, moved.text
    assert (moved.json()["status"], moved.json()["engineer_id"], moved.json()["engineer_name"]) == \
        ("dispatched", second, "张工")
    sent = {(m.user_id, m.kind, m.title) for m in recording.sent if m.kind == "ticket.reassign"}
    assert (second, "ticket.reassign", "新派工") in sent
    assert (world.users["engineer"], "ticket.reassign", "工单已改派") in sent
    assert (world.users["lab_a"], "ticket.reassign", "已更换工程师") in sent
    # The former engineer can no longer act; the new one accepts.
    assert act(client, ticket["id"], world.headers("engineer"), "arrive").status_code in (404, 409)
    assert act(client, ticket["id"], second_headers, "accept").json()["status"] == "accepted"
    assert act(client, ticket["id"], agent, "reassign", engineer_id=second).status_code == 422  # the same one
    assert act(client, ticket["id"], world.headers("lab_a"), "reassign",
               engineer_id=world.users["engineer"]).status_code == 409


def test_reassign_needs_a_dispatched_ticket(client: TestClient, world: World) -> None:
    ticket = submit(client, world).json()["ticket"]
    refused = act(client, ticket["id"], world.headers("agent"), "reassign", engineer_id=world.users["engineer"])
    assert refused.status_code == 409 and "dispatch" in refused.json()["allowed_actions"]


def test_merge_folds_the_newer_duplicate_into_the_older(client: TestClient, world: World,
                                                        recording: RecordingChannel) -> None:
    older = submit(client, world, headers=world.headers("lab_a")).json()["ticket"]
    photo = upload(client, "photo", png_bytes()).json()
    newer_body = submit(client, world, description="同一台仪器又报警了",
                        attachments=[{"id": photo["id"], "key": photo["key"]}]).json()
    newer = newer_body["ticket"]
    merged = client.post(f"/api/v1/tickets/{older['id']}/merge", json={"other_id": newer["id"]},
                         headers=world.headers("agent"))
    assert merged.status_code == 200, merged.text
    kept, gone = merged.json()["kept"], merged.json()["merged"]
    assert kept["id"] == older["id"] and kept["status"] == "submitted"
    assert gone["id"] == newer["id"] and gone["status"] == "merged" and gone["tier"] is None
    assert gone["resolved_at"] is None and gone["closed_at"] is None  # never counted as solved
    assert [a["id"] for a in kept["attachments"]] == [photo["id"]]
    assert kept["timeline"][-1]["details"]["merged_from"] == newer["number"]
    assert kept["timeline"][-1]["text"] == "同一台仪器又报警了"
    # ... as information the reporters read, not an internal note, and no answer to the kept ticket's reporter
    assert kept["timeline"][-1]["action"] == "add_info" and not kept["timeline"][-1].get("internal")
    assert kept["first_responded_at"] is None
    own = client.get(f"/api/v1/tickets/{older['id']}", headers=world.headers("lab_a")).json()
    assert "同一台仪器又报警了" in [step["text"] for step in own["timeline"]]
    assert gone["timeline"][-1]["action"] == "merge" and gone["timeline"][-1]["text"] == older["number"]
    assert gone["allowed_actions"] == []
    # The reporter of the merged ticket still follows it by its link and sees where it went.
    seen = client.get(f"/api/v1/tickets/{newer['id']}", headers=reporter(newer_body["reporter_key"])).json()
    assert seen["status"] == "merged" and seen["timeline"][-1]["text"] == older["number"]
    tiers = client.get("/api/v1/tickets/tiers", headers=world.headers("agent")).json()
    assert tiers["total"] == 0
    # Merging the other way round keeps the older one too.
    again = submit(client, world).json()["ticket"]
    kept_again = client.post(f"/api/v1/tickets/{again['id']}/merge", json={"other_id": older["id"]},
                             headers=world.headers("center")).json()["kept"]
    assert kept_again["id"] == older["id"]
    assert any(m.kind == "ticket.merge" for m in recording.sent) is False  # anonymous reporters: the link only


def test_merge_tells_a_signed_in_reporter(client: TestClient, world: World, recording: RecordingChannel) -> None:
    older = submit(client, world).json()["ticket"]
    newer = submit(client, world, headers=world.headers("lab_a")).json()["ticket"]
    client.post(f"/api/v1/tickets/{newer['id']}/merge", json={"other_id": older["id"]}, headers=world.headers("agent"))
    told = [m for m in recording.sent if m.kind == "ticket.merge"]
    assert [m.user_id for m in told] == [world.users["lab_a"]] and older["number"] in told[0].body


def test_merge_refusals(client: TestClient, world: World) -> None:
    agent = world.headers("agent")
    a = submit(client, world, device_id=world.devices_a[0]).json()["ticket"]
    b = submit(client, world, device_id=world.devices_a[1]).json()["ticket"]
    c = submit(client, world, device_id=world.devices_a[0]).json()["ticket"]
    other_device = client.post(f"/api/v1/tickets/{a['id']}/merge", json={"other_id": b["id"]}, headers=agent)
    assert other_device.status_code == 422
    same = client.post(f"/api/v1/tickets/{a['id']}/merge", json={"other_id": a["id"]}, headers=agent)
    assert same.status_code == 422
    lab = client.post(f"/api/v1/tickets/{a['id']}/merge", json={"other_id": c["id"]}, headers=world.headers("lab_a"))
    assert lab.status_code == 403
    engineer = client.post(f"/api/v1/tickets/{a['id']}/merge", json={"other_id": c["id"]},
                           headers=world.headers("engineer"))
    assert engineer.status_code == 403
    act(client, c["id"], agent, "cancel", reason="报错了")
    closed = client.post(f"/api/v1/tickets/{a['id']}/merge", json={"other_id": c["id"]}, headers=agent)
    assert closed.status_code == 409
    # The merge action itself is never taken directly.
    d = submit(client, world, device_id=world.devices_a[0]).json()["ticket"]
    assert act(client, d["id"], agent, "merge", text=a["number"]).status_code == 409
    assert client.get(f"/api/v1/tickets/{a['id']}", headers=agent).json()["status"] == "submitted"
    assert client.get(f"/api/v1/tickets/{d['id']}", headers=agent).json()["status"] == "submitted"
