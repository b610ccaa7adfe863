"""Cross-worker fan-out: a ticket submitted to one API process reaches a console on another through Redis."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import httpx
import pytest
import websockets

from tests.conftest import need, port_open
from tests.e2e.conftest import LiveServer, medfix, token


@pytest.fixture
def two_workers(tmp_path):  # noqa: ANN001, ANN201
    """Two server processes on one database, sharing Redis."""
    need(port_open("127.0.0.1", 6379), "Redis on 127.0.0.1:6379")
    env = {"MEDFIX_REDIS_URL": "redis://127.0.0.1:6379/0"}
    first, second = LiveServer(tmp_path, env), LiveServer(tmp_path, env)
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
