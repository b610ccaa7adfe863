"""Permanent parametric QR codes: groups and key devices get one (kept on the label row), others keep /r/."""

from __future__ import annotations

import logging

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.audit.models import AuditLog
from cloud.audit.service import Actor
from cloud.config import Settings
from cloud.qr import service as qr_service
from cloud.qr.models import QrCode, TargetKind
from cloud.registry import groups
from cloud.registry.models import Device
from cloud.registry.schemas import GroupCreate
from cloud.wechat.models import WechatPermanentQr
from cloud.wechat.qrcodes import CapReached, PermanentQrCodes
from cloud.wechat.runtime import WeChat
from cloud.wechat.standin import StandIn
from tests.cloud.world import World

ACTOR = Actor.system("wechat-test")


def _row(db: Session, kind: TargetKind, target_id: int) -> QrCode:
    row = qr_service.active_code(db, kind=kind, target_id=target_id)
    assert row is not None
    db.refresh(row)
    return row


def _issuer(app: FastAPI, cap: int) -> PermanentQrCodes:
    wechat: WeChat = app.state.wechat
    return PermanentQrCodes(wechat.settings.model_copy(update={"wechat_permanent_qr_cap": cap}), wechat.client,
                            wechat.store)


def test_group_and_key_device_labels_get_a_wechat_code_and_other_devices_keep_the_url(
        client: TestClient, db: Session, world: World, standin: StandIn, settings: Settings) -> None:
    key = db.get(Device, world.devices_a[0])
    assert key is not None
    key.is_key = True
    group = groups.create_group(db, data=GroupCreate(name="生化流水线", device_ids=world.devices_a[1:3]), actor=ACTOR)
    db.commit()
    body = {"template": "a4-3x8", "devices": [world.devices_a[0], world.devices_a[3]], "groups": [group.id]}
    response = client.post("/api/v1/labels", json=body, headers=world.headers("admin"))
    assert response.status_code == 200, response.text

    key_row = _row(db, TargetKind.device, world.devices_a[0])
    plain_row = _row(db, TargetKind.device, world.devices_a[3])
    group_row = _row(db, TargetKind.device_group, group.id)
    assert key_row.wechat_scene == f"d:{key_row.code}" and group_row.wechat_scene == f"g:{group_row.code}"
    for row in (key_row, group_row):
        assert row.wechat_url and row.wechat_url.startswith("http://weixin.qq.com/q/")
        assert qr_service.content_for(row, settings.public_url) == row.wechat_url
        assert standin.qr_tickets[row.wechat_ticket or ""]["scene"] == row.wechat_scene
    assert plain_row.wechat_url is None
    assert qr_service.content_for(plain_row, settings.public_url) == f"{settings.public_url}/r/{plain_row.code}"

    # Printing again (or fetching the PNG) never issues another permanent code.
    assert client.post("/api/v1/labels", json=body, headers=world.headers("admin")).status_code == 200
    png = client.get(f"/api/v1/devices/{world.devices_a[0]}/qr.png", headers=world.headers("admin"))
    assert png.status_code == 200
    assert len(standin.qr_tickets) == 2
    assert db.execute(select(WechatPermanentQr)).scalars().all().__len__() == 2


def test_permanent_codes_are_refused_past_the_cap_and_the_label_keeps_its_url(
        app: FastAPI, client: TestClient, db: Session, world: World, standin: StandIn) -> None:
    issuer = _issuer(app, cap=1)
    rows = [qr_service.code_for(db, kind=TargetKind.device, target_id=i, actor=ACTOR) for i in world.devices_a[:2]]
    db.commit()
    issuer.issue(db, row=rows[0])
    with pytest.raises(CapReached):
        issuer.issue(db, row=rows[1])
    assert rows[1].wechat_url is None
    devices = [db.get(Device, i) for i in world.devices_a[:2]]
    for device in devices:
        assert device is not None
        device.is_key = True
    issuer.ensure(db, [(row, device) for row, device in zip(rows, devices, strict=True) if device])
    db.commit()
    assert rows[0].wechat_url and rows[1].wechat_url is None
    assert issuer.count(db) == 1 and len(standin.qr_tickets) == 1


def test_a_warning_is_logged_and_recorded_at_ninety_percent_of_the_cap(
        app: FastAPI, client: TestClient, db: Session, world: World, standin: StandIn,
        caplog: pytest.LogCaptureFixture) -> None:
    issuer = _issuer(app, cap=10)
    db.add_all(WechatPermanentQr(appid=issuer.appid, scene=f"d:SEEDED{i}", ticket=f"t{i}", url=f"u{i}")
               for i in range(7))
    rows = [qr_service.code_for(db, kind=TargetKind.device, target_id=i, actor=ACTOR) for i in world.devices_a[:2]]
    db.commit()
    issuer.client.access_token  # noqa: B018 - fetch the token before this transaction writes (SQLite's lock)
    with caplog.at_level(logging.WARNING, logger="medfix.wechat.qrcodes"):
        issuer.issue(db, row=rows[0])  # 8 of 10: quiet
        assert not caplog.records
        issuer.issue(db, row=rows[1])  # 9 of 10: warn
    db.commit()
    assert any("9 of 10" in r.getMessage() for r in caplog.records)
    warnings = db.execute(select(AuditLog).where(AuditLog.action == "wechat_qr_cap_warning")).scalars().all()
    assert len(warnings) == 1 and warnings[0].after == {"appid": issuer.appid, "used": 9, "cap": 10}
