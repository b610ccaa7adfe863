"""Template messages: ticket events reach bound users through WeChat; TEMPLATESENDJOBFINISH settles the status."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.notify.models import Delivery, Notification
from cloud.wechat.models import WechatBinding
from cloud.wechat.standin import StandIn
from tests.cloud.tickets.helpers import submit
from tests.cloud.world import World

OPENID = "o-lab-a-openid"


def _bind(db: Session, user_id: int, openid: str = OPENID) -> None:
    db.add(WechatBinding(openid=openid, user_id=user_id))
    db.commit()


def _deliveries(db: Session, user_id: int, kind: str) -> dict[str, Delivery]:
    db.expire_all()
    notification = db.execute(select(Notification).where(Notification.user_id == user_id,
                                                         Notification.kind == kind)).scalar_one()
    return {d.channel: d for d in notification.deliveries}


def _finish(client: TestClient, standin: StandIn, msgid: int, status: str) -> None:
    params, body = standin.signed(standin.event_xml(OPENID, {
        "MsgType": "event", "Event": "TEMPLATESENDJOBFINISH", "MsgID": str(msgid), "Status": status}))
    assert client.post("/wechat/callback", params=params, content=body).text == "success"


def test_template_message_is_delivered_and_confirmed_by_templatesendjobfinish(
        client: TestClient, db: Session, world: World, standin: StandIn) -> None:
    _bind(db, world.users["lab_a"])
    assert submit(client, world, headers=world.headers("lab_a")).status_code == 201
    [sent] = [s for s in standin.sent if s.touser == OPENID]
    deliveries = _deliveries(db, world.users["lab_a"], "ticket.submitted")
    notification = deliveries["wechat"].notification
    assert sent.client_msg_id == notification.event_key  # WeChat drops a second send of the same event
    assert sent.template_id == "TPL-GENERIC" and sent.url and sent.url.endswith(notification.link)
    assert sent.data["first"]["value"] == notification.title
    assert (deliveries["wechat"].status, deliveries["wechat"].external_id) == ("sent", str(sent.msgid))
    assert deliveries["in_app"].status == "sent"
    _finish(client, standin, sent.msgid, "success")
    assert _deliveries(db, world.users["lab_a"], "ticket.submitted")["wechat"].status == "delivered"


def test_a_blocked_user_is_recorded_as_failed(client: TestClient, db: Session, world: World,
                                              standin: StandIn) -> None:
    _bind(db, world.users["lab_a"])
    submit(client, world, headers=world.headers("lab_a"))
    [sent] = standin.sent
    _finish(client, standin, sent.msgid, "failed:user block")
    wechat = _deliveries(db, world.users["lab_a"], "ticket.submitted")["wechat"]
    assert (wechat.status, wechat.error) == ("failed", "failed:user block")


def test_transient_errors_are_retried(client: TestClient, db: Session, world: World, standin: StandIn) -> None:
    _bind(db, world.users["lab_a"])
    standin.fail_next["message/template/send"] = [-1, -1]
    submit(client, world, headers=world.headers("lab_a"))
    assert len(standin.sent) == 1
    assert _deliveries(db, world.users["lab_a"], "ticket.submitted")["wechat"].status == "sent"


def test_permanent_errors_fail_at_once_and_the_in_app_channel_still_delivers(
        client: TestClient, db: Session, world: World, standin: StandIn) -> None:
    _bind(db, world.users["lab_a"])
    standin.fail_next["message/template/send"] = [40037, 40037, 40037]
    submit(client, world, headers=world.headers("lab_a"))
    deliveries = _deliveries(db, world.users["lab_a"], "ticket.submitted")
    assert deliveries["wechat"].status == "failed" and "40037" in (deliveries["wechat"].error or "")
    assert deliveries["in_app"].status == "sent"
    assert standin.fail_next["message/template/send"] == [40037, 40037]  # tried once, not retried


def test_users_without_a_binding_get_a_failed_wechat_delivery_and_the_in_app_one(
        client: TestClient, db: Session, world: World, standin: StandIn) -> None:
    submit(client, world, headers=world.headers("lab_a"))
    deliveries = _deliveries(db, world.users["agent"], "ticket.submitted")
    assert deliveries["wechat"].status == "failed" and "binding" in (deliveries["wechat"].error or "")
    assert deliveries["in_app"].status == "sent" and standin.sent == []


def test_template_message_time_is_the_hospitals_wall_clock_not_utc(
        client: TestClient, db: Session, world: World, standin: StandIn) -> None:
    from datetime import UTC, datetime, timedelta

    _bind(db, world.users["lab_a"])
    assert submit(client, world, headers=world.headers("lab_a")).status_code == 201
    [sent] = [s for s in standin.sent if s.touser == OPENID]
    shown = datetime.strptime(sent.data["remark"]["value"], "%Y-%m-%d %H:%M")
    shanghai_now = datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=8)
    assert abs(shanghai_now - shown) < timedelta(minutes=2)
