"""The bot in a service group: a lab user's question is answered by the bot, with the ask in the message's meta."""

from __future__ import annotations

import importlib.util

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from cloud.kb.models import BotAsk
from tests.cloud.world import World

pytestmark = pytest.mark.skipif(importlib.util.find_spec("cloud.servicegroups") is None,
                                reason="cloud.servicegroups (P4) is not in this tree")


def _post_and_wait(app: FastAPI, world: World, username: str, text: str, *, kind: str = "text",
                   attachments: tuple = ()) -> tuple[int, list]:
    from cloud.servicegroups import service as groups
    from cloud.servicegroups.models import ServiceGroupMessage

    with app.state.sessionmaker() as session:
        group = groups.ensure_hospital_group(session, hospital_id=world.hospital_a)
        session.commit()
        posted = groups.post_message(session, group_id=group.id, author_user_id=world.users[username], kind=kind,
                                     text=text, attachments=attachments)
        session.commit()
        group_id, posted_id = group.id, posted.id
    app.state.bot_flows.drain()
    with app.state.sessionmaker() as session:
        later = session.execute(select(ServiceGroupMessage).where(
            ServiceGroupMessage.group_id == group_id, ServiceGroupMessage.id > posted_id)
            .order_by(ServiceGroupMessage.id)).scalars().all()
        return posted_id, [(m.kind.value, m.text, dict(m.meta or {}), m.reply_to_id) for m in later]


def _ask_about(app: FastAPI, client: TestClient, world: World, device_id: int, text: str) -> tuple[int, int]:
    """lab_a asks about a device in their hospital's group: (group id, the bot's ask id)."""
    from cloud.servicegroups.models import ServiceGroupMessage

    group_id = client.get("/api/v1/service-groups", headers=world.headers("lab_a")).json()[0]["id"]
    posted = client.post(f"/api/v1/service-groups/{group_id}/messages", headers=world.headers("lab_a"),
                         json={"text": text, "device_id": device_id})
    assert posted.status_code == 201, posted.text
    app.state.bot_flows.drain()
    with app.state.sessionmaker() as session:
        answer = session.execute(select(ServiceGroupMessage).where(
            ServiceGroupMessage.group_id == group_id, ServiceGroupMessage.kind == "bot")
            .order_by(ServiceGroupMessage.id.desc())).scalars().first()
        return group_id, int(answer.meta["ask_id"])


def test_a_lab_users_question_in_the_group_is_answered_by_the_bot(app: FastAPI, world: World,
                                                                  kb: dict[str, int]) -> None:
    posted_id, later = _post_and_wait(app, world, "lab_a", "样本针堵了怎么办")
    assert len(later) == 1
    kind, text, meta, reply_to = later[0]
    assert kind == "bot" and reply_to == posted_id and text.startswith("1. 暂停进样")
    assert meta["entry_id"] == kb["probe-clog"] and meta["handoff"] is False
    assert [m["title"] for m in meta["materials"]] == ["样本针清洗视频"]
    with app.state.sessionmaker() as session:
        row = session.get(BotAsk, meta["ask_id"])
        assert row is not None and (row.channel, row.user_id) == ("group", world.users["lab_a"])


def test_a_safety_question_in_the_group_hands_over_at_once(app: FastAPI, world: World, kb: dict[str, int]) -> None:
    _posted, later = _post_and_wait(app, world, "lab_a", "仪器后面冒烟了")
    assert later[0][0] == "bot" and later[0][2]["handoff"] is True and later[0][2]["urgent"] is True


def test_staff_messages_are_not_answered_by_the_bot(app: FastAPI, world: World, kb: dict[str, int]) -> None:
    _posted, later = _post_and_wait(app, world, "agent", "样本针堵了怎么办")
    assert [m for m in later if m[0] == "bot"] == []


def test_a_voice_note_in_the_group_is_answered_from_its_transcript(
        app: FastAPI, client: TestClient, world: World, kb: dict[str, int]) -> None:
    from cloud.tickets.schemas import AttachmentRef
    from tests.cloud.tickets.helpers import upload, webm_bytes

    voice = upload(client, "voice", webm_bytes(), duration_s=3).json()
    ref = AttachmentRef(id=voice["id"], key=voice["key"], transcript="反应盘温度异常报警")
    _posted, later = _post_and_wait(app, world, "lab_a", "", kind="voice", attachments=(ref,))
    assert later[0][0] == "bot" and later[0][2]["entry_id"] == kb["disk-temp"]


def test_not_solved_about_a_device_goes_to_the_remote_centre_with_the_conversation(
        app: FastAPI, client: TestClient, world: World, kb: dict[str, int]) -> None:
    from cloud.servicegroups import service as groups
    from cloud.tickets.models import Ticket

    device_id = world.devices_a[0]
    group_id, ask_id = _ask_about(app, client, world, device_id, "样本针堵了怎么办")
    feedback = client.post("/api/v1/bot/feedback", headers=world.headers("lab_a"),
                           json={"ask_id": ask_id, "helpful": False})
    assert feedback.status_code == 200 and feedback.json()["handoff"] is True
    app.state.bot_flows.drain()
    with app.state.sessionmaker() as session:
        [ticket] = session.execute(select(Ticket).where(Ticket.device_id == device_id,
                                                        Ticket.status == "escalated")).scalars().all()
        assert ticket.reporter_user_id == world.users["lab_a"] and ticket.ask_ids == [ask_id]
        assert ticket.description == "样本针堵了怎么办"
        assert [turn["who"] for turn in ticket.conversation] == ["user", "bot"]
        assert "没解决" in ticket.conversation[1]["text"]
        last = groups.history(session, group_id=group_id)[0][-1]
        assert last.kind.value == "system" and ticket.number in last.text
        assert last.meta["ticket_id"] == ticket.id
    # Saying "not solved" again does not open a second ticket.
    client.post("/api/v1/bot/feedback", headers=world.headers("lab_a"), json={"ask_id": ask_id, "helpful": True})
    client.post("/api/v1/bot/feedback", headers=world.headers("lab_a"), json={"ask_id": ask_id, "helpful": False})
    app.state.bot_flows.drain()
    with app.state.sessionmaker() as session:
        assert len(session.execute(select(Ticket).where(Ticket.status == "escalated")).scalars().all()) == 1


def test_not_solved_about_a_device_already_in_repair_joins_its_open_ticket(
        app: FastAPI, client: TestClient, world: World, kb: dict[str, int]) -> None:
    # The audit: "没解决" opened a second ticket beside the device's open one, which the desk then had to merge.
    from cloud.servicegroups import service as groups
    from cloud.tickets.models import Ticket

    device_id = world.devices_a[0]
    opened = client.post("/api/v1/tickets", headers={**world.headers("lab_a"), "Idempotency-Key": "already-open"},
                         json={"device_id": device_id, "description": "加样针报警，无法进样"})
    assert opened.status_code == 201, opened.text
    ticket_id, number = opened.json()["ticket"]["id"], opened.json()["ticket"]["number"]
    group_id, ask_id = _ask_about(app, client, world, device_id, "样本针堵了怎么办")
    for helpful in (False, True, False):  # said twice: added once
        client.post("/api/v1/bot/feedback", headers=world.headers("lab_a"), json={"ask_id": ask_id, "helpful": helpful})
        app.state.bot_flows.drain()
    timeline = client.get(f"/api/v1/tickets/{ticket_id}", headers=world.headers("agent")).json()["timeline"]
    added = [step["text"] for step in timeline if step["action"] == "add_info"]
    assert len(added) == 1 and "样本针堵了怎么办" in added[0], added
    with app.state.sessionmaker() as session:
        tickets = session.execute(select(Ticket).where(Ticket.device_id == device_id)).scalars().all()
        assert [t.number for t in tickets] == [number]
        last = groups.history(session, group_id=group_id)[0][-1]
        assert last.kind.value == "system" and f"已有工单 {number} 在处理中" in last.text
        assert last.meta["ticket_number"] == number


def test_the_device_link_opens_its_hospitals_group_about_that_device(client: TestClient, world: World) -> None:
    client.cookies.set("medfix_session", world.tokens["lab_a"])
    response = client.get(f"/groups/device/{world.devices_a[0]}", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].endswith(f"?device_id={world.devices_a[0]}")
    other = client.get(f"/groups/device/{world.devices_b[0]}", follow_redirects=False,
                       headers={"Accept": "text/html"})
    assert other.status_code == 404
