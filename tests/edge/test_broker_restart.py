"""Mosquitto restarted under a gateway's MQTT uplink (issue #13): what the agent buffered while the broker was gone
is delivered once it is back, through the cloud's consumer, which must have reconnected and subscribed again too.

The broker is Debian's mosquitto on a private port (the shared one on 1883 serves the rest of the suite), killed
with SIGKILL (no goodbye to anyone) and started again on the same port without persistence: both sides start over
on an empty broker, as after a crash.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from edge.config import parse_config
from edge.outbox import Outbox
from edge.uplink.mqtt import MqttUplink
from protocols.telemetry import Event, EventKind, Reading, Severity
from tests.edge.cloud_server import CloudServer
from tests.edge.test_uplink_http import eventually
from tests.services import MosquittoServer

T0 = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoServer]:
    with MosquittoServer(tmp_path).running() as server:
        yield server


def readings(start: int, count: int) -> list[Reading]:
    return [Reading(device_key="c702", metric="temp", value=37 + i / 100, observed_at=T0 + timedelta(seconds=i))
            for i in range(start, start + count)]


async def test_what_was_buffered_while_the_broker_was_down_arrives_once_it_is_back(
        broker: MosquittoServer, tmp_path: Path) -> None:
    root = f"medfix-restart-{uuid.uuid4().hex[:8]}/v1"
    cloud = CloudServer(tmp_path, mqtt_url=f"mqtt://127.0.0.1:{broker.port}", topic_root=root)
    cloud.start()
    try:
        consumer = cloud.app.state.mqtt_consumer  # type: ignore[attr-defined]
        assert consumer is not None and consumer.ready.wait(10)
        config = parse_config(
            f"gateway_id: {cloud.gateway_name}\n"
            f"cloud: {{url: 'mqtt://127.0.0.1:{broker.port}', token: '{cloud.token}', topic_root: '{root}',"
            " linger_s: 0.02, retry_initial_s: 0.1, retry_max_s: 1, ack_timeout_s: 3, batch_max_items: 20}\n"
            "outbox: {path: outbox.db}\n", base_dir=tmp_path)
        with Outbox(config.outbox.path, gateway_id=config.gateway_id) as outbox:
            uplink = MqttUplink(config.cloud, outbox, gateway_id=config.gateway_id)
            task = asyncio.create_task(uplink.run())
            try:
                outbox.append(readings(0, 100))
                await eventually(lambda: outbox.stats().pending_batches == 0 and uplink.stats.batches_acked >= 5)
                broker.kill()
                # The analyzer goes on while the broker is gone: readings and a clinical error event pile up.
                outbox.append(readings(100, 200))
                outbox.append([Event(device_key="c702", occurred_at=T0, kind=EventKind.ERROR_CODE,
                                     severity=Severity.ERROR, code="1103", text="lamp low")])
                await eventually(lambda: uplink.stats.connected is False, timeout=20)
                waiting = outbox.stats()
                assert waiting.telemetry_rows == 200 and waiting.clinical_rows == 1  # held, not lost
                await asyncio.sleep(1)
                broker.start()
                await eventually(lambda: outbox.stats().acked_items_total == 301, timeout=60)
            finally:
                uplink.request_stop()
                await task
            stats = outbox.stats()
        assert stats.acked_items_total == 301 and stats.telemetry_rows == stats.clinical_rows == 0
        stored = cloud.stored()
        assert (stored.readings, stored.events) == (300, 1)  # each reading once, whatever was re-sent
        assert stored.batch_items == 301  # no batch stored twice
    finally:
        cloud.close()
