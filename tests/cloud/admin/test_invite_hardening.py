"""Security finding 5 of issue #13: invite codes are random and expire, guesses back off per account and
address, and WeChat binding only accepts the chosen hospital's own code."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.auth import throttle
from cloud.db import utcnow
from cloud.registry.models import Hospital
from cloud.wechat.models import WechatBinding
from cloud.wechat.standin import StandIn
from tests.cloud.wechat.conftest import settings, standin, standin_server  # noqa: F401 - this module's fixtures
from tests.cloud.wechat.test_oauth import _to_callback
from tests.cloud.world import World

VERIFY = "/api/v1/auth/verify"


def test_admins_cannot_choose_a_code_and_every_issued_code_expires(client: TestClient, db: Session,
                                                                   world: World) -> None:
    admin = world.headers("admin")
    chosen = client.post("/api/v1/hospitals", headers=admin, json={"name": "新医院", "invite_code": "1234"})
    assert chosen.status_code == 422
    assert client.patch(f"/api/v1/hospitals/{world.hospital_a}", headers=admin,
                        json={"invite_code": "1234"}).status_code == 422
    code = client.post(f"/admin/hospitals/{world.hospital_a}/invite", data={"valid_days": ""},
                       headers={**admin, "Accept": "application/json"}).json()["code"]
    db.expire_all()
    hospital = db.get(Hospital, world.hospital_a)
    assert hospital.invite_code == code and len(code.replace("-", "")) == 12
    assert timedelta(days=29) < hospital.invite_code_expires_at - utcnow() <= timedelta(days=30)
    too_long = client.post(f"/admin/hospitals/{world.hospital_a}/invite", data={"valid_days": "3650"},
                           headers={**admin, "Accept": "application/json"})
    assert too_long.status_code == 422


def test_wrong_codes_lock_the_account_then_the_address(client: TestClient, world: World,
                                                      monkeypatch: pytest.MonkeyPatch, one_rate_window: None) -> None:
    monkeypatch.setitem(throttle.INVITE_ADDRESS_LIMITS, "free", 8)
    headers = world.headers("lab_new")
    assert [client.post(VERIFY, json={"invite_code": f"GUESS-{i}"}, headers=headers).status_code
            for i in range(5)] == [403] * 5
    locked = client.post(VERIFY, json={"invite_code": "RJ-INVITE"}, headers=headers)
    assert locked.status_code == 429 and locked.json()["retry_after"] == 60
    # Other accounts from the same address may try, until the address has had its share.
    other = world.headers("lab_a")
    assert [client.post(VERIFY, json={"invite_code": f"GUESS-{i}"}, headers=other).status_code
            for i in range(3)] == [403] * 3
    assert client.post(VERIFY, json={"invite_code": "RJ-INVITE"}, headers=other).status_code == 429


def test_binding_matches_a_code_only_within_the_chosen_hospital(
        client: TestClient, db: Session, world: World, standin: StandIn, one_rate_window: None) -> None:  # noqa: F811
    assert client.get(_to_callback(client, "/wechat/oauth/start?next=/my/devices", "o-guess"),
                      follow_redirects=False).headers["location"] == "/wechat/bind"
    form = {"full_name": "猜码", "phone": "13800000002", "hospital_id": str(world.hospital_a)}
    elsewhere = client.post("/wechat/bind", data={**form, "invite_code": "ZS-INVITE"}, follow_redirects=False)
    assert elsewhere.status_code == 422  # Zhongshan's code does not bind to Ruijin
    assert db.execute(select(WechatBinding).where(WechatBinding.openid == "o-guess")).first() is None
    for i in range(4):
        assert client.post("/wechat/bind", data={**form, "invite_code": f"NOPE-{i}"},
                           follow_redirects=False).status_code == 422
    locked = client.post("/wechat/bind", data={**form, "invite_code": "RJ-INVITE"}, follow_redirects=False,
                         headers={"Accept-Language": "zh-CN"})
    assert locked.status_code == 429 and "邀请码错误次数过多" in locked.text
