"""Console frames: a collected batch goes out as one frame to consoles that take batches, one per message to others."""

from __future__ import annotations

import asyncio
import json
import threading

from fastapi.testclient import TestClient

from cloud.console.hub import Connection, Hub, encode_batch
from tests.cloud.tickets.helpers import submit
from tests.cloud.world import World


def _drain(connection: Connection) -> list[str]:
    texts = []
    while not connection.queue.empty():
        texts.append(connection.queue.get_nowait())
    return texts


def test_a_collected_batch_is_one_frame_for_batch_consoles_and_single_messages_for_the_others() -> None:
    async def scenario() -> None:
        hub = Hub()
        await hub.start()
        batched = hub.register(lambda m: True, batches=True)
        plain = hub.register(lambda m: True)
        picky = hub.register(lambda m: m["n"] == 2, batches=True)

        def publish() -> None:  # from another thread, as the outbox does
            with hub.collect():
                hub.publish({"type": "ticket", "n": 1})
                hub.publish({"type": "notification", "n": 2})
                assert all(c.queue.empty() for c in (batched, plain, picky))  # held back until the block ends

        thread = threading.Thread(target=publish)
        thread.start()
        thread.join()
        await asyncio.sleep(0.05)
        frames = _drain(batched)
        assert len(frames) == 1 and [m["n"] for m in json.loads(frames[0])] == [1, 2]
        assert [json.loads(text)["n"] for text in _drain(plain)] == [1, 2]
        assert [json.loads(text) for text in _drain(picky)] == [{"type": "notification", "n": 2}]
        await hub.stop()

    asyncio.run(scenario())


def test_whatever_queued_meanwhile_leaves_in_the_next_frame_only_for_batch_consoles() -> None:
    async def scenario() -> None:
        batched, plain = Connection(wants=lambda m: True, batches=True), Connection(wants=lambda m: True)
        for connection in (batched, plain):
            for text in ('{"n":2}', encode_batch(['{"n":3}', '{"n":4}'])):
                connection.queue.put_nowait(text)
        assert json.loads(batched.next_frame('{"n":1}')) == [{"n": 1}, {"n": 2}, {"n": 3}, {"n": 4}]
        assert batched.queue.empty()
        assert plain.next_frame('{"n":1}') == '{"n":1}' and plain.queue.qsize() == 2
        assert batched.next_frame('{"n":5}') == '{"n":5}'  # nothing queued: the message as it is

    asyncio.run(scenario())


def test_a_batch_console_hears_every_message_of_a_submission(client: TestClient, world: World) -> None:
    with client.websocket_connect("/ws/console?batch=1", headers=world.headers("agent")) as ws:
        assert ws.receive_json()["type"] == "hello"
        ticket = submit(client, world).json()["ticket"]
        heard: list[dict] = []
        while not any(m.get("event") == "ticket.submitted" for m in heard):
            data = ws.receive_json()
            heard += data if isinstance(data, list) else [data]
        submitted = next(m for m in heard if m.get("event") == "ticket.submitted")
        assert submitted["ticket_id"] == ticket["id"] and submitted["number"] == ticket["number"]
