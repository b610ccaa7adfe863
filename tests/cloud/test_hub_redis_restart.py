"""Redis killed and restarted under two workers' hubs (issue #13): what one worker published during the outage could
not reach the other's browsers, so once the channel is back each of them is told to fetch its view again
("resync"), and fan-out between the workers works again by itself.

Redis is Debian's redis-server on a private port (the shared one on 6379 serves the rest of the suite).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import pytest

from cloud.console.hub import Connection, Hub
from tests.services import RedisServer


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    with RedisServer().running() as server:
        yield server


async def next_message(connection: Connection, timeout: float) -> dict[str, object]:
    return dict(json.loads(await asyncio.wait_for(connection.queue.get(), timeout)))


async def test_browsers_resync_after_a_redis_outage_and_fanout_resumes(redis_server: RedisServer) -> None:
    url = f"redis://127.0.0.1:{redis_server.port}/0"
    first, second = Hub(url), Hub(url)  # two API workers
    await first.start()
    await second.start()
    try:
        console = second.register(lambda message: message.get("type") == "ticket")
        first.publish({"type": "ticket", "number": "T-1"})
        assert (await next_message(console, 5))["number"] == "T-1"

        redis_server.kill()
        await asyncio.to_thread(first.publish, {"type": "ticket", "number": "T-2"})  # on its own worker only
        await asyncio.sleep(1.5)
        assert console.queue.empty()  # missed: the other worker's console could not hear it

        redis_server.start()
        assert await next_message(console, 20) == {"type": "resync"}  # so the console fetches T-2 itself

        deadline = time.monotonic() + 15
        while True:  # the publishing side reconnects on its own too
            await asyncio.to_thread(first.publish, {"type": "ticket", "number": "T-3"})
            try:
                message = await next_message(console, 1)
            except TimeoutError:
                assert time.monotonic() < deadline, "fan-out did not resume"
                continue
            assert message["number"] == "T-3"
            break
    finally:
        await first.stop()
        await second.stop()
