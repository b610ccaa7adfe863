"""POST /api/v1/bot/ask and /feedback: the contract, bad input, ownership, safety, repair links, handover."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.bot import replies
from cloud.kb.models import BotAsk
from cloud.notify.models import Notification
from cloud.qr import service as qr_service
from cloud.qr.models import TargetKind
from tests.cloud.bot.conftest import ACTOR, ask
from tests.cloud.world import World

CONTRACT = {"ask_id", "answer", "entry_id", "confidence", "handoff", "reason", "alternatives", "materials"}


def test_a_question_is_answered_from_the_kb_with_its_materials_and_logged(
        client: TestClient, db: Session, world: World, kb: dict[str, int]) -> None:
    reply = ask(client, "样本针堵了怎么办", world.headers("lab_a"), device_id=world.devices_a[0])
    assert CONTRACT <= set(reply)
    assert reply["entry_id"] == kb["probe-clog"] and reply["handoff"] is False
    assert reply["answer"].startswith("1. 暂停进样") and 0 < reply["confidence"] <= 1
    assert [m["title"] for m in reply["materials"]] == ["样本针清洗视频"]
    for alt in reply["alternatives"]:
        assert set(alt) == {"entry_id", "question", "confidence"} and isinstance(alt["entry_id"], int)
    row = db.get(BotAsk, reply["ask_id"])
    assert row is not None and (row.user_id, row.device_id, row.entry_id, row.channel) == (
        world.users["lab_a"], world.devices_a[0], kb["probe-clog"], "web")


@pytest.mark.parametrize("text, message", [("", replies.EMPTY_QUESTION), ("   \n ", replies.EMPTY_QUESTION),
                                           ("样" * 2001, "最多 2000 字")])
def test_empty_or_huge_questions_get_a_clear_422_and_nothing_is_logged(
        client: TestClient, db: Session, world: World, text: str, message: str) -> None:
    response = client.post("/api/v1/bot/ask", json={"text": text}, headers=world.headers("lab_a"))
    assert response.status_code == 422
    assert message in response.json()["detail"]
    assert db.execute(select(BotAsk)).first() is None


def test_an_unknown_device_or_another_hospitals_device_is_404(client: TestClient, world: World) -> None:
    response = client.post("/api/v1/bot/ask", json={"text": "样本针堵了", "device_id": 999999},
                           headers=world.headers("lab_a"))
    assert response.status_code == 404 and "找不到这台设备" in response.json()["detail"]
    other = client.post("/api/v1/bot/ask", json={"text": "样本针堵了", "device_id": world.devices_b[0]},
                        headers=world.headers("lab_a"))
    assert other.status_code == 404


def test_feedback_is_only_for_ones_own_ask_and_a_second_feedback_replaces_the_first(
        client: TestClient, db: Session, world: World, kb: dict[str, int]) -> None:
    mine = ask(client, "反应盘温度异常报警", world.headers("lab_a"))
    # someone else's ask reads as unknown (404), also for staff and anonymous callers
    for headers in (world.headers("lab_b"), world.headers("agent"), {}):
        response = client.post("/api/v1/bot/feedback", json={"ask_id": mine["ask_id"], "helpful": True},
                               headers=headers)
        assert response.status_code == 404, headers
    assert client.post("/api/v1/bot/feedback", json={"ask_id": 424242, "helpful": True},
                       headers=world.headers("lab_a")).status_code == 404
    first = client.post("/api/v1/bot/feedback", json={"ask_id": mine["ask_id"], "helpful": True},
                        headers=world.headers("lab_a"))
    assert first.status_code == 200 and first.json()["handoff"] is False
    second = client.post("/api/v1/bot/feedback", json={"ask_id": mine["ask_id"], "helpful": False},
                         headers=world.headers("lab_a"))
    assert second.status_code == 200 and second.json()["handoff"] is True
    db.expire_all()
    row = db.get(BotAsk, mine["ask_id"])
    assert row is not None and row.helpful is False and row.handoff is True


def test_anonymous_feedback_needs_the_conversation_id_of_the_ask(
        client: TestClient, db: Session, world: World, kb: dict[str, int]) -> None:
    reply = ask(client, "废液桶满了报警", device_id=world.devices_a[0], channel="report")
    assert reply["conversation_id"]
    wrong = client.post("/api/v1/bot/feedback", json={"ask_id": reply["ask_id"], "helpful": True,
                                                      "conversation_id": "guess"})
    assert wrong.status_code == 404
    right = client.post("/api/v1/bot/feedback", json={"ask_id": reply["ask_id"], "helpful": True,
                                                      "entry_id": kb["waste-full"],
                                                      "conversation_id": reply["conversation_id"]})
    assert right.status_code == 200
    row = db.get(BotAsk, reply["ask_id"])
    assert row is not None and row.helpful is True and row.channel == "report" and row.user_id is None


def test_not_solved_hands_over_to_the_agents(client: TestClient, db: Session, world: World,
                                             kb: dict[str, int]) -> None:
    reply = ask(client, "光源灯老化需要更换", world.headers("lab_a"))
    response = client.post("/api/v1/bot/feedback", json={"ask_id": reply["ask_id"], "helpful": False},
                           headers=world.headers("lab_a"))
    assert response.json()["text"] == replies.FEEDBACK_HANDOFF
    told = db.execute(select(Notification).where(Notification.user_id == world.users["agent"])).scalars().all()
    assert [n.kind for n in told] == ["bot.handoff"] and "光源灯" in told[0].body


@pytest.mark.parametrize("text", ["仪器冒烟了怎么办", "有股烧焦的味道", "样本针堵了，同时机器里面着火了",
                                  "被仪器电了一下", "试剂洒进电路板里了"])
def test_safety_always_hands_over_urgently_and_never_answers_from_the_kb(
        client: TestClient, db: Session, world: World, kb: dict[str, int], text: str) -> None:
    reply = ask(client, text, world.headers("lab_a"), device_id=world.devices_a[0])
    assert reply["handoff"] is True and reply["urgent"] is True and reply["answer"] is None
    assert reply["entry_id"] is None and reply["reason"].startswith("safety")
    assert replies.URGENT_HANDOFF in reply["text"]
    urgent = db.execute(select(Notification).where(Notification.kind == "bot.urgent")).scalars().all()
    assert {n.user_id for n in urgent} >= {world.users["agent"], world.users["center"]}


def test_out_of_scope_is_refused_politely_without_bothering_anyone(
        client: TestClient, db: Session, world: World, kb: dict[str, int]) -> None:
    reply = ask(client, "明天天气怎么样", world.headers("lab_a"))
    assert reply["answer"] is None and reply["handoff"] is False and reply["text"] == replies.OUT_OF_SCOPE
    assert db.execute(select(Notification)).first() is None


def test_a_repair_intent_offers_the_devices_repair_page_or_the_backup_paths(
        client: TestClient, app: FastAPI, world: World, kb: dict[str, int]) -> None:
    with app.state.sessionmaker() as session:
        code = qr_service.code_for(session, kind=TargetKind.device, target_id=world.devices_a[0], actor=ACTOR).code
        session.commit()
    with_device = ask(client, "c702坏了，我要报修", world.headers("lab_a"), device_id=world.devices_a[0])
    assert with_device["repair_url"] and with_device["repair_url"].endswith(f"/r/{code}")
    assert with_device["repair_url"] in with_device["text"]
    without = ask(client, "仪器坏了，我要报修", world.headers("lab_a"))
    assert "/report/hospital" in without["text"] and "/my/devices" in without["text"]
    anonymous = ask(client, "c702坏了，我要报修", device_id=world.devices_a[0])
    assert anonymous["repair_url"] is None and code not in anonymous["text"]


@pytest.mark.usefixtures("one_rate_window")
def test_anonymous_askers_are_rate_limited_per_address(client: TestClient, kb: dict[str, int]) -> None:
    statuses = [client.post("/api/v1/bot/ask", json={"text": "废液桶满了"}).status_code for _ in range(21)]
    assert statuses[:20] == [200] * 20 and statuses[20] == 429


def test_a_suggested_entry_expands_to_its_answer(client: TestClient, kb: dict[str, int]) -> None:
    response = client.get(f"/api/v1/bot/entries/{kb['qc-out']}")
    assert response.status_code == 200 and response.json()["answer"].startswith("1. 检查质控品")
    assert client.get("/api/v1/bot/entries/99999").status_code == 404


def test_repair_page_drafts_call_nobody_and_a_safety_alarm_goes_out_once_per_page(
        client: TestClient, db: Session, world: World, kb: dict[str, int]) -> None:
    page = {"device_id": world.devices_a[0], "channel": "report", "conversation_id": "page-1"}
    for draft in ("屏幕上那个东西", "屏幕上那个东西一直在闪"):
        assert ask(client, draft, **page)["answer"] is None
    assert db.execute(select(Notification)).first() is None  # the report form is the handover
    for draft in ("仪器冒烟了", "仪器冒烟了怎么办"):
        assert ask(client, draft, **page)["urgent"] is True
    alarms = db.execute(select(Notification).where(Notification.user_id == world.users["agent"])).scalars().all()
    assert [n.kind for n in alarms] == ["bot.urgent"]


def test_weekly_rates_count_a_repair_page_once_and_self_service_from_feedback(
        client: TestClient, db: Session, world: World, kb: dict[str, int]) -> None:
    from cloud.bot.stats import weekly_rates

    page = {"channel": "report", "conversation_id": "page-2"}
    ask(client, "样本针堵", **page)
    solved = ask(client, "样本针堵了怎么办", **page)
    client.post("/api/v1/bot/feedback", json={"ask_id": solved["ask_id"], "helpful": True,
                                              "conversation_id": "page-2"})
    assert ask(client, "c702坏了，我要报修", world.headers("lab_a"))["handoff"] is True
    ask(client, "今天天气怎么样", world.headers("lab_a"))  # not a question about equipment
    this_week = weekly_rates(db)[-1]
    assert (this_week["asked"], this_week["self_service"], this_week["handover"], this_week["accuracy"]) == (
        2, 50.0, 50.0, 100.0)
