"""The bot on the Official Account: text and voice (Recognition) messages answered, the ask logged once after."""

from __future__ import annotations

import secrets

import xmltodict
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.bot import replies
from cloud.kb.models import BotAsk
from cloud.wechat.models import WechatBinding
from cloud.wechat.standin import StandIn
from tests.cloud.wechat.conftest import settings, standin, standin_server  # noqa: F401 - the WeChat fixtures
from tests.cloud.world import World


def _send(client: TestClient, standin: StandIn, openid: str, fields: dict[str, str]) -> str:  # noqa: F811
    params, body = standin.signed(standin.event_xml(openid, {**fields, "MsgId": str(secrets.randbelow(10**18))}))
    response = client.post("/wechat/callback", params=params, content=body)
    assert response.status_code == 200, response.text
    return str(xmltodict.parse(standin.decrypt_reply(response.text))["xml"]["Content"])


def test_a_text_message_is_answered_by_the_bot_with_its_materials(
        client: TestClient, db: Session, world: World, standin: StandIn, kb: dict[str, int]) -> None:  # noqa: F811
    db.add(WechatBinding(openid="o-lab-a", user_id=world.users["lab_a"]))
    db.commit()
    content = _send(client, standin, "o-lab-a", {"MsgType": "text", "Content": "样本针堵了怎么办"})
    assert content.startswith("1. 暂停进样") and "https://example.org/v/probe.mp4" in content
    row = db.execute(select(BotAsk)).scalar_one()  # written after the reply, once
    assert (row.channel, row.user_id, row.entry_id, row.conversation_id) == (
        "wechat", world.users["lab_a"], kb["probe-clog"], "wx-o-lab-a")


def test_a_voice_message_is_answered_from_wechats_recognition(
        client: TestClient, db: Session, standin: StandIn, kb: dict[str, int]) -> None:  # noqa: F811
    content = _send(client, standin, "o-voice", {"MsgType": "voice", "MediaId": "m1", "Format": "amr",
                                                  "Recognition": "反应盘温度异常报警"})
    assert content.startswith("1. 检查恒温水浴液位")
    row = db.execute(select(BotAsk)).scalar_one()
    assert (row.text, row.entry_id, row.user_id) == ("反应盘温度异常报警", kb["disk-temp"], None)


def test_a_voice_message_without_recognition_asks_to_repeat(
        client: TestClient, db: Session, standin: StandIn, kb: dict[str, int]) -> None:  # noqa: F811
    content = _send(client, standin, "o-voice", {"MsgType": "voice", "MediaId": "m2", "Format": "amr",
                                                  "Recognition": ""})
    assert content == replies.VOICE_UNHEARD
    assert db.execute(select(BotAsk)).first() is None


def test_a_safety_message_in_wechat_hands_over_urgently(
        client: TestClient, db: Session, standin: StandIn, kb: dict[str, int]) -> None:  # noqa: F811
    content = _send(client, standin, "o-smoke", {"MsgType": "text", "Content": "分析仪冒烟了"})
    assert replies.URGENT_HANDOFF in content
    row = db.execute(select(BotAsk)).scalar_one()
    assert row.handoff is True and row.entry_id is None and row.intent == "safety"


def test_a_question_the_bot_cannot_answer_in_wechat_says_where_a_person_answers(
        client: TestClient, db: Session, standin: StandIn, kb: dict[str, int]) -> None:  # noqa: F811
    content = _send(client, standin, "o-lab-a", {"MsgType": "text", "Content": "离心机转速不稳，异响很大"})
    assert replies.HANDOFF in content and "/groups" in content
    assert db.execute(select(BotAsk)).scalar_one().handoff is True
