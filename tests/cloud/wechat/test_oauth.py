"""Sign in with WeChat: OAuth2 snsapi_base against the stand-in, binding on the first visit, automatic after."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.audit.service import Actor
from cloud.auth.models import User, Verification
from cloud.qr import service as qr_service
from cloud.qr.models import TargetKind
from cloud.wechat.models import WechatBinding
from cloud.wechat.standin import StandIn
from tests.cloud.world import World

WECHAT_UA = "Mozilla/5.0 (iPhone) AppleWebKit/605.1.15 MicroMessenger/8.0.50 NetType/WIFI"
ACTOR = Actor.system("wechat-test")


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _to_callback(client: TestClient, start: str, openid: str) -> str:
    """Follow /wechat/oauth/start to the stand-in's authorize page; the callback path WeChat redirects to."""
    response = client.get(start, follow_redirects=False)
    assert response.status_code == 302, response.text
    authorize = response.headers["location"]
    assert "scope=snsapi_base" in authorize and authorize.endswith("#wechat_redirect")
    # The sandbox's authorize page takes the phone's user as a parameter (the real one knows who is in WeChat).
    back = httpx.get(authorize.split("#", 1)[0] + f"&openid={openid}", follow_redirects=False)
    assert back.status_code == 302, back.text
    return _path(back.headers["location"])


def _label(db: Session, world: World) -> str:
    code = qr_service.code_for(db, kind=TargetKind.device, target_id=world.devices_a[0], actor=ACTOR).code
    db.commit()
    return code


def test_scanning_in_wechat_binds_with_an_invite_code_then_signs_in_by_itself(
        client: TestClient, db: Session, world: World, standin: StandIn) -> None:
    code = _label(db, world)
    landing = client.get(f"/r/{code}", headers={"User-Agent": WECHAT_UA}, follow_redirects=False)
    assert landing.status_code == 303 and landing.headers["location"] == f"/wechat/oauth/start?next=/r/{code}"

    callback = client.get(_to_callback(client, landing.headers["location"], "o-lab-1"), follow_redirects=False)
    assert callback.status_code == 303 and callback.headers["location"] == "/wechat/bind"
    form = client.get("/wechat/bind")
    assert form.status_code == 200 and "invite_code" in form.text
    bad = client.post("/wechat/bind", data={"full_name": "王敏", "phone": "13800000000", "invite_code": "NOPE"},
                      follow_redirects=False)
    assert bad.status_code == 422 and "form-error" in bad.text
    bound = client.post("/wechat/bind", data={"full_name": "王敏", "phone": "13800000000",
                                              "invite_code": "RJ-INVITE"}, follow_redirects=False)
    assert bound.status_code == 303 and bound.headers["location"] == f"/r/{code}"
    assert client.get("/api/v1/auth/me").json()["full_name"] == "王敏"
    binding = db.execute(select(WechatBinding).where(WechatBinding.openid == "o-lab-1")).scalar_one()
    user = db.get(User, binding.user_id)
    assert user is not None and user.verification == Verification.verified and user.hospital_id == world.hospital_a

    # Second visit (new browser session): the landing goes through OAuth and straight back, signed in.
    client.cookies.clear()
    again = client.get(_to_callback(client, f"/wechat/oauth/start?next=/r/{code}", "o-lab-1"),
                       follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == f"/r/{code}"
    page = client.get(f"/r/{code}", headers={"User-Agent": WECHAT_UA}, follow_redirects=False)
    assert page.status_code == 200
    assert len(db.execute(select(WechatBinding)).scalars().all()) == 1


def test_asking_an_admin_creates_an_unverified_lab_user(
        client: TestClient, db: Session, world: World, standin: StandIn) -> None:
    assert client.get(_to_callback(client, "/wechat/oauth/start?next=/my/devices", "o-lab-2"),
                      follow_redirects=False).headers["location"] == "/wechat/bind"
    bound = client.post("/wechat/bind", data={"full_name": "李雷", "phone": "13900000000",
                                              "hospital_id": str(world.hospital_b)}, follow_redirects=False)
    assert bound.status_code == 303 and bound.headers["location"] == "/my/devices"
    me = client.get("/api/v1/auth/me").json()
    assert me["verification"] == "unverified" and me["hospital_id"] == world.hospital_b


def test_a_replayed_code_is_refused_with_a_clear_page(client: TestClient, standin: StandIn) -> None:
    path = _to_callback(client, "/wechat/oauth/start?next=/my/devices", "o-replay")
    assert client.get(path, follow_redirects=False).status_code == 303
    replay = client.get(path, follow_redirects=False)
    assert replay.status_code == 400 and "weui-msg" in replay.text and "Traceback" not in replay.text

    # The same code under a fresh state is refused too (by us, and WeChat would say 40163).
    code = parse_qs(urlsplit(path).query)["code"][0]
    fresh = _to_callback(client, "/wechat/oauth/start?next=/my/devices", "o-replay")
    state = parse_qs(urlsplit(fresh).query)["state"][0]
    again = client.get("/wechat/oauth/callback", params={"code": code, "state": state}, follow_redirects=False)
    assert again.status_code == 400 and "weui-msg" in again.text


def test_a_bad_or_foreign_state_is_refused(client: TestClient, standin: StandIn) -> None:
    path = _to_callback(client, "/wechat/oauth/start?next=/my/devices", "o-state")
    query = parse_qs(urlsplit(path).query)
    state, code = query["state"][0], query["code"][0]
    forged = state[:-1] + ("0" if state[-1] != "0" else "1")
    for bad in (forged, "", "x" * 48):
        response = client.get("/wechat/oauth/callback", params={"code": code, "state": bad}, follow_redirects=False)
        assert response.status_code == 400 and "weui-msg" in response.text, bad
    # A valid state from another browser (no matching cookie) does not sign this one in.
    client.cookies.clear()
    stolen = client.get(path, follow_redirects=False)
    assert stolen.status_code == 400
    assert "medfix_session" not in stolen.cookies


def test_outside_wechat_the_landing_page_opens_directly(client: TestClient, db: Session, world: World) -> None:
    code = _label(db, world)
    assert client.get(f"/r/{code}", follow_redirects=False).status_code == 200
    opted_out = client.get(f"/r/{code}?wx=0", headers={"User-Agent": WECHAT_UA}, follow_redirects=False)
    assert opted_out.status_code == 200
