"""Admin WeChat status page: permanent QR codes against the cap, failed template messages and their resend."""

from __future__ import annotations

from sqlalchemy.orm import Session

from cloud.notify.models import Delivery, Notification
from cloud.wechat.models import WechatBinding, WechatPermanentQr
from cloud.wechat.standin import StandIn
from tests.cloud.wechat.conftest import SAFE
from tests.cloud.world import World


def _failed(db: Session, user_id: int, error: str, key: str = "ticket.submitted:1",
            body: str = "WO-000001 已受理") -> int:
    note = Notification(user_id=user_id, event_key=key, kind="ticket.submitted", title="报修已提交",
                        body=body, link="/t/WO-000001")
    db.add(note)
    db.flush()
    delivery = Delivery(notification_id=note.id, channel="wechat", status="failed", error=error)
    db.add(delivery)
    db.commit()
    return delivery.id


def test_status_shows_qr_use_against_the_cap_and_resends_a_failed_message(client, db: Session, world: World,
                                                                          standin: StandIn) -> None:
    db.add(WechatBinding(openid="o-lab-a", user_id=world.users["lab_a"]))
    db.add_all([WechatPermanentQr(appid=SAFE["appid"], scene=f"g:{i}", ticket=f"t{i}", url=f"u{i}") for i in range(3)])
    retry = _failed(db, world.users["lab_a"], "WeChat error 43004: require subscribe")
    # A long Chinese message keeps its first 80 characters (cut at a space it read "工单…").
    long = "工单 " + "瑞金医院检验科 AU5800 反应盘温度偏高，已派工程师张工前往处理，预计三十分钟内到场。" * 3
    unbound = _failed(db, world.users["lab_b"], "no WeChat binding for this user", key="ticket.submitted:2",
                      body=long)
    page = client.get("/admin/wechat", headers=world.headers("admin"))
    assert page.status_code == 200
    assert "3</strong> / 100000" in page.text and "永久二维码" in page.text
    assert "该用户已取消关注公众号" in page.text and "该用户未绑定微信" in page.text and "无法重发" in page.text
    assert long[:79] + "…" in page.text
    assert f"/admin/wechat/deliveries/{retry}/resend" in page.text
    assert f"/admin/wechat/deliveries/{unbound}/resend" not in page.text
    sent = client.post(f"/admin/wechat/deliveries/{retry}/resend", headers={**world.headers("admin"),
                                                                             "Accept": "application/json"})
    assert sent.status_code == 200 and "发送成功" in sent.json()["message"]
    assert [m.touser for m in standin.sent] == ["o-lab-a"]
    db.expire_all()
    delivery = db.get(Delivery, retry)
    assert (delivery.status, delivery.attempts, delivery.error) == ("sent", 2, None)
    again = client.post(f"/admin/wechat/deliveries/{retry}/resend", headers={**world.headers("admin"),
                                                                              "Accept": "application/json"})
    assert again.status_code == 409
    assert client.get("/admin/wechat", headers=world.headers("agent")).status_code == 403


def test_a_resend_that_fails_again_says_why(client, db: Session, world: World, standin: StandIn) -> None:
    db.add(WechatBinding(openid="o-lab-a", user_id=world.users["lab_a"]))
    retry = _failed(db, world.users["lab_a"], "WeChat unreachable: timeout")
    standin.fail_next["message/template/send"] = [43004]
    answer = client.post(f"/admin/wechat/deliveries/{retry}/resend", headers={**world.headers("admin"),
                                                                               "Accept": "application/json"})
    assert answer.status_code == 502 and "再次失败" in answer.json()["detail"]
    db.expire_all()
    assert db.get(Delivery, retry).attempts == 2
