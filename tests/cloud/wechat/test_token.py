"""The access token: cached centrally, fetched by one worker at a time, refreshed once on 40001/42001."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker
from wechatpy.exceptions import WeChatClientException

from cloud.config import Settings
from cloud.wechat.client import make_client
from cloud.wechat.runtime import jsapi_signature
from cloud.wechat.standin import StandIn
from cloud.wechat.store import DbStore


def test_token_is_fetched_once_and_shared_by_clients(app: FastAPI, settings: Settings, standin: StandIn) -> None:
    sessions: sessionmaker[Session] = app.state.sessionmaker
    first, second = make_client(settings, DbStore(sessions)), make_client(settings, DbStore(sessions))
    assert first.access_token == second.access_token  # another worker finds the cached token
    assert standin.token_grants == 1


def test_workers_needing_a_token_at_once_fetch_it_once(app: FastAPI, settings: Settings, standin: StandIn) -> None:
    sessions: sessionmaker[Session] = app.state.sessionmaker
    clients = [make_client(settings, DbStore(sessions)) for _ in range(6)]
    with ThreadPoolExecutor(6) as pool:
        tokens = set(pool.map(lambda c: c.access_token, clients))
    assert len(tokens) == 1 and standin.token_grants == 1


def test_invalid_token_40001_triggers_one_refresh_and_a_retry(app: FastAPI, standin: StandIn) -> None:
    client = app.state.wechat.client
    stale = client.access_token
    standin.expire_tokens()  # e.g. someone refreshed the token outside medfix
    answer = client.create_permanent_qr("d:ABCDEFGHJK")
    assert answer["ticket"] and answer["url"].startswith("http://weixin.qq.com/q/")
    assert standin.token_grants == 2 and client.access_token != stale


def test_a_token_error_after_the_refresh_is_raised_not_looped(app: FastAPI, standin: StandIn) -> None:
    client = app.state.wechat.client
    standin.fail_next["message/template/send"] = [40001, 40001, 40001]
    with pytest.raises(WeChatClientException) as caught:
        client.send_template(touser="o-x", template_id="T", data={}, url=None, client_msg_id="k")
    assert caught.value.errcode == 40001 and standin.token_grants == 2


def test_a_token_refreshed_by_another_worker_is_not_refreshed_again(
        app: FastAPI, settings: Settings, standin: StandIn) -> None:
    sessions: sessionmaker[Session] = app.state.sessionmaker
    first, second = make_client(settings, DbStore(sessions)), make_client(settings, DbStore(sessions))
    stale = first.access_token
    first.refresh_after(stale)
    second.refresh_after(stale)  # it saw the same stale token fail, but the cache already holds a fresh one
    assert standin.token_grants == 2


def test_jssdk_config_signs_our_page_with_the_cached_ticket(app: FastAPI, standin: StandIn, settings: Settings) -> None:
    with TestClient(app) as client:
        url = f"{settings.public_url}/r/ABCDEFGHJK?x=1"
        first = client.get("/wechat/jssdk-config", params={"url": url}).json()
        second = client.get("/wechat/jssdk-config", params={"url": url}).json()
        assert first["appId"] == settings.wechat_appid and len(first["signature"]) == 40
        assert "translateVoice" in first["jsApiList"]
        assert client.get("/wechat/jssdk-config", params={"url": "https://evil.example/x"}).status_code == 400
    ticket = app.state.wechat.client.jsapi_ticket()
    assert second["signature"] == jsapi_signature(ticket=ticket, noncestr=second["nonceStr"],
                                                  timestamp=str(second["timestamp"]), url=url)
