"""Live pushes over WebSocket and notifications through the channels."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from cloud.notify.channels import RecordingChannel
from cloud.notify.models import Delivery
from tests.cloud.tickets.helpers import act, submit
from tests.cloud.world import World


def _next_ticket_message(ws) -> dict:  # noqa: ANN001
    while True:
        message = ws.receive_json()
        if message.get("type") == "ticket":
            return message


def test_a_new_ticket_reaches_a_connected_console(client: TestClient, world: World) -> None:
    with client.websocket_connect("/ws/console", headers=world.headers("agent")) as ws:
        assert ws.receive_json()["type"] == "hello"
        ticket = submit(client, world).json()["ticket"]
        message = _next_ticket_message(ws)
        assert message["event"] == "ticket.submitted"
        assert message["ticket_id"] == ticket["id"] and message["number"] == ticket["number"]
        act(client, ticket["id"], world.headers("agent"), "dispatch", engineer_id=world.users["engineer"])
        assert _next_ticket_message(ws)["event"] == "ticket.dispatch"


def test_console_without_a_valid_session_is_refused(client: TestClient, world: World) -> None:
    from starlette.websockets import WebSocketDisconnect

    try:
        with client.websocket_connect("/ws/console", headers={"Authorization": "Bearer nonsense"}) as ws:
            ws.receive_json()
        raise AssertionError("the connection should have been closed")
    except WebSocketDisconnect as closed:
        assert closed.code == 4401


def test_lab_users_hear_only_their_hospital(client: TestClient, world: World) -> None:
    with client.websocket_connect("/ws/console", headers=world.headers("lab_b")) as ws:
        ws.receive_json()
        submit(client, world, device_id=world.devices_a[0])
        mine = submit(client, world, device_id=world.devices_b[0]).json()["ticket"]
        message = _next_ticket_message(ws)
        assert message["ticket_id"] == mine["id"]  # hospital A's ticket never arrived


def test_the_reporter_link_follows_its_ticket_live(client: TestClient, world: World) -> None:
    body = submit(client, world).json()
    ticket_id, key = body["ticket"]["id"], body["reporter_key"]
    with client.websocket_connect(f"/ws/tickets/{ticket_id}") as ws:
        ws.send_json({"type": "auth", "k": key})  # the link's key comes first, never in the URL
        act(client, ticket_id, world.headers("agent"), "answer", text="已远程处理", fault_category="other")
        message = ws.receive_json()
        assert (message["event"], message["status"]) == ("ticket.answer", "resolved")


def test_people_concerned_are_notified_once_per_event(client: TestClient, world: World,
                                                       recording: RecordingChannel) -> None:
    ticket = submit(client, world, headers=world.headers("lab_a")).json()["ticket"]
    act(client, ticket["id"], world.headers("agent"), "dispatch", engineer_id=world.users["engineer"])
    kinds = {(m.user_id, m.kind) for m in recording.sent}
    assert (world.users["lab_a"], "ticket.submitted") in kinds
    assert (world.users["engineer"], "ticket.dispatch") in kinds
    assert (world.users["lab_a"], "ticket.dispatch") in kinds
    engineer_msg = next(m for m in recording.sent if m.user_id == world.users["engineer"])
    assert ticket["number"] in engineer_msg.body and engineer_msg.link == f"/engineer/tickets/{ticket['id']}"
    inbox = client.get("/api/v1/notifications", headers=world.headers("engineer")).json()
    assert [n["kind"] for n in inbox] == ["ticket.dispatch"]
    marked = client.post("/api/v1/notifications/read", json={"ids": [inbox[0]["id"]]},
                         headers=world.headers("engineer")).json()
    assert marked == {"marked": 1}
    assert client.get("/api/v1/notifications", headers=world.headers("engineer")).json() == []


def test_a_failing_channel_is_recorded_and_never_breaks_the_action(client: TestClient, world: World, db,
                                                                  recording: RecordingChannel) -> None:
    recording.fail_with = "template quota exceeded"
    ticket = submit(client, world, headers=world.headers("lab_a")).json()["ticket"]
    answered = act(client, ticket["id"], world.headers("agent"), "answer", text="请重启仪器", fault_category="other")
    assert answered.status_code == 200
    failed = db.execute(select(Delivery).where(Delivery.channel == "recording")).scalars().all()
    assert failed and all(d.status == "failed" and d.error == "template quota exceeded" for d in failed)
    in_app = db.execute(select(Delivery).where(Delivery.channel == "in_app")).scalars().all()
    assert in_app and all(d.status == "sent" for d in in_app)


def test_the_desk_sees_which_notifications_failed(client: TestClient, world: World,
                                                   recording: RecordingChannel) -> None:
    recording.fail_with = "user refused template messages (43004)"
    ticket = submit(client, world, headers=world.headers("lab_a")).json()["ticket"]
    act(client, ticket["id"], world.headers("agent"), "answer", text="请重启仪器", fault_category="other")
    rows = client.get(f"/api/v1/tickets/{ticket['id']}/deliveries", headers=world.headers("agent")).json()
    failed = [r for r in rows if r["status"] == "failed"]
    assert failed and {r["channel"] for r in failed} == {"recording"}
    assert all("43004" in r["error"] for r in failed)
    assert any(r["recipient"] == "lab_a" and r["kind"] == "ticket.answer" for r in failed)
    assert {r["status"] for r in rows if r["channel"] == "in_app"} == {"sent"}  # the fallback reached them
    assert client.get(f"/api/v1/tickets/{ticket['id']}/deliveries",
                      headers=world.headers("lab_a")).status_code == 403
