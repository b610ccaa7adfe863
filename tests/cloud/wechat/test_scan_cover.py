"""The WeChat scan reply carries a cover: the device's photo, else a product image drawn for its category."""

from __future__ import annotations

import io

import xmltodict
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy.orm import Session

from cloud.audit.service import Actor
from cloud.config import Settings
from cloud.qr import service as qr_service
from cloud.qr.models import TargetKind
from cloud.registry.models import Device
from cloud.wechat.callback import scene_for
from cloud.wechat.standin import StandIn
from tests.cloud.tickets.helpers import png_bytes
from tests.cloud.world import World

ACTOR = Actor.system("wechat-test")


def _article(client: TestClient, standin: StandIn, scene: str) -> dict:
    params, body = standin.signed(standin.event_xml("o-cover", {"MsgType": "event", "Event": "SCAN",
                                                                 "EventKey": scene, "Ticket": "t"}))
    response = client.post("/wechat/callback", params=params, content=body)
    assert response.status_code == 200, response.text
    return dict(xmltodict.parse(standin.decrypt_reply(response.text))["xml"]["Articles"]["item"])


def _fetch(client: TestClient, settings: Settings, url: str) -> Image.Image:
    assert url.startswith(f"{settings.public_url}/r/")
    response = client.get(url.removeprefix(settings.public_url))  # public: no sign-in
    assert response.status_code == 200
    assert response.headers["content-type"] in ("image/png", "image/jpeg")
    return Image.open(io.BytesIO(response.content))


def test_scan_reply_has_a_product_image_without_a_device_photo(
        client: TestClient, db: Session, world: World, standin: StandIn, settings: Settings) -> None:
    code = qr_service.code_for(db, kind=TargetKind.device, target_id=world.devices_a[0], actor=ACTOR).code
    db.commit()
    article = _article(client, standin, scene_for(TargetKind.device, code))
    image = _fetch(client, settings, article["PicUrl"])
    assert image.format == "PNG" and image.size == (720, 400)
    # Drawn once, then served from the cache.
    assert list((settings.data_dir / "covers").glob("product-chemistry-*.png"))


def test_scan_reply_uses_the_devices_own_photo(
        client: TestClient, db: Session, world: World, standin: StandIn, settings: Settings) -> None:
    upload = client.post(f"/api/v1/devices/{world.devices_a[1]}/photos", headers=world.headers("admin"),
                         files={"photo": ("analyzer.png", png_bytes("blue"), "image/png")})
    assert upload.status_code == 201, upload.text
    db.expire_all()
    assert (db.get(Device, world.devices_a[1]).photos or [])
    code = qr_service.code_for(db, kind=TargetKind.device, target_id=world.devices_a[1], actor=ACTOR).code
    db.commit()
    image = _fetch(client, settings, _article(client, standin, scene_for(TargetKind.device, code))["PicUrl"])
    assert image.format == "JPEG" and image.size == (720, 400)
    red, green, blue = image.convert("RGB").getpixel((360, 200))
    assert blue > 200 and red < 60  # the blue photo, not a drawing


def test_unknown_label_cover_reveals_nothing(client: TestClient, settings: Settings) -> None:
    response = client.get("/r/NO-SUCH-CODE/cover.jpg")
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
