"""The callback: official samples, signatures, replay window, retries acting once, unknown types."""

from __future__ import annotations

import secrets
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import xmltodict
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidSignatureException
from wechatpy.utils import check_signature

from cloud.config import Settings
from cloud.main import create_app
from cloud.wechat.models import WechatInbound
from cloud.wechat.runtime import jsapi_signature
from cloud.wechat.standin import StandIn
from tests.cloud.wechat.conftest import SAFE, VECTORS
from tests.conftest import need, port_open


def _sample_params(**override: str) -> dict[str, str]:
    params = {"timestamp": SAFE["timestamp"], "nonce": SAFE["nonce"], "encrypt_type": "aes",
              "msg_signature": SAFE["msg_signature"]}
    return {**params, **override}


def _replay_2014(app: FastAPI) -> None:
    app.state.wechat.handler.clock = lambda: float(SAFE["timestamp"])


def _inbound_count(db: Session) -> int:
    db.expire_all()
    return int(db.execute(select(func.count()).select_from(WechatInbound)).scalar_one())


def test_safe_mode_official_sample_is_accepted_and_answered(client: TestClient, app: FastAPI, db: Session) -> None:
    _replay_2014(app)
    response = client.post("/wechat/callback", params=_sample_params(), content=SAFE["post_body"])
    assert response.status_code == 200, response.text
    crypto = WeChatCrypto(SAFE["token"], SAFE["encoding_aes_key"], SAFE["appid"])
    envelope = xmltodict.parse(response.text)["xml"]
    reply = xmltodict.parse(crypto.decrypt_message(response.text, envelope["MsgSignature"], envelope["TimeStamp"],
                                                   envelope["Nonce"]))["xml"]
    assert reply["ToUserName"] == SAFE["decrypted"]["FromUserName"]
    assert reply["FromUserName"] == SAFE["decrypted"]["ToUserName"]
    assert reply["MsgType"] == "text" and reply["Content"]
    row = db.execute(select(WechatInbound)).scalar_one()
    assert (row.openid, row.content, row.dedupe_key) == (
        SAFE["decrypted"]["FromUserName"], SAFE["decrypted"]["Content"], f"msg:{SAFE['decrypted']['MsgId']}")


@pytest.mark.parametrize("tamper", ["msg_signature", "body", "nonce"])
def test_tampered_safe_mode_callback_gets_403(client: TestClient, app: FastAPI, db: Session, tamper: str) -> None:
    _replay_2014(app)
    params, body = _sample_params(), SAFE["post_body"]
    if tamper == "msg_signature":
        params["msg_signature"] = "0" + params["msg_signature"][1:]
    elif tamper == "body":
        body = body.replace("hyzAe4", "hyzAe5")
    else:
        params["nonce"] = "1320562133"
    assert client.post("/wechat/callback", params=params, content=body).status_code == 403
    assert _inbound_count(db) == 0


def test_plaintext_callback_with_bad_signature_gets_403(client: TestClient, standin: StandIn) -> None:
    xml = standin.event_xml("o-user", {"MsgType": "text", "Content": "hi", "MsgId": "1"})
    now = str(int(time.time()))
    assert client.post("/wechat/callback", params={"signature": "f" * 40, "timestamp": now, "nonce": "1"},
                       content=xml).status_code == 403


def test_plaintext_callback_is_answered(client: TestClient, standin: StandIn) -> None:
    params, _ = standin.signed("<xml/>")
    xml = standin.event_xml("o-user", {"MsgType": "text", "Content": "hi", "MsgId": "77"})
    response = client.post("/wechat/callback", content=xml, params={
        k: params[k] for k in ("signature", "timestamp", "nonce")})
    assert response.status_code == 200
    assert xmltodict.parse(response.text)["xml"]["ToUserName"] == "o-user"


def test_compatible_mode_body_is_decrypted_and_answered_encrypted(client: TestClient, standin: StandIn) -> None:
    xml = standin.event_xml("o-compat", {"MsgType": "text", "Content": "兼容模式", "MsgId": "78"})
    params, body = standin.signed(xml)
    # Compatible mode: the plaintext fields travel beside <Encrypt>; medfix must trust only the ciphertext.
    mixed = body.replace("</xml>", "<FromUserName><![CDATA[o-forged]]></FromUserName></xml>")
    response = client.post("/wechat/callback", params=params, content=mixed)
    assert response.status_code == 200
    assert xmltodict.parse(standin.decrypt_reply(response.text))["xml"]["ToUserName"] == "o-compat"


def test_stale_timestamp_is_refused_unless_inside_the_window(client: TestClient, app: FastAPI) -> None:
    assert client.post("/wechat/callback", params=_sample_params(), content=SAFE["post_body"]).status_code == 403
    app.state.wechat.handler.clock = lambda: float(SAFE["timestamp"]) + 299
    assert client.post("/wechat/callback", params=_sample_params(), content=SAFE["post_body"]).status_code == 200


def test_url_verification_echoes_echostr(settings: Settings) -> None:
    sample = VECTORS["callback_signature"][0]
    app = create_app(settings.model_copy(update={"wechat_token": sample["token"]}))
    app.state.wechat.handler.clock = lambda: float(sample["timestamp"])
    params = {k: sample[k] for k in ("signature", "timestamp", "nonce", "echostr")}
    with TestClient(app) as client:
        response = client.get("/wechat/callback", params=params)
        assert (response.status_code, response.text) == (200, sample["echostr"])
        bad = client.get("/wechat/callback", params={**params, "signature": "0" * 40})
        assert bad.status_code == 403 and sample["echostr"] not in bad.text


@pytest.mark.parametrize("sample", VECTORS["callback_signature"], ids=lambda s: s["timestamp"])
def test_callback_signature_samples_verify(sample: dict[str, str]) -> None:
    check_signature(sample["token"], sample["signature"], sample["timestamp"], sample["nonce"])
    with pytest.raises(InvalidSignatureException):
        check_signature(sample["token"] + "x", sample["signature"], sample["timestamp"], sample["nonce"])


@pytest.mark.parametrize("sample", VECTORS["jssdk_signature"], ids=["plain", "query"])
def test_jssdk_signature_matches_official_samples(sample: dict[str, str]) -> None:
    assert jsapi_signature(ticket=sample["jsapi_ticket"], noncestr=sample["noncestr"], timestamp=sample["timestamp"],
                           url=sample["url"] + "#fragment") == sample["signature"]


@pytest.mark.parametrize("fields", [
    {"MsgType": "text", "Content": "设备报警", "MsgId": "__id__"},
    {"MsgType": "event", "Event": "SCAN", "EventKey": "d:NOSUCHCODE"},
], ids=["message-by-msgid", "event-by-sender-and-time"])
def test_retried_callback_delivered_three_times_concurrently_acts_once(
        client: TestClient, db: Session, standin: StandIn, fields: dict[str, str]) -> None:
    fields = {k: (str(secrets.randbelow(10**18)) if v == "__id__" else v) for k, v in fields.items()}
    params, body = standin.signed(standin.event_xml("o-retry", fields))

    def deliver(_: int) -> tuple[int, str]:
        response = client.post("/wechat/callback", params=params, content=body)
        return response.status_code, standin.decrypt_reply(response.text)

    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(deliver, range(3)))
    assert [status for status, _ in results] == [200, 200, 200]
    contents = {xmltodict.parse(reply)["xml"]["Content"] for _, reply in results}
    assert len(contents) == 1  # every try gets the same answer ...
    assert _inbound_count(db) == 1  # ... but only one acts


def test_retries_act_once_with_redis_dedupe(settings: Settings, standin: StandIn) -> None:
    need(port_open("127.0.0.1", 6379), "Redis on 127.0.0.1:6379")
    app = create_app(settings.model_copy(update={"redis_url": "redis://127.0.0.1:6379/0"}))
    params, body = standin.signed(standin.event_xml("o-redis", {
        "MsgType": "text", "Content": "x", "MsgId": str(secrets.randbelow(10**18))}))
    with TestClient(app) as client, ThreadPoolExecutor(3) as pool:
        statuses = list(pool.map(lambda _: client.post("/wechat/callback", params=params, content=body).status_code,
                                 range(3)))
        assert statuses == [200, 200, 200]
        assert type(app.state.wechat.store).__name__ == "RedisStore"
        with app.state.sessionmaker() as session:
            assert _inbound_count(session) == 1


def test_unknown_message_type_answers_success(client: TestClient, standin: StandIn) -> None:
    params, body = standin.signed(standin.event_xml("o-x", {"MsgType": "shortvideo_v9", "MsgId": "123456"}))
    response = client.post("/wechat/callback", params=params, content=body)
    assert (response.status_code, response.text) == (200, "success")
    params, body = standin.signed(standin.event_xml("o-x", {"MsgType": "event", "Event": "VIEW", "EventKey": "u"}))
    assert client.post("/wechat/callback", params=params, content=body).text == "success"


def test_without_an_appid_wechat_is_off_and_the_web_channel_remains(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"wechat_appid": ""}))
    assert app.state.wechat is None
    assert [channel.name for channel in app.state.channels] == ["in_app"]
    with TestClient(app) as client:
        assert client.get("/wechat/callback", params={"echostr": "x"}).status_code == 404
        assert client.get("/healthz").status_code == 200
