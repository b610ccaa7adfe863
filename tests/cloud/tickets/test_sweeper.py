"""SLA timers: an unanswered ticket moves to the next agent, an overdue one is escalated, an unconfirmed one closes."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from cloud.db import utcnow
from cloud.notify.channels import RecordingChannel
from cloud.tickets.sweeper import sweep
from tests.cloud.tickets.helpers import act, submit
from tests.cloud.world import PASSWORD, World


def _second_agent(client: TestClient, world: World) -> int:
    response = client.post("/api/v1/users", headers=world.headers("admin"), json={
        "username": "agent2", "password": PASSWORD, "role": "agent", "full_name": "李坐席"})
    return int(response.json()["id"])


def test_an_unanswered_ticket_is_offered_to_the_next_agent(client: TestClient, world: World, app, settings,
                                                           recording: RecordingChannel) -> None:
    second = _second_agent(client, world)
    ticket = submit(client, world).json()["ticket"]
    first_agent = ticket["agent_id"]
    assert first_agent in (world.users["agent"], second)
    assert sweep(app.state.sessionmaker, settings=settings).reoffered == []  # not yet: the timeout runs
    later = utcnow() + timedelta(minutes=settings.offer_timeout_minutes + 1)
    report = sweep(app.state.sessionmaker, settings=settings, now=later)
    assert report.reoffered == [ticket["id"]]
    fresh = client.get(f"/api/v1/tickets/{ticket['id']}", headers=world.headers("admin")).json()
    assert fresh["agent_id"] not in (None, first_agent)
    assert any(m.kind == "ticket.reoffer" and m.user_id == fresh["agent_id"] for m in recording.sent)
    reporter_view = client.get(f"/api/v1/tickets/{ticket['id']}", headers=world.headers("lab_a")).json()
    assert "reoffer" not in [e["action"] for e in reporter_view["timeline"]]


def test_an_answered_ticket_is_not_reoffered(client: TestClient, world: World, app, settings) -> None:
    _second_agent(client, world)
    ticket = submit(client, world).json()["ticket"]
    act(client, ticket["id"], world.headers("agent"), "escalate", text="请远程诊断")
    later = utcnow() + timedelta(minutes=settings.offer_timeout_minutes + 1)
    assert sweep(app.state.sessionmaker, settings=settings, now=later).reoffered == []


def test_overdue_tickets_escalate_once_per_level_and_tell_the_supervisor(
        client: TestClient, world: World, app, settings, recording: RecordingChannel) -> None:
    ticket = submit(client, world).json()["ticket"]  # priority 1: first response due in 15 minutes
    after_first = utcnow() + timedelta(minutes=20)
    assert sweep(app.state.sessionmaker, settings=settings, now=after_first).escalated == [ticket["id"]]
    assert sweep(app.state.sessionmaker, settings=settings, now=after_first).escalated == []
    admin_messages = [m for m in recording.sent if m.user_id == world.users["admin"] and m.kind == "ticket.overdue"]
    assert len(admin_messages) == 1 and "首次响应超时" in admin_messages[0].body
    after_resolution = utcnow() + timedelta(hours=5)
    assert sweep(app.state.sessionmaker, settings=settings, now=after_resolution).escalated == [ticket["id"]]
    assert sweep(app.state.sessionmaker, settings=settings, now=after_resolution + timedelta(hours=1)).escalated == []


def test_an_unconfirmed_resolution_closes_automatically(client: TestClient, world: World, app, settings) -> None:
    ticket = submit(client, world).json()["ticket"]
    act(client, ticket["id"], world.headers("agent"), "answer", text="已远程处理", fault_category="other")
    assert sweep(app.state.sessionmaker, settings=settings).closed == []
    later = utcnow() + timedelta(hours=settings.auto_close_hours + 1)
    assert sweep(app.state.sessionmaker, settings=settings, now=later).closed == [ticket["id"]]
    fresh = client.get(f"/api/v1/tickets/{ticket['id']}", headers=world.headers("agent")).json()
    assert fresh["status"] == "closed"
    assert fresh["timeline"][-1]["action"] == "auto_close"


def test_an_agent_at_capacity_gets_no_more_tickets(client: TestClient, world: World) -> None:
    second = _second_agent(client, world)
    full = client.patch(f"/api/v1/users/{world.users['agent']}", json={"capacity": 0}, headers=world.headers("admin"))
    assert full.status_code == 200 and full.json()["capacity"] == 0
    assigned = {submit(client, world).json()["ticket"]["agent_id"] for _ in range(3)}
    assert assigned == {second}
    client.patch(f"/api/v1/users/{second}", json={"capacity": 3}, headers=world.headers("admin"))
    assert submit(client, world).json()["ticket"]["agent_id"] is None  # everyone is full: it waits in the queue
