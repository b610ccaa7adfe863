"""Scanning a parametric QR in WeChat answers with the repair link of that device or group."""

from __future__ import annotations

import xmltodict
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cloud.audit.service import Actor
from cloud.config import Settings
from cloud.qr import service as qr_service
from cloud.qr.models import TargetKind
from cloud.registry import groups
from cloud.registry.models import Device
from cloud.registry.schemas import GroupCreate
from cloud.wechat.callback import scene_for
from cloud.wechat.standin import StandIn
from tests.cloud.world import World

ACTOR = Actor.system("wechat-test")


def _scan(client: TestClient, standin: StandIn, scene: str, *, subscribe: bool, openid: str = "o-scan") -> dict:
    fields = ({"MsgType": "event", "Event": "subscribe", "EventKey": f"qrscene_{scene}"} if subscribe
              else {"MsgType": "event", "Event": "SCAN", "EventKey": scene})
    params, body = standin.signed(standin.event_xml(openid, {**fields, "Ticket": "t"}))
    response = client.post("/wechat/callback", params=params, content=body)
    assert response.status_code == 200, response.text
    return xmltodict.parse(standin.decrypt_reply(response.text))["xml"]


def _device_code(db: Session, device_id: int) -> str:
    code = qr_service.code_for(db, kind=TargetKind.device, target_id=device_id, actor=ACTOR).code
    db.commit()
    return code


def test_scan_and_subscribe_of_a_device_reply_with_its_repair_link(
        client: TestClient, db: Session, world: World, standin: StandIn, settings: Settings) -> None:
    device = db.get(Device, world.devices_a[0])
    assert device is not None
    code = _device_code(db, device.id)
    for subscribe in (True, False):
        reply = _scan(client, standin, scene_for(TargetKind.device, code), subscribe=subscribe)
        assert reply["MsgType"] == "news" and reply["ToUserName"] == "o-scan"
        article = reply["Articles"]["item"]
        assert article["Url"] == f"{settings.public_url}/r/{code}"
        assert device.system_number in article["Title"]


def test_scan_of_a_group_replies_with_the_group_repair_link(
        client: TestClient, db: Session, world: World, standin: StandIn, settings: Settings) -> None:
    group = groups.create_group(db, data=GroupCreate(name="生化流水线", device_ids=world.devices_a[:2]), actor=ACTOR)
    db.commit()
    code = qr_service.code_for(db, kind=TargetKind.device_group, target_id=group.id, actor=ACTOR).code
    db.commit()
    reply = _scan(client, standin, scene_for(TargetKind.device_group, code), subscribe=False)
    assert reply["Articles"]["item"]["Url"] == f"{settings.public_url}/r/{code}"
    assert "生化流水线" in reply["Articles"]["item"]["Title"]


def test_scan_of_a_reprinted_label_links_to_the_current_code(
        client: TestClient, db: Session, world: World, standin: StandIn, settings: Settings) -> None:
    old = _device_code(db, world.devices_a[1])
    new = qr_service.reissue(db, kind=TargetKind.device, target_id=world.devices_a[1], actor=ACTOR).code
    db.commit()
    reply = _scan(client, standin, scene_for(TargetKind.device, old), subscribe=False)
    assert reply["Articles"]["item"]["Url"] == f"{settings.public_url}/r/{new}"


def test_scan_of_an_unknown_or_mismatched_scene_replies_with_a_hint(
        client: TestClient, db: Session, world: World, standin: StandIn) -> None:
    code = _device_code(db, world.devices_a[0])
    for scene in ("d:NOSUCHCODE", f"g:{code}", "menu-key"):
        reply = _scan(client, standin, scene, subscribe=False, openid=f"o-{scene}")
        assert reply["MsgType"] == "text" and "编号" in reply["Content"]


def test_plain_subscribe_is_welcomed(client: TestClient, standin: StandIn) -> None:
    params, body = standin.signed(standin.event_xml("o-new", {"MsgType": "event", "Event": "subscribe"}))
    reply = xmltodict.parse(standin.decrypt_reply(client.post("/wechat/callback", params=params,
                                                              content=body).text))["xml"]
    assert reply["MsgType"] == "text" and "二维码" in reply["Content"]
