"""Issue #13 (8): no WeChat without a callback token, signatures compared in constant time, bodies capped."""

from __future__ import annotations

import hmac

import pytest
from fastapi.testclient import TestClient
from wechatpy.exceptions import InvalidSignatureException

from cloud.config import Settings
from cloud.main import create_app
from cloud.wechat import api as wechat_api
from cloud.wechat import callback
from cloud.wechat.runtime import WeChatMisconfigured
from cloud.wechat.standin import StandIn
from tests.cloud.wechat.conftest import VECTORS


@pytest.mark.parametrize("token", ["", "   "])
def test_an_appid_without_a_callback_token_refuses_to_start(settings: Settings, token: str) -> None:
    with pytest.raises(WeChatMisconfigured, match="MEDFIX_WECHAT_TOKEN"):
        create_app(settings.model_copy(update={"wechat_token": token}))


@pytest.mark.parametrize("sample", VECTORS["callback_signature"], ids=lambda s: s["timestamp"])
def test_our_signature_check_agrees_with_the_official_samples(sample: dict[str, str]) -> None:
    callback.check_signature(sample["token"], sample["signature"], sample["timestamp"], sample["nonce"])
    for token, signature in ((sample["token"] + "x", sample["signature"]), ("", sample["signature"]),
                             (sample["token"], "0" * 40), (sample["token"], "")):
        with pytest.raises(InvalidSignatureException):
            callback.check_signature(token, signature, sample["timestamp"], sample["nonce"])


def test_callback_signatures_are_compared_in_constant_time(client: TestClient, standin: StandIn,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def recording(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(callback.hmac, "compare_digest", recording)
    xml = standin.event_xml("o-ct", {"MsgType": "text", "Content": "hi", "MsgId": "901"})
    params, body = standin.signed(xml)
    assert client.post("/wechat/callback", params=params, content=body).status_code == 200
    signatures = {params.get("signature", "").encode(), params["msg_signature"].encode()} - {b""}
    assert signatures <= {b for _a, b in compared}


def test_an_oversized_callback_body_is_refused_while_reading(client: TestClient, standin: StandIn,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wechat_api, "MAX_CALLBACK_BYTES", 1024)
    params, body = standin.signed(standin.event_xml("o-big", {"MsgType": "text", "Content": "x" * 4000,
                                                             "MsgId": "902"}))
    assert client.post("/wechat/callback", params=params, content=body).status_code == 413

    def chunks():  # noqa: ANN202 - no Content-Length: the cap must hold while streaming
        for _ in range(10):
            yield b"x" * 512

    assert client.post("/wechat/callback", params=params, content=chunks()).status_code == 413
