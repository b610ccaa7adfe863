"""An expired invite code is refused with a clear message on the WeChat bind form too (nothing is created)."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.db import utcnow
from cloud.registry.models import Hospital
from cloud.wechat.models import WechatBinding
from cloud.wechat.standin import StandIn
from tests.cloud.wechat.conftest import settings, standin, standin_server  # noqa: F401 - this module's fixtures
from tests.cloud.wechat.test_oauth import _to_callback
from tests.cloud.world import World


def test_binding_with_an_expired_invite_code_is_refused_clearly(
        client: TestClient, db: Session, world: World, standin: StandIn) -> None:  # noqa: F811
    hospital = db.get(Hospital, world.hospital_a)
    hospital.invite_code_expires_at = utcnow() - timedelta(hours=1)
    db.commit()
    assert client.get(_to_callback(client, "/wechat/oauth/start?next=/my/devices", "o-late"),
                      follow_redirects=False).headers["location"] == "/wechat/bind"
    refused = client.post("/wechat/bind", data={"full_name": "迟到", "phone": "13800000001",
                                                "invite_code": "RJ-INVITE"}, follow_redirects=False)
    assert refused.status_code == 422 and "邀请码已过期" in refused.text
    assert db.execute(select(WechatBinding).where(WechatBinding.openid == "o-late")).first() is None
