"""Cross-worker fan-out: a ticket submitted to one API process reaches a console on another through Redis; after a
Redis outage the console in the browser catches up with what it missed (issue #13, faults).

Redis is a private redis-server (tests/services.py), so it can be killed without disturbing the rest of the suite."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
import websockets

from tests.e2e.conftest import LiveServer, medfix, page_errors, screenshot, sign_in, token
from tests.services import RedisServer


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    """A Redis of this module alone."""
    with RedisServer().running() as server:
        yield server


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory, redis_server: RedisServer):  # noqa: ANN001, ANN201
    """Two server processes on one database, sharing Redis."""
    folder = tmp_path_factory.mktemp("fanout")
    env = {"MEDFIX_REDIS_URL": f"redis://127.0.0.1:{redis_server.port}/0"}
    first, second = LiveServer(folder, env), LiveServer(folder, env)
    medfix("demo", "seed", env=first.env)
    first.start()
    second.start()
    yield first, second
    first.stop()
    second.stop()


def test_ticket_on_worker_a_reaches_console_on_worker_b(two_workers) -> None:  # noqa: ANN001
    first, second = two_workers
    agent = token(second, "agent")
    device = httpx.get(f"{first.url}/api/v1/devices?limit=1",
                       headers={"Authorization": f"Bearer {agent}"}).json()["items"][0]

    async def scenario() -> tuple[dict, float]:
        async with websockets.connect(f"ws://127.0.0.1:{second.port}/ws/console",
                                      additional_headers={"Authorization": f"Bearer {agent}"}) as ws:
            assert json.loads(await ws.recv())["type"] == "hello"
            started = time.monotonic()
            async with httpx.AsyncClient() as http:
                response = await http.post(
                    f"{first.url}/api/v1/tickets", json={"device_id": device["id"], "description": "跨进程推送测试"},
                    headers={"Idempotency-Key": uuid.uuid4().hex, "Authorization": f"Bearer {agent}"})
                assert response.status_code == 201
                number = response.json()["ticket"]["number"]
            while True:
                message = json.loads(await asyncio.wait_for(ws.recv(), timeout=5))
                if message.get("type") == "ticket" and message.get("number") == number:
                    return message, time.monotonic() - started

    message, elapsed = asyncio.run(scenario())
    assert message["event"] == "ticket.submitted"
    assert elapsed < 5


def test_a_console_catches_up_with_what_a_redis_outage_kept_from_it(  # noqa: ANN001
        two_workers, redis_server: RedisServer, browser) -> None:
    first, second = two_workers
    agent = token(first, "agent")
    device = httpx.get(f"{first.url}/api/v1/devices?limit=1",
                       headers={"Authorization": f"Bearer {agent}"}).json()["items"][0]
    page = browser.new_page(locale="zh-CN", timezone_id="Asia/Shanghai")
    errors = page_errors(page)
    sign_in(page, second, "agent", "/console")  # the desk's console on worker B
    page.locator(".q-item").first.wait_for()

    redis_server.kill()
    response = httpx.post(f"{first.url}/api/v1/tickets", timeout=30,  # to worker A, while Redis is gone
                          json={"device_id": device["id"], "description": "Redis 中断期间提交的报修"},
                          headers={"Idempotency-Key": uuid.uuid4().hex, "Authorization": f"Bearer {agent}"})
    assert response.status_code == 201, response.text  # the outage costs the submitter nothing
    number = response.json()["ticket"]["number"]
    item = page.locator(f'.q-item[data-number="{number}"]')
    time.sleep(2)
    assert item.count() == 0  # worker B's console could not hear it

    redis_server.start()
    item.wait_for(timeout=30_000)  # told to fetch again once worker B's channel is back
    assert "Redis 中断期间提交的报修" in item.inner_text()
    screenshot(page, "console-after-redis-outage")
    assert errors == []
    page.close()
