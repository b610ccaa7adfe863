"""The callback's writer thread (cloud/wechat/inbound.py), as deployed: messages are answered at once and claimed
and logged in batches afterwards; each of WeChat's retries of a message has one effect across two workers; the
database away, or one bad message, loses nothing else; a full queue makes the request write its own."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from wechatpy.messages import BaseMessage

from cloud.config import Settings
from cloud.main import create_app
from cloud.wechat.inbound import InboundWriter
from cloud.wechat.models import WechatInbound
from cloud.wechat.standin import StandIn
from tests.conftest import need, port_open


@pytest.fixture
def deployed(settings: Settings) -> Settings:
    """The suite's WeChat settings with the writer thread on, as in production."""
    return settings.model_copy(update={"wechat_callback_inline": False})


@pytest.fixture
def app(deployed: Settings) -> FastAPI:
    return create_app(deployed)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


def _writer(app: FastAPI) -> InboundWriter:
    writer = app.state.wechat.writer
    assert isinstance(writer, InboundWriter)
    return writer


def _logged(app: FastAPI) -> dict[str, int]:
    """Inbound log rows per dedupe key."""
    with app.state.sessionmaker() as session:
        return dict(session.execute(select(WechatInbound.dedupe_key, func.count())  # type: ignore[arg-type]
                                    .group_by(WechatInbound.dedupe_key)).all())


def _text(standin: StandIn, content: str) -> tuple[str, tuple[dict[str, str], str]]:
    msg_id = str(secrets.randbelow(10**18))
    fields = {"MsgType": "text", "Content": content, "MsgId": msg_id}
    return f"msg:{msg_id}", standin.signed(standin.event_xml("o-writer", fields))


def test_messages_are_answered_before_they_are_logged_and_logged_in_batches(
        client: TestClient, app: FastAPI, standin: StandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    handler = app.state.wechat.handler
    real = handler.act_many
    gate, batches = threading.Event(), []

    def held(claimed: Sequence[tuple[BaseMessage, str]]) -> None:
        batches.append(len(claimed))
        gate.wait(30)  # the first batch holds the writer while the next messages queue up
        real(claimed)

    monkeypatch.setattr(handler, "act_many", held)
    sent = [_text(standin, f"第{i}条") for i in range(31)]
    for _, (params, body) in sent:
        response = client.post("/wechat/callback", params=params, content=body)
        assert response.status_code == 200  # answered while nothing has been logged yet
    assert _logged(app) == {}
    gate.set()
    assert _writer(app).wait_idle()
    assert _logged(app) == {key: 1 for key, _ in sent}
    assert sum(batches) == 31 and len(batches) <= 3  # one transaction for the first, one or two for the 30 queued


def test_three_concurrent_deliveries_to_two_workers_act_once(deployed: Settings, standin: StandIn) -> None:
    need(port_open("127.0.0.1", 6379), "Redis on 127.0.0.1:6379")
    settings = deployed.model_copy(update={"redis_url": "redis://127.0.0.1:6379/0"})
    one, two = create_app(settings), create_app(settings)
    messages = [_text(standin, f"重试{i}") for i in range(20)]
    with TestClient(one) as first, TestClient(two) as second, ThreadPoolExecutor(6) as pool:
        def deliver(job: tuple[int, tuple[dict[str, str], str]]) -> int:
            attempt, (params, body) = job
            return (first if attempt % 2 else second).post("/wechat/callback", params=params,
                                                           content=body).status_code

        statuses = list(pool.map(deliver, [(attempt, signed) for _, signed in messages for attempt in range(3)]))
        assert statuses == [200] * 60
        assert _writer(one).wait_idle() and _writer(two).wait_idle()
        assert _logged(one) == {key: 1 for key, _ in messages}  # WeChat's 3 tries of each: one effect


def test_the_database_away_while_logging_loses_nothing(
        client: TestClient, app: FastAPI, standin: StandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    handler = app.state.wechat.handler
    real, outage = handler.act_many, {"left": 2}

    def flaky(claimed: Sequence[tuple[BaseMessage, str]]) -> None:
        if outage["left"]:
            outage["left"] -= 1
            raise OperationalError("COMMIT", {}, Exception("server closed the connection unexpectedly"))
        real(claimed)

    monkeypatch.setattr(handler, "act_many", flaky)
    sent = [_text(standin, f"断线{i}") for i in range(5)]
    for _, (params, body) in sent:
        assert client.post("/wechat/callback", params=params, content=body).status_code == 200
    assert _writer(app).wait_idle(timeout=20)
    assert outage["left"] == 0
    assert _logged(app) == {key: 1 for key, _ in sent}  # written once the database was back, each once


def test_one_message_that_cannot_be_logged_loses_only_itself(
        client: TestClient, app: FastAPI, standin: StandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    handler, writer = app.state.wechat.handler, _writer(app)
    writer.retry_for_s = 0.0
    real = handler._act  # noqa: SLF001 - the per-message part inside the batch's transaction

    def picky(session: Any, message: BaseMessage, key: str) -> None:  # noqa: ANN401
        if message.content == "坏":
            raise ValueError("this message cannot be stored")
        real(session, message, key)

    monkeypatch.setattr(handler, "_act", picky)
    gate, real_many = threading.Event(), handler.act_many

    def held(claimed: Sequence[tuple[BaseMessage, str]]) -> None:
        if any(message.content == "先" for message, _ in claimed):
            gate.wait(30)  # holds the writer while the three below queue up: they form the next batch
        real_many(claimed)

    monkeypatch.setattr(handler, "act_many", held)
    sent = [_text(standin, content) for content in ("先", "好1", "坏", "好2")]
    for _, (params, body) in sent:
        assert client.post("/wechat/callback", params=params, content=body).status_code == 200
    gate.set()
    assert writer.wait_idle()
    assert _logged(app) == {sent[0][0]: 1, sent[1][0]: 1, sent[3][0]: 1}


def test_a_full_queue_makes_the_request_write_its_own(client: TestClient, app: FastAPI, standin: StandIn) -> None:
    _writer(app).queue_max = 0
    key, (params, body) = _text(standin, "排队满了")
    assert client.post("/wechat/callback", params=params, content=body).status_code == 200
    assert _logged(app) == {key: 1}  # written by the request's own after-answer task, before the client heard


def test_stopping_the_app_logs_what_was_queued(deployed: Settings, standin: StandIn) -> None:
    app = create_app(deployed)
    gate = threading.Event()
    with TestClient(app) as client:
        handler = app.state.wechat.handler
        real = handler.act_many
        handler.act_many = lambda claimed: (gate.wait(30), real(claimed))
        sent = [_text(standin, f"关机{i}") for i in range(4)]
        for _, (params, body) in sent:
            assert client.post("/wechat/callback", params=params, content=body).status_code == 200
        threading.Timer(0.5, gate.set).start()  # the shutdown below begins with the writer busy and 3 queued
    assert gate.is_set()
    assert _logged(app) == {key: 1 for key, _ in sent}


def test_redis_killed_while_wechat_retries_each_message_still_acts_once(deployed: Settings, standin: StandIn) -> None:
    """The dedupe claims live in Redis: with it down the writers keep the answered messages and claim them once it
    is back, so every message acts, and acts once, whichever worker each of its three deliveries reached."""
    from tests.services import RedisServer

    with RedisServer().running() as redis_server:
        settings = deployed.model_copy(update={"redis_url": f"redis://127.0.0.1:{redis_server.port}/0"})
        one, two = create_app(settings), create_app(settings)
        messages = [_text(standin, f"断开{i}") for i in range(5)]
        with TestClient(one) as first, TestClient(two) as second:
            redis_server.kill()
            for attempt in range(3):
                for _, (params, body) in messages:
                    client = first if attempt % 2 else second
                    assert client.post("/wechat/callback", params=params, content=body).status_code == 200
            time.sleep(1.0)
            assert _logged(one) == {}  # answered, and waiting for the claims
            redis_server.start()
            assert _writer(one).wait_idle(timeout=40) and _writer(two).wait_idle(timeout=40)
            assert _logged(one) == {key: 1 for key, _ in messages}
