"""Not solved for an unverified lab user who named a device without its label: the desk hears of it (finding 2)."""

from __future__ import annotations

import logging

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from cloud.notify.models import Notification
from cloud.registry.models import Device
from cloud.tickets.models import Ticket
from tests.cloud.bot.conftest import ask
from tests.cloud.world import World


def test_an_unverified_users_unsolved_question_reaches_the_desk_without_a_ticket(
        app: FastAPI, client: TestClient, world: World, kb: dict[str, int], caplog: pytest.LogCaptureFixture) -> None:
    device_id = world.devices_a[0]
    reply = ask(client, "样本针堵了怎么办", world.headers("lab_new"), device_id=device_id)
    caplog.set_level(logging.INFO, logger="medfix.bot.flows")
    feedback = client.post("/api/v1/bot/feedback", headers=world.headers("lab_new"),
                           json={"ask_id": reply["ask_id"], "helpful": False})
    assert feedback.status_code == 200 and feedback.json()["handoff"] is True
    app.state.bot_flows.drain()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # nothing fails, logged or not
    with app.state.sessionmaker() as session:
        # No ticket binds a device the user may not vouch for ...
        assert session.execute(select(Ticket).where(Ticket.device_id == device_id)).first() is None
        number = session.get(Device, device_id).system_number
        told = session.execute(select(Notification).where(Notification.kind == "bot.unverified")).scalars().all()
    # ... but the agents and the service centre are told, with the named device and the question as text.
    assert {n.user_id for n in told} >= {world.users["agent"], world.users["center"]}
    assert all(number in n.body and "样本针堵了" in n.body and "未经标签核实" in n.body for n in told)
