"""The repair flow through the API: submit, answer, escalate, dispatch, accept, complete, confirm, rate."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.cloud.tickets.helpers import act, png_bytes, reporter, submit, upload, webm_bytes
from tests.cloud.world import World


def test_anonymous_report_with_photo_and_voice_reaches_the_desk(client: TestClient, world: World) -> None:
    photo = upload(client, "photo", png_bytes()).json()
    voice = upload(client, "voice", webm_bytes(), duration_s=12, transcript="反应盘温度高").json()
    response = submit(client, world, attachments=[{"id": photo["id"], "key": photo["key"]},
                                                  {"id": voice["id"], "key": voice["key"]}])
    assert response.status_code == 201, response.text
    body = response.json()
    ticket = body["ticket"]
    assert ticket["number"].startswith("WO-") and ticket["status"] == "submitted"
    assert ticket["priority"] == 1  # high urgency on a chemistry analyzer
    assert [a["kind"] for a in ticket["attachments"]] == ["photo", "voice"]
    assert ticket["attachments"][1]["transcript"] == "反应盘温度高"
    assert body["reporter_url"].endswith(f"/t/{ticket['number']}?k={body['reporter_key']}")
    desk = client.get(f"/api/v1/tickets/{ticket['id']}", headers=world.headers("agent")).json()
    assert desk["reporter_phone"] == "13800001111"
    assert set(desk["allowed_actions"]) >= {"answer", "escalate", "dispatch", "cancel", "note"}
    image = client.get(desk["attachments"][0]["url"], headers=world.headers("agent"))
    assert image.status_code == 200 and image.content == png_bytes()


def test_the_reporter_link_shows_the_ticket_without_staff_details(client: TestClient, world: World) -> None:
    body = submit(client, world).json()
    ticket_id, key = body["ticket"]["id"], body["reporter_key"]
    act(client, ticket_id, world.headers("agent"), "note", text="内部：疑似温控板故障")
    seen = client.get(f"/api/v1/tickets/{ticket_id}", headers=reporter(key)).json()
    assert seen["reporter_phone"] is None
    assert [e["action"] for e in seen["timeline"]] == ["submit"]  # the internal note stays internal
    assert client.get(f"/api/v1/tickets/{ticket_id}", headers=reporter("not-the-key")).status_code == 404
    assert client.get(f"/api/v1/tickets/{ticket_id}").status_code == 404


def test_full_dispatch_path_to_a_rated_closed_ticket(client: TestClient, world: World) -> None:
    body = submit(client, world).json()
    tid, rep = body["ticket"]["id"], reporter(body["reporter_key"])
    agent, engineer = world.headers("agent"), world.headers("engineer")
    suggestions = client.get(f"/api/v1/tickets/{tid}/engineers", headers=agent).json()
    assert suggestions[0]["id"] == world.users["engineer"]
    dispatched = act(client, tid, agent, "dispatch", engineer_id=world.users["engineer"]).json()
    assert dispatched["status"] == "dispatched" and dispatched["engineer_name"] == "engineer"
    assert dispatched["first_responded_at"] is not None
    mine = client.get("/api/v1/tickets?mine=true", headers=engineer).json()
    assert [t["id"] for t in mine["items"]] == [tid]
    assert act(client, tid, engineer, "accept").json()["status"] == "accepted"
    assert act(client, tid, engineer, "arrive").json()["status"] == "on_site"
    done = act(client, tid, engineer, "complete", findings="更换反应盘温控传感器", parts_used="温控传感器 x1",
               fault_category="temperature_control")
    assert done.json()["status"] == "resolved" and done.json()["resolved_at"] is not None
    assert act(client, tid, rep, "confirm").json()["status"] == "closed"
    rated = act(client, tid, rep, "rate", rating_overall=5, rating_speed=4, rating_attitude=5, rating_skill=5,
                rating_comment="很快").json()
    assert rated["rating"]["overall"] == 5
    assert act(client, tid, rep, "rate", rating_overall=1).status_code == 409
    actions = [e["action"] for e in rated["timeline"]]
    assert actions == ["submit", "dispatch", "accept", "arrive", "complete", "confirm", "rate"]


def test_remote_answer_and_service_centre_path(client: TestClient, world: World) -> None:
    tid = submit(client, world).json()["ticket"]["id"]
    assert act(client, tid, world.headers("agent"), "escalate", text="请远程中心诊断").json()["status"] == "escalated"
    answered = act(client, tid, world.headers("center"), "answer", text="已远程重启温控模块，请确认",
                   fault_category="temperature_control").json()
    assert answered["status"] == "resolved"


def test_declined_dispatch_goes_back_to_the_queue(client: TestClient, world: World) -> None:
    tid = submit(client, world).json()["ticket"]["id"]
    act(client, tid, world.headers("agent"), "dispatch", engineer_id=world.users["engineer"])
    back = act(client, tid, world.headers("engineer"), "decline", reason="今日不在上海").json()
    assert back["status"] == "submitted" and back["engineer_id"] is None


def test_invalid_action_is_409_with_the_allowed_actions(client: TestClient, world: World) -> None:
    tid = submit(client, world).json()["ticket"]["id"]
    response = act(client, tid, world.headers("agent"), "confirm")
    assert response.status_code == 409
    assert set(response.json()["allowed_actions"]) >= {"answer", "dispatch", "escalate"}
    other_engineer = act(client, tid, world.headers("engineer"), "accept")
    assert other_engineer.status_code == 409


def test_reopen_and_cancel_need_reasons(client: TestClient, world: World) -> None:
    body = submit(client, world).json()
    tid, rep = body["ticket"]["id"], reporter(body["reporter_key"])
    act(client, tid, world.headers("agent"), "answer", text="请重新装载试剂", fault_category="reagent_fluidics")
    assert act(client, tid, rep, "reopen").status_code == 422
    assert act(client, tid, rep, "reopen", reason="仍然报警").json()["status"] == "reopened"
    cancelled = act(client, tid, world.headers("agent"), "cancel", reason="重复报修").json()
    assert cancelled["status"] == "cancelled" and cancelled["cancel_reason"] == "重复报修"
    assert cancelled["allowed_actions"] == []


def test_dispatch_to_a_non_engineer_is_422(client: TestClient, world: World) -> None:
    tid = submit(client, world).json()["ticket"]["id"]
    response = act(client, tid, world.headers("agent"), "dispatch", engineer_id=world.users["agent"])
    assert response.status_code == 422
